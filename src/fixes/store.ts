/**
 * Where proposals live: one Redis hash per proposal. The planned change (draft, who asked, where)
 * is written once as JSON; the mutable parts (status, decision, message ts, results, progress) are
 * separate fields, so the Lua scripts that decide and start applying never re-encode the plan.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { type PlanSealer, sha256Hex } from "../signing/signatures";
import { FixError } from "./errors";
import { type ProgressEvent, readProgress } from "./progress";
import type { Proposal, ProposalDraft, ProposalStatus } from "./proposal";

/** Decided and applied proposals stay readable this long after they expire (audit, results). */
export const PROPOSAL_RETENTION_S = 7 * 24 * 3600;
/** The index of recent proposals keeps this many (newest). */
export const PROPOSAL_INDEX_MAX = 1_000;
/** Bytes of randomness in a proposal id: 128 bits, url-safe base64 (22 characters). */
export const PROPOSAL_ID_BYTES = 16;
/** What a proposal id looks like; anything else in a button value is refused before Redis is asked. */
export const PROPOSAL_ID_RE = /^[A-Za-z0-9_-]{22}$/;

/** The seal domain of a deployment: a plan sealed under one prefix is not valid under another. */
export function planSealDomain(prefix: string): string {
  return `migbot-plan-v1:${prefix}`;
}

export function newProposalId(): string {
  return randomBytes(PROPOSAL_ID_BYTES).toString("base64url");
}

export type ClaimRefusal =
  | { reason: "unknown" }
  | { reason: "expired"; expiresAt: number }
  | { reason: "not-approver" }
  | { reason: "own-proposal" }
  | { reason: "already-decided"; status: ProposalStatus; by: string; at: number };

export type ClaimResult = { ok: true; status: "approved" | "rejected" } | ({ ok: false } & ClaimRefusal);

// First click wins: status moves from pending exactly once, checked and set in one script.
// Order of checks: existence, role, decided, expiry, self-approval — the most useful answer first.
const CLAIM_LUA = `
local h = redis.call('HMGET', KEYS[1], 'status', 'expiresAt', 'requestedBy', 'decidedBy', 'decidedAt')
if not h[1] then return {'unknown'} end
if ARGV[4] ~= '1' then return {'not-approver'} end
if h[1] ~= 'pending' then return {'already-decided', h[1], h[4] or '', h[5] or '0'} end
if tonumber(ARGV[3]) >= tonumber(h[2]) then return {'expired', h[2]} end
if ARGV[2] == 'approve' and h[3] == ARGV[1] and ARGV[5] ~= '1' then return {'own-proposal'} end
local st = 'rejected'
if ARGV[2] == 'approve' then st = 'approved' end
redis.call('HSET', KEYS[1], 'status', st, 'decidedBy', ARGV[1], 'decidedAt', ARGV[3])
return {'ok', st}
`;

/**
 * How long an `applying` proposal belongs to the worker applying it without a renewal. The worker
 * renews it every {@link APPLY_LEASE_RENEW_INTERVAL_MS} while it works, so only a worker that died
 * (or lost Redis) lets it lapse; a re-run apply job may then take the proposal over.
 */
export const APPLY_LEASE_MS = 60_000;
/** How often the applying worker renews its lease: several renewals fit in one lease. */
export const APPLY_LEASE_RENEW_INTERVAL_MS = 15_000;
/**
 * With a configured job lock (MIGBOT_JOB_LOCK_MS), the lease is this many locks long and renewed
 * every half lock: 60 s and 15 s at the default 30 s lock, the constants above.
 */
export const APPLY_LEASE_PER_JOB_LOCK = 2;

// An approved proposal is applied once: a duplicate job (or a second worker) finds it applying.
// An `applying` proposal whose lease lapsed (its worker died mid-apply) is taken over instead of
// staying stuck; one written before leases existed has no applyingUntil and counts as lapsed.
const START_APPLYING_LUA = `
local h = redis.call('HMGET', KEYS[1], 'status', 'applyingUntil')
if not h[1] then return 'unknown' end
local until_ = tonumber(ARGV[1]) + tonumber(ARGV[2])
if h[1] == 'approved' then
  redis.call('HSET', KEYS[1], 'status', 'applying', 'applyingUntil', tostring(until_), 'applyingBy', ARGV[3])
  return 'ok'
end
if h[1] == 'applying' and tonumber(ARGV[1]) >= (tonumber(h[2] or '0') or 0) then
  redis.call('HSET', KEYS[1], 'applyingUntil', tostring(until_), 'applyingBy', ARGV[3])
  return 'taken-over'
end
return h[1]
`;

