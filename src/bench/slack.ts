/**
 * slack: 50 migrations in one channel, the whole product on the sandbox — `/migrate` from the Slack
 * emulator into the real Bolt app, BullMQ, one worker following Nova over HTTP and the hosts over SSH,
 * the notifier posting every phase to the emulator, which enforces Slack's limits and counts calls.
 *
 * The fleet (see fleet-seed.ts) is 50 small VMs on five source hosts; an operator asks for all 50
 * within five seconds. Nova keeps its default `max_concurrent_live_migrations = 1`, so each source
 * moves one VM at a time and the 50 migrations end spread over a few minutes, as when draining hosts.
 *
 * Measured: 429s the emulator returned; chat.postMessage + chat.update + chat.postEphemeral calls per
 * migration; phase replies missing from a thread; and, per migration, the delay from Nova finishing it
 * (the sandbox cloud's migration record turning completed) to its root message saying so in Slack.
 *
 * `speedup` runs everything that has a clock that many times faster — the sandbox's model clock,
 * Slack's limits in the emulator and the notifier's pacing — and reports durations in real-world
 * time; the benchmark runs at 1, the e2e test faster.
 */
import { randomUUID } from "node:crypto";
import type { BenchResult } from "../cli/bench";
import { PHASE_TITLES, PHASES } from "../migration/view";
import { DEFAULT_NOTIFY_RULES } from "../notify/limiter";
import { DEFAULT_MIN_UPDATE_INTERVAL_MS, DEFAULT_RETRY_BASE_MS } from "../notify/notifier";
import { SANDBOX_CHANNEL, SANDBOX_POLL_INTERVAL_MS, startSandboxStack } from "../runtime/stack";
import { DEFAULT_SLACK_LIMITS, type SlackMessageEvent } from "../sandbox/slack/emulator";
import { fleetSeed, setMaxConcurrentMigrations } from "./fleet-seed";

export const SLACK_BENCH_MIGRATIONS = 50;
/** Source hosts the 50 VMs live on (each with a paired destination). */
export const SLACK_BENCH_SOURCE_HOSTS = 5;
/** The operator's 50 commands go out within this real-world window. */
export const SLACK_BENCH_COMMAND_SPREAD_MS = 5_000;
/** Target: a migration's final state is in Slack within this long after Nova finished it. */
export const FINAL_STATE_TARGET_MS = 60_000;
/** Real-world bound on the whole scenario (divided by `speedup`). */
export const SLACK_SCENARIO_TIMEOUT_MS = 20 * 60_000;
/** How often the cloud is looked at for migrations Nova has finished. */
const NOVA_WATCH_INTERVAL_MS = 50;
const FINAL_ROOT_RE = /Completed|Failed|Aborted|Cancelled/;
const FLEET_VM_RE = /fleet-\d{3}/;

export interface SlackScenarioOptions {
  /** Use this Redis; otherwise a private redis-server. */
  redisUrl?: string;
  /** @defaultValue {@link SLACK_BENCH_MIGRATIONS} */
  migrations?: number;
  /** @defaultValue {@link SLACK_BENCH_SOURCE_HOSTS} */
  sourceHosts?: number;
  /** Runs clocks this many times faster; durations are reported in real-world time. @defaultValue 1 */
  speedup?: number;
  /** Nova's `max_concurrent_live_migrations` on the sources. @defaultValue Nova's default, 1 */
  maxConcurrentPerSource?: number;
  /** The worker's Nova poll interval (real time). @defaultValue the sandbox's, 500 ms */
  pollIntervalMs?: number;
}

export interface SlackScenarioResult {
  migrations: number;
  completed: number;
  /** Slash commands not acknowledged with HTTP 200. */
  failedAcks: number;
  rateLimited: number;
  calls: { postMessage: number; update: number; postEphemeral: number };
  callsPerMigration: number;
  /** Phase replies missing from threads at the end (target 0). */
  lostPhases: number;
  /** Roots that never showed a final state. */
  missingFinals: number;
  /** Finals that showed up later than {@link FINAL_STATE_TARGET_MS} after Nova's end. */
  lateFinals: number;
  /** Real-world delay from Nova's end to the final root, per migration, sorted. */
  finalLagsMs: number[];
  /** Real-world length of each migration in Nova (accepted to finished), sorted. */
  novaDurationsMs: number[];
  wallMs: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, idx)]!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Runs the 50-migration scenario and checks the outcome in Slack's own state. */
