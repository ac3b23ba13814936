import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import type { Notifier } from "../../src/notify/notifier";
import { connectRedis, uniquePrefix, workerNotifier } from "./harness";
import { type SlackStub, type StubLimits, startSlackStub } from "./slack-stub";

// Short windows stand in for Slack's seconds and minutes; the notifier's rules stay a bit under them.
const STUB_POST_LIMIT = { limit: 2, windowMs: 1_000 };
const STUB_UPDATE_LIMIT = { limit: 4, windowMs: 1_000 };
const POST_RULE = { perWindow: 1, windowMs: 550 };
const UPDATE_RULE = { perWindow: 1, windowMs: 300 };

let redisA: Redis;
let redisB: Redis;
let stub: SlackStub | undefined;
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
  await stub?.close();
  stub = undefined;
});

async function withStub(
  limits: StubLimits = { postMessagePerChannel: STUB_POST_LIMIT, updatePerWorkspace: STUB_UPDATE_LIMIT },
) {
  stub = await startSlackStub(limits);
  return stub;
}

function worker(
  redis: Redis,
  s: SlackStub,
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
  test("the stub really refuses a burst that ignores the limits", async () => {
    const s = await withStub();
    const bare = worker(redisA, s, uniquePrefix(), {
      rules: { postMessagePerChannel: { perWindow: 1000, windowMs: 1000, burst: 1000 } },
      maxTransientAttempts: 1,
    });
    await Promise.allSettled(
      [0, 1, 2, 3].map((i) => bare.post("C1", { text: `m${i}` }, { dedupeKey: `k${i}` })),
    );
    expect(s.count({ status: 429 })).toBeGreaterThan(0);
  });

  test("two workers sharing one Redis never exceed the limits: zero 429s, every post and final edit lands", async () => {
    const s = await withStub();
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

    expect(s.count({ status: 429 })).toBe(0);
    expect(s.messages("C1")).toHaveLength(6);
    expect(s.messages("C2")).toHaveLength(6);
    for (const m of [...s.messages("C1"), ...s.messages("C2")]) expect(m.text).toBe(`final ${m.ts}`);
    // Six posts per channel at one per 550 ms: the limiter, not luck, kept the stub happy.
    expect(postsDoneMs).toBeGreaterThanOrEqual(5 * 550 - 100);
    // Coalescing: 24 edit requests, one call per message.
    expect(s.count({ method: "chat.update" })).toBe(12);
    expect(a.stats().coalesced + b.stats().coalesced).toBe(12);
  });
});

describe("coalescing and priority", () => {
  test("20 rapid edits of one message make a few calls and Slack ends with the last state", async () => {
    const s = await withStub();
    const n = worker(redisA, s, uniquePrefix());
    const ts = await n.post("C1", { text: "progress 0%" }, { dedupeKey: "root" });
    const done: Promise<void>[] = [];
    for (let i = 1; i <= 20; i++) {
      done.push(n.update("C1", ts, { text: `progress ${i * 5}%` }));
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(done);
    expect(s.messages("C1")[0]!.text).toBe("progress 100%");
    const calls = s.count({ method: "chat.update" });
    // 200 ms of edits against one update per 300 ms: the first goes at once, the rest collapse.
    expect(calls).toBeLessThanOrEqual(3);
    expect(n.stats()).toMatchObject({ updates: calls, coalesced: 20 - calls, rateLimited: 0 });
  });

  test("routine edits of one message are paced; the final (urgent) edit is not held back", async () => {
    const s = await withStub();
    const n = worker(redisA, s, uniquePrefix(), { minUpdateIntervalMs: 2_000 });
    const ts = await n.post("C1", { text: "start" }, { dedupeKey: "root" });
    await n.update("C1", ts, { text: "10%" });
    const t0 = Date.now();
    const routine = n.update("C1", ts, { text: "20%" });
    await new Promise((r) => setTimeout(r, 50));
    await n.update("C1", ts, { text: "done" }, { urgent: true });
    expect(Date.now() - t0).toBeLessThan(1_000);
    await routine;
    expect(s.messages("C1")[0]!.text).toBe("done");
    expect(s.count({ method: "chat.update" })).toBe(2);
  });

  test("an urgent edit jumps the queue of routine edits", async () => {
    const s = await withStub({ updatePerWorkspace: STUB_UPDATE_LIMIT });
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
    const order = s.calls.filter((x) => x.method === "chat.update").map((x) => x.text);
    // All four were queued before the first slot came up: the final state takes it, the rest keep their order.
    expect(order).toEqual(["d-final", "a1", "b1", "c1"]);
  });
});

test("an urgent post (a migration's last phase) goes before routine posts queued in its channel", async () => {
  const s = await withStub({});
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
    const s = await withStub();
    const prefix = uniquePrefix();
    const a = worker(redisA, s, prefix);
    const b = worker(redisB, s, prefix);
    s.inject("chat.postMessage", "C1", { kind: "ratelimit", retryAfterS: 1 });
    const t0 = Date.now();
    const held = a.post("C1", { text: "held" }, { dedupeKey: "c1" }).then(() => Date.now() - t0);
    await new Promise((r) => setTimeout(r, 100));
    // Another worker posting in the same channel honours the same Retry-After.
    const alsoHeld = b.post("C1", { text: "also held" }, { dedupeKey: "c1-b" }).then(() => Date.now() - t0);
    const other = b.post("C2", { text: "on time" }, { dedupeKey: "c2" }).then(() => Date.now() - t0);
    const [heldMs, alsoHeldMs, otherMs] = await Promise.all([held, alsoHeld, other]);
    expect(otherMs).toBeLessThan(500);
    expect(heldMs).toBeGreaterThanOrEqual(1_000);
    expect(alsoHeldMs).toBeGreaterThanOrEqual(1_000);
    expect(s.count({ status: 429 })).toBe(1);
    expect(a.stats().rateLimited).toBe(1);
    expect(
      s
        .messages("C1")
        .map((m) => m.text)
        .sort(),
    ).toEqual(["also held", "held"]);
  });

  test("a 429 on chat.update in one channel does not delay posts or edits elsewhere", async () => {
    const s = await withStub();
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
    s.inject("chat.update", "C1", { kind: "ratelimit", retryAfterS: 1 });
    const t0 = Date.now();
    const heldEdit = n.update("C1", t1!, { text: "one edited" }).then(() => Date.now() - t0);
    await new Promise((r) => setTimeout(r, 50));
    const post = n.post("C2", { text: "three" }, { dedupeKey: "three" }).then(() => Date.now() - t0);
    const edit = n.update("C2", t2!, { text: "two edited" }).then(() => Date.now() - t0);
    const [heldMs, postMs, editMs] = await Promise.all([heldEdit, post, edit]);
    expect(postMs).toBeLessThan(500);
    expect(editMs).toBeLessThan(800);
    expect(heldMs).toBeGreaterThanOrEqual(1_000);
    expect(s.messages("C1")[0]!.text).toBe("one edited");
  });
});

