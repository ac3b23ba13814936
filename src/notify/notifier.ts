/**
 * Posts and edits Slack messages for every worker without exceeding Slack's limits. The rate budget
 * is global (Redis, see limiter.ts); queues, coalescing and priorities are per process, because the
 * worker that follows a migration owns that migration's messages.
 *
 * Each (method, channel) pair has its own lane: a queue served by one loop, so a backlog or a 429 in
 * one channel, or on one method, never holds up another.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { CodedError } from "../errors";
import { type Logger, silentLogger } from "../log";
import {
  DEFAULT_NOTIFY_RULES,
  LuaScript,
  type NotifyRules,
  type RateRule,
  RedisRateLimiter,
  type SlackMethod,
} from "./limiter";
import type { FileUpload } from "./port";
import { type SlackApi, SlackApiError, type SlackMessage, SlackRateLimitedError } from "./slack-api";

/** How long a posted message's ts is remembered for its dedupe key. */
export const DEFAULT_DEDUPE_TTL_S = 7 * 24 * 3600;
/** A "posting now" marker left by a crashed worker expires after this; live owners keep renewing it. */
export const DEFAULT_PENDING_MARKER_TTL_MS = 30_000;
/** How often a caller that lost the dedupe race looks for the winner's ts. */
export const DEFAULT_DEDUPE_POLL_INTERVAL_MS = 200;
/** Routine edits of one message are sent at most this often (urgent ones skip the wait). */
export const DEFAULT_MIN_UPDATE_INTERVAL_MS = 3_000;
/** First backoff after a transient failure (5xx, network); doubles each time. */
export const DEFAULT_RETRY_BASE_MS = 500;
export const DEFAULT_RETRY_MAX_MS = 15_000;
/** Transient failures tolerated for one call before the caller gets an error. */
export const DEFAULT_MAX_TRANSIENT_ATTEMPTS = 8;
/** 429s tolerated for one call (each one honoured in full) before the caller gets an error. */
export const MAX_RATE_LIMITED_RETRIES = 30;
/** A call not delivered within this time is failed back to the caller instead of waiting forever. */
export const DEFAULT_DELIVERY_DEADLINE_MS = 10 * 60_000;
/**
 * Routine calls need this share of one interval of idle budget before taking a slot, so urgent calls
 * (final states) from any worker win when both are waiting.
 */
export const ROUTINE_HEADROOM_FRACTION = 0.25;
/**
 * A lane with work ready takes the next slot in one limiter call when it opens within this many of
 * its rule's intervals (a routine call's headroom included), and sleeps until then: under a backlog
 * that is one Redis round trip per Slack call instead of two (ask, sleep the wait, ask again), which
 * was ~1.9 calls per Slack call and a fifth of the worker's Redis commands at 1,000 followed
 * migrations (src/bench/track.ts). Farther off (a 429's hold), it asks again later, charging nothing.
 */
export const SLOT_AHEAD_INTERVALS = 1.5;
/** Small random delay added to waits so that workers polling one budget do not move in lockstep. */
const WAIT_JITTER_MAX_MS = 15;
/** ...and never more than this share of the wait, so short intervals are not stretched by it. */
const WAIT_JITTER_FRACTION = 0.1;
/** The `lastSent` table is pruned once it holds this many messages. */
const LAST_SENT_PRUNE_SIZE = 5_000;
const FLUSH_MAX_ROUNDS = 1_000;

export type NotifyErrorCode =
  | "NOTIFY_SLACK_REFUSED"
  | "NOTIFY_RETRIES_EXHAUSTED"
  | "NOTIFY_DEADLINE_EXCEEDED"
  | "NOTIFY_DEDUPE_TIMEOUT"
  | "NOTIFY_CLOSED";

/**
 * Whether a job that got each error may succeed if run again. Slack refusing the call is a bug in
 * the message or the app's setup and stays so. The rest are Slack or the network being slow or
 * down past the notifier's own retries, another worker holding a post too long, or this notifier
 * closing as its worker stops: a later run (after backoff, or on another worker) can get through,
 * and dedupe keys make sure it posts nothing twice.
 */
