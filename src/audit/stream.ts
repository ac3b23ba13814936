/**
 * The audit stream: every fix proposal, approval, rejection, refused click and host change, with
 * who, when, what, the diff and the result. One Redis stream per deployment (XADD, capped), read
 * back newest first by `/migrate audit [n]`.
 */
import type { Redis } from "ioredis";

/** The stream keeps roughly this many entries (XADD MAXLEN ~). */
export const AUDIT_STREAM_MAXLEN = 10_000;
/** A diff longer than this is stored clipped (the proposal record keeps the full text). */
export const AUDIT_DIFF_MAX_CHARS = 20_000;
/** `/migrate audit` shows at most this many entries. */
export const AUDIT_READ_MAX = 50;

export type AuditAction =
  | "proposed"
  | "approved"
  | "rejected"
  | "decision-refused"
  | "migration-aborted"
  | "host-change"
  | "host-refused"
  | "service-restart"
  | "rollback"
  | "vm-restart"
  | "retry-requested"
  /** Abort or force-complete sent to Nova for a migration. */
  | "migration-control"
  /** A proposal or its approval failed the worker's integrity check: nothing was applied. */
  | "integrity-refused"
  /** A job in Redis without the bot's valid signature: refused unread. */
  | "job-refused"
  /** Refused clicks over the per-user budget, counted instead of written one by one. */
  | "refusals-summarized";

export type AuditResult = "ok" | "failed" | "refused" | "info";

export interface AuditEntry {
  /** The stream id (`<ms>-<seq>`). */
  id: string;
  at: number;
  /** Slack user id of the person behind it (the approver for host changes). */
  actor: string;
  action: AuditAction;
  proposalId: string | null;
  host: string | null;
  /** One line: what was done or asked. */
  what: string;
  diff: string | null;
  result: AuditResult;
  detail: string | null;
}

export type AuditInput = Omit<AuditEntry, "id" | "at" | "proposalId" | "host" | "diff" | "detail"> &
  Partial<Pick<AuditEntry, "at" | "proposalId" | "host" | "diff" | "detail">>;

/** Refused clicks written one by one per user per minute; beyond, one summary entry says more were refused. */
export const REFUSALS_WRITTEN_PER_USER_PER_MINUTE = 5;
/** Refused clicks written per minute across all users, whoever clicks. */
export const REFUSALS_WRITTEN_PER_MINUTE = 60;

export interface AuditLog {
  /** Appends one entry; returns its stream id. */
  write(entry: AuditInput): Promise<string>;
  /**
   * Appends a refusal within a per-user and a global budget per minute, so that clicking a refused
   * button in a loop cannot flush the capped stream: past the budget one summary entry is written
   * and the rest are counted. Returns the stream id, or null when only counted.
   */
  writeRefusal(entry: AuditInput): Promise<string | null>;
  /** The last `n` entries, newest first. */
  read(n: number): Promise<AuditEntry[]>;
}

export function auditKey(prefix: string): string {
  return `${prefix}:audit`;
}

function clipDiff(diff: string): string {
  return diff.length <= AUDIT_DIFF_MAX_CHARS
    ? diff
    : `${diff.slice(0, AUDIT_DIFF_MAX_CHARS)}\n… (clipped at ${AUDIT_DIFF_MAX_CHARS} characters)`;
}

/** The audit log of one deployment (all workers and the bot share it through Redis). */
export function createAuditLog(redis: Redis, prefix: string): AuditLog {
  const key = auditKey(prefix);
  return {
    async write(entry) {
      const fields: string[] = [
        "at",
        String(entry.at ?? Date.now()),
        "actor",
        entry.actor,
        "action",
        entry.action,
        "what",
        entry.what,
        "result",
        entry.result,
      ];
      if (entry.proposalId) fields.push("proposal", entry.proposalId);
      if (entry.host) fields.push("host", entry.host);
      if (entry.diff) fields.push("diff", clipDiff(entry.diff));
      if (entry.detail) fields.push("detail", entry.detail);
      const id = await redis.xadd(key, "MAXLEN", "~", String(AUDIT_STREAM_MAXLEN), "*", ...fields);
      return id ?? "";
    },
    read: (n) => readAudit(redis, prefix, n),
    async writeRefusal(entry) {
      const minute = Math.floor((entry.at ?? Date.now()) / 60_000);
      const perUser = `${key}:refusals:${minute}:${entry.actor || "-"}`;
      const all = `${key}:refusals:${minute}`;
      const replies = (await redis
        .multi()
        .incr(perUser)
        .expire(perUser, 120)
        .incr(all)
        .expire(all, 120)
        .exec()) as [Error | null, number][];
      const userCount = replies[0]![1];
      const allCount = replies[2]![1];
      if (userCount <= REFUSALS_WRITTEN_PER_USER_PER_MINUTE && allCount <= REFUSALS_WRITTEN_PER_MINUTE) {
        return this.write(entry);
      }
      // One summary per user over their budget, and one when the minute's shared budget runs out.
      const userJustOver = userCount === REFUSALS_WRITTEN_PER_USER_PER_MINUTE + 1;
      const allJustOver =
        userCount <= REFUSALS_WRITTEN_PER_USER_PER_MINUTE && allCount === REFUSALS_WRITTEN_PER_MINUTE + 1;
      if (userJustOver || allJustOver) {
        return this.write({
          ...entry,
          action: "refusals-summarized",
          what: `more refused clicks this minute (${userCount} by this user, ${allCount} in all); they are counted, not written one by one`,
        });
      }
      return null;
    },
  };
}

/** The last `n` audit entries (1 to {@link AUDIT_READ_MAX}), newest first. */
export async function readAudit(redis: Redis, prefix: string, n: number): Promise<AuditEntry[]> {
  const count = Math.max(1, Math.min(AUDIT_READ_MAX, Math.floor(n)));
  const rows = await redis.xrevrange(auditKey(prefix), "+", "-", "COUNT", count);
  return rows.map(([id, flat]) => {
    const f = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) f.set(flat[i]!, flat[i + 1]!);
    return {
      id,
      at: Number(f.get("at") ?? id.split("-")[0]),
      actor: f.get("actor") ?? "",
      action: (f.get("action") ?? "proposed") as AuditAction,
      proposalId: f.get("proposal") ?? null,
      host: f.get("host") ?? null,
      what: f.get("what") ?? "",
      diff: f.get("diff") ?? null,
      result: (f.get("result") ?? "info") as AuditResult,
      detail: f.get("detail") ?? null,
    };
  });
}
