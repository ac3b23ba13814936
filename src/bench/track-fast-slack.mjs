// Preloaded (`node --import`) into the worker process of the `track` benchmark only: multiplies the
// notifier's Slack budget by MIGBOT_BENCH_SLACK_SPEEDUP, so that 500 migrations in one channel
// (3,000 posts, ~2,000 edits) measure the tracker rather than Slack's one-post-per-second pacing.
// The Slack emulator's limits are raised by the same factor, so the pacing is still enforced.
import { register } from "tsx/esm/api";

register();
const factor = Number(process.env.MIGBOT_BENCH_SLACK_SPEEDUP ?? "1");
if (!(factor >= 1 && factor <= 10_000)) throw new Error("MIGBOT_BENCH_SLACK_SPEEDUP must be 1..10000");
const { DEFAULT_NOTIFY_RULES } = await import("../../src/notify/limiter.ts");
for (const rule of Object.values(DEFAULT_NOTIFY_RULES)) rule.windowMs /= factor;
