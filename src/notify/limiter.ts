/**
 * A rate limiter shared by every migbot process through Redis. Each key holds a GCRA state (the
 * "theoretical arrival time") and an optional hold (a Retry-After Slack gave us). Checks and updates
 * happen in one Lua script, so any number of workers on any number of machines stay within one
 * budget, and Redis's clock is the only clock that matters.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/** One budget: at most `perWindow` calls every `windowMs`, with up to `burst` back to back. */
export interface RateRule {
  /** e.g. `chat.postMessage:C123` (per channel) or `chat.update` (per workspace). */
  key: string;
  perWindow: number;
  windowMs: number;
  /** Calls allowed back to back when the budget has been idle. @defaultValue 1 */
  burst?: number;
}

export interface ReserveOptions {
  /** Keys that only carry holds (from `penalize`), e.g. `chat.update:C123` beside the workspace rule. */
  holdKeys?: readonly string[];
  /**
   * Extra idle time a routine call needs before it may take a slot, so that urgent calls (a final
   * state) polling at the same moment win. @defaultValue 0
   */
  headroomMs?: number;
}

// Slack documents its limits loosely ("about 1 per second", "50+ per minute"); these stay below.
/** chat.postMessage: Slack allows about 1 per second per channel. */
export const POST_MESSAGE_PER_CHANNEL_INTERVAL_MS = 1_100;
/** chat.update: Tier 3, 50+ per minute per workspace. */
export const UPDATE_PER_WORKSPACE_PER_MINUTE = 45;
/** chat.postEphemeral: Tier 4, 100+ per minute per workspace. */
export const EPHEMERAL_PER_WORKSPACE_PER_MINUTE = 90;
const MINUTE_MS = 60_000;
/** Keeps idle limiter keys a little past the point where they stop mattering. */
const KEY_EXPIRY_SLACK_MS = 1_000;

/** files.getUploadURLExternal and files.completeUploadExternal: Tier 4 each, 100+ per minute per workspace. */
export const UPLOAD_PER_WORKSPACE_PER_MINUTE = 90;
/** views.publish: Tier 4, 100+ per minute per workspace. */
export const PUBLISH_VIEW_PER_WORKSPACE_PER_MINUTE = 90;

/** `files.upload`: one file shared (Slack's two upload methods and the POST of the bytes). */
export type SlackMethod =
  | "chat.postMessage"
  | "chat.update"
  | "chat.postEphemeral"
  | "views.publish"
  | "files.upload";

/** The rule templates the notifier uses; a channel id is appended to `chat.postMessage`'s key. */
export interface NotifyRules {
  postMessagePerChannel: Omit<RateRule, "key">;
  updatePerWorkspace: Omit<RateRule, "key">;
  ephemeralPerWorkspace: Omit<RateRule, "key">;
  uploadPerWorkspace: Omit<RateRule, "key">;
  publishViewPerWorkspace: Omit<RateRule, "key">;
}

/** Slack tolerates "short bursts"; two back to back keep any one-second window at two calls. */
export const POST_MESSAGE_BURST = 2;
/** A burst of 3 on top of 45 a minute stays under 50 in any minute. */
export const UPDATE_BURST = 3;

export const DEFAULT_NOTIFY_RULES: NotifyRules = {
  postMessagePerChannel: {
    perWindow: 1,
    windowMs: POST_MESSAGE_PER_CHANNEL_INTERVAL_MS,
    burst: POST_MESSAGE_BURST,
  },
  updatePerWorkspace: {
    perWindow: UPDATE_PER_WORKSPACE_PER_MINUTE,
    windowMs: MINUTE_MS,
    burst: UPDATE_BURST,
  },
  ephemeralPerWorkspace: { perWindow: EPHEMERAL_PER_WORKSPACE_PER_MINUTE, windowMs: MINUTE_MS, burst: 1 },
  uploadPerWorkspace: { perWindow: UPLOAD_PER_WORKSPACE_PER_MINUTE, windowMs: MINUTE_MS, burst: 1 },
  publishViewPerWorkspace: {
    perWindow: PUBLISH_VIEW_PER_WORKSPACE_PER_MINUTE,
    windowMs: MINUTE_MS,
    burst: 1,
  },
};

// KEYS: n rule hashes, then hold-only hashes. ARGV: n, then interval and tolerance per rule, then
// headroom, then how far ahead a slot may be taken (ms). Returns {charged, wait}: charged = 1 when a
// slot was taken for all rules at once, `wait` ms from now (0: now); else nothing is charged, so a
// lane blocked by its own hold never spends the workspace-wide budget, and `wait` says when to ask
// again. A slot taken ahead is charged exactly as a call arriving at that moment would be.
const RESERVE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local headroom = tonumber(ARGV[2 + 2 * n])
local ahead = tonumber(ARGV[3 + 2 * n]) or 0
local wait = 0
local eff = {}
for i = 1, #KEYS do
  local st = redis.call('HMGET', KEYS[i], 'tat', 'hold')
  local tat = tonumber(st[1]) or 0
  local hold = tonumber(st[2]) or 0
  local allowAt
  if i <= n then
    local tau = tonumber(ARGV[1 + 2 * i])
    -- after a hold, resume at the steady pace rather than with a burst
    if hold > 0 and hold + tau > tat then tat = hold + tau end
    eff[i] = tat
    allowAt = tat - tau + headroom
    if hold > allowAt then allowAt = hold end
  else
    allowAt = hold
  end
  if allowAt - now > wait then wait = allowAt - now end
