/**
 * Keeps open Home tabs current. Something changed (a migration's phase, a proposal posted or
 * decided, a migration ended): the change counter in Redis goes up, and every recent viewer is due
 * a new view. Per user, at most one publish per interval across every process, and the state read
 * for it is read after the counter, so the latest state always wins and a burst of changes costs
 * one publish per interval, not one per change.
 *
 * Every process that sees changes (the workers: phases, proposals posted; the bot: decisions, a
 * tab opened) runs one of these over the same Redis keys; one Lua script decides who publishes.
 */
import type { Redis } from "ioredis";
import { type Logger, silentLogger } from "../log";
import type { HomePublisher, HomeSnapshot } from "./index";
import { type HomeViewers, USER_ID_RE } from "./viewers";

/** One Home publish per user at most this often (Slack's views.publish is Tier 4, per workspace). */
export const HOME_MIN_PUBLISH_INTERVAL_MS = 3_000;
/** Changes this close together are one change (a tracker's phase reply and root edit come together). */
export const HOME_CHANGE_DEBOUNCE_MS = 100;
/** `idle()` gives up after this long. */
const IDLE_MAX_WAIT_MS = 60_000;
const IDLE_POLL_MS = 20;

// KEYS: change counter, the version last shown to the user, the user's publish slot.
// ARGV: slot length (ms), how long the shown version is remembered (ms).
// Returns {-1} when the user has seen the latest state, {wait} (ms) while their slot is taken,
// {0, version} when this caller publishes now (slot and version taken at once).
const TAKE_LUA = `
local v = redis.call('GET', KEYS[1]) or '0'
if redis.call('GET', KEYS[2]) == v then return {-1} end
local pttl = redis.call('PTTL', KEYS[3])
if pttl > 0 then return {pttl} end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
redis.call('SET', KEYS[2], v, 'PX', ARGV[2])
return {0, v}
`;

export interface HomeRefresherOptions {
  redis: Redis;
  prefix: string;
  viewers: HomeViewers;
  read: () => Promise<HomeSnapshot>;
  publisher: HomePublisher;
  /** @defaultValue HOME_MIN_PUBLISH_INTERVAL_MS (3 s) */
  minIntervalMs?: number;
  /** @defaultValue HOME_CHANGE_DEBOUNCE_MS (100 ms) */
  changeDebounceMs?: number;
  /** How long a shown version is remembered (a viewer's TTL is enough). @defaultValue 30 min */
  shownTtlMs?: number;
  log?: Logger;
}

export interface HomeRefresher {
  /** A person opened their Home tab: they are kept up to date from now on, and shown it at once. */
  opened(user: string): Promise<void>;
  /** Something the Home tab shows changed: recent viewers get a new view (coalesced, paced). */
  changed(): void;
  /** Waits until nothing is scheduled or being published (tests, shutdown). */
  idle(): Promise<void>;
  close(): Promise<void>;
  stats(): { published: number; failed: number };
}

const DEFAULT_SHOWN_TTL_MS = 30 * 60_000;

/** Creates the refresher of one process. */
export function createHomeRefresher(opts: HomeRefresherOptions): HomeRefresher {
  const log = (opts.log ?? silentLogger).child({ component: "home" });
  const interval = opts.minIntervalMs ?? HOME_MIN_PUBLISH_INTERVAL_MS;
  const debounce = opts.changeDebounceMs ?? HOME_CHANGE_DEBOUNCE_MS;
  const shownTtl = opts.shownTtlMs ?? DEFAULT_SHOWN_TTL_MS;
  const versionKey = `${opts.prefix}:home:version`;
  const shownKey = (u: string) => `${opts.prefix}:home:shown:${u}`;
  const slotKey = (u: string) => `${opts.prefix}:home:slot:${u}`;
  const timers = new Map<string, NodeJS.Timeout>();
  let fanout: NodeJS.Timeout | undefined;
  let running = 0;
  let closed = false;
  const counters = { published: 0, failed: 0 };
  // The snapshot read for one change-counter value, shared by every viewer due at that value.
  // Kept one interval at most, so a tab opened later without a change still reads the state of now.
  let cached: { version: string; readAt: number; snapshot: Promise<HomeSnapshot> } | undefined;

  const track = async (work: () => Promise<void>) => {
    running++;
    try {
      await work();
    } catch (err) {
      log.warn("home tab refresh failed", { err });
    } finally {
      running--;
    }
  };

  const schedule = (user: string, delayMs: number) => {
    if (closed || timers.has(user)) return;
    timers.set(
      user,
      setTimeout(() => {
        timers.delete(user);
        void track(() => run(user));
      }, delayMs),
    );
  };

  const snapshotAt = (version: string): Promise<HomeSnapshot> => {
    if (cached?.version !== version || Date.now() - cached.readAt > interval) {
      const snapshot = opts.read();
      cached = { version, readAt: Date.now(), snapshot };
      // A failed read is not kept for the next viewer.
      snapshot.catch(() => {
        if (cached?.snapshot === snapshot) cached = undefined;
      });
    }
    return cached.snapshot;
  };

  const run = async (user: string) => {
    const r = (await opts.redis.eval(
      TAKE_LUA,
      3,
      versionKey,
      shownKey(user),
      slotKey(user),
      interval,
      shownTtl,
    )) as [number, string?];
    if (r[0] === -1) return;
    if (r[0] > 0) return schedule(user, r[0]);
    try {
      const snapshot = await snapshotAt(String(r[1] ?? "0"));
      await opts.publisher.publish(user, snapshot);
      counters.published++;
    } catch (err) {
      counters.failed++;
      // Not shown after all: the next change, or the next time they open the tab, tries again.
      await opts.redis.del(shownKey(user)).catch(() => undefined);
      throw err;
    }
  };

  return {
    async opened(user) {
      if (closed || !(await opts.viewers.opened(user))) return;
      // Whatever they were shown before, they see the state of now.
      await opts.redis.del(shownKey(user));
      schedule(user, 0);
    },

    changed() {
      if (closed || fanout !== undefined) return;
      fanout = setTimeout(() => {
        fanout = undefined;
        void track(async () => {
          await opts.redis.incr(versionKey);
          for (const user of await opts.viewers.recent()) if (USER_ID_RE.test(user)) schedule(user, 0);
        });
      }, debounce);
    },

    async idle() {
      const deadline = Date.now() + IDLE_MAX_WAIT_MS;
      while ((timers.size > 0 || fanout !== undefined || running > 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, IDLE_POLL_MS));
      }
    },

    async close() {
      closed = true;
      if (fanout) clearTimeout(fanout);
      fanout = undefined;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      const deadline = Date.now() + IDLE_MAX_WAIT_MS;
      while (running > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, IDLE_POLL_MS));
    },

    stats: () => ({ ...counters }),
  };
}
