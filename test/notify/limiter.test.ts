import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { RedisRateLimiter } from "../../src/notify/limiter";
import { connectRedis, uniquePrefix } from "./harness";

let redisA: Redis;
let redisB: Redis;

beforeAll(() => {
  redisA = connectRedis();
  redisB = connectRedis();
});
afterAll(() => {
  redisA.disconnect();
  redisB.disconnect();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("RedisRateLimiter", () => {
  test("allows a burst, then asks the caller to wait about one interval", async () => {
    const limiter = new RedisRateLimiter(redisA, { prefix: uniquePrefix() });
    const rule = { key: "chat.postMessage:C1", perWindow: 1, windowMs: 300, burst: 3 };
    expect([await limiter.reserve(rule), await limiter.reserve(rule), await limiter.reserve(rule)]).toEqual([
      0, 0, 0,
    ]);
    const wait = await limiter.reserve(rule);
    expect(wait).toBeGreaterThan(200);
    expect(wait).toBeLessThanOrEqual(300);
    await sleep(wait);
    expect(await limiter.reserve(rule)).toBe(0);
  });

  test("two processes hammering one rule together get no more than the rule allows", async () => {
    const prefix = uniquePrefix();
    const rule = { key: "chat.update", perWindow: 5, windowMs: 500 };
    const runMs = 1_200;
    const start = Date.now();
    const grants: number[] = [];
    const hammer = async (redis: Redis) => {
      const limiter = new RedisRateLimiter(redis, { prefix });
      for (let i = 0; i < 500 && Date.now() - start < runMs; i++) {
        const wait = await limiter.reserve(rule);
        if (wait === 0) grants.push(Date.now());
        else await sleep(Math.min(wait, 20));
      }
    };
    await Promise.all([hammer(redisA), hammer(redisB), hammer(redisA), hammer(redisB)]);
    // 100 ms interval, no burst: at most one grant per 100 ms, plus the one at the start.
    expect(grants.length).toBeLessThanOrEqual(Math.floor(runMs / 100) + 1);
    expect(grants.length).toBeGreaterThanOrEqual(Math.floor(runMs / 100) - 2);
  });

  test("a penalty holds its own key for Retry-After and leaves other keys alone", async () => {
    const prefix = uniquePrefix();
    const limiter = new RedisRateLimiter(redisA, { prefix });
    const c1 = { key: "chat.postMessage:C1", perWindow: 1, windowMs: 100, burst: 3 };
    const c2 = { key: "chat.postMessage:C2", perWindow: 1, windowMs: 100, burst: 3 };
    await limiter.penalize(c1.key, 400);
    const held = await limiter.reserve(c1);
    expect(held).toBeGreaterThan(300);
    expect(held).toBeLessThanOrEqual(400);
    expect(await limiter.reserve(c2)).toBe(0);
    // A second worker sees the same hold.
    expect(await new RedisRateLimiter(redisB, { prefix }).reserve(c1)).toBeGreaterThan(300);
    await sleep(held);
    // After a 429 the budget resumes at the steady pace, not with a fresh burst.
    expect(await limiter.reserve(c1)).toBe(0);
    expect(await limiter.reserve(c1)).toBeGreaterThan(50);
  });

  test("a channel held by a 429 does not spend the workspace-wide budget", async () => {
    const limiter = new RedisRateLimiter(redisA, { prefix: uniquePrefix() });
    const workspace = { key: "chat.update", perWindow: 1, windowMs: 10_000 };
    await limiter.penalize("chat.update:C1", 5_000);
    expect(await limiter.reserve(workspace, { holdKeys: ["chat.update:C1"] })).toBeGreaterThan(4_000);
    // Had C1's refused attempt been charged, C2 would now wait ten seconds.
    expect(await limiter.reserve(workspace, { holdKeys: ["chat.update:C2"] })).toBe(0);
    expect(await limiter.reserve(workspace, { holdKeys: ["chat.update:C2"] })).toBeGreaterThan(9_000);
  });

  test("routine calls leave headroom that urgent calls may use", async () => {
    const limiter = new RedisRateLimiter(redisA, { prefix: uniquePrefix() });
    const rule = { key: "chat.update", perWindow: 1, windowMs: 200 };
    expect(await limiter.reserve(rule)).toBe(0);
    await sleep(210);
    // One interval has passed: urgent may go, routine must wait its extra headroom.
    expect(await limiter.reserve(rule, { headroomMs: 100 })).toBeGreaterThan(50);
    expect(await limiter.reserve(rule)).toBe(0);
  });

  test("rejects a rule that makes no sense, naming it", async () => {
    const limiter = new RedisRateLimiter(redisA, { prefix: uniquePrefix() });
    await expect(limiter.reserve({ key: "chat.update", perWindow: 0, windowMs: 1000 })).rejects.toThrow(
      /chat\.update/,
    );
  });
});
