/**
 * Connections to Redis for one process, all made here from the config: the client its stores use,
 * a fail-fast client for the bot's acknowledgement path, and the factory BullMQ takes. One Redis
 * (`REDIS_URL`) or, with `REDIS_SENTINELS`, whichever node the Sentinels name as the primary of
 * `REDIS_SENTINEL_NAME` (ioredis asks them, and asks again after a failover). Production code:
 * nothing here knows the sandbox.
 *
 * What Redis briefly going away (a restart, a failover) does to each:
 * - the stores' client keeps a command while it reconnects, about {@link REDIS_COMMAND_PATIENCE_MS}
 *   in all, then fails it (the tracker rides longer outages out poll by poll);
 * - BullMQ's connections keep commands until Redis is back (BullMQ requires
 *   `maxRetriesPerRequest: null`);
 * - the fail-fast client refuses commands at once while it is not connected, so the bot can tell
 *   the person at once that nothing was queued, within Slack's 3 s.
 */
import { Redis, type RedisOptions } from "ioredis";
import type { Config } from "../config";
import type { Logger } from "../log";
import { silentLogger } from "../log";
import { redisTlsOptions } from "./redis-options";

/** Reconnection attempts a stores' command waits through before it fails (see {@link REDIS_COMMAND_PATIENCE_MS}). */
export const REDIS_MAX_RETRIES_PER_REQUEST = 20;
/** Each reconnection attempt waits this much longer than the one before… */
export const REDIS_RECONNECT_STEP_MS = 100;
/** …up to this. */
export const REDIS_RECONNECT_MAX_MS = 2_000;
/**
 * About how long a stores' command waits for Redis to come back before failing: the sum of the first
 * {@link REDIS_MAX_RETRIES_PER_REQUEST} reconnection delays (100 ms, 200 ms, … 2 s), 21 s: longer
 * than a restart with AOF or a Sentinel failover with `down-after-milliseconds` 5000.
 */
export const REDIS_COMMAND_PATIENCE_MS = Array.from({ length: REDIS_MAX_RETRIES_PER_REQUEST }, (_, i) =>
  Math.min((i + 1) * REDIS_RECONNECT_STEP_MS, REDIS_RECONNECT_MAX_MS),
).reduce((a, b) => a + b, 0);
/** One Redis connection error is logged per client per this interval (ioredis reports every attempt). */
export const REDIS_ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * How long a process that answers people waits at start for its fail-fast connections to be ready
 * before it takes requests anyway (then answering "cannot reach Redis" until they are): they refuse
 * every command until connected, so without the wait the first commands after a (re)start were
 * refused with Redis up.
 */
export const REDIS_START_READY_WAIT_MS = 10_000;

