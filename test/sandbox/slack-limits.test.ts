/** Slack's limits as numbers, and the token buckets that enforce them, on a controlled clock. */
import { describe, expect, it } from "vitest";
import { DEFAULT_SLACK_LIMITS, RateLimiter, resolveLimits } from "../../src/sandbox/slack/limits";

function clock(startMs = 1_000_000) {
  let now = startMs;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("Slack's documented limits", () => {
  it("hold Slack's numbers by default", () => {
    expect(DEFAULT_SLACK_LIMITS).toMatchObject({
      blocksPerMessage: 50,
      sectionTextMaxChars: 3000,
      headerTextMaxChars: 150,
      buttonTextMaxChars: 75,
      buttonValueMaxChars: 2000,
      actionIdMaxChars: 255,
      blockIdMaxChars: 255,
      actionsElementsMax: 25,
      messageTextMaxChars: 40_000,
      responseUrlMaxUses: 5,
      responseUrlTtlMs: 30 * 60 * 1000,
    });
    expect(DEFAULT_SLACK_LIMITS.rates["chat.update"]).toEqual({
      perMinute: 50,
      burst: 50,
      scope: "workspace",
    });
    expect(DEFAULT_SLACK_LIMITS.rates["chat.postMessage"]?.scope).toBe("channel");
    expect(DEFAULT_SLACK_LIMITS.rates["chat.postMessage"]?.perMinute).toBe(60);
  });

  it("take overrides per method, keeping the other methods' defaults", () => {
    const limits = resolveLimits({
      rates: { "chat.update": { perMinute: 5, burst: 1, scope: "workspace" } },
    });
    expect(limits.rates["chat.update"]?.perMinute).toBe(5);
    expect(limits.rates["chat.postMessage"]).toEqual(DEFAULT_SLACK_LIMITS.rates["chat.postMessage"]);
    expect(limits.sectionTextMaxChars).toBe(3000);
  });
});

describe("RateLimiter", () => {
  it("chat.postMessage: a burst per channel, then one a second, Retry-After in whole seconds", () => {
    const c = clock();
    const limiter = new RateLimiter(DEFAULT_SLACK_LIMITS.rates, c.now);
    const burst = DEFAULT_SLACK_LIMITS.rates["chat.postMessage"]!.burst;
    for (let i = 0; i < burst; i++) expect(limiter.take("chat.postMessage", "C1").allowed).toBe(true);
    expect(limiter.take("chat.postMessage", "C1")).toEqual({ allowed: false, retryAfterS: 1 });
    expect(limiter.take("chat.postMessage", "C2").allowed).toBe(true);
    c.advance(999);
    expect(limiter.take("chat.postMessage", "C1").allowed).toBe(false);
    c.advance(2);
    expect(limiter.take("chat.postMessage", "C1").allowed).toBe(true);
    expect(limiter.take("chat.postMessage", "C1").allowed).toBe(false);
  });

  it("chat.update: Tier 3 for the whole workspace; an emptied bucket needs 1.2 s for the next call", () => {
    const c = clock();
    const limiter = new RateLimiter(DEFAULT_SLACK_LIMITS.rates, c.now);
    for (let i = 0; i < 50; i++) expect(limiter.take("chat.update", `C${i}`).allowed).toBe(true);
    expect(limiter.take("chat.update", "C0")).toEqual({ allowed: false, retryAfterS: 2 });
    c.advance(1201);
    expect(limiter.take("chat.update", "C0").allowed).toBe(true);
    // Over a minute, no more than the tier's 50 (plus the burst that was there at the start).
    let allowed = 0;
    for (let t = 0; t < 60_000; t += 100) {
      c.advance(100);
      if (limiter.take("chat.update").allowed) allowed += 1;
    }
    expect(allowed).toBe(50);
  });

  it("does not limit methods it has no rate for", () => {
    const limiter = new RateLimiter({});
    for (let i = 0; i < 1000; i++) expect(limiter.take("chat.update").allowed).toBe(true);
  });
});
