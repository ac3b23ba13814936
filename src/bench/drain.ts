/**
 * drain: a sandbox host with 40 VMs of mixed sizes (4–24 GiB) and dirty rates (idle to 50 MiB/s,
 * and two that dirty 300 MiB/s, faster than the 1 GbE link carries) drained at concurrency 2
 * through the real path: `/drain` typed in the Slack emulator, the Bolt app, the signed planning
 * job, the plan approved by an approver's click, the drain job on the real BullMQ worker, each VM
 * through the migration tracker, the table and thread on the emulator.
 *
 * R is the drain's wall time (model seconds, from the approval to the report) over the time the
 * links need for the bytes actually sent: each migration's bytes over its link's rate, summed and
 * shared among the drain's slots (and never below the longest single migration). The sandbox gives
 * each migration its own link rate (it does not model two migrations sharing a source NIC), so the
 * bound is that of `concurrency` parallel links; R counts what the drain adds on top: Nova's
 * queued, preparing and post-migration steps, the tracker's polling, and the slots left idle.
 *
 * Slack's limits run as fast as the model (both emulator and notifier scaled by the time scale),
 * so Slack paces the drain as it would at real speed.
 */
import { randomUUID } from "node:crypto";
import type { BenchResult } from "../cli/bench";
import { DEFAULT_NOTIFY_RULES } from "../notify/limiter";
import { DEFAULT_MIN_UPDATE_INTERVAL_MS, DEFAULT_RETRY_BASE_MS } from "../notify/notifier";
import { SANDBOX_CHANNEL, startSandboxStack } from "../runtime/stack";
import type { SandboxSeed, SeedVm } from "../sandbox/seed";
import { buttonsIn } from "../sandbox/slack/block-kit";
import { DEFAULT_SLACK_LIMITS } from "../sandbox/slack/emulator";
import { setMaxConcurrentMigrations } from "./fleet-seed";

export const DRAIN_BENCH_VMS = 40;
/** VMs that dirty memory faster than the link: they cannot converge without auto-converge. */
export const DRAIN_BENCH_NON_CONVERGING = 2;
export const DRAIN_BENCH_CONCURRENCY = 2;
/** Model seconds per real second (Slack's limits scaled alike). */
export const DRAIN_BENCH_TIME_SCALE = 10;
/** The tracker's and the drain's poll interval, real ms (one model second at the time scale). */
export const DRAIN_BENCH_POLL_MS = 100;
/** The target: wall time at most this many times the links' bound. */
export const DRAIN_BENCH_TARGET_R = 1.15;
/** Bounds on the run, real time. */
const PLAN_TIMEOUT_MS = 180_000;
const DRAIN_TIMEOUT_MS = 600_000;
const WATCH_INTERVAL_MS = 20;
const LINK_MIBPS = 112;
const BYTES_PER_MIB = 1024 * 1024;
const SOURCE = "maint-1";
/**
 * Sizes and loads cycle through these: mixed, 12 GiB on average (what maintenance drains move on
 * hosts of this size). Nova's fixed steps per migration (queued, preparing, post-migrating: 5 model
 * seconds in the sandbox) are outside the links' bound, so small guests alone would keep R above
 * 1.15 whatever migbot does: 2 GiB guests need ~10 s of link each.
 */
const SIZES_GIB = [8, 16, 4, 24, 8, 16, 12, 8];
const LOADS = [
  { dirtyRateMiBps: 1, workingSetMiB: 16, zeroPageFraction: 0.7 },
  { dirtyRateMiBps: 5, workingSetMiB: 64, zeroPageFraction: 0.5 },
  { dirtyRateMiBps: 20, workingSetMiB: 256, zeroPageFraction: 0.4 },
  { dirtyRateMiBps: 50, workingSetMiB: 512, zeroPageFraction: 0.3 },
];
const HOT_LOAD = { dirtyRateMiBps: 300, workingSetMiB: 2048, zeroPageFraction: 0.2 };

