/**
 * The Slack side of the `slack` benchmark: many migrations in one channel, each posting its root and
 * five phase replies and editing progress as a tracker would, through the notifier, from several
 * workers sharing one Redis, against the Slack emulator enforcing Slack's limits.
 *
 * Time runs `timeScale` times faster than real: Slack's limits, the notifier's rules and every
 * schedule are scaled together, and all reported durations are converted back to real time. The
 * migrations are a schedule, not the sandbox cloud: this isolates what the notifier does with a
 * given load. Run alone with `npx tsx src/bench/slack-limiter.ts [migrations] [timeScale]`.
 */
import { pathToFileURL } from "node:url";
import { webApi } from "@slack/bolt";
import { Redis } from "ioredis";
import { DEFAULT_NOTIFY_RULES } from "../notify/limiter";
import { createNotifier, DEFAULT_MIN_UPDATE_INTERVAL_MS, type Notifier } from "../notify/notifier";
import { slackWebClientOptions, webClientSlackApi } from "../notify/slack-api";
import { DEFAULT_SLACK_LIMITS, startSlackEmulator } from "../sandbox/slack/emulator";

export interface SlackScenarioOptions {
  redisUrl: string;
  /** @defaultValue 50 */
  migrations?: number;
  /** Notifier instances (= worker processes) sharing the Redis. @defaultValue 4 */
  workers?: number;
  /** How many times faster than real time. @defaultValue 20 */
  timeScale?: number;
  /** Real-time window over which the migrations start. @defaultValue 10_000 */
  startSpreadMs?: number;
  /** Real-time length of the shortest migration; others are up to twice as long. @defaultValue 120_000 */
  migrationMs?: number;
  /** Real-time interval between a tracker's progress samples. @defaultValue 5_000 */
  progressEveryMs?: number;
  /** Redis key prefix (unique per run). */
  prefix?: string;
}

export interface SlackScenarioResult {
  rateLimited: number;
  callsPerMigration: number;
  /** Phase replies missing from Slack at the end (target 0). */
  lostPhases: number;
  /** Roots or pre-copy replies not showing their final text at the end (target 0). */
  staleFinals: number;
  /** Worst real-time delay between a migration's end and its final state being in Slack. */
  worstFinalLagMs: number;
  /** Median of the same. */
  medianFinalLagMs: number;
  wallMs: number;
}

const CHANNEL = { id: "C0BENCH01", name: "migrations" };
const BOT_TOKEN = "xoxb-bench-token";
const PHASES = ["pre-migration", "reservation", "pre-copy", "stop-and-copy", "commitment"] as const;

/** Routine edits are fire-and-forget, as in a tracker; a lost one shows up as a stale final below. */
const ignore = () => {};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** One migration as its tracker would report it; returns the real-time lag of its final state. */
async function migrate(n: Notifier, i: number, o: Required<SlackScenarioOptions>): Promise<number> {
  const scale = (ms: number) => ms / o.timeScale;
  const job = `job-${i}`;
  const lengthMs = o.migrationMs * (1 + (i % 10) / 10);
  await sleep(scale((o.startSpreadMs * i) / o.migrations));
  const root = await n.post(CHANNEL.id, { text: `${job}: queued` }, { dedupeKey: `${job}:root` });
  const reply = (phase: string, text: string, urgent = false) =>
    n.post(CHANNEL.id, { text, thread_ts: root }, { dedupeKey: `${job}:phase:${phase}`, urgent });
  await reply("pre-migration", `${job} pre-migration`);
  n.update(CHANNEL.id, root, { text: `${job}: running` }).catch(ignore);
  await reply("reservation", `${job} reservation`);
  const precopy = await reply("pre-copy", `${job} pre-copy 0%`);
  const started = performance.now();
  const samples = Math.floor(lengthMs / o.progressEveryMs);
  for (let s = 1; s <= samples; s++) {
    await sleep(started + scale(s * o.progressEveryMs) - performance.now());
    n.update(CHANNEL.id, precopy, { text: `${job} pre-copy ${Math.round((100 * s) / samples)}%` }).catch(
      ignore,
    );
  }
  const ended = performance.now();
  await Promise.all([
    n.update(CHANNEL.id, precopy, { text: `${job} pre-copy done` }, { urgent: true }),
    // The last phases are what the operator waits for: they go before other migrations' early ones.
    reply("stop-and-copy", `${job} stop-and-copy`, true).then(() =>
      reply("commitment", `${job} commitment`, true),
    ),
    n.update(CHANNEL.id, root, { text: `${job}: completed` }, { urgent: true }),
  ]);
  return (performance.now() - ended) * o.timeScale;
}