end
wait = math.ceil(wait)
if wait > ahead then return {0, wait} end
local at = now + wait
for i = 1, n do
  local interval = tonumber(ARGV[2 * i])
  local tat = eff[i]
  if tat < at then tat = at end
  tat = tat + interval
  redis.call('HSET', KEYS[i], 'tat', tostring(tat))
  local ttl = math.ceil(tat - now) + ${KEY_EXPIRY_SLACK_MS}
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return {1, wait}
`;

// KEYS[1]: the hash. ARGV[1]: ms to hold. Holds only ever lengthen.
const PENALIZE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holdUntil = now + tonumber(ARGV[1])
local hold = tonumber(redis.call('HGET', KEYS[1], 'hold')) or 0
if holdUntil > hold then
  redis.call('HSET', KEYS[1], 'hold', tostring(holdUntil))
  local ttl = tonumber(ARGV[1]) + ${KEY_EXPIRY_SLACK_MS}
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
end
return 0
`;

/** A Lua script sent by its SHA (EVALSHA), and in full only when Redis does not know it yet. */
export class LuaScript {
  private readonly sha: string;
  constructor(private readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }
  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).includes("NOSCRIPT")) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

const reserveScript = new LuaScript(RESERVE_LUA);
const penalizeScript = new LuaScript(PENALIZE_LUA);

function checkRule(rule: RateRule): { intervalMs: number; toleranceMs: number } {
  const burst = rule.burst ?? 1;
  if (!(rule.perWindow > 0 && rule.windowMs > 0 && burst >= 1)) {
    throw new RangeError(
      `rate rule ${rule.key}: perWindow, windowMs must be > 0 and burst >= 1 (got ${rule.perWindow}, ${rule.windowMs}, ${burst})`,
    );
  }
  const intervalMs = rule.windowMs / rule.perWindow;
  return { intervalMs, toleranceMs: intervalMs * (burst - 1) };
}

/** Redis-backed (Lua, atomic) limiter shared by all processes. */
export class RedisRateLimiter {
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    opts: { prefix: string },
  ) {
    this.prefix = `${opts.prefix}:rate:`;
  }

  /**
   * Tries to take one slot from every rule at once. Returns 0 when taken (call now), otherwise the ms
   * after which to ask again; nothing is charged in that case.
   */
  async reserve(rules: RateRule | readonly RateRule[], opts: ReserveOptions = {}): Promise<number> {
    const { charged, waitMs } = await this.reserveAhead(rules, { ...opts, maxAheadMs: 0 });
    return charged ? 0 : waitMs;
  }

  /**
   * Takes the next slot of every rule at once if it opens within `maxAheadMs`: `charged`, and the
   * caller calls Slack in `waitMs` (0: now) without asking again — one Redis round trip per call
   * under a backlog, where {@link reserve} takes two (ask, sleep, ask). The slot is charged in Redis
   * now, as a call arriving at that moment would be, so every process still shares one budget; a slot
   * taken and then not used is lost, not lent. Otherwise nothing is charged and `waitMs` says when
   * to ask again (a 429's hold, or a slot further off).
   */
  async reserveAhead(
    rules: RateRule | readonly RateRule[],
    opts: ReserveOptions & { maxAheadMs: number },
  ): Promise<{ charged: boolean; waitMs: number }> {
    const list = Array.isArray(rules) ? (rules as readonly RateRule[]) : [rules as RateRule];
    const keys: string[] = [];
    const args: (string | number)[] = [list.length];
    for (const rule of list) {
      const { intervalMs, toleranceMs } = checkRule(rule);
      keys.push(this.prefix + rule.key);
      args.push(intervalMs, toleranceMs);
    }
    for (const hold of opts.holdKeys ?? []) keys.push(this.prefix + hold);
    args.push(Math.max(0, opts.headroomMs ?? 0), Math.max(0, Math.floor(opts.maxAheadMs)));
    const [charged, wait] = (await reserveScript.run(this.redis, keys, args)) as [number, number];
    return { charged: Number(charged) === 1, waitMs: Number(wait) };
  }

  /** Holds `key` for `retryAfterMs` (Slack's Retry-After) for every process; other keys go on. */
  async penalize(key: string, retryAfterMs: number): Promise<void> {
    await penalizeScript.run(this.redis, [this.prefix + key], [Math.max(0, Math.ceil(retryAfterMs))]);
  }
}