describe("dedupe across workers and restarts", () => {
  test("the same dedupeKey from two workers posts once, and a restarted worker gets the same ts", async () => {
    const s = await withStub();
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
    expect(s.count({ method: "chat.postMessage" })).toBe(1);
  });

  test("a worker that died while posting leaves a marker that lapses; the next one posts exactly once", async () => {
    const s = await withStub();
    const prefix = uniquePrefix();
    await redisA.set(`${prefix}:dedupe:job-2:root`, "pending:dead-worker", "PX", 300);
    const n = worker(redisA, s, prefix, { dedupePollIntervalMs: 20, pendingMarkerTtlMs: 300 });
    const t0 = Date.now();
    const ts = await n.post("C1", { text: "root" }, { dedupeKey: "job-2:root" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(s.messages("C1")).toEqual([expect.objectContaining({ ts, text: "root" })]);
  });

  test("a live owner stuck behind the limiter keeps its marker, so a second worker waits instead of posting", async () => {
    const s = await withStub();
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
});

describe("errors", () => {
  test("a transient 500 is retried and the message lands once", async () => {
    const s = await withStub();
    const n = worker(redisA, s, uniquePrefix());
    s.inject("chat.postMessage", "C1", { kind: "status", status: 500 }, 2);
    const ts = await n.post("C1", { text: "phase: pre-copy" }, { dedupeKey: "p" });
    expect(s.count({ method: "chat.postMessage", status: 500 })).toBe(2);
    expect(s.messages("C1")).toEqual([expect.objectContaining({ ts, text: "phase: pre-copy" })]);
  });

  test("invalid_blocks is not retried; the caller gets a coded error naming Slack's error, and may post again", async () => {
    const s = await withStub();
    const prefix = uniquePrefix();
    const n = worker(redisA, s, prefix);
    s.inject("chat.postMessage", "C1", { kind: "error", error: "invalid_blocks" });
    const err = await n
      .post("C1", { text: "x", blocks: [{ type: "nope" }] }, { dedupeKey: "bad" })
      .catch((e) => e);
    expect(err).toMatchObject({ code: "NOTIFY_SLACK_REFUSED", slackError: "invalid_blocks" });
    expect(err.message).toMatch(/invalid_blocks/);
    expect(s.count({ method: "chat.postMessage" })).toBe(1);
    // The dedupe marker was released: a corrected retry of the same post goes through.
    const ts = await n.post("C1", { text: "x" }, { dedupeKey: "bad" });
    expect(s.messages("C1")).toEqual([expect.objectContaining({ ts })]);
  });

  test("an edit Slack keeps failing is surfaced after the configured attempts, not retried forever", async () => {
    const s = await withStub();
    const n = worker(redisA, s, uniquePrefix(), { maxTransientAttempts: 3 });
    const ts = await n.post("C1", { text: "root" }, { dedupeKey: "root" });
    s.inject("chat.update", "C1", { kind: "status", status: 503 }, 10);
    await expect(n.update("C1", ts, { text: "edit" })).rejects.toMatchObject({
      code: "NOTIFY_RETRIES_EXHAUSTED",
      slackError: "http_503",
    });
    expect(s.count({ method: "chat.update" })).toBe(3);
  });
});
