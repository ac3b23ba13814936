import { expect, test } from "vitest";
import { loadScaledPollIntervalMs, MAX_TRACKING_POLLS_PER_S } from "../../src/queue/worker";

test("a worker's trackers keep the configured interval until together they would poll more than the budget", () => {
  expect(loadScaledPollIntervalMs(2000, 1)).toBe(2000);
  expect(loadScaledPollIntervalMs(2000, 100)).toBe(2000);
  // 500 migrations at 50 polls/s in all: each polled every 10 s.
  expect(loadScaledPollIntervalMs(2000, 500)).toBe(10_000);
  for (const following of [1, 100, 101, 500, 2000]) {
    const interval = loadScaledPollIntervalMs(2000, following);
    expect((following * 1000) / interval).toBeLessThanOrEqual(
      Math.max(MAX_TRACKING_POLLS_PER_S, following / 2),
    );
  }
});