const NOTIFY_RETRYABLE: Record<NotifyErrorCode, boolean> = {
  NOTIFY_SLACK_REFUSED: false,
  NOTIFY_RETRIES_EXHAUSTED: true,
  NOTIFY_DEADLINE_EXCEEDED: true,
  NOTIFY_DEDUPE_TIMEOUT: true,
  NOTIFY_CLOSED: true,
};

/** Errors the notifier hands back to callers. */
export class NotifyError extends CodedError<NotifyErrorCode> {
  constructor(
    code: NotifyErrorCode,
    message: string,
    /** Slack's own error name (`channel_not_found`, `ratelimited`, …), when it has one. */
    readonly slackError?: string,
    cause?: unknown,
  ) {
    super(code, message, { retryable: NOTIFY_RETRYABLE[code], cause });
  }
}

export interface NotifierStats {
  posts: number;
  /** Files shared (uploads). */
  uploads: number;
  updates: number;
  coalesced: number;
  rateLimited: number;
}

export interface Notifier {
  /** Posts once per dedupeKey (e.g. `${jobId}:root`, `${jobId}:phase:precopy`): a retry after a crash returns the ts of the first post instead of posting again. Never dropped: waits for the limiter, retries 429s and transient errors with backoff. `urgent` (a migration's last phases) goes before routine posts in the same channel. */
  post(
    channel: string,
    msg: SlackMessage & { thread_ts?: string },
    opts: { dedupeKey: string; urgent?: boolean },
  ): Promise<string>;
  /** Edits in place, coalesced: if several updates for the same (channel, ts) are pending, only the latest is sent. Resolves when that state (or a newer one) has been sent. `urgent` (a final state) goes before routine progress edits. */
  update(channel: string, ts: string, msg: SlackMessage, opts?: { urgent?: boolean }): Promise<void>;
  ephemeral(channel: string, user: string, msg: SlackMessage & { thread_ts?: string }): Promise<void>;
  /** Shares a file once per dedupeKey, as `post` does for messages; resolves to Slack's file id. Sharing posts a message, so it also spends the channel's post budget. */
  upload(channel: string, file: FileUpload, opts: { dedupeKey: string; urgent?: boolean }): Promise<string>;
  /** Publishes a user's App Home tab, coalesced per user like `update`: only the latest queued view is sent. */
  publishHome(user: string, view: { blocks: unknown[] }): Promise<void>;
  /** Waits until everything queued in this process has been sent. */
  flush(): Promise<void>;
  close(): Promise<void>;
  stats(): NotifierStats;
}

export interface NotifierOptions {
  redis: Redis;
  api: SlackApi;
  /** Redis key prefix; limiter and dedupe keys live under it. Every worker of one workspace uses the same. */
  prefix: string;
  /** Overrides of the default rules (a bit under Slack's documented limits). */
  rules?: Partial<NotifyRules>;
  log?: Logger;
  /** @defaultValue DEFAULT_DEDUPE_TTL_S (7 days) */
  dedupeTtlS?: number;
  /** @defaultValue DEFAULT_PENDING_MARKER_TTL_MS (30 s) */
  pendingMarkerTtlMs?: number;
  /** @defaultValue DEFAULT_DEDUPE_POLL_INTERVAL_MS (200 ms) */
  dedupePollIntervalMs?: number;
  /** @defaultValue DEFAULT_MIN_UPDATE_INTERVAL_MS (3 s); 0 sends routine edits as soon as the budget allows. */
  minUpdateIntervalMs?: number;
  /** @defaultValue DEFAULT_RETRY_BASE_MS (500 ms) */
  retryBaseMs?: number;
  /** @defaultValue DEFAULT_RETRY_MAX_MS (15 s) */
  retryMaxMs?: number;
  /** @defaultValue DEFAULT_MAX_TRANSIENT_ATTEMPTS (8) */
  maxTransientAttempts?: number;
  /** @defaultValue DEFAULT_DELIVERY_DEADLINE_MS (10 min) */
  deliveryDeadlineMs?: number;
}