/** Resolves true once every client is connected and ready, false if that has not happened within `timeoutMs`. */
export async function redisReady(clients: Redis[], timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const ready = Promise.all(
    clients.map((c) =>
      c.status === "ready"
        ? Promise.resolve()
        : new Promise<void>((resolve) => c.once("ready", () => resolve())),
    ),
  ).then(() => true as const);
  try {
    return await Promise.race([ready, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reconnection delay after `times` failed attempts. */
function reconnectDelay(times: number): number {
  return Math.min(times * REDIS_RECONNECT_STEP_MS, REDIS_RECONNECT_MAX_MS);
}

/**
 * A demoted primary answers writes with READONLY until Sentinel's reconfiguration closes its
 * clients: reconnect (asking the Sentinels again) and resend the command, instead of failing it.
 */
function reconnectOnError(err: Error): 2 | false {
  return err.message.startsWith("READONLY") ? 2 : false;
}

/** Where and how to reach Redis: the config's URL, TLS and Sentinels, as ioredis options. */
export function redisTarget(
  config: Pick<
    Config,
    "redisUrl" | "redisTlsCaFile" | "redisSentinels" | "redisSentinelName" | "redisSentinelPassword"
  >,
): { url: string; options: RedisOptions } {
  if (config.redisUrl === undefined) throw new Error("connectRedis: no REDIS_URL in the config");
  const options: RedisOptions = {
    ...redisTlsOptions(config),
    retryStrategy: reconnectDelay,
    reconnectOnError,
  };
  if (config.redisSentinels !== undefined && config.redisSentinels.length > 0) {
    // With `sentinels`, ioredis ignores the URL's host and port and asks the Sentinels for the
    // primary of `name`; the URL still gives the password (and the database).
    Object.assign(options, {
      sentinels: config.redisSentinels,
      name: config.redisSentinelName,
      role: "master",
      ...(config.redisSentinelPassword !== undefined && { sentinelPassword: config.redisSentinelPassword }),
      // Subscribes to the Sentinels' +switch-master: a failover is acted on at once, not at the
      // next connection error.
      failoverDetector: true,
    } satisfies RedisOptions);
  }
  return { url: config.redisUrl, options };
}

/** Logs a client's connection errors, one per {@link REDIS_ERROR_LOG_INTERVAL_MS} (never the URL: it holds the password). */
function logErrors(client: Redis, log: Logger, which: string): Redis {
  let lastAt = 0;
  let skipped = 0;
  client.on("error", (err: Error & { code?: string }) => {
    const now = Date.now();
    if (now - lastAt < REDIS_ERROR_LOG_INTERVAL_MS) {
      skipped++;
      return;
    }
    log.warn("redis connection error; reconnecting", {
      client: which,
      code: err.code,
      err: err.message,
      ...(skipped > 0 && { alsoSince: skipped }),
    });
    lastAt = now;
    skipped = 0;
  });
  return client;
}

/** A BullMQ connection factory; `closeAll` disconnects what it made (BullMQ leaves them open). */
export function bullConnection(
  url: string,
  options: RedisOptions = {},
  log: Logger = silentLogger,
): (() => Redis) & { closeAll(): Promise<void>; producer(): Redis } {
  // BullMQ does not close connections it was handed, so keep them to close at shutdown: a leftover
  // one keeps the process alive and reconnects forever once Redis is gone.
  const made: Redis[] = [];
  const factory = () => {
    const r = logErrors(new Redis(url, { ...options, maxRetriesPerRequest: null }), log, "bullmq");
    made.push(r);
    return r;
  };
  return Object.assign(factory, {
    /**
     * A connection for adding jobs that fails at once while Redis is away instead of queueing the
     * add until it is back (BullMQ's advice for producers that answer someone: `enableOfflineQueue:
     * false`), so a request is never queued after its sender was told it was not.
     */
    producer() {
      const r = logErrors(
        new Redis(url, { ...options, maxRetriesPerRequest: null, enableOfflineQueue: false }),
        log,
        "bullmq-producer",
      );
      made.push(r);
      return r;
    },
    async closeAll() {
      for (const r of made.splice(0)) r.disconnect();
    },
  });
}

export interface RedisConnections {
  /** The stores' client: waits about {@link REDIS_COMMAND_PATIENCE_MS} for Redis to come back. */
  redis: Redis;
  /** Refuses commands at once while Redis is away: for answers that must come within seconds. */
  failFast: Redis;
  bull: ReturnType<typeof bullConnection>;
  close(): Promise<void>;
}

/** The process's Redis clients and BullMQ factory, from REDIS_URL (and REDIS_SENTINELS). */
export function connectRedis(
  config: Pick<
    Config,
    "redisUrl" | "redisTlsCaFile" | "redisSentinels" | "redisSentinelName" | "redisSentinelPassword"
  >,
  log: Logger = silentLogger,
): RedisConnections {
  const { url, options } = redisTarget(config);
  const redis = logErrors(
    new Redis(url, { ...options, maxRetriesPerRequest: REDIS_MAX_RETRIES_PER_REQUEST }),
    log,
    "stores",
  );
  const failFast = logErrors(
    new Redis(url, { ...options, maxRetriesPerRequest: 1, enableOfflineQueue: false }),
    log,
    "fail-fast",
  );
  const bull = bullConnection(url, options, log);
  return {
    redis,
    failFast,
    bull,
    async close() {
      await bull.closeAll();
      redis.disconnect();
      failFast.disconnect();
    },
  };
}
