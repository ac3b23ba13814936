/**
 * Connections to Redis for one process: the client its stores use and the factory BullMQ takes
 * (BullMQ wants `maxRetriesPerRequest: null` on its own connections), both with the config's TLS
 * options. Production code: nothing here knows the sandbox.
 */
import { Redis, type RedisOptions } from "ioredis";
import type { Config } from "../config";
import { redisTlsOptions } from "./redis-options";

/** Commands a store call retries while Redis is briefly unreachable, before it fails. */
export const REDIS_MAX_RETRIES_PER_REQUEST = 3;

/** A BullMQ connection factory; `closeAll` disconnects what it made (BullMQ leaves them open). */
export function bullConnection(
  url: string,
  options: RedisOptions = {},
): (() => Redis) & { closeAll(): Promise<void> } {
  // BullMQ does not close connections it was handed, so keep them to close at shutdown: a leftover
  // one keeps the process alive and reconnects forever once Redis is gone.
  const made: Redis[] = [];
  const factory = () => {
    const r = new Redis(url, { ...options, maxRetriesPerRequest: null });
    made.push(r);
    return r;
  };
  return Object.assign(factory, {
    async closeAll() {
      for (const r of made.splice(0)) r.disconnect();
    },
  });
}

export interface RedisConnections {
  redis: Redis;
  bull: ReturnType<typeof bullConnection>;
  close(): Promise<void>;
}

/** The process's Redis client and BullMQ factory for `config.redisUrl`. */
export function connectRedis(config: Pick<Config, "redisUrl" | "redisTlsCaFile">): RedisConnections {
  if (config.redisUrl === undefined) throw new Error("connectRedis: no REDIS_URL in the config");
  const tls = redisTlsOptions(config);
  const redis = new Redis(config.redisUrl, { ...tls, maxRetriesPerRequest: REDIS_MAX_RETRIES_PER_REQUEST });
  const bull = bullConnection(config.redisUrl, tls);
  return {
    redis,
    bull,
    async close() {
      await bull.closeAll();
      redis.disconnect();
    },
  };
}
