import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { RedisRateLimiter } from "../../src/notify/limiter";
import type { Notifier } from "../../src/notify/notifier";
import { until } from "../support/until";
import { connectRedis, startTestSlack, type TestSlack, uniquePrefix, workerNotifier } from "./harness";

// Short windows stand in for Slack's seconds and minutes; the notifier's rules stay a bit under them.
/** chat.postMessage in the emulator: two at once per channel, then one per 500 ms. */
const SLACK_POST_LIMIT = { perMinute: 120, burst: 2 };
/** chat.update in the emulator: four at once per workspace, then one per 250 ms. */
const SLACK_UPDATE_LIMIT = { perMinute: 240, burst: 4 };
const POST_RULE = { perWindow: 1, windowMs: 550 };
const UPDATE_RULE = { perWindow: 1, windowMs: 300 };
/** A Retry-After long enough that anything not held by it is plainly done first, even on a busy machine. */
const HOLD_S = 3;

let redisA: Redis;
let redisB: Redis;
let slack: TestSlack | undefined;
const notifiers: Notifier[] = [];

beforeAll(() => {
  redisA = connectRedis();
  redisB = connectRedis();
});
afterAll(() => {
  redisA.disconnect();
  redisB.disconnect();
});
afterEach(async () => {
  await Promise.all(notifiers.splice(0).map((n) => n.close()));
  await slack?.close();
  slack = undefined;
});

async function withSlack(
  rates: Parameters<typeof startTestSlack>[0] = { postMessage: SLACK_POST_LIMIT, update: SLACK_UPDATE_LIMIT },
) {
  slack = await startTestSlack(rates);
  return slack;
}

/** Resolves to true once `p` settled: to look at whether a promise is still pending. */
function settledFlag(p: Promise<unknown>): { done: boolean } {
  const flag = { done: false };
  p.finally(() => {
    flag.done = true;
  }).catch(() => {});
  return flag;
}

function worker(
  redis: Redis,
  s: TestSlack,
  prefix: string,
  extra: Parameters<typeof workerNotifier>[3] = {},
) {
  const n = workerNotifier(redis, s, prefix, {
    rules: { postMessagePerChannel: POST_RULE, updatePerWorkspace: UPDATE_RULE },
    minUpdateIntervalMs: 0,
    ...extra,
  });
  notifiers.push(n);
  return n;
}

describe("shared budget", () => {
  test("the emulator really refuses a burst that ignores the limits", async () => {
    const s = await withSlack();
    const bare = worker(redisA, s, uniquePrefix(), {
      rules: { postMessagePerChannel: { perWindow: 1000, windowMs: 1000, burst: 1000 } },
      maxTransientAttempts: 1,
    });
    await Promise.allSettled(
      [0, 1, 2, 3].map((i) => bare.post("C1", { text: `m${i}` }, { dedupeKey: `k${i}` })),
    );
    expect(s.stats().rateLimited["chat.postMessage"]).toBeGreaterThan(0);
  });

  test("two workers sharing one Redis never exceed the limits: zero 429s, every post and final edit lands", async () => {
    const s = await withSlack();
    const prefix = uniquePrefix();
    const a = worker(redisA, s, prefix);
    const b = worker(redisB, s, prefix);
    const started = Date.now();
    const posts = [a, b].flatMap((n, w) =>
      ["C1", "C2"].flatMap((ch) =>
        [0, 1, 2].map((i) => n.post(ch, { text: `w${w} ${ch} #${i}` }, { dedupeKey: `w${w}:${ch}:${i}` })),
      ),
    );
    const tss = await Promise.all(posts);
    const postsDoneMs = Date.now() - started;
    // Then both workers edit every message twice, as progress then final.
    const edits = [a, b].flatMap((n, w) =>
      ["C1", "C2"].flatMap((ch, c) =>
        [0, 1, 2].flatMap((i) => {
          const ts = tss[w * 6 + c * 3 + i]!;
          return [
            n.update(ch, ts, { text: `progress ${ts}` }),
            n.update(ch, ts, { text: `final ${ts}` }, { urgent: true }),
          ];
        }),
      ),
    );
    await Promise.all(edits);

    expect(s.stats().rateLimited).toEqual({});
    expect(s.messages("C1")).toHaveLength(6);
    expect(s.messages("C2")).toHaveLength(6);
    for (const m of [...s.messages("C1"), ...s.messages("C2")]) expect(m.text).toBe(`final ${m.ts}`);
    // Six posts per channel at one per 550 ms: the limiter, not luck, kept Slack happy.
    expect(postsDoneMs).toBeGreaterThanOrEqual(5 * 550 - 100);
    // Coalescing: 24 edit requests, one call per message.
    expect(s.stats().calls["chat.update"]).toBe(12);
    expect(a.stats().coalesced + b.stats().coalesced).toBe(12);
  });
});

