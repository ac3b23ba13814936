/**
 * verdicts: how often the convergence analyzer's warnings are right, judged the way the tracker
 * judges. Pure computation (no Redis, no SSH): migrations run on the sandbox's pre-copy model, and
 * every real capture in ../shared/fixtures is replayed.
 *
 * Grid: {@link VERDICT_GRID_CASES} model migrations, {@link VERDICT_CASES_PER_CELL} for each of the
 * ten cells release (mitaka, newton, ocata, stein, zed, each with that release's Nova defaults from
 * src/nova-facts: downtime schedule, progress and completion timeouts) × auto-converge (off, on);
 * in each cell the guest is drawn (seeded, so every run is the same) from RAM 1–16 GiB, bandwidth,
 * dirty rate, hot set and zero pages (see {@link GRID_VALUES}), plus the case issue 10 reported
 * (4 GiB, 100 MiB/s, an 80 MiB hot set rewritten at 400 MiB/s).
 *
 * Polls: every {@link VERDICT_POLL_INTERVAL_S} s of model time the tracker reads one `virsh
 * domjobinfo` (the model's figures printed as libvirt 9 prints them and parsed back: iteration,
 * processed/remaining/total, bandwidth, dirty rate, expected downtime, throttle), keeps at most the
 * tracker's MAX_SAMPLES, and asks the analyzer with what the tracker passes (release, Nova's
 * downtime schedule, progress and completion timeouts, auto-converge).
 *
 * Warnings, as `run-migration.ts` judges: a not-converging warning is posted once the verdict held
 * for VERDICT_CONFIRM_POLLS consecutive polls; it is withdrawn (stops standing) once a converging or
 * throttling verdict holds as long, and stands again when not-converging holds again.
 *
 * Ground truth is how the migration ended: completed, or aborted by Nova (its progress or
 * completion timeout fired). A case is **right** when
 * - it completed and no not-converging warning was standing when it completed, or
 * - Nova aborted it and a not-converging warning was posted before the abort and still standing at
 *   the abort.
 * An abort is **missed** when no not-converging warning was posted before it. The lead of a warning
 * is the abort time minus the time the first warning was posted; the last line gives the median
 * over the aborted cases that were warned.
 *
 * Real captures are judged the same way at their own cadence. The lab's no-auto-converge runs were
 * cancelled by hand after they had shown they never converge (LAB.md): they count as aborts at the
 * moment of the cancel. A capture whose end says nothing about convergence (cancelled by hand while
 * auto-converge was still raising the throttle) is listed but not scored.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BenchResult } from "../cli/bench";
import { analyzeConvergence, type ConvergenceOptions, type Verdict } from "../migration/convergence";
import { MAX_SAMPLES } from "../migration/sampler";
import { detectAndParse } from "../migration/samples/detect";
import { parseDomjobinfo } from "../migration/samples/domjobinfo";
import type { MigrationSample } from "../migration/samples/sample";
import { VERDICT_CONFIRM_POLLS } from "../migration/verdict";
import {
  completionTimeoutS,
  downtimeSchedule,
  liveMigrationDataGiB,
  novaRelease,
  timeoutOptions,
} from "../nova-facts";
import {
  initialState,
  isFinished,
  PAGE_SIZE_BYTES,
  type PrecopyParams,
  type PrecopyState,
  step,
} from "../sandbox/precopy-model";
import { formatDomJobInfo } from "../sandbox/virsh-format";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** The tracker's poll interval in production (2 s), in model seconds. */
export const VERDICT_POLL_INTERVAL_S = 2;
/** Guests drawn per release × auto-converge cell. */
export const VERDICT_CASES_PER_CELL = 25;
/** Releases of the grid: one per downtime formula and timeout regime Nova has had. */
export const VERDICT_RELEASES = ["mitaka", "newton", "ocata", "stein", "zed"] as const;
/** Model migrations in the full grid (cells × cases, plus issue 10's case in each cell). */
export const VERDICT_GRID_CASES = VERDICT_RELEASES.length * 2 * (VERDICT_CASES_PER_CELL + 1);
/** Seed of the grid's draws; change it to look at other guests. */
export const VERDICT_GRID_SEED = 20261210;
/** A run longer than Nova's completion timeout plus this is a model bug, not a migration. */
export const MAX_EXTRA_MODEL_S = 600;

