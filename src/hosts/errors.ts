/**
 * Errors the SSH executor raises. Each carries a stable code, the host it is about, whether a
 * retry could help (queue workers retry with backoff only when `retryable`), and a message that
 * tells the operator what to do next. None ever contains a private key or passphrase.
 */
import { CodedError } from "../errors";
import { redactText } from "../log";
import { CatalogueError, type HostCommandKind } from "./catalogue";

export enum HostErrorCode {
  HostUnreachable = "HOST_UNREACHABLE",
  HostAuthFailed = "HOST_AUTH_FAILED",
  HostKeyMismatch = "HOST_KEY_MISMATCH",
  HostKeyUnknown = "HOST_KEY_UNKNOWN",
  HostKeyAlgorithmRefused = "HOST_KEY_ALGORITHM_REFUSED",
  HostTimeout = "HOST_TIMEOUT",
  HostCommandFailed = "HOST_COMMAND_FAILED",
  HostOutputTooLarge = "HOST_OUTPUT_TOO_LARGE",
  HostBadArgument = "HOST_BAD_ARGUMENT",
  HostNotInInventory = "HOST_NOT_IN_INVENTORY",
}

/** Longest slice of a command's stderr quoted in an error message (the full text is on `.stderr`). */
const MESSAGE_STDERR_CHARS = 500;

/**
 * Base of the executor's errors. Retryable: HOST_UNREACHABLE and HOST_TIMEOUT (the network or a
 * busy host may recover); every other code is a fact about the host, its keys or the request that
 * a retry cannot change.
 */
export class HostError extends CodedError<HostErrorCode> {
  constructor(
    code: HostErrorCode,
    /** Inventory name of the host, e.g. `compute-3`. */
    readonly host: string,
    message: string,
    retryable: boolean,
    /** The underlying error, when one was wrapped (kept as `cause`). */
    cause?: Error,
  ) {
    super(code, redactText(message), { retryable, cause });
  }
}

export class HostUnreachableError extends HostError {
  constructor(host: string, where: string, detail: string, cause?: Error) {
    super(
      HostErrorCode.HostUnreachable,
      host,
      `cannot reach ${host} over SSH at ${where}: ${detail}. Check that the host is up and sshd listens there; the command can be retried.`,
      true,
      cause,
    );
  }
}

export class HostAuthFailedError extends HostError {
  constructor(host: string, user: string, detail: string, cause?: Error) {
    super(
      HostErrorCode.HostAuthFailed,
      host,
      `SSH login to ${host} as '${user}' failed: ${detail}. Check that migbot's public key is in that user's authorized_keys on the host and that the inventory names the right user and key.`,
      false,
      cause,
    );
  }
}

export class HostKeyMismatchError extends HostError {
  constructor(
    host: string,
    readonly expected: string[],
    readonly presented: string,
  ) {
    super(
      HostErrorCode.HostKeyMismatch,
      host,
      `the SSH host key of ${host} does not match its pin: expected ${expected.join(" or ")}, presented ${presented}. Verify the host (reinstalled? right address?) and, if the new key is genuine, update the pinned fingerprint in the inventory.`,
      false,
    );
  }
}

export class HostKeyUnknownError extends HostError {
  constructor(
    host: string,
    readonly presented: string,
  ) {
    super(
      HostErrorCode.HostKeyUnknown,
      host,
      `no host key is pinned for ${host} (it presented ${presented}); migbot refuses unknown hosts. Check the fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and add it to hostKeyFingerprints in the inventory or to the known_hosts file.`,
      false,
    );
  }
}

export class HostKeyAlgorithmRefusedError extends HostError {
  constructor(
    host: string,
    /** The algorithms migbot offered, most preferred first. */
    readonly accepted: readonly string[],
    cause?: Error,
  ) {
    super(
      HostErrorCode.HostKeyAlgorithmRefused,
      host,
      `${host} offers no SSH host key algorithm migbot accepts (${accepted.join(", ")}); most likely it offers only ssh-rsa, whose signatures use SHA-1, and migbot refuses that. Enable a modern host key in its sshd: an ed25519 key (ssh-keygen -t ed25519 -f /etc/ssh/ssh_host_ed25519_key and a HostKey line for it), or allow rsa-sha2-512 for its RSA key (OpenSSH 7.2 or newer; drop any HostKeyAlgorithms line that lists only ssh-rsa). Then pin the key's fingerprint in the inventory.`,
      false,
      cause,
    );
  }
}