/** Runs the scenario and checks, in Slack's own state, that nothing was lost. */
export async function runSlackLimiterScenario(opts: SlackScenarioOptions): Promise<SlackScenarioResult> {
  const o: Required<SlackScenarioOptions> = {
    migrations: 50,
    workers: 4,
    timeScale: 20,
    startSpreadMs: 10_000,
    migrationMs: 120_000,
    progressEveryMs: 5_000,
    prefix: `bench-slack-${process.pid}-${Date.now()}`,
    ...opts,
  };
  const k = o.timeScale;
  const rates = DEFAULT_SLACK_LIMITS.rates;
  const emu = await startSlackEmulator({
    signingSecret: "bench-signing-secret",
    botToken: BOT_TOKEN,
    users: [],
    channels: [CHANNEL],
    limits: {
      rates: {
        "chat.postMessage": {
          ...rates["chat.postMessage"]!,
          perMinute: rates["chat.postMessage"]!.perMinute * k,
        },
        "chat.update": { ...rates["chat.update"]!, perMinute: rates["chat.update"]!.perMinute * k },
      },
    },
  });
  const r = DEFAULT_NOTIFY_RULES;
  const redises = Array.from({ length: o.workers }, () => new Redis(o.redisUrl));
  const notifiers = redises.map((redis) =>
    createNotifier({
      redis,
      api: webClientSlackApi(new webApi.WebClient(BOT_TOKEN, slackWebClientOptions(emu.apiUrl))),
      prefix: o.prefix,
      rules: {
        postMessagePerChannel: { ...r.postMessagePerChannel, windowMs: r.postMessagePerChannel.windowMs / k },
        updatePerWorkspace: { ...r.updatePerWorkspace, windowMs: r.updatePerWorkspace.windowMs / k },
      },
      minUpdateIntervalMs: DEFAULT_MIN_UPDATE_INTERVAL_MS / k,
      retryBaseMs: 500 / k,
    }),
  );
  const t0 = performance.now();
  try {
    const lags = await Promise.all(
      Array.from({ length: o.migrations }, (_, i) => migrate(notifiers[i % o.workers]!, i, o)),
    );
    await Promise.all(notifiers.map((n) => n.flush()));
    const wallMs = (performance.now() - t0) * k;
    const stats = emu.stats();
    const calls = (stats.calls["chat.postMessage"] ?? 0) + (stats.calls["chat.update"] ?? 0);
    const roots = emu.messages(CHANNEL.id);
    let lostPhases = 0;
    let staleFinals = 0;
    for (let i = 0; i < o.migrations; i++) {
      const root = roots.find((m) => m.text.startsWith(`job-${i}:`));
      if (!root) {
        lostPhases += PHASES.length;
        staleFinals += 2;
        continue;
      }
      for (const phase of PHASES) if (!root.replies.some((m) => m.text.includes(phase))) lostPhases++;
      if (root.text !== `job-${i}: completed`) staleFinals++;
      if (!root.replies.some((m) => m.text === `job-${i} pre-copy done`)) staleFinals++;
    }
    lags.sort((a, b) => a - b);
    return {
      rateLimited: Object.values(stats.rateLimited).reduce((a, b) => a + b, 0),
      callsPerMigration: calls / o.migrations,
      lostPhases,
      staleFinals,
      worstFinalLagMs: lags[lags.length - 1] ?? 0,
      medianFinalLagMs: lags[Math.floor(lags.length / 2)] ?? 0,
      wallMs,
    };
  } finally {
    await Promise.all(notifiers.map((n) => n.close()));
    for (const redis of redises) redis.disconnect();
    await emu.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    console.error("set REDIS_URL to a Redis the benchmark may write to (keys under bench-slack-*)");
    process.exit(2);
  }
  const migrations = Number(process.argv[2] ?? 50);
  const timeScale = Number(process.argv[3] ?? 20);
  const res = await runSlackLimiterScenario({ redisUrl, migrations, timeScale });
  console.log(JSON.stringify(res, null, 2));
  console.log(`slack: ${res.rateLimited} 429s, ${res.callsPerMigration.toFixed(1)} calls per migration`);
}