interface Task {
  readonly method: SlackMethod;
  /** Queue order; kept across retries so a retried call does not lose its place. */
  readonly seq: number;
  urgent: boolean;
  /** Local clock (Date.now()) before which the task must not be sent: backoff or per-message pacing. */
  notBefore: number;
  readonly deadline: number;
  transientFailures: number;
  rateLimitedCount: number;
  readonly describe: Record<string, unknown>;
  /** Makes the call with the newest state and settles its waiters on success. */
  send(): Promise<void>;
  /** Puts the task back after a retryable failure (or hands its waiters to a newer state). */
  requeue(): void;
  fail(err: NotifyError): void;
}

interface Lane {
  readonly key: string;
  readonly rules: RateRule[];
  readonly holdKeys: string[];
  readonly headroomMs: number;
  /** How far ahead the lane takes its next slot in one limiter call (see SLOT_AHEAD_INTERVALS). */
  readonly maxAheadMs: number;
  queue: Task[];
  running: boolean;
  /** Set while the loop sleeps; calling it wakes the loop early. */
  wake?: () => void;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

interface UpdateEntry {
  msg: SlackMessage;
  waiters: Waiter[];
  task: Task;
}

interface HomeEntry {
  view: { blocks: unknown[] };
  waiters: Waiter[];
  task: Task;
}

const PENDING = "pending:";
const POSTED = "posted:";

// Renews each pending marker (KEYS[i], our token ARGV[i]) only while it is still ours; the last ARGV is the TTL.
const RENEW_LUA = `local ttl = ARGV[#KEYS + 1]
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then n = n + redis.call('PEXPIRE', key, ttl) end
end
return n`;
/**
 * Markers renewed per Redis call. A worker with many posts queued behind Slack's pacing owns hundreds
 * (the track bench: ~550 every 10 s, one EVAL each, a tenth of the worker's Redis commands); one call
 * per batch keeps each script run short.
 */
const RENEW_BATCH = 200;
const renewScript = new LuaScript(RENEW_LUA);
// Releases a pending marker only while it is still ours.
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * How much idle budget a routine call leaves for urgent ones. Kept inside the rule's burst tolerance:
 * then a routine call that takes its slot late still advances the schedule by one interval, so the
 * priority costs no throughput. With no burst there is no tolerance to use, and no headroom.
 */
function headroomFor(rule: Omit<RateRule, "key">): number {
  const intervalMs = rule.windowMs / rule.perWindow;
  const toleranceMs = intervalMs * ((rule.burst ?? 1) - 1);
  return Math.min(intervalMs * ROUTINE_HEADROOM_FRACTION, toleranceMs / 2);
}

function isTransient(err: unknown): boolean {
  if (err instanceof SlackApiError) return err.retryable;
  // Network failures and anything the API wrapper did not classify: worth another try.
  return true;
}

class RedisNotifier implements Notifier {
  private readonly limiter: RedisRateLimiter;
  private readonly rules: NotifyRules;
  private readonly log: Logger;
  private readonly instanceId = randomUUID();
  private readonly lanes = new Map<string, Lane>();
  private readonly pendingUpdates = new Map<string, UpdateEntry>();
  private readonly pendingHomes = new Map<string, HomeEntry>();
  private readonly lastSent = new Map<string, number>();
  private readonly localPosts = new Map<string, Promise<string>>();
  /** Dedupe markers this process holds while its post is queued: key → token. */
  private readonly ownedMarkers = new Map<string, string>();
  private readonly inflight = new Set<Promise<unknown>>();
  private renewTimer?: NodeJS.Timeout;
  private seq = 0;
  private closed = false;
  private readonly counters: NotifierStats = {
    posts: 0,
    uploads: 0,
    updates: 0,
    coalesced: 0,
    rateLimited: 0,
  };

  private readonly dedupeTtlS: number;
  private readonly pendingTtlMs: number;
  private readonly pollMs: number;
  private readonly minUpdateIntervalMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly maxTransientAttempts: number;
  private readonly deadlineMs: number;