// Only the lease holder renews; a worker whose lease was taken over learns it here.
const RENEW_LEASE_LUA = `
local h = redis.call('HMGET', KEYS[1], 'status', 'applyingBy')
if h[1] ~= 'applying' or h[2] ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'applyingUntil', tostring(tonumber(ARGV[1]) + tonumber(ARGV[2])))
return 1
`;

// Retires a still-pending sibling: it can no longer be approved, whoever clicks first.
const SUPERSEDE_LUA = `
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'superseded', 'decidedBy', ARGV[1], 'decidedAt', ARGV[2])
return 1
`;

// A failed apply is approved again by an approver's "Retry apply", before the proposal expires, once
// per failure: the first click reopens it, later ones find it approved (or applying) already.
const REOPEN_LUA = `
local h = redis.call('HMGET', KEYS[1], 'status', 'expiresAt', 'applyRetries')
if not h[1] then return {'unknown'} end
if ARGV[3] ~= '1' then return {'not-approver'} end
if h[1] ~= 'failed' then return {'not-failed', h[1]} end
if tonumber(ARGV[2]) >= tonumber(h[2]) then return {'expired', h[2]} end
local n = (tonumber(h[3] or '0') or 0) + 1
redis.call('HSET', KEYS[1], 'status', 'approved', 'applyRetries', tostring(n), 'applyRetriedBy', ARGV[1])
return {'ok', tostring(n)}
`;

