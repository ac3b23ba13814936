/**
 * The notifier's views.publish: through the shared Redis limiter, coalesced per user so that a
 * burst of Home views sends the latest one, not every one.
 */
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { HomeViewEvent } from "../../src/sandbox/slack/emulator";
import { connectRedis, startTestSlack, type TestSlack, uniquePrefix, workerNotifier } from "./harness";

let redis: Redis;
let slack: TestSlack;

beforeAll(async () => {
  redis = connectRedis();
  slack = await startTestSlack();
});

afterAll(async () => {
  await slack.close();
  redis.disconnect();
});

const view = (text: string) => ({ blocks: [{ type: "section", text: { type: "mrkdwn", text } }] });

it("publishes a burst of Home views for one user as a few calls, the last one showing the latest", async () => {
  const published: HomeViewEvent[] = [];
  slack.events.on("home", (e: HomeViewEvent) => published.push(e));
  // One publish a second: the burst has to wait, and waiting views are replaced by newer ones.
  const notifier = workerNotifier(redis, slack, uniquePrefix(), {
    rules: { publishViewPerWorkspace: { perWindow: 1, windowMs: 1000, burst: 1 } },
  });
  const sends = Array.from({ length: 20 }, (_, i) => notifier.publishHome("U0ALICE01", view(`state ${i}`)));
  await Promise.all(sends);
  expect(published.length).toBeGreaterThanOrEqual(1);
  expect(published.length).toBeLessThanOrEqual(2);
  expect(slack.homeView("alice")?.blocks).toEqual(view("state 19").blocks);
  expect(notifier.stats().coalesced).toBeGreaterThanOrEqual(18);
  await notifier.close();
});

it("hands Slack's refusal back to the caller (a view over the block limit is a bug, not retried)", async () => {
  const notifier = workerNotifier(redis, slack, uniquePrefix());
  const tooMany = { blocks: Array.from({ length: 101 }, (_, i) => view(`b${i}`).blocks[0]) };
  await expect(notifier.publishHome("U0ALICE01", tooMany)).rejects.toMatchObject({
    code: "NOTIFY_SLACK_REFUSED",
    slackError: "invalid_arguments",
  });
  await notifier.close();
});

it("honours Slack's Retry-After on views.publish and then shows the view", async () => {
  const notifier = workerNotifier(redis, slack, uniquePrefix());
  slack.failNext({ method: "views.publish", fault: { kind: "ratelimited", retryAfterS: 1 } });
  const started = Date.now();
  await notifier.publishHome("U0ALICE01", view("after the 429"));
  expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  expect(slack.homeView("alice")?.blocks).toEqual(view("after the 429").blocks);
  expect(notifier.stats().rateLimited).toBe(1);
  await notifier.close();
});