/** The drain bench's cloud: one host to drain, three to take its VMs, 1 GbE between all. */
export function drainSeed(): SandboxSeed {
  const host = (name: string, i: number, memoryMb: number) => ({
    name,
    cpuModel: "Skylake-Client" as const,
    novaVersion: "26.2.2",
    memoryMb,
    vcpus: 256,
    hostIp: `10.0.1.${10 + i}`,
  });
  const vms: SeedVm[] = [];
  for (let i = 0; i < DRAIN_BENCH_VMS; i++) {
    const hot = i >= DRAIN_BENCH_VMS - DRAIN_BENCH_NON_CONVERGING;
    const gib = hot ? 8 : SIZES_GIB[i % SIZES_GIB.length]!;
    const id = 0x1000 + i;
    vms.push({
      name: `${hot ? "hot" : "vm"}-${String(i + 1).padStart(2, "0")}`,
      uuid: `5a1dc0de-d7a1-4b1d-9c1a-${id.toString(16).padStart(12, "0")}`,
      instanceId: id,
      host: SOURCE,
      flavor: { name: `m1.${gib}g`, ramMb: gib * 1024, vcpus: 2, diskGb: 20 },
      ...(hot ? HOT_LOAD : LOADS[i % LOADS.length]!),
    });
  }
  return {
    hosts: [
      host(SOURCE, 0, 512 * 1024),
      host("spare-1", 1, 256 * 1024),
      host("spare-2", 2, 256 * 1024),
      host("spare-3", 3, 256 * 1024),
    ],
    vms,
    defaultLinkMiBps: LINK_MIBPS,
    links: [],
  };
}

export interface DrainBenchResult {
  vms: number;
  moved: number;
  notMoved: { name: string; reason: string }[];
  wallS: number;
  linkBoundS: number;
  r: number;
  bytesSentGiB: number;
  /** Every VM that dirties slower than the link moved. */
  convergentAllMoved: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function waitUntil<T>(what: string, fn: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = fn();
    if (v !== undefined) return v;
    await sleep(WATCH_INTERVAL_MS);
  }
  throw new Error(`drain bench: timed out waiting for ${what}`);
}

