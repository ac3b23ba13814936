/**
 * Where drains live in Redis (keys under the deployment's prefix, documented for other readers such
 * as App Home):
 *
 * - `<prefix>:drain:<id>` — a hash: `plan` (JSON {@link DrainPlan}, written once), `seal` (the
 *   workers' HMAC over it), `status`, `expiresAt`, `requestedBy`, `decidedBy`, `decidedAt` (the
 *   fields the shared approval claim reads, src/fixes/store.ts `claimDecision`), `messageTs` (the
 *   root message), `run` (JSON {@link DrainRun}: what a resumed worker continues from), `paused`
 *   (who paused it, "" when not), `cancel` (JSON {@link DrainCancel}, written once).
 * - `<prefix>:drain-host:<host>` — the host lock: the id of the drain that holds the host.
 * - `<prefix>:drains` — a sorted set of drain ids by creation time; {@link listDrains} reads it.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { type ClaimResult, claimDecision } from "../fixes/store";
import { type PlanSealer, sha256Hex } from "../signing/signatures";
import type { DrainCancel, DrainPlan, DrainRun, DrainStatus } from "./types";

/** A drain's id: 96 random bits, url-safe base64. */
export const DRAIN_ID_RE = /^[A-Za-z0-9_-]{16}$/;
/** Drains stay readable this long after they are created (the report, App Home's last outcomes). */
export const DRAIN_RETENTION_S = 7 * 24 * 3600;
/** The host lock of a running drain lapses this long after its worker last renewed it. */
export const DRAIN_LOCK_TTL_S = 10 * 60;
/** A drain's seal covers this domain tag too, so a sealed drain plan is never a valid fix plan. */
const SEAL_TAG = "drain-plan-v1\n";

export function newDrainId(): string {
  return randomBytes(12).toString("base64url");
}