describe("coalescing and priority", () => {
  test("20 rapid edits of one message make a few calls and Slack ends with the last state", async () => {
    const s = await withSlack();
    const n = worker(redisA, s, uniquePrefix());
    const ts = await n.post("C1", { text: "progress 0%" }, { dedupeKey: "root" });
    const first = n.update("C1", ts, { text: "progress 5%" });
    // The other 19 arrive while the first is on its way: they collapse into one call.
    const rest = Array.from({ length: 19 }, (_, i) =>
      n.update("C1", ts, { text: `progress ${(i + 2) * 5}%` }),
    );
    await Promise.all([first, ...rest]);
    expect(s.messages("C1")[0]!.text).toBe("progress 100%");
    const calls = s.stats().calls["chat.update"]!;
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(2);
    expect(s.editTexts().at(-1)).toBe("progress 100%");
    expect(n.stats()).toMatchObject({ updates: calls, coalesced: 20 - calls, rateLimited: 0 });
  });

  test("routine edits of one message are paced; the final (urgent) edit is not held back", async () => {
    const s = await withSlack();
    // A minute between routine edits of one message: longer than this test may take.
    const n = worker(redisA, s, uniquePrefix(), { minUpdateIntervalMs: 60_000 });
    const ts = await n.post("C1", { text: "start" }, { dedupeKey: "root" });
    const other = await n.post("C1", { text: "other" }, { dedupeKey: "other" });
    await n.update("C1", ts, { text: "10%" });
    const routine = n.update("C1", ts, { text: "20%" });
    const routineState = settledFlag(routine);
    // A routine edit of another message, asked later, goes out first: the held one waits its turn.
    await n.update("C1", other, { text: "other edited" });
    expect(s.editTexts()).toEqual(["10%", "other edited"]);
    expect(routineState.done).toBe(false);
    // The final state is not held for the minute: this resolves (the test would time out otherwise).
    await n.update("C1", ts, { text: "done" }, { urgent: true });
    await routine;
    expect(s.messages("C1")[0]!.text).toBe("done");
    // The held routine edit was folded into the final one, never sent on its own.
    expect(s.editTexts()).toEqual(["10%", "other edited", "done"]);
  });

  test("an urgent edit jumps the queue of routine edits", async () => {
    const s = await withSlack({ update: SLACK_UPDATE_LIMIT });
    const n = worker(redisA, s, uniquePrefix(), {
      rules: {
        postMessagePerChannel: { perWindow: 10, windowMs: 1_000, burst: 10 },
        updatePerWorkspace: UPDATE_RULE,
      },
    });
    const [a, b, c, d] = await Promise.all(
      ["a", "b", "c", "d"].map((k) => n.post("C1", { text: k }, { dedupeKey: k })),
    );
    await Promise.all([
      n.update("C1", a!, { text: "a1" }),
      n.update("C1", b!, { text: "b1" }),
      n.update("C1", c!, { text: "c1" }),
      n.update("C1", d!, { text: "d-final" }, { urgent: true }),
    ]);
    const order = s.editTexts();
    // All four were queued before the first slot came up: the final state takes it, the rest keep their order.
    expect(order).toEqual(["d-final", "a1", "b1", "c1"]);
  });
});

test("an urgent post (a migration's last phase) goes before routine posts queued in its channel", async () => {
  const s = await withSlack({});
  const n = worker(redisA, s, uniquePrefix(), {
    rules: { postMessagePerChannel: { perWindow: 1, windowMs: 150 } },
  });
  await Promise.all([
    n.post("C1", { text: "job-1 root" }, { dedupeKey: "1" }),
    n.post("C1", { text: "job-2 root" }, { dedupeKey: "2" }),
    n.post("C1", { text: "job-3 root" }, { dedupeKey: "3" }),
    n.post("C1", { text: "job-0 commitment" }, { dedupeKey: "0", urgent: true }),
  ]);
  // Dedupe claims in Redis come first, so the lane sees all four before its first slot.
  expect(s.messages("C1").map((m) => m.text)).toEqual([
    "job-0 commitment",
    "job-1 root",
    "job-2 root",
    "job-3 root",
  ]);
});