export class HostTimeoutError extends HostError {
  constructor(
    host: string,
    readonly phase: "connect" | "command",
    readonly timeoutMs: number,
    kind?: HostCommandKind,
  ) {
    super(
      HostErrorCode.HostTimeout,
      host,
      phase === "connect"
        ? `connecting to ${host} over SSH took longer than ${timeoutMs} ms. Check the network path and that sshd answers; the command can be retried.`
        : `${kind ?? "a command"} on ${host} did not finish within ${timeoutMs} ms and was stopped. Check whether the host is overloaded (or libvirtd hangs); the command can be retried.`,
      true,
    );
  }
}

export class HostCommandFailedError extends HostError {
  constructor(
    host: string,
    readonly kind: HostCommandKind,
    readonly exitCode: number,
    /** The command's stderr, trimmed. */
    readonly stderr: string,
    readonly stdout: string,
  ) {
    const quoted =
      stderr.length > MESSAGE_STDERR_CHARS ? `${stderr.slice(0, MESSAGE_STDERR_CHARS)}…` : stderr;
    super(
      HostErrorCode.HostCommandFailed,
      host,
      `${kind} on ${host} exited with status ${exitCode}${quoted ? `: ${quoted}` : " (no error output)"}. Read the host's message above; migbot does not retry a command the host rejected.`,
      false,
    );
  }
}

export class HostOutputTooLargeError extends HostError {
  constructor(
    host: string,
    readonly kind: HostCommandKind,
    readonly limitBytes: number,
  ) {
    super(
      HostErrorCode.HostOutputTooLarge,
      host,
      `${kind} on ${host} produced more than ${limitBytes} bytes of output and was stopped. Ask for less (e.g. fewer log lines) or raise maxOutputBytes.`,
      false,
    );
  }
}

export class HostBadArgumentError extends HostError {
  constructor(
    host: string,
    readonly argument: string,
    reason: string,
    cause?: Error,
  ) {
    super(
      HostErrorCode.HostBadArgument,
      host,
      `refused to send a command to ${host}: ${reason}. Nothing was sent; correct the value and try again.`,
      false,
      cause,
    );
  }
}

export class HostNotInInventoryError extends HostError {
  constructor(host: string, known: string[]) {
    const list = known.length > 10 ? `${known.slice(0, 10).join(", ")}, …` : known.join(", ");
    super(
      HostErrorCode.HostNotInInventory,
      host,
      `'${host}' is not in migbot's host inventory (known: ${list || "none"}). Add it (name, address, user, key, pinned host key) to the inventory file.`,
      false,
    );
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Turns anything thrown while talking to `host` into a {@link HostError}: catalogue errors become
 * HOST_BAD_ARGUMENT, ssh2's own errors are mapped by their `level` (no common host key algorithm:
 * HOST_KEY_ALGORITHM_REFUSED, naming `hostKeyAlgorithms`), the rest count as unreachable.
 */
export function asHostError(
  err: unknown,
  host: string,
  where = host,
  user = "?",
  hostKeyAlgorithms: readonly string[] = [],
): HostError {
  if (err instanceof HostError) return err;
  if (err instanceof CatalogueError) return new HostBadArgumentError(host, err.argument, err.message, err);
  const original = err instanceof Error ? err : undefined;
  const level = (err as { level?: unknown } | null)?.level;
  // ssh2's words when the host's KEXINIT lists none of the client's host key algorithms.
  if (level === "handshake" && /no matching host key format/.test(errorMessage(err)))
    return new HostKeyAlgorithmRefusedError(host, hostKeyAlgorithms, original);
  if (level === "client-authentication" || level === "agent")
    return new HostAuthFailedError(host, user, errorMessage(err), original);
  return new HostUnreachableError(host, where, errorMessage(err), original);
}