/** Runs the scenario. */
export async function runDrainScenario(opts: { redisUrl?: string } = {}): Promise<DrainBenchResult> {
  const k = DRAIN_BENCH_TIME_SCALE;
  const rates = DEFAULT_SLACK_LIMITS.rates;
  const scaled = (method: string) => ({ ...rates[method]!, perMinute: rates[method]!.perMinute * k });
  const r = DEFAULT_NOTIFY_RULES;
  const seed = drainSeed();
  const stack = await startSandboxStack({
    ...(opts.redisUrl && { redisUrl: opts.redisUrl }),
    prefix: `bench-drain-${randomUUID()}`,
    seed,
    timeScale: k,
    pollIntervalMs: DRAIN_BENCH_POLL_MS,
    slackLimits: {
      rates: {
        "chat.postMessage": scaled("chat.postMessage"),
        "chat.update": scaled("chat.update"),
        "chat.postEphemeral": scaled("chat.postEphemeral"),
      },
    },
    notifierPacing: {
      rules: {
        postMessagePerChannel: { ...r.postMessagePerChannel, windowMs: r.postMessagePerChannel.windowMs / k },
        updatePerWorkspace: { ...r.updatePerWorkspace, windowMs: r.updatePerWorkspace.windowMs / k },
        ephemeralPerWorkspace: { ...r.ephemeralPerWorkspace, windowMs: r.ephemeralPerWorkspace.windowMs / k },
      },
      minUpdateIntervalMs: DEFAULT_MIN_UPDATE_INTERVAL_MS / k,
      retryBaseMs: DEFAULT_RETRY_BASE_MS / k,
    },
  });
  try {
    // Two at once from the source: what an operator sets before asking for concurrency 2.
    setMaxConcurrentMigrations(stack.sandbox, [SOURCE], DRAIN_BENCH_CONCURRENCY);
    const cloud = stack.sandbox.cloud;
    const roots = () => stack.slack.messages(SANDBOX_CHANNEL.id);
    await stack.slack.slashCommand({
      user: "alice",
      channel: "ops",
      command: "/drain",
      text: `${SOURCE} concurrency ${DRAIN_BENCH_CONCURRENCY}`,
    });
    // Bob finds the plan's Approve button as a person does: by its label.
    const approveIn = (m: { blocks?: unknown[] }) => buttonsIn(m.blocks).find((b) => b.label === "Approve");
    const root = await waitUntil(
      "the plan",
      () => roots().find((m) => approveIn(m) !== undefined),
      PLAN_TIMEOUT_MS,
    );
    const startS = cloud.nowS;
    await stack.slack.clickButton({
      user: "bob",
      channel: SANDBOX_CHANNEL.id,
      messageTs: root.ts,
      actionId: approveIn(root)!.actionId,
    });
    const report = await waitUntil(
      "the report",
      () =>
        roots()
          .find((m) => m.ts === root.ts)
          ?.replies.find((x) => x.text.startsWith(`Drain of ${SOURCE}: `)),
      DRAIN_TIMEOUT_MS,
    );
    const wallS = cloud.nowS - startS;
    // The links' bound for the bytes actually sent, every migration of the drain included.
    const ids = new Set(seed.vms.map((v) => v.uuid));
    const times: number[] = [];
    let bytes = 0;
    for (const m of cloud.migrations) {
      if (!ids.has(m.vm.seed.uuid) || m.job === null) continue;
      bytes += m.job.transferredBytes;
      times.push(m.job.transferredBytes / m.job.params.bandwidthBytesPerS);
    }
    const sum = times.reduce((a, b) => a + b, 0);
    const linkBoundS = Math.max(sum / DRAIN_BENCH_CONCURRENCY, ...times);
    const left = new Map((await stack.nova.listServers({ host: SOURCE })).map((s) => [s.name, s]));
    const reportText = `${report.text}\n${JSON.stringify(report.blocks)}`;
    const notMoved = seed.vms
      .filter((v) => left.has(v.name))
      .map((v) => {
        const line = reportText.split(/\\n|\n/).find((l) => l.includes(`\`${v.name}\``)) ?? "";
        return { name: v.name, reason: line.replace(/^.*?—\s*/, "").slice(0, 200) };
      });
    const convergentAllMoved = seed.vms
      .filter((v) => v.dirtyRateMiBps < LINK_MIBPS)
      .every((v) => !left.has(v.name));
    return {
      vms: seed.vms.length,
      moved: seed.vms.length - notMoved.length,
      notMoved,
      wallS,
      linkBoundS,
      r: wallS / linkBoundS,
      bytesSentGiB: bytes / (1024 * BYTES_PER_MIB),
      convergentAllMoved,
    };
  } finally {
    await stack.stop();
  }
}

/** `npm run bench drain`. */
export async function runDrainBench(): Promise<BenchResult> {
  const res = await runDrainScenario();
  const met =
    res.r <= DRAIN_BENCH_TARGET_R && res.convergentAllMoved && res.notMoved.every((n) => n.reason !== "");
  return {
    lastLine: `drain: ${res.moved} VMs in ${Math.round(res.wallS)} s, ${res.r.toFixed(2)}x the link bound${met ? "" : " (target not met)"}`,
    rows: {
      "VMs on the host": res.vms,
      moved: res.moved,
      "not moved": res.notMoved.map((n) => `${n.name}: ${n.reason}`).join("; ") || "none",
      "wall (model s)": Math.round(res.wallS),
      "link bound (model s)": Math.round(res.linkBoundS),
      "memory sent (GiB)": res.bytesSentGiB.toFixed(1),
      "every VM that can converge moved": res.convergentAllMoved ? "yes" : "no",
    },
  };
}
