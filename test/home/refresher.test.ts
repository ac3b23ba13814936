/**
 * The Home tab's refresher on real Redis: two processes' refreshers sharing one deployment's keys
 * publish each viewer's tab at most once per interval between them, always with the latest state,
 * and only to people who opened it lately.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import type { HomePublisher, HomeSnapshot } from "../../src/home/index";
import { createHomeRefresher, type HomeRefresher } from "../../src/home/refresher";
import { HomeViewers } from "../../src/home/viewers";
import { until } from "../support/until";

const INTERVAL_MS = 200;

let redis: Redis;
beforeAll(() => {
  redis = new Redis(inject("redisUrl"));
});
afterAll(() => {
  redis.disconnect();
});

/** A snapshot whose `at` carries the state's number, so what was published can be told apart. */
function snapshotOf(state: number): HomeSnapshot {
  return {
    at: state,
    running: [],
    runningTotal: 0,
    pending: [],
    pendingTotal: 0,
    drains: null,
    outcomes: [],
    unreadable: 0,
    stale: 0,
  };
}

function setup(prefix: string, state: { n: number }, sent: { user: string; state: number; at: number }[]) {
  const publisher: HomePublisher = {
    async publish(user, snapshot) {
      sent.push({ user, state: snapshot.at, at: Date.now() });
    },
  };
  return createHomeRefresher({
    redis,
    prefix,
    viewers: new HomeViewers(redis, prefix),
    read: async () => snapshotOf(state.n),
    publisher,
    minIntervalMs: INTERVAL_MS,
    changeDebounceMs: 10,
  });
}

it("two processes publish a burst of changes at most once per interval per viewer, the latest state last", async () => {
  const prefix = `test-home-${randomUUID()}`;
  const state = { n: 0 };
  const sent: { user: string; state: number; at: number }[] = [];
  const a: HomeRefresher = setup(prefix, state, sent);
  const b: HomeRefresher = setup(prefix, state, sent);
  await a.opened("U0ALICE01");
  await b.opened("U0BOB0001");
  await until("both first views", () => sent.length === 2, { timeoutMs: 5000, intervalMs: 10 });

  const started = Date.now();
  for (let i = 1; i <= 60; i++) {
    state.n = i;
    (i % 2 === 0 ? a : b).changed();
    await new Promise((r) => setTimeout(r, 15));
  }
  await until("the latest state shown to both", () => {
    const last = (u: string) => sent.filter((s) => s.user === u).at(-1)?.state;
    return last("U0ALICE01") === 60 && last("U0BOB0001") === 60;
  });
  await a.idle();
  await b.idle();
  const elapsed = Date.now() - started;
  for (const user of ["U0ALICE01", "U0BOB0001"]) {
    const mine = sent.filter((s) => s.user === user).slice(1);
    expect(mine.length).toBeGreaterThanOrEqual(2);
    expect(mine.length).toBeLessThanOrEqual(Math.ceil(elapsed / INTERVAL_MS) + 2);
    // Never two publishes for one person closer than the interval (a little clock slack allowed).
    for (let i = 1; i < mine.length; i++) {
      expect(mine[i]!.at - mine[i - 1]!.at).toBeGreaterThanOrEqual(INTERVAL_MS - 20);
    }
  }
  await a.close();
  await b.close();
});

it("updates only people who opened the tab, and nobody once nothing changed", async () => {
  const prefix = `test-home-${randomUUID()}`;
  const state = { n: 1 };
  const sent: { user: string; state: number; at: number }[] = [];
  const r = setup(prefix, state, sent);
  r.changed();
  await new Promise((res) => setTimeout(res, 100));
  await r.idle();
  expect(sent).toEqual([]);
  await r.opened("U0CAROL01");
  await r.idle();
  expect(sent.map((s) => s.user)).toEqual(["U0CAROL01"]);
  // Nothing changed: a second look by the refresher publishes nothing more.
  await new Promise((res) => setTimeout(res, INTERVAL_MS * 2));
  await r.idle();
  expect(sent).toHaveLength(1);
  // Something that is not a user id is never stored or published to.
  await r.opened("<!channel>");
  await r.idle();
  expect(sent).toHaveLength(1);
  await r.close();
});
