/**
 * Slack within its limits at scale: 50 `/migrate` requests in one channel within seconds, the whole
 * product on the sandbox (real Bolt app, BullMQ, a worker polling Nova over HTTP and the hosts over
 * SSH), the Slack emulator enforcing Slack's limits. The scenario is src/bench/slack.ts run
 * SPEEDUP times faster — the sandbox's clock, Slack's limits and the notifier's pacing together — so
 * Slack's budget is as tight relative to the migrations as at real speed; lags are reported in
 * real-world time.
 */
import { expect, inject, test } from "vitest";
import { FINAL_STATE_TARGET_MS, runSlackScenario } from "../../src/bench/slack";

/** 6x: the ~6 real-world minutes of posting fit in about a minute. */
const SPEEDUP = 6;
const SCENARIO_TIMEOUT_MS = 150_000;

test(
  "50 concurrent migrations in one channel: no 429, every phase in its thread, final states within 60 s",
  async () => {
    const res = await runSlackScenario({ redisUrl: inject("redisUrl"), speedup: SPEEDUP });
    const context = JSON.stringify({ ...res, finalLagsMs: res.finalLagsMs.map(Math.round) });
    expect(res.failedAcks, context).toBe(0);
    expect(res.completed, context).toBe(50);
    expect(res.rateLimited, context).toBe(0);
    expect(res.lostPhases, context).toBe(0);
    expect(res.missingFinals, context).toBe(0);
    expect(res.finalLagsMs.at(-1)!, context).toBeLessThanOrEqual(FINAL_STATE_TARGET_MS);
    // Each thread got its root and five phase replies exactly once: no double post from a retry.
    expect(res.calls.postMessage, context).toBe(50 * 6);
  },
  SCENARIO_TIMEOUT_MS,
);