/** The values a guest is drawn from. */
export const GRID_VALUES = {
  memoryGiB: [1, 2, 4, 8, 16],
  /** ~1 GbE, a capped link, ~10 GbE. */
  bandwidthMiBps: [100, 300, 1000],
  dirtyRateMiBps: [5, 40, 150, 500, 2000],
  hotSetMiB: [32, 128, 512, 2048],
  zeroPageFraction: [0.1, 0.6],
} as const;

export interface VerdictCase {
  name: string;
  release: string;
  autoConverge: boolean;
  memoryGiB: number;
  bandwidthMiBps: number;
  dirtyRateMiBps: number;
  hotSetMiB: number;
  zeroPageFraction: number;
}

/** How one migration ended and what the tracker said on the way. */
export interface VerdictRun {
  name: string;
  group: string;
  /** `completed`, `aborted` (Nova, or by hand after never converging), or `unknown` (not scored). */
  outcome: "completed" | "aborted" | "unknown";
  /** Seconds from the start to the end of the job. */
  endS: number;
  /** When the first not-converging warning was posted, if one was. */
  warnedAtS: number | null;
  /** Whether a warning stood when the job ended. */
  standingAtEnd: boolean;
  right: boolean;
  missed: boolean;
  polls: number;
  /** Verdicts in order, run-length encoded for the failure list (`converging×12 not-converging×40`). */
  trail: string;
}

/** Small deterministic PRNG (mulberry32): the grid is the same on every run and machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The grid: `perCell` guests in each release × auto-converge cell, plus issue 10's case in each. */
export function verdictGrid(perCell = VERDICT_CASES_PER_CELL, seed = VERDICT_GRID_SEED): VerdictCase[] {
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const cases: VerdictCase[] = [];
  for (const release of VERDICT_RELEASES) {
    for (const autoConverge of [false, true]) {
      const cell = `${release}${autoConverge ? "+ac" : ""}`;
      cases.push({
        name: `${cell} issue-10`,
        release,
        autoConverge,
        memoryGiB: 4,
        bandwidthMiBps: 100,
        dirtyRateMiBps: 400,
        hotSetMiB: 80,
        zeroPageFraction: 0.1,
      });
      for (let i = 0; i < perCell; i++) {
        const memoryGiB = pick(GRID_VALUES.memoryGiB);
        const hotSetMiB = Math.min(pick(GRID_VALUES.hotSetMiB), (memoryGiB * 1024) / 2);
        const c: VerdictCase = {
          name: "",
          release,
          autoConverge,
          memoryGiB,
          bandwidthMiBps: pick(GRID_VALUES.bandwidthMiBps),
          dirtyRateMiBps: pick(GRID_VALUES.dirtyRateMiBps),
          hotSetMiB,
          zeroPageFraction: pick(GRID_VALUES.zeroPageFraction),
        };
        c.name = `${cell} #${i + 1} ${c.memoryGiB}G ${c.bandwidthMiBps}MiB/s dirty${c.dirtyRateMiBps} hot${c.hotSetMiB} zero${c.zeroPageFraction}`;
        cases.push(c);
      }
    }
  }
  return cases;
}

/** One `virsh domjobinfo` of the model's job, printed as libvirt 9 prints it and parsed back. */
export function domjobinfoSample(job: PrecopyState): MigrationSample {
  const text = formatDomJobInfo({
    type: "Unbounded",
    operation: "Outgoing migration",
    timeElapsedMs: Math.round(job.elapsedS * 1000),
    dataProcessed: job.transferredBytes,
    dataRemaining: job.remainingBytes,
    dataTotal: job.params.memoryBytes,
    // libvirt shows QEMU's measured rate (ram.mbps), which is the migration's rate limit here.
    memoryBandwidthBytesPerS: job.params.bandwidthBytesPerS,
    dirtyRatePagesPerS: job.dirtyRatePagesPerS,
    pageSizeBytes: PAGE_SIZE_BYTES,
    iteration: job.iteration,
    postcopyRequests: job.postcopyRequests,
    constantPages: job.zeroPages,
    normalPages: Math.round(job.normalBytes / PAGE_SIZE_BYTES),
    normalData: job.normalBytes,
    expectedDowntimeMs: job.expectedDowntimeMs,
    setupTimeMs: 2,
    autoConvergeThrottle: job.throttlePercent,
  });
  return parseDomjobinfo(text);
}

