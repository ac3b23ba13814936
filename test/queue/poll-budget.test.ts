import { expect, test } from "vitest";
import { DEFAULT_POLL_INTERVAL_MS } from "../../src/config";
import { loadScaledPollIntervalMs, MAX_TRACKING_POLLS_PER_S } from "../../src/queue/worker";

/** Production's configured poll interval (MIGBOT_POLL_INTERVAL_MS's default). */
const PRODUCTION_POLL_MS = DEFAULT_POLL_INTERVAL_MS;

test("the default is the 2 s these numbers assume", () => {
  expect(PRODUCTION_POLL_MS).toBe(2000);
});

test("a worker's trackers keep the configured interval while few, and stretch it exactly enough when many", () => {
  // Up to 100 migrations at 2 s stay under 50 polls/s: not slowed.
  expect(loadScaledPollIntervalMs(PRODUCTION_POLL_MS, 1)).toBe(2000);
  expect(loadScaledPollIntervalMs(PRODUCTION_POLL_MS, 100)).toBe(2000);
  // Beyond, each is polled every following/50 s: the total is the budget, not more, not much less.
  expect(loadScaledPollIntervalMs(PRODUCTION_POLL_MS, 101)).toBe(2020);
  expect(loadScaledPollIntervalMs(PRODUCTION_POLL_MS, 500)).toBe(10_000);
  expect(loadScaledPollIntervalMs(PRODUCTION_POLL_MS, 2000)).toBe(40_000);
  // The sandbox's 500 ms is stretched from 26 followed migrations on.
  expect(loadScaledPollIntervalMs(500, 25)).toBe(500);
  expect(loadScaledPollIntervalMs(500, 26)).toBe(520);
  // A budget passed in is the one used; an interval that is not a whole ms rounds up, never over budget.
  expect(loadScaledPollIntervalMs(PRODUCTION_POLL_MS, 500, 100)).toBe(5000);
  expect(loadScaledPollIntervalMs(PRODUCTION_POLL_MS, 101, 30)).toBe(3367);
  expect((101 * 1000) / loadScaledPollIntervalMs(PRODUCTION_POLL_MS, 101, 30)).toBeLessThanOrEqual(30);
});

test("500 followed migrations at the default interval poll at most MAX_TRACKING_POLLS_PER_S times a second", () => {
  for (const following of [1, 50, 100, 101, 250, 500, 1000, 5000]) {
    const interval = loadScaledPollIntervalMs(PRODUCTION_POLL_MS, following);
    const pollsPerS = (following * 1000) / interval;
    expect(pollsPerS, `${following} migrations`).toBeLessThanOrEqual(MAX_TRACKING_POLLS_PER_S);
    // Never slower than needed: at the budget once scaling starts, at the configured rate before.
    expect(pollsPerS, `${following} migrations`).toBeGreaterThanOrEqual(
      Math.min(MAX_TRACKING_POLLS_PER_S * 0.99, (following * 1000) / PRODUCTION_POLL_MS),
    );
  }
});