describe("429 handling", () => {
  test("a 429 on one channel's posts delays only that channel; other channels post on time", async () => {
    const s = await withSlack();
    const prefix = uniquePrefix();
    const a = worker(redisA, s, prefix);
    const b = worker(redisB, s, prefix);
    s.failNext({
      method: "chat.postMessage",
      channel: "C1",
      fault: { kind: "ratelimited", retryAfterS: HOLD_S },
    });
    const t0 = Date.now();
    const held = a.post("C1", { text: "held" }, { dedupeKey: "c1" }).then(() => Date.now() - t0);
    const heldState = settledFlag(held);
    // Once worker A has shared Slack's Retry-After for C1, worker B posting there honours it too…
    const probe = new RedisRateLimiter(redisB, { prefix });
    await until(
      "C1's hold in Redis",
      async () => (await probe.reserve([], { holdKeys: ["chat.postMessage:C1"] })) > 0,
      { intervalMs: 10 },
    );
    const alsoHeld = b.post("C1", { text: "also held" }, { dedupeKey: "c1-b" }).then(() => Date.now() - t0);
    const alsoHeldState = settledFlag(alsoHeld);
    // …while a post in C2 goes out and lands before either C1 post.
    await b.post("C2", { text: "on time" }, { dedupeKey: "c2" });
    expect(heldState.done).toBe(false);
    expect(alsoHeldState.done).toBe(false);
    const [heldMs, alsoHeldMs] = await Promise.all([held, alsoHeld]);
    expect(heldMs).toBeGreaterThanOrEqual(HOLD_S * 1000);
    expect(alsoHeldMs).toBeGreaterThanOrEqual(HOLD_S * 1000);
    expect(s.stats().rateLimited["chat.postMessage"]).toBe(1);
    expect(a.stats().rateLimited).toBe(1);
    expect(
      s
        .messages("C1")
        .map((m) => m.text)
        .sort(),
    ).toEqual(["also held", "held"]);
  });

  test("a 429 on chat.update in one channel does not delay posts or edits elsewhere", async () => {
    const s = await withSlack();
    const n = worker(redisA, s, uniquePrefix(), {
      rules: {
        postMessagePerChannel: { perWindow: 10, windowMs: 1_000, burst: 10 },
        updatePerWorkspace: UPDATE_RULE,
      },
    });
    const [t1, t2] = await Promise.all([
      n.post("C1", { text: "one" }, { dedupeKey: "one" }),
      n.post("C2", { text: "two" }, { dedupeKey: "two" }),
    ]);
    s.failNext({ method: "chat.update", channel: "C1", fault: { kind: "ratelimited", retryAfterS: HOLD_S } });
    const t0 = Date.now();
    const heldEdit = n.update("C1", t1!, { text: "one edited" }).then(() => Date.now() - t0);
    const heldState = settledFlag(heldEdit);
    await until("the 429", () => s.stats().rateLimited["chat.update"] === 1, { intervalMs: 10 });
    // C2's post and edit go out while C1's edit waits out its Retry-After.
    await Promise.all([
      n.post("C2", { text: "three" }, { dedupeKey: "three" }),
      n.update("C2", t2!, { text: "two edited" }),
    ]);
    expect(heldState.done).toBe(false);
    expect(s.editTexts()).toEqual(["two edited"]);
    expect(await heldEdit).toBeGreaterThanOrEqual(HOLD_S * 1000);
    expect(s.messages("C1")[0]!.text).toBe("one edited");
    expect(s.editTexts()).toEqual(["two edited", "one edited"]);
  });
});