  constructor(private readonly opts: NotifierOptions) {
    this.limiter = new RedisRateLimiter(opts.redis, { prefix: opts.prefix });
    this.rules = { ...DEFAULT_NOTIFY_RULES, ...opts.rules };
    this.log = (opts.log ?? silentLogger).child({ component: "notify" });
    this.dedupeTtlS = opts.dedupeTtlS ?? DEFAULT_DEDUPE_TTL_S;
    this.pendingTtlMs = opts.pendingMarkerTtlMs ?? DEFAULT_PENDING_MARKER_TTL_MS;
    this.pollMs = opts.dedupePollIntervalMs ?? DEFAULT_DEDUPE_POLL_INTERVAL_MS;
    this.minUpdateIntervalMs = opts.minUpdateIntervalMs ?? DEFAULT_MIN_UPDATE_INTERVAL_MS;
    this.retryBaseMs = opts.retryBaseMs ?? DEFAULT_RETRY_BASE_MS;
    this.retryMaxMs = opts.retryMaxMs ?? DEFAULT_RETRY_MAX_MS;
    this.maxTransientAttempts = opts.maxTransientAttempts ?? DEFAULT_MAX_TRANSIENT_ATTEMPTS;
    this.deadlineMs = opts.deliveryDeadlineMs ?? DEFAULT_DELIVERY_DEADLINE_MS;
  }

  stats(): NotifierStats {
    return { ...this.counters };
  }

  post(
    channel: string,
    msg: SlackMessage & { thread_ts?: string },
    opts: { dedupeKey: string; urgent?: boolean },
  ): Promise<string> {
    if (this.closed) return Promise.reject(this.closedError());
    const same = this.localPosts.get(opts.dedupeKey);
    if (same) return same;
    const send = () =>
      this.opts.api.postMessage(channel, msg).then((res) => {
        this.counters.posts++;
        return res.ts;
      });
    const p = this.track(
      this.onceByKey(opts.dedupeKey, (key, token) =>
        this.sendClaimed(key, token, "chat.postMessage", channel, opts.dedupeKey, opts.urgent === true, send),
      ),
    ).finally(() => this.localPosts.delete(opts.dedupeKey));
    this.localPosts.set(opts.dedupeKey, p);
    return p;
  }

  upload(channel: string, file: FileUpload, opts: { dedupeKey: string; urgent?: boolean }): Promise<string> {
    if (this.closed) return Promise.reject(this.closedError());
    const same = this.localPosts.get(opts.dedupeKey);
    if (same) return same;
    const send = () =>
      this.opts.api.uploadFile(channel, file).then((res) => {
        this.counters.uploads++;
        return res.fileId;
      });
    const p = this.track(
      this.onceByKey(opts.dedupeKey, (key, token) =>
        this.sendClaimed(key, token, "files.upload", channel, opts.dedupeKey, opts.urgent === true, send),
      ),
    ).finally(() => this.localPosts.delete(opts.dedupeKey));
    this.localPosts.set(opts.dedupeKey, p);
    return p;
  }

  update(channel: string, ts: string, msg: SlackMessage, opts: { urgent?: boolean } = {}): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    const urgent = opts.urgent === true;
    const id = `${channel}\u0000${ts}`;
    const lane = this.lane("chat.update", channel);
    const done = new Promise<void>((resolve, reject) => {
      const existing = this.pendingUpdates.get(id);
      if (existing) {
        // Latest state wins: the queued edit keeps its place and sends the newest text.
        existing.msg = msg;
        existing.waiters.push({ resolve, reject });
        this.counters.coalesced++;
        if (urgent && !existing.task.urgent) {
          existing.task.urgent = true;
          existing.task.notBefore = 0;
          lane.wake?.();
        }
        return;
      }
      const entry: UpdateEntry = { msg, waiters: [{ resolve, reject }], task: undefined as unknown as Task };
      const paceUntil = urgent ? 0 : (this.lastSent.get(id) ?? 0) + this.minUpdateIntervalMs;
      entry.task = this.newTask(
        "chat.update",
        urgent,
        paceUntil,
        { channel, ts },
        {
          send: async () => {
            // From here on, new edits start a fresh entry; this call carries the state as of now.
            this.pendingUpdates.delete(id);
            const state = entry.msg;
            await this.opts.api.update(channel, ts, state);
            this.counters.updates++;
            this.noteSent(id);
            for (const w of entry.waiters) w.resolve();
          },
          requeue: () => {
            const newer = this.pendingUpdates.get(id);
            if (newer && newer !== entry) {
              // A newer state is already queued: it supersedes this one and will settle our waiters.
              newer.waiters.unshift(...entry.waiters);
              return;
            }
            this.pendingUpdates.set(id, entry);
            this.enqueue(lane, entry.task);
          },
          fail: (err) => {
            if (this.pendingUpdates.get(id) === entry) this.pendingUpdates.delete(id);
            for (const w of entry.waiters) w.reject(err);
          },
        },
      );
      this.pendingUpdates.set(id, entry);
      this.enqueue(lane, entry.task);
    });
    return this.track(done);
  }

