/**
 * The one base of migbot's coded errors (the bolt-js `errors.ts` pattern, with BullMQ's split
 * between errors worth a retry and errors that are not). Every module's errors extend it, so a
 * caller (the queue worker above all) can branch on `code` and `retryable` without knowing which
 * module threw.
 */

/** What every coded error is built with besides its code and message. */
export interface CodedErrorOptions {
  /** See {@link CodedError.retryable}. Required: each code decides it on purpose. */
  retryable: boolean;
  /** The error this one wraps, if any; see {@link CodedError.cause}. */
  cause?: unknown;
}

/** An error with a stable code, a message that says what to do next, and whether a retry can help. */
export class CodedError<C extends string = string> extends Error {
  /** Stable, machine-readable reason (e.g. `HOST_TIMEOUT`): callers, logs and tests branch on it, never on the message. */
  readonly code: C;
  /**
   * True when the same work may succeed if tried again later (a timeout, a service briefly down).
   * Queue workers retry a job with backoff only when this is true; otherwise the job fails at once
   * (BullMQ's `UnrecoverableError`), so bad input is never tried five times.
   */
  readonly retryable: boolean;
  /**
   * The underlying error this one wraps (ES2022 `Error.cause`), kept for logs and debugging. It is
   * never shown to users as is: it may quote a library's words.
   */
  declare readonly cause?: unknown;

  constructor(code: C, message: string, options: CodedErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable;
  }
}

/**
 * Socket errors that pass on their own: a peer restarting, failing over or briefly unreachable
 * (Node's `code` on connection errors, which ioredis passes through).
 */
const TRANSIENT_SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/**
 * ioredis's own words for a Redis that is away (its offline queue gave up, the connection closed
 * under a command, a command timed out) and Redis's answers while it restarts or fails over
 * (LOADING the AOF, READONLY on a demoted primary, MASTERDOWN on a replica that lost it).
 */
const TRANSIENT_REDIS_MESSAGE =
  /^(Connection is closed|Stream isn't writeable|Command timed out|Reached the max retries per request limit)|^(LOADING|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * Whether trying the same work again later may succeed: a coded error says so itself; of the rest,
 * only Redis and socket failures that pass on their own (a restart, a failover) count. Anything
 * else (a bug, an unknown failure) does not.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof CodedError) return err.retryable;
  if (!(err instanceof Error)) return false;
  if (err.name === "MaxRetriesPerRequestError") return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && TRANSIENT_SOCKET_CODES.has(code)) return true;
  return TRANSIENT_REDIS_MESSAGE.test(err.message);
}
