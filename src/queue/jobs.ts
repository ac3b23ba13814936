/**
 * Queue names, job payloads (validated on both sides of Redis), idempotency keys, and the port
 * through which the bot hands jobs to the workers ({@link Enqueuer}).
 * One migration request = one job = one thread; the job id is the idempotency key.
 */
import { createHash } from "node:crypto";
import { CodedError } from "../errors";

export const QUEUE_MIGRATIONS = "migrations";
export const QUEUE_ACTIONS = "actions";

/** Who asked, where, and how to answer them privately. */
export interface RequestOrigin {
  channel: string;
  user: string;
  /** Slack's response_url for ephemeral answers after the ack (5 uses, 30 minutes). */
  responseUrl?: string;
  /** When the request reached the bot, ms since epoch. */
  requestedAt: number;
}

export interface MigrateJob extends RequestOrigin {
  type: "migrate";
  vm: string;
  /** Requested destination, or null for Nova's scheduler. */
  destination: string | null;
  /** Set when this migration retries an earlier one (after a fix): the earlier job's id. */
  retryOf?: string;
  /** Why it is retried, for the new root message: the fix applied and who approved it. */
  retryContext?: RetryContext;
}

export interface RetryContext {
  /** The applied fix's title. */
  fix: string;
  approvedBy: string | null;
}

export interface DiagnoseJob extends RequestOrigin {
  type: "diagnose";
  target: string;
  destination: string | null;
  /** Reply in this thread instead of posting a new root message. */
  threadTs?: string;
}

/**
 * Abort or force-complete one migration, or answer its prediction (Fix first / Go anyway): the one
 * the button was posted for (its job id), in its channel.
 */
export interface MigrationControlJob extends RequestOrigin {
  type: "abort" | "force-complete" | "fix-first" | "go-anyway";
  vm: string;
  /** The migbot migration (job id) this acts on; never "whatever migrates the VM now". */
  jobId: string;
}

/** An approval, signed by the bot like every job: the worker applies exactly the plan it names. */
export interface ProposalJob extends RequestOrigin {
  type: "apply-proposal";
  proposalId: string;
  /** SHA-256 of the stored plan the approver saw (Proposal.planDigest). */
  planDigest: string;
}

export interface StatusJob extends RequestOrigin {
  type: "status";
  vm: string | null;
}

export interface AuditJob extends RequestOrigin {
  type: "audit";
  count: number;
}

export type ActionJob = DiagnoseJob | MigrationControlJob | ProposalJob | StatusJob | AuditJob;
export type AnyJob = MigrateJob | ActionJob;

/** What the bot needs to hand work to the workers (created by createEnqueuer in worker.ts). */
export interface Enqueuer {
  /** Adds a job under its idempotency key; "duplicate" when that key was already queued. */
  add(
    queue: "migrations" | "actions",
    jobId: string,
    payload: MigrateJob | ActionJob,
  ): Promise<"added" | "duplicate">;
  /** The job currently migrating a VM, if any. */
  vmHolder(vm: string): Promise<string | null>;
}

/** A job payload that is not one migbot writes. */
export class JobPayloadError extends CodedError<"JOB_PAYLOAD_INVALID"> {
  constructor(message: string) {
    // Not retryable: bad input stays bad.
    super("JOB_PAYLOAD_INVALID", message, { retryable: false });
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const SLACK_ID_RE = /^[A-Z0-9]{2,}$/;

function need(cond: boolean, what: string): void {
  if (!cond) throw new JobPayloadError(`job payload: ${what}`);
}

function checkOrigin(o: Record<string, unknown>): void {
  need(typeof o.channel === "string" && SLACK_ID_RE.test(o.channel), "channel must be a Slack id");
  need(typeof o.user === "string" && SLACK_ID_RE.test(o.user), "user must be a Slack id");
  need(typeof o.requestedAt === "number" && Number.isFinite(o.requestedAt), "requestedAt must be a number");
  need(o.responseUrl === undefined || typeof o.responseUrl === "string", "responseUrl must be a string");
}

const JOB_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
/** A fix title is one line; longer is not something migbot wrote. */
export const RETRY_FIX_TITLE_MAX_CHARS = 300;

function checkRetryContext(v: unknown): void {
  need(v !== null && typeof v === "object", "retryContext must be an object");
  const r = v as Record<string, unknown>;
  need(
    typeof r.fix === "string" && r.fix.length > 0 && r.fix.length <= RETRY_FIX_TITLE_MAX_CHARS,
    `retryContext.fix must be 1..${RETRY_FIX_TITLE_MAX_CHARS} characters`,
  );
  need(
    r.approvedBy === null || (typeof r.approvedBy === "string" && SLACK_ID_RE.test(r.approvedBy)),
    "retryContext.approvedBy must be a Slack id or null",
  );
}

function checkName(v: unknown, what: string): void {
  need(typeof v === "string" && NAME_RE.test(v), `${what} must be a plain name`);
}

/** Validates a job payload read from Redis (or about to be written); throws {@link JobPayloadError}. */
export function validateJob(data: unknown): AnyJob {
  need(data !== null && typeof data === "object", "must be an object");
  const o = data as Record<string, unknown>;
  checkOrigin(o);
  switch (o.type) {
    case "migrate":
      checkName(o.vm, "vm");
      need(o.destination === null || typeof o.destination === "string", "destination must be a name or null");
      if (o.destination !== null) checkName(o.destination, "destination");
      need(
        o.retryOf === undefined || (typeof o.retryOf === "string" && JOB_ID_RE.test(o.retryOf)),
        "retryOf must be a job id",
      );
      if (o.retryContext !== undefined) checkRetryContext(o.retryContext);
      break;
    case "diagnose":
      checkName(o.target, "target");
      need(o.destination === null || typeof o.destination === "string", "destination must be a name or null");
      if (o.destination !== null) checkName(o.destination, "destination");
      break;
    case "abort":
    case "force-complete":
    case "fix-first":
    case "go-anyway":
      checkName(o.vm, "vm");
      need(typeof o.jobId === "string" && JOB_ID_RE.test(o.jobId), "jobId must be a job id");
      break;
    case "status":
      need(o.vm === null || typeof o.vm === "string", "vm must be a name or null");
      if (o.vm !== null) checkName(o.vm, "vm");
      break;
    case "audit":
      need(typeof o.count === "number" && o.count >= 1 && o.count <= 50, "count must be 1..50");
      break;
    case "apply-proposal":
      need(typeof o.proposalId === "string" && /^[A-Za-z0-9_-]{8,64}$/.test(o.proposalId), "bad proposal id");
      need(typeof o.planDigest === "string" && /^[0-9a-f]{64}$/.test(o.planDigest), "bad plan digest");
      break;
    default:
      throw new JobPayloadError(`job payload: unknown type ${String(o.type)}`);
  }
  return o as unknown as AnyJob;
}

/**
 * The job id for a request: Slack's trigger_id is unique per invocation, so a slash command
 * delivered twice maps to the same job and BullMQ keeps only one.
 */
export function idempotencyKey(type: string, triggerId: string | undefined, fallback: string): string {
  const basis = triggerId && triggerId.length > 0 ? `trigger:${triggerId}` : `fallback:${fallback}`;
  return `${type}-${createHash("sha256").update(basis).digest("hex").slice(0, 24)}`;
}