// Takes the host for a drain, or says who holds it. A lock whose drain has ended is free again.
const LOCK_LUA = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
return ARGV[1]
`;

const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** A running or recent drain, as a list shows it (App Home). */
export interface DrainSummary {
  id: string;
  host: string;
  channel: string;
  messageTs: string | null;
  status: DrainStatus;
  requestedBy: string;
  total: number;
  moved: number;
  running: number;
  createdAt: number;
}

/** What a worker learns when it checks a stored drain plan against its seal. */
export type DrainPlanCheck =
  | { ok: true; plan: DrainPlan; digest: string }
  | { ok: false; reason: "unknown" | "unsealed" | "seal-mismatch" | "unreadable" };

export class DrainStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly sealer: PlanSealer | null = null,
  ) {}

  key(id: string): string {
    return `${this.prefix}:drain:${id}`;
  }

  private hostKey(host: string): string {
    return `${this.prefix}:drain-host:${host.toLowerCase()}`;
  }

  /** Takes the host for `id`; returns the holder (`id` when taken, another drain's id when busy). */
  async lockHost(host: string, id: string, ttlS: number = DRAIN_LOCK_TTL_S): Promise<string> {
    return (await this.redis.eval(LOCK_LUA, 1, this.hostKey(host), id, String(ttlS))) as string;
  }

  async hostHolder(host: string): Promise<string | null> {
    return this.redis.get(this.hostKey(host));
  }

  async releaseHost(host: string, id: string): Promise<void> {
    await this.redis.eval(RELEASE_LUA, 1, this.hostKey(host), id);
  }

  /** Stores a new pending plan, sealed (workers only). Returns its digest: what an approval names. */
  async create(plan: DrainPlan, ttlS: number): Promise<string> {
    if (this.sealer === null) throw new Error("DRAIN_NO_SEALER: only a worker can store drain plans");
    const json = JSON.stringify(plan);
    await this.redis
      .multi()
      .hset(this.key(plan.id), {
        plan: json,
        seal: this.sealer.seal(`${SEAL_TAG}${json}`),
        status: "pending",
        expiresAt: String(plan.expiresAt),
        requestedBy: plan.requestedBy,
        paused: "",
      })
      .expire(this.key(plan.id), ttlS + DRAIN_RETENTION_S)
      .zadd(`${this.prefix}:drains`, plan.createdAt, plan.id)
      .exec();
    return sha256Hex(json);
  }

  /** The plan as stored, unchecked (for showing and deciding); null when unknown. */
  async plan(id: string): Promise<DrainPlan | null> {
    if (!DRAIN_ID_RE.test(id)) return null;
    const raw = await this.redis.hget(this.key(id), "plan");
    return parseJson<DrainPlan>(raw);
  }

  /** The plan only if the workers sealed it: what a worker reads before it acts on it. */
  async sealedPlan(id: string): Promise<DrainPlanCheck> {
    if (!DRAIN_ID_RE.test(id)) return { ok: false, reason: "unknown" };
    if (this.sealer === null) throw new Error("DRAIN_NO_SEALER: only a worker can check drain plans");
    const [json, seal] = await this.redis.hmget(this.key(id), "plan", "seal");
    if (!json) return { ok: false, reason: "unknown" };
    if (!seal) return { ok: false, reason: "unsealed" };
    if (!this.sealer.check(`${SEAL_TAG}${json}`, seal)) return { ok: false, reason: "seal-mismatch" };
    const plan = parseJson<DrainPlan>(json);
    if (plan === null || plan.id !== id) return { ok: false, reason: "unreadable" };
    return { ok: true, plan, digest: sha256Hex(json) };
  }

  /** The stored plan's digest (the bot names it in the drain job). */
  async digest(id: string): Promise<string | null> {
    if (!DRAIN_ID_RE.test(id)) return null;
    const json = await this.redis.hget(this.key(id), "plan");
    return json ? sha256Hex(json) : null;
  }

  /** Approve or reject, the first authorized click wins (the claim fix proposals use). */
  claim(
    id: string,
    user: string,
    decision: "approve" | "reject",
    opts: { isApprover: boolean; allowSelfApproval: boolean; now: number },
  ): Promise<ClaimResult> {
    if (!DRAIN_ID_RE.test(id)) return Promise.resolve({ ok: false, reason: "unknown" });
    return claimDecision(this.redis, this.key(id), user, decision, opts);
  }

  async status(id: string, now: number = Date.now()): Promise<DrainStatus | null> {
    const [status, expiresAt] = await this.redis.hmget(this.key(id), "status", "expiresAt");
    if (!status) return null;
    if (status === "pending" && now >= Number(expiresAt)) return "expired";
    return status as DrainStatus;
  }

  async decidedBy(id: string): Promise<string | null> {
    return (await this.redis.hget(this.key(id), "decidedBy")) || null;
  }

  async setStatus(id: string, status: DrainStatus): Promise<void> {
    await this.redis.hset(this.key(id), "status", status);
  }

  async setMessageTs(id: string, ts: string): Promise<void> {
    await this.redis.hset(this.key(id), "messageTs", ts);
  }

  async messageTs(id: string): Promise<string | null> {
    return (await this.redis.hget(this.key(id), "messageTs")) || null;
  }

  async run(id: string): Promise<DrainRun | null> {
    return parseJson<DrainRun>(await this.redis.hget(this.key(id), "run"));
  }

  async saveRun(id: string, run: DrainRun, json: string = JSON.stringify(run)): Promise<void> {
    await this.redis.hset(this.key(id), { run: json, status: run.status });
  }

  /** Pause (who) or resume (null). */
  async setPaused(id: string, by: string | null): Promise<void> {
    await this.redis.hset(this.key(id), "paused", by ?? "");
  }

  async paused(id: string): Promise<string | null> {
    return (await this.redis.hget(this.key(id), "paused")) || null;
  }

  /** Records a Cancel, once; false when someone cancelled already. */
  async setCancel(id: string, cancel: DrainCancel): Promise<boolean> {
    return (await this.redis.hsetnx(this.key(id), "cancel", JSON.stringify(cancel))) === 1;
  }

  async cancel(id: string): Promise<DrainCancel | null> {
    return parseJson<DrainCancel>(await this.redis.hget(this.key(id), "cancel"));
  }
}

/** Drains, newest first, as App Home lists them: `running` ones first when `onlyActive`. */
export async function listDrains(
  redis: Redis,
  prefix: string,
  opts: { limit?: number; onlyActive?: boolean } = {},
): Promise<DrainSummary[]> {
  const ids = await redis.zrevrange(`${prefix}:drains`, 0, (opts.limit ?? 20) * 3 - 1);
  const out: DrainSummary[] = [];
  for (const id of ids) {
    const h = await redis.hgetall(`${prefix}:drain:${id}`);
    const plan = parseJson<DrainPlan>(h.plan ?? null);
    if (plan === null) continue;
    const run = parseJson<DrainRun>(h.run ?? null);
    const status = (h.status ?? "pending") as DrainStatus;
    const active =
      status === "running" || status === "paused" || status === "cancelling" || status === "approved";
    if (opts.onlyActive && !active) continue;
    const vms = run?.vms ?? [];
    out.push({
      id,
      host: plan.host,
      channel: plan.channel,
      messageTs: h.messageTs || null,
      status,
      requestedBy: plan.requestedBy,
      total: run ? vms.length : plan.vms.length,
      moved: vms.filter((v) => v.state === "completed").length,
      running: vms.filter((v) => v.state === "running").length,
      createdAt: plan.createdAt,
    });
    if (out.length >= (opts.limit ?? 20)) break;
  }
  return out;
}

/** Redis contents are untrusted: anything unreadable is null. */
function parseJson<T>(raw: string | null | undefined): T | null {
  if (!raw) return null;
  try {
    const v = JSON.parse(raw) as unknown;
    return v !== null && typeof v === "object" ? (v as T) : null;
  } catch {
    return null;
  }
}