export async function runSlackScenario(opts: SlackScenarioOptions = {}): Promise<SlackScenarioResult> {
  const n = opts.migrations ?? SLACK_BENCH_MIGRATIONS;
  const k = opts.speedup ?? 1;
  const fleet = fleetSeed({ vms: n, pairs: opts.sourceHosts ?? SLACK_BENCH_SOURCE_HOSTS });
  const rates = DEFAULT_SLACK_LIMITS.rates;
  const scaled = (method: string) => ({ ...rates[method]!, perMinute: rates[method]!.perMinute * k });
  const r = DEFAULT_NOTIFY_RULES;
  const stack = await startSandboxStack({
    ...(opts.redisUrl && { redisUrl: opts.redisUrl }),
    prefix: `bench-slack-${randomUUID()}`,
    seed: fleet.seed,
    timeScale: k,
    concurrency: n,
    pollIntervalMs: opts.pollIntervalMs ?? SANDBOX_POLL_INTERVAL_MS,
    ...(k !== 1 && {
      slackLimits: {
        rates: {
          "chat.postMessage": scaled("chat.postMessage"),
          "chat.update": scaled("chat.update"),
          "chat.postEphemeral": scaled("chat.postEphemeral"),
        },
      },
      notifierPacing: {
        rules: {
          postMessagePerChannel: {
            ...r.postMessagePerChannel,
            windowMs: r.postMessagePerChannel.windowMs / k,
          },
          updatePerWorkspace: { ...r.updatePerWorkspace, windowMs: r.updatePerWorkspace.windowMs / k },
          ephemeralPerWorkspace: {
            ...r.ephemeralPerWorkspace,
            windowMs: r.ephemeralPerWorkspace.windowMs / k,
          },
        },
        minUpdateIntervalMs: DEFAULT_MIN_UPDATE_INTERVAL_MS / k,
        retryBaseMs: DEFAULT_RETRY_BASE_MS / k,
      },
    }),
  });
  const watchers: NodeJS.Timeout[] = [];
  try {
    if (opts.maxConcurrentPerSource !== undefined) {
      setMaxConcurrentMigrations(stack.sandbox, fleet.sources, opts.maxConcurrentPerSource);
    }
    const cloud = stack.sandbox.cloud;
    const serverToVm = new Map(fleet.seed.vms.map((v) => [v.uuid, v.name]));
    const novaStart = new Map<string, number>();
    const novaEnd = new Map<string, number>();
    const slackFinal = new Map<string, number>();
    const rootToVm = new Map<string, string>();

    // Nova's end as the cloud records it; looked at often enough that the error is small next to 60 s.
    watchers.push(
      setInterval(() => {
        const now = performance.now();
        for (const m of cloud.listMigrations({})) {
          const vm = serverToVm.get(m.serverId);
          if (!vm) continue;
          if (!novaStart.has(vm)) novaStart.set(vm, now);
          if (!novaEnd.has(vm) && ["completed", "error", "failed", "cancelled"].includes(m.status)) {
            novaEnd.set(vm, now);
          }
        }
      }, NOVA_WATCH_INTERVAL_MS),
    );
    stack.slack.events.on("message", (e: SlackMessageEvent) => {
      if (e.channel !== SANDBOX_CHANNEL.id || e.thread_ts !== undefined) return;
      const vm = rootToVm.get(e.ts) ?? e.text.match(FLEET_VM_RE)?.[0];
      if (!vm) return;
      rootToVm.set(e.ts, vm);
      if (e.type === "update" && FINAL_ROOT_RE.test(e.text) && !slackFinal.has(vm)) {
        slackFinal.set(vm, performance.now());
      }
    });

    const t0 = performance.now();
    const gapMs = SLACK_BENCH_COMMAND_SPREAD_MS / k / n;
    const acks: Promise<{ status: number }>[] = [];
    for (const [i, [vm, dest]] of fleet.moves.entries()) {
      await sleep(t0 + i * gapMs - performance.now());
      acks.push(
        stack.slack.slashCommand({
          user: "alice",
          channel: "ops",
          command: "/migrate",
          text: `${vm} to ${dest}`,
        }),
      );
    }
    const failedAcks = (await Promise.all(acks)).filter((a) => a.status !== 200).length;

    const deadline = t0 + SLACK_SCENARIO_TIMEOUT_MS / k;
    while (performance.now() < deadline) {
      if (slackFinal.size >= n && (await stack.queueCounts()) === 0) break;
      await sleep(200);
    }
    await stack.notifier.flush();
    const wallMs = (performance.now() - t0) * k;

    const stats = stack.slack.stats();
    const calls = {
      postMessage: stats.calls["chat.postMessage"] ?? 0,
      update: stats.calls["chat.update"] ?? 0,
      postEphemeral: stats.calls["chat.postEphemeral"] ?? 0,
    };
    const roots = stack.slack.messages(SANDBOX_CHANNEL.id);
    let lostPhases = 0;
    let completed = 0;
    for (const [vm] of fleet.moves) {
      const root = roots.find((m) => m.text.match(FLEET_VM_RE)?.[0] === vm);
      if (!root) {
        lostPhases += PHASES.length;
        continue;
      }
      if (/Completed/.test(root.text)) completed++;
      for (const phase of PHASES) {
        if (!root.replies.some((m) => m.text.startsWith(PHASE_TITLES[phase]))) lostPhases++;
      }
    }
    const finalLagsMs: number[] = [];
    const novaDurationsMs: number[] = [];
    let missingFinals = 0;
    for (const [vm] of fleet.moves) {
      const end = novaEnd.get(vm);
      const shown = slackFinal.get(vm);
      if (end === undefined || shown === undefined) {
        missingFinals++;
        continue;
      }
      finalLagsMs.push(Math.max(0, shown - end) * k);
      novaDurationsMs.push((end - (novaStart.get(vm) ?? end)) * k);
    }
    finalLagsMs.sort((a, b) => a - b);
    novaDurationsMs.sort((a, b) => a - b);
    return {
      migrations: n,
      completed,
      failedAcks,
      rateLimited: Object.values(stats.rateLimited).reduce((a, b) => a + b, 0),
      calls,
      callsPerMigration: (calls.postMessage + calls.update + calls.postEphemeral) / n,
      lostPhases,
      missingFinals,
      lateFinals: finalLagsMs.filter((ms) => ms > FINAL_STATE_TARGET_MS).length,
      finalLagsMs,
      novaDurationsMs,
      wallMs,
    };
  } finally {
    for (const w of watchers) clearInterval(w);
    await stack.stop();
  }
}

/** `npm run bench -- slack`: the scenario at real speed against Slack's default limits. */
export async function runSlackBench(): Promise<BenchResult> {
  const res = await runSlackScenario();
  const s = (ms: number) => Math.round(ms / 100) / 10;
  return {
    lastLine: `slack: ${res.rateLimited} 429s, ${res.callsPerMigration.toFixed(1)} calls per migration`,
    rows: {
      migrations: res.migrations,
      completed: res.completed,
      "failed acks": res.failedAcks,
      "postMessage / update / postEphemeral": `${res.calls.postMessage} / ${res.calls.update} / ${res.calls.postEphemeral}`,
      "phase replies lost": res.lostPhases,
      "finals missing": res.missingFinals,
      "finals later than 60 s": res.lateFinals,
      "final lag median s": s(percentile(res.finalLagsMs, 50)),
      "final lag max s": s(res.finalLagsMs.at(-1) ?? Number.NaN),
      "migration length median s": s(percentile(res.novaDurationsMs, 50)),
      "wall s": s(res.wallMs),
    },
  };
}