describe("dedupe across workers and restarts", () => {
  test("the same dedupeKey from two workers posts once, and a restarted worker gets the same ts", async () => {
    const s = await withSlack();
    const prefix = uniquePrefix();
    const a = worker(redisA, s, prefix, { dedupePollIntervalMs: 20 });
    const b = worker(redisB, s, prefix, { dedupePollIntervalMs: 20 });
    const [tsA, tsB] = await Promise.all([
      a.post("C1", { text: "root" }, { dedupeKey: "job-1:root" }),
      b.post("C1", { text: "root" }, { dedupeKey: "job-1:root" }),
    ]);
    expect(tsA).toBe(tsB);
    await a.close();
    const restarted = worker(redisA, s, prefix);
    expect(await restarted.post("C1", { text: "root" }, { dedupeKey: "job-1:root" })).toBe(tsA);
    expect(s.messages("C1")).toHaveLength(1);
    expect(s.stats().calls["chat.postMessage"]).toBe(1);
  });

  test("a worker that died while posting leaves a marker that lapses; the next one posts exactly once", async () => {
    const s = await withSlack();
    const prefix = uniquePrefix();
    await redisA.set(`${prefix}:dedupe:job-2:root`, "pending:dead-worker", "PX", 300);
    const n = worker(redisA, s, prefix, { dedupePollIntervalMs: 20, pendingMarkerTtlMs: 300 });
    const t0 = Date.now();
    const ts = await n.post("C1", { text: "root" }, { dedupeKey: "job-2:root" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(s.messages("C1")).toEqual([expect.objectContaining({ ts, text: "root" })]);
  });

  test("a live owner stuck behind the limiter keeps its marker, so a second worker waits instead of posting", async () => {
    const s = await withSlack();
    const prefix = uniquePrefix();
    const slowRule = { postMessagePerChannel: { perWindow: 1, windowMs: 1_200 } };
    const a = worker(redisA, s, prefix, { pendingMarkerTtlMs: 300, rules: slowRule });
    const b = worker(redisB, s, prefix, {
      pendingMarkerTtlMs: 300,
      dedupePollIntervalMs: 20,
      rules: slowRule,
    });
    await a.post("C1", { text: "first" }, { dedupeKey: "first" });
    // A's next post waits ~1.2 s for the channel budget: far longer than the 300 ms marker TTL.
    const fromA = a.post("C1", { text: "phase" }, { dedupeKey: "job-3:phase" });
    await new Promise((r) => setTimeout(r, 50));
    const fromB = b.post("C1", { text: "phase" }, { dedupeKey: "job-3:phase" });
    expect(await fromB).toBe(await fromA);
    expect(s.messages("C1").filter((m) => m.text === "phase")).toHaveLength(1);
  });
  test("a worker with more queued posts than one renewal batch keeps every marker: nothing posts twice", async () => {
    const s = await withSlack({});
    const prefix = uniquePrefix();
    // 250 posts at one per 10 ms: the last wait ~2.5 s, many times the 300 ms marker TTL, and the
    // markers are renewed 200 to a Redis call.
    const fast = { postMessagePerChannel: { perWindow: 1, windowMs: 10 } };
    const a = worker(redisA, s, prefix, { pendingMarkerTtlMs: 300, rules: fast });
    const b = worker(redisB, s, prefix, { pendingMarkerTtlMs: 300, dedupePollIntervalMs: 20, rules: fast });
    const keys = Array.from({ length: 250 }, (_, i) => `job-${i}:root`);
    const fromA = keys.map((k) => a.post("C1", { text: k }, { dedupeKey: k }));
    // B asks for the same posts once A holds every marker.
    await until(
      "worker A to hold every marker",
      async () => (await redisA.exists(...keys.map((k) => `${prefix}:dedupe:${k}`))) === keys.length,
      { intervalMs: 10 },
    );
    const fromB = keys.map((k) => b.post("C1", { text: k }, { dedupeKey: k }));
    expect(await Promise.all(fromB)).toEqual(await Promise.all(fromA));
    expect(s.messages("C1")).toHaveLength(keys.length);
  });
});

describe("errors", () => {
  test("a transient 500 is retried and the message lands once", async () => {
    const s = await withSlack();
    const n = worker(redisA, s, uniquePrefix());
    s.failNext({ method: "chat.postMessage", channel: "C1", fault: { kind: "http", status: 500 }, times: 2 });
    const ts = await n.post("C1", { text: "phase: pre-copy" }, { dedupeKey: "p" });
    expect(s.stats().faulted["chat.postMessage"]).toBe(2);
    expect(s.stats().calls["chat.postMessage"]).toBe(3);
    expect(s.messages("C1")).toEqual([expect.objectContaining({ ts, text: "phase: pre-copy" })]);
  });

  test("invalid_blocks is not retried; the caller gets a coded error naming Slack's error, and may post again", async () => {
    const s = await withSlack();
    const prefix = uniquePrefix();
    const n = worker(redisA, s, prefix);
    // The emulator checks Block Kit as Slack does: an unknown block type is invalid_blocks.
    const err = await n
      .post("C1", { text: "x", blocks: [{ type: "nope" }] }, { dedupeKey: "bad" })
      .catch((e) => e);
    expect(err).toMatchObject({ code: "NOTIFY_SLACK_REFUSED", slackError: "invalid_blocks" });
    expect(err.message).toMatch(/invalid_blocks/);
    expect(err.retryable).toBe(false);
    expect(s.stats().calls["chat.postMessage"]).toBe(1);
    // The dedupe marker was released: a corrected retry of the same post goes through.
    const ts = await n.post("C1", { text: "x" }, { dedupeKey: "bad" });
    expect(s.messages("C1")).toEqual([expect.objectContaining({ ts })]);
  });

  test("an edit Slack keeps failing is surfaced after the configured attempts, not retried forever", async () => {
    const s = await withSlack();
    const n = worker(redisA, s, uniquePrefix(), { maxTransientAttempts: 3 });
    const ts = await n.post("C1", { text: "root" }, { dedupeKey: "root" });
    s.failNext({ method: "chat.update", channel: "C1", fault: { kind: "http", status: 503 }, times: 10 });
    await expect(n.update("C1", ts, { text: "edit" })).rejects.toMatchObject({
      code: "NOTIFY_RETRIES_EXHAUSTED",
      slackError: "http_503",
      retryable: true,
    });
    expect(s.stats().calls["chat.update"]).toBe(3);
  });
});
