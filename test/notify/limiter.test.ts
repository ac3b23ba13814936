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
/**
 * Node's timers may fire a millisecond before the wall clock Redis reads says the time is up; a
 * caller that waits what the limiter said, plus this, finds its slot.
 */
const TIMER_SLACK_MS = 5;
/**
 * Milliseconds since `t0` by this process's clock (the one Redis reads too: same machine), plus
 * 2 ms: both clocks are read in whole milliseconds, so either reading may lag by one.
 */
const since = (t0: number) => Date.now() - t0 + 2;

describe("RedisRateLimiter", () => {
  test("allows a burst, then asks the caller to wait one interval from the burst's start", async () => {
    const limiter = new RedisRateLimiter(redisA, { prefix: uniquePrefix() });
    // A second per call: the burst is surely taken well within one interval, however busy the machine.
    const rule = { key: "chat.postMessage:C1", perWindow: 1, windowMs: 1_000, burst: 3 };
    const t0 = Date.now();
    expect([await limiter.reserve(rule), await limiter.reserve(rule), await limiter.reserve(rule)]).toEqual([
      0, 0, 0,
    ]);
    const wait = await limiter.reserve(rule);
    // The fourth slot opens one interval after the first was taken: no sooner, no later.
    expect(wait).toBeLessThanOrEqual(1_000);
    expect(wait).toBeGreaterThanOrEqual(1_000 - since(t0));
    await sleep(wait + TIMER_SLACK_MS);
    expect(await limiter.reserve(rule)).toBe(0);
  });

  test("two processes hammering one rule together get no more than the rule allows", async () => {
    const prefix = uniquePrefix();
    const rule = { key: "chat.update", perWindow: 5, windowMs: 500 };
    const runMs = 1_200;
    const start = Date.now();
    /** When each granted call was asked and answered: Redis granted it in between. */
    const grants: { asked: number; answered: number }[] = [];
    const waits: number[] = [];
    const hammer = async (redis: Redis) => {
      const limiter = new RedisRateLimiter(redis, { prefix });
      for (let i = 0; i < 500 && Date.now() - start < runMs; i++) {
        const asked = Date.now();
        const wait = await limiter.reserve(rule);
        if (wait === 0) grants.push({ asked, answered: Date.now() });
        else {
          waits.push(wait);
          await sleep(Math.min(wait, 20));
        }
      }
    };
    await Promise.all([hammer(redisA), hammer(redisB), hammer(redisA), hammer(redisB)]);
    // 100 ms interval, no burst: grants at least 100 ms apart in Redis's time, which lies between the
    // first grant's asking and the last one's answer (1 ms for Redis reading the clock in µs).
    expect(grants.length).toBeGreaterThanOrEqual(2);
    const spanMs = Math.max(...grants.map((g) => g.answered)) - Math.min(...grants.map((g) => g.asked)) + 1;
    expect(grants.length).toBeLessThanOrEqual(Math.floor(spanMs / 100) + 1);
    // Refused callers are never told to wait longer than one interval: refusals cost nothing.
    expect(Math.max(...waits)).toBeLessThanOrEqual(100);
  });

  test("slots taken ahead by two processes still keep one budget: one per interval in Redis's time", async () => {
    const prefix = uniquePrefix();
    const rule = { key: "chat.update", perWindow: 5, windowMs: 500 };
    const runMs = 1_200;
    const start = Date.now();
    /** Each granted slot lies between (asked + wait) and (answered + wait) on this machine's clock. */
    const grants: { from: number; to: number; wait: number }[] = [];
    const hammer = async (redis: Redis) => {
      const limiter = new RedisRateLimiter(redis, { prefix });
      for (let i = 0; i < 500 && Date.now() - start < runMs; i++) {
        const asked = Date.now();
        const { charged, waitMs } = await limiter.reserveAhead(rule, { maxAheadMs: 150 });
        const answered = Date.now();
        if (charged) grants.push({ from: asked + waitMs, to: answered + waitMs, wait: waitMs });
        // Whoever was given a slot uses it then; whoever was not asks again when told.
        await sleep(Math.max(waitMs, 1));
      }
    };
    await Promise.all([hammer(redisA), hammer(redisB), hammer(redisA), hammer(redisB)]);
    expect(grants.length).toBeGreaterThanOrEqual(2);
    // Some slots were taken ahead (the point), and none further than allowed.
    expect(grants.some((g) => g.wait > 0)).toBe(true);
    expect(Math.max(...grants.map((g) => g.wait))).toBeLessThanOrEqual(150);
    // 100 ms interval, no burst: at most one slot per 100 ms over the span the slots lie in.
    const spanMs = Math.max(...grants.map((g) => g.to)) - Math.min(...grants.map((g) => g.from)) + 1;
    expect(grants.length).toBeLessThanOrEqual(Math.floor(spanMs / 100) + 1);
  });

  test("a slot taken ahead is charged at once: another process is given the one after it", async () => {
    const prefix = uniquePrefix();
    const a = new RedisRateLimiter(redisA, { prefix });
    const b = new RedisRateLimiter(redisB, { prefix });
    // Ten seconds per call, so the time these calls take on a busy machine does not matter.
    const rule = { key: "chat.postMessage:C1", perWindow: 1, windowMs: 10_000 };
    expect(await a.reserveAhead(rule, { maxAheadMs: 15_000 })).toEqual({ charged: true, waitMs: 0 });
    const ahead = await a.reserveAhead(rule, { maxAheadMs: 15_000 });
    expect(ahead.charged).toBe(true);
    expect(ahead.waitMs).toBeGreaterThan(5_000);
    // B asks now: the slot A took ahead is gone, so B's turn comes one interval after it.
    const refused = await b.reserveAhead(rule, { maxAheadMs: 15_000 });
    expect(refused.charged).toBe(false);
    expect(refused.waitMs).toBeGreaterThan(15_000);
    expect(await b.reserve(rule)).toBeGreaterThan(15_000);
  });

  test("a penalty holds its own key for Retry-After and leaves other keys alone", async () => {
    const prefix = uniquePrefix();
    const limiter = new RedisRateLimiter(redisA, { prefix });
    // One call a second with a burst of three: a fresh burst after the hold would show at once.
    const c1 = { key: "chat.postMessage:C1", perWindow: 1, windowMs: 1_000, burst: 3 };
    const c2 = { key: "chat.postMessage:C2", perWindow: 1, windowMs: 1_000, burst: 3 };
    const t0 = Date.now();
    await limiter.penalize(c1.key, 1_000);
    const held = await limiter.reserve(c1);
    expect(held).toBeLessThanOrEqual(1_000);
    expect(held).toBeGreaterThanOrEqual(1_000 - since(t0));
    expect(await limiter.reserve(c2)).toBe(0);
    // A second worker sees the same hold.
    expect(await new RedisRateLimiter(redisB, { prefix }).reserve(c1)).toBeGreaterThanOrEqual(
      1_000 - since(t0),
    );
    await sleep(held + TIMER_SLACK_MS);
    // After a 429 the budget resumes at the steady pace, not with a fresh burst: one call, then a
    // wait (a burst would have granted three back to back).
    expect(await limiter.reserve(c1)).toBe(0);
    expect(await limiter.reserve(c1)).toBeGreaterThan(0);
  });

  test("a channel held by a 429 does not spend the workspace-wide budget", async () => {
    const limiter = new RedisRateLimiter(redisA, { prefix: uniquePrefix() });
    const workspace = { key: "chat.update", perWindow: 1, windowMs: 10_000 };
    const t0 = Date.now();
    await limiter.penalize("chat.update:C1", 5_000);
    expect(await limiter.reserve(workspace, { holdKeys: ["chat.update:C1"] })).toBeGreaterThanOrEqual(
      5_000 - since(t0),
    );
    // Had C1's refused attempt been charged, C2 would now wait ten seconds.
    const t1 = Date.now();
    expect(await limiter.reserve(workspace, { holdKeys: ["chat.update:C2"] })).toBe(0);
    // C2's own call did charge it: the next one waits the interval from then.
    expect(await limiter.reserve(workspace, { holdKeys: ["chat.update:C2"] })).toBeGreaterThanOrEqual(
      10_000 - since(t1),
    );
  });

  test("routine calls leave headroom that urgent calls may use", async () => {
    const limiter = new RedisRateLimiter(redisA, { prefix: uniquePrefix() });
    const rule = { key: "chat.update", perWindow: 1, windowMs: 1_000 };
    // Most of an interval: the check after the sleep holds unless the timer fires 0.9 s late.
    const HEADROOM_MS = 900;
    expect(await limiter.reserve(rule)).toBe(0);
    // Asked at the same moment, a routine call is told to wait the headroom longer than an urgent one.
    const urgentWait = await limiter.reserve(rule);
    const routineWait = await limiter.reserve(rule, { headroomMs: HEADROOM_MS });
    expect(urgentWait).toBeGreaterThan(0);
    expect(routineWait).toBeGreaterThan(urgentWait);
    expect(routineWait - urgentWait).toBeLessThanOrEqual(HEADROOM_MS);
    // Once the interval has passed, urgent may go while routine still waits its headroom.
    await sleep(urgentWait + TIMER_SLACK_MS);
    expect(await limiter.reserve(rule, { headroomMs: HEADROOM_MS })).toBeGreaterThan(0);
    expect(await limiter.reserve(rule)).toBe(0);
  });

  test("rejects a rule that makes no sense, naming it", async () => {
    const limiter = new RedisRateLimiter(redisA, { prefix: uniquePrefix() });
    await expect(limiter.reserve({ key: "chat.update", perWindow: 0, windowMs: 1000 })).rejects.toThrow(
      /chat\.update/,
    );
  });
});