/** What the tracker's warning did over a sequence of verdicts (one per poll), as run-migration judges. */
export function trackerWarnings(verdicts: { t: number; verdict: Verdict }[]): {
  warnedAtS: number | null;
  /** Whether a warning stands after each poll. */
  standing: boolean[];
} {
  let current: Verdict | null = null;
  let streak = 0;
  let posted = false;
  let withdrawnAs: Verdict | null = null;
  let warnedAtS: number | null = null;
  const standing: boolean[] = [];
  for (const { t, verdict } of verdicts) {
    if (verdict === current) streak += 1;
    else {
      current = verdict;
      streak = 1;
    }
    if (streak >= VERDICT_CONFIRM_POLLS) {
      if (verdict === "not-converging") {
        if (!posted) {
          posted = true;
          warnedAtS = t;
        }
        withdrawnAs = null;
      } else if (
        (verdict === "throttling" || verdict === "converging") &&
        posted &&
        withdrawnAs !== verdict
      ) {
        withdrawnAs = verdict;
      }
    }
    standing.push(posted && withdrawnAs === null);
  }
  return { warnedAtS, standing };
}

function trail(verdicts: { verdict: Verdict }[]): string {
  const parts: string[] = [];
  let last: string | null = null;
  let count = 0;
  for (const { verdict } of verdicts) {
    if (verdict === last) count += 1;
    else {
      if (last !== null) parts.push(`${last}×${count}`);
      last = verdict;
      count = 1;
    }
  }
  if (last !== null) parts.push(`${last}×${count}`);
  return parts.join(" ");
}

function scored(
  name: string,
  group: string,
  outcome: VerdictRun["outcome"],
  endS: number,
  verdicts: { t: number; verdict: Verdict }[],
): VerdictRun {
  const { warnedAtS, standing } = trackerWarnings(verdicts);
  const standingAtEnd = standing.at(-1) ?? false;
  const warnedBefore = warnedAtS !== null && warnedAtS <= endS;
  return {
    name,
    group,
    outcome,
    endS,
    warnedAtS,
    standingAtEnd,
    right: outcome === "completed" ? !standingAtEnd : outcome === "aborted" && warnedBefore && standingAtEnd,
    missed: outcome === "aborted" && !warnedBefore,
    polls: verdicts.length,
    trail: trail(verdicts),
  };
}

/** Nova's defaults for one model case, as nova-facts gives them for the release. */
export function novaInputs(c: VerdictCase) {
  const release = novaRelease(c.release);
  const dataGiB = liveMigrationDataGiB(release, { memoryMb: c.memoryGiB * 1024 });
  return {
    release,
    schedule: downtimeSchedule(release, { dataGiB }),
    progressTimeoutS: timeoutOptions(release).progress?.defaultS ?? 0,
    completionTimeoutS: completionTimeoutS(release, { dataGiB }),
  };
}

/** The pre-copy model's parameters of one grid case (the guest, the link, Nova's defaults). */
export function verdictModelParams(c: VerdictCase): PrecopyParams {
  const nova = novaInputs(c);
  return {
    memoryBytes: c.memoryGiB * GiB,
    zeroPageFraction: c.zeroPageFraction,
    dirtyRateBytesPerS: c.dirtyRateMiBps * MiB,
    workingSetBytes: c.hotSetMiB * MiB,
    bandwidthBytesPerS: c.bandwidthMiBps * MiB,
    autoConverge: c.autoConverge,
    postCopy: false,
    release: nova.release,
    downtimeSchedule: nova.schedule,
    progressTimeoutS: nova.progressTimeoutS,
    completionTimeoutS: nova.completionTimeoutS,
    timeoutAction: "abort",
  };
}

