/**
 * track: ONE worker process following 1,000 concurrent sandbox migrations, doing its real work — Nova
 * polled over HTTP, `virsh domjobinfo` over SSH on each source, every phase posted to the Slack
 * emulator — while this process samples the worker's RSS and CPU from /proc.
 *
 * The fleet (fleet-seed.ts) is 1,000 VMs of 8–16 GiB on 20 source hosts, each source allowed 50
 * migrations at once (`max_concurrent_live_migrations = 50`), so all 1,000 run together for about two
 * minutes. Jobs are enqueued straight into BullMQ (no slash commands). Slack's budget is raised 100x
 * for this scenario, in the emulator and in the worker's notifier alike (track-fast-slack.mjs):
 * 1,000 migrations in one channel would otherwise take the best part of an hour to post.
 *
 * The worker is `node bin/migbot.mjs start --role worker`, with the node options docker-compose.yml
 * gives it, the stack's environment and MIGBOT_WORKER_CONCURRENCY=1000. RSS is the peak of VmRSS over the run; CPU is utime+stime over the
 * tracking period (first migration running → last migration finished in Nova) as a share of one core.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Redis } from "ioredis";
import { parse } from "yaml";
import type { BenchResult } from "../cli/bench";
import { MigrationStore } from "../migration/store";
import type { MigrateJob } from "../queue/jobs";
import { createEnqueuer } from "../queue/worker";
import { bullConnection, SANDBOX_CHANNEL, SANDBOX_USERS, startSandboxStack } from "../runtime/stack";
import { DEFAULT_SLACK_LIMITS } from "../sandbox/slack/emulator";
import { fleetSeed, setMaxConcurrentMigrations } from "./fleet-seed";

export const TRACK_BENCH_MIGRATIONS = 1000;
export const TRACK_BENCH_SOURCE_HOSTS = 20;
/** Guests 4x the small fleet's RAM: 8–16 GiB, about two minutes each on 1 GbE. */
export const TRACK_BENCH_RAM_FACTOR = 4;
/** Slack's budget multiplier for this scenario only (emulator and notifier). */
export const TRACK_BENCH_SLACK_SPEEDUP = 100;
/** Bounds: the worker must be up within this, and every migration finished within the run timeout. */
const WORKER_START_TIMEOUT_MS = 60_000;
const TRACK_RUN_TIMEOUT_MS = 15 * 60_000;
/** After Nova finished the last one, the worker may take this long to post the final states. */
const FINAL_POSTS_TIMEOUT_MS = 120_000;
const SAMPLE_INTERVAL_MS = 1_000;
const WORKER_STOP_TIMEOUT_MS = 20_000;
const PROJECT_ROOT = resolve(import.meta.dirname, "../..");

/**
 * The node options the deployment gives the worker (docker-compose.yml's `worker.command`, between
 * `node` and the script), so the figures are those of the worker as deployed.
 */
export function deployedWorkerNodeOptions(): string[] {
  const compose = parse(readFileSync(resolve(PROJECT_ROOT, "docker-compose.yml"), "utf8")) as {
    services: { worker: { command: string[] } };
  };
  const cmd = compose.services.worker.command;
  const script = cmd.indexOf("bin/migbot.mjs");
  if (cmd[0] !== "node" || script < 1)
    throw new Error("docker-compose.yml: worker.command is not node bin/migbot.mjs");
  return cmd.slice(1, script);
}

/** Clock ticks per second for /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
const CLOCK_TICKS_PER_S = 100;

interface ProcSample {
  atMs: number;
  rssKb: number;
  cpuTicks: number;
}

/** VmRSS from /proc/<pid>/status and utime+stime from /proc/<pid>/stat, or null once the process is gone. */
export function sampleProc(pid: number): ProcSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rssKb = Number(status.match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1] ?? Number.NaN);
    // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpuTicks = Number(fields[11]) + Number(fields[12]);
    return { atMs: performance.now(), rssKb, cpuTicks };
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export interface TrackResult {
  migrations: number;
  completed: number;
  peakRssMb: number;
  /** Share of one core over the tracking period, %. */
  cpuPercent: number;
  trackingSeconds: number;
  /** The bench process (sandbox cloud, SSH servers, Nova API, Slack emulator) over the same period, %. */
  sandboxCpuPercent: number;
  finalsShown: number;
}