  ephemeral(channel: string, user: string, msg: SlackMessage & { thread_ts?: string }): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    const lane = this.lane("chat.postEphemeral", channel);
    const done = new Promise<void>((resolve, reject) => {
      const task = this.newTask(
        "chat.postEphemeral",
        true,
        0,
        { channel },
        {
          send: async () => {
            await this.opts.api.postEphemeral(channel, user, msg);
            resolve();
          },
          requeue: () => this.enqueue(lane, task),
          fail: reject,
        },
      );
      this.enqueue(lane, task);
    });
    return this.track(done);
  }

  publishHome(user: string, view: { blocks: unknown[] }): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    const id = `home\u0000${user}`;
    // One lane for every user: Slack limits views.publish per workspace, so a 429 holds them all.
    const lane = this.lane("views.publish", "workspace");
    const done = new Promise<void>((resolve, reject) => {
      const existing = this.pendingHomes.get(id);
      if (existing) {
        // Latest view wins: the queued publish keeps its place and sends the newest blocks.
        existing.view = view;
        existing.waiters.push({ resolve, reject });
        this.counters.coalesced++;
        return;
      }
      const entry: HomeEntry = { view, waiters: [{ resolve, reject }], task: undefined as unknown as Task };
      entry.task = this.newTask(
        "views.publish",
        false,
        0,
        { user },
        {
          send: async () => {
            this.pendingHomes.delete(id);
            await this.opts.api.publishHome(user, entry.view);
            for (const w of entry.waiters) w.resolve();
          },
          requeue: () => {
            const newer = this.pendingHomes.get(id);
            if (newer && newer !== entry) {
              newer.waiters.unshift(...entry.waiters);
              return;
            }
            this.pendingHomes.set(id, entry);
            this.enqueue(lane, entry.task);
          },
          fail: (err) => {
            if (this.pendingHomes.get(id) === entry) this.pendingHomes.delete(id);
            for (const w of entry.waiters) w.reject(err);
          },
        },
      );
      this.pendingHomes.set(id, entry);
      this.enqueue(lane, entry.task);
    });
    return this.track(done);
  }

  async flush(): Promise<void> {
    for (let round = 0; round < FLUSH_MAX_ROUNDS && this.inflight.size > 0; round++) {
      await Promise.allSettled([...this.inflight]);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    this.stopRenewing();
  }

  // ---- posting with dedupe ----

  /** Runs `send` (a post or an upload) once per dedupe key across every worker: the winner of the Redis marker sends, the others wait for its result. */
  private async onceByKey(dedupeKey: string, send: (key: string, token: string) => Promise<string>) {
    const key = `${this.opts.prefix}:dedupe:${dedupeKey}`;
    // The owner may legitimately wait a whole delivery deadline behind the limiter.
    const giveUpAt = Date.now() + this.deadlineMs + this.pendingTtlMs;
    const maxRounds = Math.ceil((this.deadlineMs + this.pendingTtlMs) / Math.max(1, this.pollMs)) + 2;
    for (let round = 0; round < maxRounds; round++) {
      const token = `${PENDING}${this.instanceId}:${randomUUID()}`;
      const claimed = await this.opts.redis.set(key, token, "PX", this.pendingTtlMs, "NX");
      if (claimed === "OK") return send(key, token);
      const value = await this.opts.redis.get(key);
      if (value?.startsWith(POSTED)) return value.slice(POSTED.length);
      if (Date.now() > giveUpAt) break;
      // Pending elsewhere (or just expired): wait for the owner's ts, or for its marker to lapse.
      await sleep(this.pollMs);
    }
    throw new NotifyError(
      "NOTIFY_DEDUPE_TIMEOUT",
      `another worker has been posting "${dedupeKey}" for too long; check that workers can reach Slack, then retry the job`,
    );
  }

  private async sendClaimed(
    key: string,
    token: string,
    method: "chat.postMessage" | "files.upload",
    channel: string,
    dedupeKey: string,
    urgent: boolean,
    call: () => Promise<string>,
  ): Promise<string> {
    this.ownedMarkers.set(key, token);
    this.startRenewing();
    const lane = this.lane(method, channel);
    try {
      const ts = await new Promise<string>((resolve, reject) => {
        const task = this.newTask(
          method,
          urgent,
          0,
          { channel, dedupeKey },
          {
            send: async () => {
              resolve(await call());
            },
            requeue: () => this.enqueue(lane, task),
            fail: reject,
          },
        );
        this.enqueue(lane, task);
      });
      this.ownedMarkers.delete(key);
      await this.storePosted(key, ts, dedupeKey);
      return ts;
    } catch (err) {
      this.ownedMarkers.delete(key);
      // Let a later retry post: nothing reached Slack.
      await this.opts.redis.eval(RELEASE_LUA, 1, key, token).catch(() => undefined);
      throw err;
    }
  }

  private async storePosted(key: string, ts: string, dedupeKey: string): Promise<void> {
    for (let attempt = 0; attempt < this.maxTransientAttempts; attempt++) {
      try {
        await this.opts.redis.set(key, `${POSTED}${ts}`, "EX", this.dedupeTtlS);
        return;
      } catch (err) {
        this.log.warn("could not record a posted message's ts; retrying", { dedupeKey, err });
        await sleep(this.backoffMs(attempt + 1));
      }
    }
    // The message is posted; only a repeat of this exact call could now post it twice.
    this.log.error("posted message's ts not recorded: a retry of this post may duplicate it", {
      dedupeKey,
      ts,
    });
  }

  private startRenewing(): void {
    if (this.renewTimer) return;
    this.renewTimer = setInterval(
      () => {
        if (this.ownedMarkers.size === 0) return this.stopRenewing();
        const owned = [...this.ownedMarkers];
        for (let i = 0; i < owned.length; i += RENEW_BATCH) {
          const batch = owned.slice(i, i + RENEW_BATCH);
          const keys = batch.map(([key]) => key);
          const tokens = batch.map(([, token]) => token);
          renewScript.run(this.opts.redis, keys, [...tokens, this.pendingTtlMs]).catch((err: unknown) => {
            this.log.warn("could not renew dedupe markers", { err, markers: batch.length });
          });
        }
      },
      Math.max(10, Math.floor(this.pendingTtlMs / 3)),
    );
    this.renewTimer.unref();
  }

  private stopRenewing(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  // ---- lanes ----

  private lane(method: SlackMethod, channel: string): Lane {
    const key = `${method}:${channel}`;
    let lane = this.lanes.get(key);
    if (lane) return lane;
    let rules: RateRule[];
    let holdKeys: string[] = [];
    let headroomMs = 0;
    if (method === "chat.postMessage") {
      // The per-channel rule's own key carries the 429 hold for this channel.
      rules = [{ key, ...this.rules.postMessagePerChannel }];
      headroomMs = headroomFor(this.rules.postMessagePerChannel);
    } else if (method === "files.upload") {
      // Sharing a file posts a message in the channel: it takes a slot of the channel's post budget
      // as well as one of the workspace's upload budget.
      rules = [
        { key: method, ...this.rules.uploadPerWorkspace },
        { key: `chat.postMessage:${channel}`, ...this.rules.postMessagePerChannel },
      ];
      holdKeys = [key];
      headroomMs = headroomFor(this.rules.postMessagePerChannel);
    } else {
      const rule =
        method === "chat.update"
          ? this.rules.updatePerWorkspace
          : method === "views.publish"
            ? this.rules.publishViewPerWorkspace
            : this.rules.ephemeralPerWorkspace;
      rules = [{ key: method, ...rule }];
      // A 429 holds this channel's lane only; the workspace budget stays open to other channels.
      holdKeys = [key];
      headroomMs = headroomFor(rule);
    }
    const maxAheadMs = Math.max(...rules.map((r) => r.windowMs / r.perWindow)) * SLOT_AHEAD_INTERVALS;
    lane = { key, rules, holdKeys, headroomMs, maxAheadMs, queue: [], running: false };
    this.lanes.set(key, lane);
    return lane;
  }

  private newTask(
    method: SlackMethod,
    urgent: boolean,
    notBefore: number,
    describe: Record<string, unknown>,
    impl: Pick<Task, "send" | "requeue" | "fail">,
  ): Task {
    return {
      method,
      seq: this.seq++,
      urgent,
      notBefore,
      deadline: Date.now() + this.deadlineMs,
      transientFailures: 0,
      rateLimitedCount: 0,
      describe,
      ...impl,
    };
  }

  private enqueue(lane: Lane, task: Task): void {
    lane.queue.push(task);
    if (!lane.running) {
      this.lanes.set(lane.key, lane);
      void this.runLane(lane);
    } else if (task.notBefore <= Date.now()) {
      lane.wake?.();
    }
  }

  /** The task to send next: ready ones only, urgent first, then in arrival order. */
  private pick(lane: Lane, now: number): Task | undefined {
    let best: Task | undefined;
    for (const t of lane.queue) {
      if (t.notBefore > now) continue;
      if (!best || (t.urgent && !best.urgent) || (t.urgent === best.urgent && t.seq < best.seq)) best = t;
    }
    return best;
  }

  private async runLane(lane: Lane): Promise<void> {
    lane.running = true;
    let redisFailures = 0;
    try {
      // Ends when the queue is empty; every task leaves it by success, failure or its deadline.
      while (lane.queue.length > 0) {
        const now = Date.now();
        this.expire(lane, now);
        const next = this.pick(lane, now);
        if (!next) {
          const soonest = Math.min(...lane.queue.map((t) => t.notBefore), now + this.retryMaxMs);
          await this.sleepLane(lane, Math.max(1, soonest - now));
          continue;
        }
        let slot: { charged: boolean; waitMs: number };
        try {
          slot = await this.limiter.reserveAhead(lane.rules, {
            holdKeys: lane.holdKeys,
            headroomMs: next.urgent ? 0 : lane.headroomMs,
            maxAheadMs: lane.maxAheadMs,
          });
          redisFailures = 0;
        } catch (err) {
          redisFailures++;
          this.log.warn("rate limiter unavailable; waiting", { lane: lane.key, err });
          await this.sleepLane(lane, this.backoffMs(redisFailures));
          continue;
        }
        const wait = slot.waitMs;
        if (!slot.charged) {
          await this.sleepLane(
            lane,
            wait + Math.random() * Math.min(WAIT_JITTER_MAX_MS, wait * WAIT_JITTER_FRACTION),
          );
          continue;
        }
        // The slot is ours from `wait` ms on: a new task waking the lane does not move it earlier.
        const slotAt = Date.now() + wait;
        for (let left = wait; left > 0; left = slotAt - Date.now()) await this.sleepLane(lane, left);
        // Spend it on whatever is most important right now (a slot with nothing ready is lost).
        const task = this.pick(lane, Date.now());
        if (!task) continue;
        lane.queue.splice(lane.queue.indexOf(task), 1);
        await this.execute(lane, task);
      }
    } finally {
      lane.running = false;
      lane.wake = undefined;
      if (lane.queue.length > 0) void this.runLane(lane);
      else if (this.lanes.get(lane.key) === lane) this.lanes.delete(lane.key);
    }
  }

  private expire(lane: Lane, now: number): void {
    for (const task of lane.queue.filter((t) => t.deadline <= now)) {
      lane.queue.splice(lane.queue.indexOf(task), 1);
      this.log.error("gave up delivering a Slack call", { ...task.describe, method: task.method });
      task.fail(
        new NotifyError(
          "NOTIFY_DEADLINE_EXCEEDED",
          `${task.method} could not be delivered within ${Math.round(this.deadlineMs / 1000)} s (Slack busy or unreachable); check Slack's status and the worker's network, then retry`,
        ),
      );
    }
  }

  private async execute(lane: Lane, task: Task): Promise<void> {
    try {
      await task.send();
    } catch (err) {
      if (err instanceof SlackRateLimitedError) {
        this.counters.rateLimited++;
        task.rateLimitedCount++;
        this.log.warn("Slack rate limited a call; holding this channel and method", {
          ...task.describe,
          method: task.method,
          retryAfterMs: err.retryAfterMs,
        });
        await this.limiter.penalize(lane.key, err.retryAfterMs).catch((e: unknown) => {
          this.log.warn("could not share a Retry-After through Redis", { err: e });
        });
        if (task.rateLimitedCount > MAX_RATE_LIMITED_RETRIES) {
          return task.fail(
            new NotifyError(
              "NOTIFY_RETRIES_EXHAUSTED",
              `${task.method} was rate limited ${task.rateLimitedCount} times; another app may be using this workspace's budget — retry later`,
              "ratelimited",
              err,
            ),
          );
        }
        // Local hold too, in case Redis could not take the penalty.
        task.notBefore = Date.now() + err.retryAfterMs;
        return task.requeue();
      }
      if (isTransient(err)) {
        task.transientFailures++;
        const slackError = err instanceof SlackApiError ? err.slackError : undefined;
        this.log.warn("Slack call failed; will retry", {
          ...task.describe,
          method: task.method,
          attempt: task.transientFailures,
          err,
        });
        if (task.transientFailures >= this.maxTransientAttempts) {
          return task.fail(
            new NotifyError(
              "NOTIFY_RETRIES_EXHAUSTED",
              `${task.method} failed ${task.transientFailures} times${slackError ? ` (${slackError})` : ""}; check Slack's status and the worker's network, then retry`,
              slackError,
              err,
            ),
          );
        }
        task.notBefore = Date.now() + this.backoffMs(task.transientFailures);
        return task.requeue();
      }
      const slackError = err instanceof SlackApiError ? err.slackError : "unknown_error";
      this.log.error("Slack refused a call", { ...task.describe, method: task.method, slackError });
      task.fail(
        new NotifyError(
          "NOTIFY_SLACK_REFUSED",
          `Slack refused ${task.method}: ${slackError}; this is a bug in the message or the app's setup (scopes, channel membership) — fix it rather than retrying`,
          slackError,
          err,
        ),
      );
    }
  }

  private sleepLane(lane: Lane, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (lane.wake === done) lane.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      lane.wake = done;
    });
  }

  private backoffMs(attempt: number): number {
    const exp = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** (attempt - 1));
    // Full jitter keeps many workers from retrying in step after a shared outage.
    return exp / 2 + Math.random() * (exp / 2);
  }

  private noteSent(id: string): void {
    const now = Date.now();
    this.lastSent.set(id, now);
    if (this.lastSent.size > LAST_SENT_PRUNE_SIZE) {
      for (const [k, at] of this.lastSent) if (now - at > this.minUpdateIntervalMs) this.lastSent.delete(k);
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const remove = () => this.inflight.delete(p);
    p.then(remove, remove);
    return p;
  }

  private closedError(): NotifyError {
    return new NotifyError(
      "NOTIFY_CLOSED",
      "the notifier is closed; create a new one (the worker is shutting down)",
    );
  }
}

/** Creates the notifier a worker uses for everything it says in Slack. */
export function createNotifier(opts: NotifierOptions): Notifier {
  return new RedisNotifier(opts);
}