/** Runs one model migration, polled and judged as the tracker does. */
export function runVerdictCase(c: VerdictCase): VerdictRun {
  const nova = novaInputs(c);
  const params = verdictModelParams(c);
  // What the tracker passes from the source's effective nova.conf (see run-migration's DowntimeFigures).
  const options: ConvergenceOptions = {
    release: nova.release,
    memoryMb: c.memoryGiB * 1024,
    downtimeSchedule: nova.schedule,
    progressTimeoutS: nova.progressTimeoutS,
    completionTimeoutS: nova.completionTimeoutS,
    timeoutAction: "abort",
    autoConverge: c.autoConverge,
  };
  let job = initialState(params);
  const samples: MigrationSample[] = [];
  const verdicts: { t: number; verdict: Verdict }[] = [];
  const maxS = (nova.completionTimeoutS || 4 * 3600) + MAX_EXTRA_MODEL_S;
  while (!isFinished(job) && job.elapsedS < maxS) {
    job = step(job, VERDICT_POLL_INTERVAL_S).state;
    if (isFinished(job)) break;
    samples.push(domjobinfoSample(job));
    if (samples.length > MAX_SAMPLES) samples.splice(0, samples.length - MAX_SAMPLES);
    verdicts.push({ t: job.elapsedS, verdict: analyzeConvergence(samples, options).verdict });
  }
  const outcome = job.outcome === "completed" ? "completed" : job.outcome === null ? "unknown" : "aborted";
  return scored(c.name, `${c.release}${c.autoConverge ? "+ac" : ""}`, outcome, job.elapsedS, verdicts);
}

/** A real capture: where it is, how it ended, and what the tracker would have known. */
interface Capture {
  file: string;
  outcome: VerdictRun["outcome"];
  options: ConvergenceOptions;
  why: string;
}

/** Every real capture in fixtures/ that is a series of samples with a known end. */
export const CAPTURES: readonly Capture[] = [
  {
    file: "libvirt-lab/domjobinfo-series-no-autoconverge.txt",
    outcome: "aborted",
    options: {},
    why: "cancelled by hand after 7 iterations without converging (LAB.md)",
  },
  {
    file: "libvirt-lab/qmp-query-migrate-noac_bw5.jsonl",
    outcome: "aborted",
    options: {},
    why: "cancelled at 120 s after 20 dirty syncs without converging (LAB.md)",
  },
  {
    file: "libvirt-lab/domjobinfo-series-autoconverge-50-20.txt",
    outcome: "completed",
    options: { autoConverge: true },
    why: "completed in 51 s",
  },
  {
    file: "libvirt-lab/qmp-query-migrate-ac_bw5_50_20.jsonl",
    outcome: "completed",
    options: { autoConverge: true },
    why: "completed in 51 s",
  },
  {
    file: "libvirt-lab/qmp-query-migrate-noac_bw50.jsonl",
    outcome: "completed",
    options: {},
    why: "completed in 0.8 s",
  },
  {
    file: "libvirt/virsh-outputs/virsh-domjobinfo-live-migration-run3-completed.txt",
    outcome: "completed",
    options: {},
    why: "2 GiB memtest guest, completed",
  },
  {
    file: "qemu/query-migrate-response-completed.real-qemu-devel-2022.jsonl",
    outcome: "completed",
    options: {},
    why: "one completed reply (qemu-devel, 2022)",
  },
  {
    file: "qemu/query-migrate-responses-during-autoconverge-migration.real-capture.txt",
    outcome: "unknown",
    options: { autoConverge: true },
    why: "cancelled by hand at 70 s while auto-converge was raising the throttle (30 %): not scored",
  },
];

/** ../shared/fixtures beside the project root (where the lab and CI keep the real captures). */
export function fixturesDir(): string {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
  return process.env.MIGBOT_FIXTURES_DIR ?? resolve(root, "../shared/fixtures");
}