export async function runTrackScenario(
  opts: { migrations?: number; sourceHosts?: number; redisUrl?: string; slackSpeedup?: number } = {},
): Promise<TrackResult> {
  const n = opts.migrations ?? TRACK_BENCH_MIGRATIONS;
  const speedup = opts.slackSpeedup ?? TRACK_BENCH_SLACK_SPEEDUP;
  const pairs = opts.sourceHosts ?? TRACK_BENCH_SOURCE_HOSTS;
  const fleet = fleetSeed({ vms: n, pairs, ramFactor: TRACK_BENCH_RAM_FACTOR, hostMemoryMb: 512 * 1024 });
  const rates = DEFAULT_SLACK_LIMITS.rates;
  const fast = (method: string) => ({
    ...rates[method]!,
    perMinute: rates[method]!.perMinute * speedup,
  });
  const stack = await startSandboxStack({
    ...(opts.redisUrl && { redisUrl: opts.redisUrl }),
    prefix: `bench-track-${randomUUID()}`,
    seed: fleet.seed,
    timeScale: 1,
    workers: false,
    slackLimits: {
      rates: {
        "chat.postMessage": fast("chat.postMessage"),
        "chat.update": fast("chat.update"),
        "chat.postEphemeral": fast("chat.postEphemeral"),
        // Each migration's end shares a chart; the worker's upload budget is raised too (preload).
        "files.getUploadURLExternal": fast("files.getUploadURLExternal"),
        "files.completeUploadExternal": fast("files.completeUploadExternal"),
      },
    },
  });
  let child: ChildProcess | null = null;
  // BullMQ leaves connections it was handed open on close; these are ours to disconnect.
  const connections: Redis[] = [];
  const connect = bullConnection(stack.redisUrl);
  const enqueuer = createEnqueuer(
    {
      connection: () => {
        const c = connect();
        connections.push(c);
        return c;
      },
      prefix: `${stack.prefix}:bull`,
    },
    new MigrationStore(stack.redis, stack.prefix),
    stack.signer,
  );
  let workerLog = "";
  try {
    setMaxConcurrentMigrations(stack.sandbox, fleet.sources, Math.ceil(n / pairs));
    child = spawn(
      process.execPath,
      [
        ...deployedWorkerNodeOptions(),
        // `MIGBOT_BENCH_CPU_PROF=<dir>`: the worker writes a V8 CPU profile there when it exits.
        ...(process.env.MIGBOT_BENCH_CPU_PROF
          ? ["--cpu-prof", `--cpu-prof-dir=${process.env.MIGBOT_BENCH_CPU_PROF}`]
          : []),
        "--import",
        resolve(PROJECT_ROOT, "src/bench/track-fast-slack.mjs"),
        resolve(PROJECT_ROOT, "bin/migbot.mjs"),
        "start",
        "--role",
        "worker",
      ],
      {
        cwd: PROJECT_ROOT,
        env: {
          ...process.env,
          ...stack.workerEnv,
          MIGBOT_WORKER_CONCURRENCY: String(n),
          MIGBOT_BENCH_SLACK_SPEEDUP: String(speedup),
          MIGBOT_LOG_LEVEL: "info",
        },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    child.stderr?.on("data", (d: Buffer) => {
      workerLog = (workerLog + d.toString()).slice(-20_000);
    });
    const pid = child.pid!;
    const samples: ProcSample[] = [];
    const startedAt = performance.now();
    while (!/worker started/.test(workerLog)) {
      if (child.exitCode !== null || performance.now() - startedAt > WORKER_START_TIMEOUT_MS) {
        throw new Error(`the worker did not start: ${workerLog.slice(-2000)}`);
      }
      await sleep(100);
    }

    const requestedAt = Date.now();
    for (const [i, [vm, dest]] of fleet.moves.entries()) {
      const job: MigrateJob = {
        type: "migrate",
        vm,
        destination: dest,
        channel: SANDBOX_CHANNEL.id,
        user: SANDBOX_USERS[0].id,
        requestedAt,
      };
      await enqueuer.add("migrations", `bench-track-${i}`, job);
    }

    const cloud = stack.sandbox.cloud;
    const serverIds = new Set(fleet.seed.vms.map((v) => v.uuid));
    let firstRunning: ProcSample | null = null;
    let allFinished: ProcSample | null = null;
    let parentAtFirst = process.cpuUsage();
    let parentUsage = { user: 0, system: 0 };
    const deadline = performance.now() + TRACK_RUN_TIMEOUT_MS;
    let finishedAtMs = Number.POSITIVE_INFINITY;
    let finalsShown = 0;
    for (;;) {
      const s = sampleProc(pid);
      if (s === null) throw new Error(`the worker exited: ${workerLog.slice(-2000)}`);
      samples.push(s);
      const ours = cloud.listMigrations({}).filter((m) => serverIds.has(m.serverId));
      if (firstRunning === null && ours.some((m) => m.status === "running")) {
        firstRunning = s;
        parentAtFirst = process.cpuUsage();
      }
      const finished = ours.filter((m) => ["completed", "error", "failed", "cancelled"].includes(m.status));
      if (allFinished === null && ours.length === n && finished.length === n) {
        allFinished = s;
        parentUsage = process.cpuUsage(parentAtFirst);
        finishedAtMs = performance.now();
      }
      if (allFinished !== null) {
        finalsShown = stack.slack
          .messages(SANDBOX_CHANNEL.id)
          .filter((m) => /Completed|Failed|Aborted|Cancelled/.test(m.text)).length;
        if (finalsShown >= n || performance.now() - finishedAtMs > FINAL_POSTS_TIMEOUT_MS) break;
      }
      if (performance.now() > deadline) throw new Error(`timed out: ${finished.length} of ${n} finished`);
      await sleep(SAMPLE_INTERVAL_MS);
    }
    if (firstRunning === null || allFinished === null) throw new Error("no tracking period observed");
    const seconds = (allFinished.atMs - firstRunning.atMs) / 1000;
    const cpuSeconds = (allFinished.cpuTicks - firstRunning.cpuTicks) / CLOCK_TICKS_PER_S;
    const completed = cloud
      .listMigrations({})
      .filter((m) => serverIds.has(m.serverId) && m.status === "completed").length;
    return {
      migrations: n,
      completed,
      peakRssMb: Math.max(...samples.map((x) => x.rssKb)) / 1024,
      cpuPercent: (100 * cpuSeconds) / seconds,
      trackingSeconds: seconds,
      sandboxCpuPercent: (100 * (parentUsage.user + parentUsage.system)) / 1e6 / seconds,
      finalsShown,
    };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const c = child;
      const exited = new Promise((r) => c.once("exit", r));
      c.kill("SIGTERM");
      await Promise.race([exited, sleep(WORKER_STOP_TIMEOUT_MS)]);
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    }
    await enqueuer.close();
    for (const c of connections) c.disconnect();
    await stack.stop();
  }
}

/** `npm run bench -- track` */
export async function runTrackBench(): Promise<BenchResult> {
  const r = await runTrackScenario({
    ...(process.env.MIGBOT_BENCH_TRACK_SLACK_SPEEDUP && {
      slackSpeedup: Number(process.env.MIGBOT_BENCH_TRACK_SLACK_SPEEDUP),
    }),
  });
  return {
    lastLine: `track: ${Math.round(r.peakRssMb)} MB RSS, ${Math.round(r.cpuPercent)}% CPU`,
    rows: {
      migrations: r.migrations,
      completed: r.completed,
      "final states in Slack": r.finalsShown,
      "tracking period s": Math.round(r.trackingSeconds),
      "worker peak RSS MB": Math.round(r.peakRssMb),
      "worker CPU % of one core": Math.round(r.cpuPercent * 10) / 10,
      "sandbox process CPU %": Math.round(r.sandboxCpuPercent),
    },
  };
}