const SET_ONCE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then return 1 end
return 0
`;

/** What a worker learns when it checks a stored plan against its seal. */
export type PlanCheck =
  | { ok: true; proposal: Proposal }
  | { ok: false; reason: "unknown" | "unsealed" | "seal-mismatch" | "unreadable" };

/** Results as read back from Redis (not trusted blindly): well-formed entries only. */
function readResults(stored: unknown): Proposal["results"] {
  if (!Array.isArray(stored)) return [];
  return stored
    .filter(
      (r): r is Proposal["results"][number] =>
        r !== null &&
        typeof r === "object" &&
        typeof r.host === "string" &&
        typeof r.ok === "boolean" &&
        typeof r.detail === "string",
    )
    .map(({ host, ok, detail }) => ({ host, ok, detail }));
}

export class ProposalStore {
  /**
   * @param sealer the workers' plan sealer: required to create proposals and to check them before
   * anything is applied; the bot, which only decides, has none.
   */
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly sealer: PlanSealer | null = null,
  ) {}

  key(id: string): string {
    return `${this.prefix}:proposal:${id}`;
  }

  private indexKey(): string {
    return `${this.prefix}:proposals`;
  }

  /** The ids of the most recent proposals, newest first. */
  async recentIds(limit: number): Promise<string[]> {
    return this.redis.zrevrange(this.indexKey(), 0, limit - 1);
  }

  private threadKey(channel: string, threadTs: string | null): string {
    return `${this.prefix}:proposals-in-thread:${channel}:${threadTs ?? "-"}`;
  }

  /** Stores a new pending proposal; expires for approval after `ttlS`, kept for the audit longer. */
  async create(
    draft: ProposalDraft,
    meta: { requestedBy: string; channel: string; threadTs: string | null; now: number; ttlS: number },
  ): Promise<Proposal> {
    if (this.sealer === null) {
      throw new FixError(
        "FIX_NO_SEALER",
        "only a worker (which holds MIGBOT_WORKER_KEY) can store proposals",
      );
    }
    const id = newProposalId();
    const stored: Omit<Proposal, "planDigest"> = {
      ...draft,
      id,
      status: "pending",
      requestedBy: meta.requestedBy,
      channel: meta.channel,
      threadTs: meta.threadTs,
      messageTs: null,
      createdAt: meta.now,
      expiresAt: meta.now + meta.ttlS * 1000,
      decidedBy: null,
      decidedAt: null,
      results: [],
      progress: [],
      retriedBy: null,
    };
    const plan = JSON.stringify(stored);
    const proposal: Proposal = { ...stored, planDigest: sha256Hex(plan) };
    await this.redis
      .multi()
      .hset(this.key(id), {
        plan,
        // The workers' HMAC over the plan: checked before anything of it is applied.
        seal: this.sealer.seal(plan),
        status: "pending",
        expiresAt: String(proposal.expiresAt),
        requestedBy: meta.requestedBy,
      })
      .expire(this.key(id), meta.ttlS + PROPOSAL_RETENTION_S)
      .sadd(this.threadKey(meta.channel, meta.threadTs), id)
      // The index of recent proposals (the Home tab lists those waiting), trimmed to the newest.
      .zadd(this.indexKey(), meta.now, id)
      .zremrangebyrank(this.indexKey(), 0, -(PROPOSAL_INDEX_MAX + 1))
      .expire(this.indexKey(), meta.ttlS + PROPOSAL_RETENTION_S)
      .expire(this.threadKey(meta.channel, meta.threadTs), meta.ttlS + PROPOSAL_RETENTION_S)
      .exec();
    return proposal;
  }

  /**
   * The proposal as it stands (unchecked: for showing and deciding); a pending one past its expiry
   * reads as `expired`. Null when unknown or unreadable.
   */
  async get(id: string, now: number = Date.now()): Promise<Proposal | null> {
    if (!PROPOSAL_ID_RE.test(id)) return null;
    const h = await this.redis.hgetall(this.key(id));
    if (!h.plan) return null;
    return this.fromHash(id, h, now);
  }

  /**
   * The proposal, only if its plan carries a valid seal by a worker and is the one stored under
   * this id: what a worker reads before it applies anything.
   */
  async getSealed(id: string, now: number = Date.now()): Promise<PlanCheck> {
    if (!PROPOSAL_ID_RE.test(id)) return { ok: false, reason: "unknown" };
    if (this.sealer === null) throw new FixError("FIX_NO_SEALER", "only a worker can check proposals");
    const h = await this.redis.hgetall(this.key(id));
    if (!h.plan) return { ok: false, reason: "unknown" };
    if (!h.seal) return { ok: false, reason: "unsealed" };
    if (!this.sealer.check(h.plan, h.seal)) return { ok: false, reason: "seal-mismatch" };
    const proposal = this.fromHash(id, h, now);
    if (proposal === null || proposal.id !== id) return { ok: false, reason: "unreadable" };
    return { ok: true, proposal };
  }

  private fromHash(id: string, h: Record<string, string>, now: number): Proposal | null {
    let p: Proposal;
    try {
      p = JSON.parse(h.plan!) as Proposal;
    } catch {
      return null;
    }
    if (p === null || typeof p !== "object" || p.id !== id) return null;
    const status = (h.status ?? "pending") as ProposalStatus;
    const parsed = (field: string | undefined): unknown => {
      try {
        return field ? JSON.parse(field) : [];
      } catch {
        return [];
      }
    };
    return {
      ...p,
      planDigest: sha256Hex(h.plan!),
      status: status === "pending" && now >= p.expiresAt ? "expired" : status,
      decidedBy: h.decidedBy ?? null,
      decidedAt: h.decidedAt ? Number(h.decidedAt) : null,
      messageTs: h.messageTs ?? null,
      results: readResults(parsed(h.results)),
      progress: readProgress(parsed(h.progress)),
      retriedBy: h.retriedBy ?? null,
      applyRetries: h.applyRetries ? Number(h.applyRetries) : 0,
      applyRetriedBy: h.applyRetriedBy ?? null,
    };
  }

  /** Approve or reject, atomically: the first authorized click wins, everything else is refused. */
  async claim(
    id: string,
    user: string,
    decision: "approve" | "reject",
    opts: { isApprover: boolean; allowSelfApproval: boolean; now: number },
  ): Promise<ClaimResult> {
    if (!PROPOSAL_ID_RE.test(id)) return { ok: false, reason: "unknown" };
    const r = (await this.redis.eval(
      CLAIM_LUA,
      1,
      this.key(id),
      user,
      decision,
      String(opts.now),
      opts.isApprover ? "1" : "0",
      opts.allowSelfApproval ? "1" : "0",
    )) as string[];
    switch (r[0]) {
      case "ok":
        return { ok: true, status: r[1] as "approved" | "rejected" };
      case "not-approver":
        return { ok: false, reason: "not-approver" };
      case "own-proposal":
        return { ok: false, reason: "own-proposal" };
      case "expired":
        return { ok: false, reason: "expired", expiresAt: Number(r[1]) };
      case "already-decided":
        return {
          ok: false,
          reason: "already-decided",
          status: r[1] as ProposalStatus,
          by: r[2] ?? "",
          at: Number(r[3] ?? 0),
        };
      default:
        return { ok: false, reason: "unknown" };
    }
  }

  /**
   * Marks the still-pending proposals of the same kind in the same thread as superseded by `applied`
   * (alternatives such as the kvm64 fallback next to a baseline CPU model). Returns their ids.
   */
  async supersedeSiblings(applied: Proposal, now: number = Date.now()): Promise<string[]> {
    const ids = await this.redis.smembers(this.threadKey(applied.channel, applied.threadTs));
    const done: string[] = [];
    for (const id of ids) {
      if (id === applied.id) continue;
      const other = await this.get(id, now);
      if (other === null || other.kind !== applied.kind || other.status !== "pending") continue;
      if ((await this.redis.eval(SUPERSEDE_LUA, 1, this.key(id), applied.id, String(now))) === 1)
        done.push(id);
    }
    return done;
  }

  /**
   * approved → applying, once, under a lease held by `holder`. Returns "ok", "taken-over" (it was
   * applying but the lease lapsed: the previous worker died mid-apply), or the status that stops it
   * ("applying", "applied", "unknown", …).
   */
  async startApplying(
    id: string,
    opts: { holder: string; now?: number; leaseMs?: number } = { holder: newProposalId() },
  ): Promise<string> {
    if (!PROPOSAL_ID_RE.test(id)) return "unknown";
    return (await this.redis.eval(
      START_APPLYING_LUA,
      1,
      this.key(id),
      String(opts.now ?? Date.now()),
      String(opts.leaseMs ?? APPLY_LEASE_MS),
      opts.holder,
    )) as string;
  }

  /** Extends `holder`'s apply lease; false when the proposal is no longer applying under that holder. */
  async renewApplyLease(
    id: string,
    opts: { holder: string; now?: number; leaseMs?: number },
  ): Promise<boolean> {
    const r = await this.redis.eval(
      RENEW_LEASE_LUA,
      1,
      this.key(id),
      String(opts.now ?? Date.now()),
      String(opts.leaseMs ?? APPLY_LEASE_MS),
      opts.holder,
    );
    return r === 1;
  }

  /** The lease expiry of an applying proposal, ms since epoch (null when none). */
  async applyingUntil(id: string): Promise<number | null> {
    const v = await this.redis.hget(this.key(id), "applyingUntil");
    return v === null ? null : Number(v);
  }

  async setStatus(id: string, status: ProposalStatus): Promise<void> {
    await this.redis.hset(this.key(id), "status", status);
  }

  async setMessageTs(id: string, ts: string): Promise<void> {
    await this.redis.hset(this.key(id), "messageTs", ts);
  }

  async setResults(id: string, results: Proposal["results"]): Promise<void> {
    await this.redis.hset(this.key(id), "results", JSON.stringify(results));
  }

  async setProgress(id: string, progress: ProgressEvent[]): Promise<void> {
    await this.redis.hset(this.key(id), "progress", JSON.stringify(progress));
  }

  /** Records who pressed "Retry migration"; false when someone already did (single use). */
  /**
   * failed → approved again ("Retry apply"), atomically, by an approver and before expiry. Returns
   * the retry's number, or why not.
   */
  async reopenFailed(
    id: string,
    user: string,
    opts: { isApprover: boolean; now?: number },
  ): Promise<
    | { ok: true; retry: number }
    | { ok: false; reason: "unknown" | "not-approver" | "not-failed" | "expired"; status?: string }
  > {
    if (!PROPOSAL_ID_RE.test(id)) return { ok: false, reason: "unknown" };
    const r = (await this.redis.eval(
      REOPEN_LUA,
      1,
      this.key(id),
      user,
      String(opts.now ?? Date.now()),
      opts.isApprover ? "1" : "0",
    )) as string[];
    if (r[0] === "ok") return { ok: true, retry: Number(r[1]) };
    if (r[0] === "not-failed") return { ok: false, reason: "not-failed", status: r[1]! };
    return { ok: false, reason: r[0] as "unknown" | "not-approver" | "expired" };
  }

  async markRetried(id: string, user: string): Promise<boolean> {
    if (!PROPOSAL_ID_RE.test(id)) return false;
    return ((await this.redis.eval(SET_ONCE_LUA, 1, this.key(id), "retriedBy", user)) as number) === 1;
  }
}