/** Replays one capture poll by poll (every sample is a poll) and judges it as the tracker would. */
export function runCapture(capture: Capture, dir = fixturesDir()): VerdictRun | null {
  const path = resolve(dir, capture.file);
  if (!existsSync(path)) return null;
  const { samples } = detectAndParse(readFileSync(path, "utf8"));
  const verdicts: { t: number; verdict: Verdict }[] = [];
  const seen: MigrationSample[] = [];
  let endS = 0;
  for (const s of samples) {
    endS = Math.max(endS, s.t);
    const ended = s.jobType === "completed" || s.jobType === "failed" || s.jobType === "cancelled";
    if (ended || s.errorText !== undefined) break;
    if (s.jobType === "none") continue;
    seen.push(s);
    verdicts.push({ t: s.t, verdict: analyzeConvergence(seen, capture.options).verdict });
  }
  return scored(capture.file, "capture", capture.outcome, endS, verdicts);
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface VerdictScore {
  scored: number;
  right: number;
  missed: number;
  aborted: number;
  completed: number;
  /** Completed migrations that ended with a warning standing. */
  falseStanding: number;
  medianLeadS: number | null;
  percentRight: number;
}

/** The figures of a set of runs (unscored captures left out). */
export function scoreVerdicts(runs: VerdictRun[]): VerdictScore {
  const counted = runs.filter((r) => r.outcome !== "unknown");
  const right = counted.filter((r) => r.right).length;
  const leads = counted
    .filter((r) => r.outcome === "aborted" && r.warnedAtS !== null && r.warnedAtS <= r.endS)
    .map((r) => r.endS - r.warnedAtS!);
  return {
    scored: counted.length,
    right,
    missed: counted.filter((r) => r.missed).length,
    aborted: counted.filter((r) => r.outcome === "aborted").length,
    completed: counted.filter((r) => r.outcome === "completed").length,
    falseStanding: counted.filter((r) => r.outcome === "completed" && r.standingAtEnd).length,
    medianLeadS: median(leads),
    percentRight: counted.length === 0 ? 0 : (100 * right) / counted.length,
  };
}

/** The fixed last line of the bench. */
export function verdictsLine(score: VerdictScore): string {
  const lead = score.medianLeadS === null ? "—" : `${Math.round(score.medianLeadS)}`;
  return `verdicts: ${score.percentRight.toFixed(1)}% right, ${score.missed} aborts missed, median warning ${lead} s before Nova's abort`;
}

/** `npm run bench -- verdicts`: the grid and the captures, a table, and the last line. */
export async function runVerdictsBench(): Promise<BenchResult> {
  const started = performance.now();
  const runs = verdictGrid().map(runVerdictCase);
  const captures = CAPTURES.map((c) => runCapture(c)).filter((r): r is VerdictRun => r !== null);
  const all = [...runs, ...captures];
  const groups = [...new Set(all.map((r) => r.group))];
  console.log(
    "| group | cases | completed | aborted | right | missed | completed with a warning standing | median lead s |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const g of groups) {
    const s = scoreVerdicts(all.filter((r) => r.group === g));
    const n = all.filter((r) => r.group === g).length;
    console.log(
      `| ${g} | ${n} | ${s.completed} | ${s.aborted} | ${s.right} | ${s.missed} | ${s.falseStanding} | ${s.medianLeadS === null ? "—" : Math.round(s.medianLeadS)} |`,
    );
  }
  for (const c of captures) {
    console.log(
      `capture ${c.name}: ${c.outcome} at ${c.endS.toFixed(1)} s, warned ${c.warnedAtS === null ? "never" : `at ${c.warnedAtS.toFixed(1)} s`}, ${c.right ? "right" : c.outcome === "unknown" ? "not scored" : "WRONG"} (${c.trail})`,
    );
  }
  const wrong = all.filter((r) => r.outcome !== "unknown" && !r.right);
  for (const r of wrong.slice(0, 40)) {
    console.log(
      `wrong: ${r.name}: ${r.outcome} at ${Math.round(r.endS)} s, warned ${r.warnedAtS === null ? "never" : `at ${Math.round(r.warnedAtS)} s`}, standing at end ${r.standingAtEnd} — ${r.trail}`,
    );
  }
  const score = scoreVerdicts(all);
  const seconds = (performance.now() - started) / 1000;
  return {
    lastLine: verdictsLine(score),
    rows: {
      "model migrations": runs.length,
      "real captures scored": captures.filter((c) => c.outcome !== "unknown").length,
      completed: score.completed,
      aborted: score.aborted,
      right: score.right,
      "completed with a warning standing": score.falseStanding,
      "aborts missed": score.missed,
      "wall s": Number(seconds.toFixed(1)),
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  void runVerdictsBench().then((result) => {
    for (const [k, v] of Object.entries(result.rows)) console.log(`${k}: ${v}`);
    console.log(result.lastLine);
  });
}
