import { CodedError } from "../errors";
import {
  type DowntimeStage,
  NOVA_MONITOR_POLL_INTERVAL_MS,
  type NovaReleaseRef,
  QEMU_AUTO_CONVERGE_INCREMENT_PERCENT,
  QEMU_AUTO_CONVERGE_INITIAL_PERCENT,
  QEMU_AUTO_CONVERGE_MAX_PERCENT,
} from "../nova-facts";
import {
  groupIterations,
  processedOf,
  remainingOf,
  type SyncEstimate,
  syncEstimates,
} from "./convergence-dirty-sets";
import { novaAbortAt, novaClock } from "./convergence-nova-clock";
import { formatBytes, type MigrationSample } from "./samples/sample";

/**
 * Will this live migration ever finish, and why (not)? Judged from the samples the tracker collects
 * (domjobinfo, QMP, Nova's byte counters or its log), the way LAB.md says they must be read:
 *
 * - `Data remaining` is a sawtooth. Within one pre-copy iteration it only falls; at each dirty-bitmap
 *   sync it jumps back up to what the guest dirtied meanwhile. When several iterations pass between
 *   two polls, a sample is a random point on that sawtooth. So the dirty set at each sync is read
 *   from counters that do not depend on where a poll lands: the iteration counter and the bytes
 *   processed between two polls (see convergence-dirty-sets.ts). What decides convergence is that
 *   set: QEMU stops the guest only once what it found at a sync fits the allowed downtime.
 * - `Dirty rate` (pages/s) is capped by working set / sync period, so it is a lower bound of the
 *   guest's write rate, and it saturates near the transfer rate when the guest re-dirties its whole
 *   working set every iteration.
 * - Nova raises the allowed downtime in steps; a migration that cannot finish now may finish once
 *   a later step applies, so "never" is judged against the final allowed downtime — unless Nova's
 *   own timeouts (the progress timeout up to Newton, the completion timeout) end the migration
 *   before the step it needs comes (see convergence-nova-clock.ts, fed from src/nova-facts).
 * - With auto-converge, QEMU throttles the guest one step per two syncs up to its maximum; the
 *   migration is only hopeless when it still does not converge at the maximum throttle, or when
 *   Nova will abort it before the throttle can get there.
 */

export type Verdict = "converging" | "not-converging" | "stalled" | "throttling" | "completed" | "failed";

export interface ConvergenceReport {
  verdict: Verdict;
  /** Pre-copy iterations seen (dirty syncs); the completed job's own count when it finished. */
  iterations: number;
  /** Smallest remaining seen in each sampled iteration, bytes, oldest first (see `sampledIterations`). */
  minRemainingPerIteration: number[];
  /** The iteration numbers the per-iteration arrays refer to (polls can miss short iterations). */
  sampledIterations: number[];
  /**
   * Estimated remaining right after the dirty syncs, bytes, one figure for each sampled iteration
   * from 2 on: from the byte counters between the poll before that iteration's first sample and
   * it (the average over the syncs in between when several passed), or for the first sync off the
   * sawtooth. This is what a stop-and-copy at a sync would have had to send, and what the verdict uses.
   */
  remainingAtSyncPerIteration: number[];
  /** The allowed downtime the dirty set needs (smallest recent estimate / transfer rate), ms. */
  neededDowntimeMs: number | null;
  /** When Nova's own timeouts will end the migration if nothing changes (seconds), when known. */
  novaAbortAtS: number | null;
  transferRateBytesPerS: number | null;
  /** Lower bound (see the module comment). */
  dirtyRateBytesPerS: number | null;
  /** QEMU's expected downtime (or remaining at the last sync / transfer rate). */
  expectedDowntimeMs: number | null;
  /** The downtime allowed now. */
  downtimeLimitMs: number | null;
  /** True when no limit was given and QEMU's default was assumed. */
  downtimeLimitAssumed: boolean;
  /** The largest downtime that will ever be allowed (Nova's last step). */
  finalDowntimeMs: number | null;
  /** The actual downtime of a completed migration. */
  downtimeMs: number | null;
  etaSeconds: number | null;
  throttlePercent: number | null;
  elapsedS: number;
  dataProcessedBytes: number | null;
  /** For completed/failed: what the running samples said before the end (null without any). */
  precopyVerdict: Verdict | null;
  /** One plain sentence with the numbers, for an operator. */
  reason: string;
}

/** One stage of Nova's downtime schedule (nova-facts' `DowntimeStage`): from `atS` seconds, `downtimeMs`. */
export type DowntimeStep = DowntimeStage;

export interface ConvergenceOptions {
  /** The downtime allowed now (ms), for every moment. Default: Nova's schedule at that moment, else QEMU's 300 ms. */
  downtimeLimitMs?: number;
  /** The largest downtime that will ever be allowed (ms). Default: the schedule's last step, else the limit. */
  finalDowntimeMs?: number;
  /**
   * Nova's downtime stages for this migration, computed by nova-facts' `downtimeSchedule`. Default:
   * computed here from {@link ConvergenceOptions.release} and the VM's size.
   */
  downtimeSchedule?: readonly DowntimeStage[];
  /**
   * The source's nova release ("mitaka", 13, "26.2.2" …). Gives Nova's downtime schedule (with
   * `memoryMb` or the samples' memory total), its progress timeout and its completion timeout, for
   * whatever the other options do not set. Default: none of Nova's rules are assumed.
   */
  release?: NovaReleaseRef;
  /** The flavor's RAM, MiB, for Nova's data size. @defaultValue the samples' memory total */
  memoryMb?: number;
  /** Apparent sizes of the disks a block migration copies, bytes (Nova counts them in its data size). */
  copiedDiskBytes?: readonly number[];
  /** [libvirt] live_migration_downtime / _steps / _delay on the source, when not the release's defaults. */
  downtimeConfig?: { downtimeMs?: number; steps?: number; delayS?: number };
  /**
   * [libvirt] live_migration_progress_timeout in effect (0 = off; Stein and later have none).
   * @defaultValue the release's default (150 s up to Newton, 0 from Ocata), 0 without a release
   */
  progressTimeoutS?: number;
  /**
   * This migration's completion timeout, seconds (already × Nova's data size; 0 = none).
   * @defaultValue from the release and the VM's size (800 s per GiB), none without a release
   */
  completionTimeoutS?: number;
  /** [libvirt] live_migration_timeout_action (Stein+): force_complete means no abort. @defaultValue "abort" */
  timeoutAction?: "abort" | "force_complete";
  /** Page size for `Dirty rate` when the samples do not say. @defaultValue 4096 */
  pageSizeBytes?: number;
  /** Seconds since the start, on the samples' clock. Default: the last sample's `t`. */
  now?: number;
  /**
   * The source permits auto-converge (from its effective nova.conf). QEMU then throttles the guest
   * once it keeps dirtying as fast as it sends, so "never" is only said once the throttle is at its
   * maximum and it still does not converge (or Nova will abort before the throttle gets there).
   */
  autoConverge?: boolean;
}

/** x86 page size, used when a source does not report `Page size`. */
export const DEFAULT_PAGE_SIZE_BYTES = 4096;
/** QEMU's `max-cpu-throttle` default: at this throttle auto-converge has nothing left to give. */
export const AUTO_CONVERGE_MAX_THROTTLE_PERCENT = QEMU_AUTO_CONVERGE_MAX_PERCENT;
/**
 * Remaining at a sync must fall below this share of the best earlier sync to count as falling: real
 * guests do not dirty the same set every pass, so a few percent either way is noise.
 */
export const REMAINING_FALL_RATIO = 0.9;
/**
 * Dirty rate ≥ this share of the transfer rate counts as "dirtied at least as fast as sent": the
 * measured rate saturates just below the transfer rate when the whole working set is re-dirtied
 * every iteration (LAB.md), so requiring ≥ 100 % would never fire.
 */
export const DIRTY_RATE_SATURATION_RATIO = 0.95;
/** No byte moved for at least this long (and two samples) means stalled. */
export const STALLED_MIN_SECONDS = 5;
/** How many recent samples the transfer rate is taken over. */
export const TRANSFER_RATE_WINDOW_SAMPLES = 5;
/** The ETA projection gives up after this many projected iterations. */
export const MAX_ETA_ITERATIONS = 1000;
/**
 * The dirty set QEMU will have to send is judged on the smallest of this many latest sync
 * estimates: one good sync is all QEMU needs, so a single high poll interval must not condemn it.
 */
export const RECENT_SYNC_ESTIMATES = 3;
/**
 * With auto-converge at its maximum, "never" needs this many sync estimates measured entirely at
 * that throttle: the estimates before it describe a guest that was still running faster.
 */
export const MIN_ESTIMATES_AT_MAX_THROTTLE = 2;
/** Samples the recent iteration time is measured over. */
const ITERATION_TIME_WINDOW_SAMPLES = 30;
/** QEMU raises the throttle once per this many sync periods that dirtied too much (`dirty_rate_high_cnt`). */
const SYNC_PERIODS_PER_THROTTLE_STEP = 2;
/** QEMU closes a dirty-rate period (and may raise the throttle) only once a second has passed (`migration_bitmap_sync`). */
const MIN_SYNC_PERIOD_S = 1;

export class ConvergenceInputError extends CodedError<"CONVERGENCE_NO_SAMPLES"> {
  constructor() {
    super(
      "CONVERGENCE_NO_SAMPLES",
      "no migration samples to analyze; collect at least one domjobinfo/query-migrate sample first",
      { retryable: false },
    );
  }
}

const isEnd = (s: MigrationSample) =>
  s.jobType === "completed" ||
  s.jobType === "failed" ||
  s.jobType === "cancelled" ||
  s.errorText !== undefined;

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** QEMU's measured bandwidth when reported, else bytes processed over time in the recent window. */
function transferRate(running: MigrationSample[]): number | null {
  const recent = running.slice(-TRANSFER_RATE_WINDOW_SAMPLES);
  const reported = median(
    recent.map((s) => s.bandwidthBytesPerS).filter((v): v is number => v !== undefined && v > 0),
  );
  if (reported !== null) return reported;
  const withProcessed = recent.filter((s) => processedOf(s) !== undefined);
  const first = withProcessed[0];
  const last = withProcessed.at(-1);
  if (first === undefined || last === undefined || last.t <= first.t) return null;
  const rate = (processedOf(last)! - processedOf(first)!) / (last.t - first.t);
  return rate > 0 ? rate : null;
}

/** The trailing run of samples over which no byte moved, if it is long enough to call a stall. */
function stall(running: MigrationSample[]): { seconds: number; samples: number } | null {
  const last = running.at(-1);
  if (last === undefined) return null;
  // Both figures: a long job's processed bytes print in TiB and repeat for seconds while data moves.
  const key = (s: MigrationSample) => `${processedOf(s)}/${remainingOf(s)}`;
  const lastKey = key(last);
  if (processedOf(last) === undefined && remainingOf(last) === undefined) return null;
  let first = last;
  let count = 1;
  for (let i = running.length - 2; i >= 0; i--) {
    const s = running[i]!;
    if (key(s) !== lastKey || s.iteration !== last.iteration) break;
    first = s;
    count += 1;
  }
  const seconds = last.t - first.t;
  return count >= 2 && seconds >= STALLED_MIN_SECONDS ? { seconds, samples: count } : null;
}

const fmtRate = (bytesPerS: number | null) =>
  bytesPerS === null ? "an unknown rate" : `${formatBytes(bytesPerS)}/s`;
const fmtS = (s: number) => (s >= 100 ? `${Math.round(s)} s` : `${s.toFixed(1)} s`);
const fmtMs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

/**
 * Projects the remaining time while remaining-at-sync shrinks by `ratio` per iteration: this
 * iteration's rest, then each later iteration's dirty set, until one fits in the allowed downtime.
 */
function projectEta(
  currentRemaining: number,
  lastSync: number,
  ratio: number,
  rate: number,
  thresholdBytes: number,
): number | null {
  if (!(ratio < 1) || rate <= 0) return null;
  let seconds = currentRemaining / rate;
  let next = lastSync * ratio;
  for (let i = 0; i < MAX_ETA_ITERATIONS; i++) {
    if (next <= thresholdBytes) return seconds + next / rate;
    seconds += next / rate;
    next *= ratio;
  }
  return null;
}

/** Running samples in time order (stable; already sorted in the usual case). */
function runningOf(samples: MigrationSample[]): MigrationSample[] {
  const running = samples.filter((s) => !isEnd(s) && s.jobType !== "none");
  for (let i = 1; i < running.length; i++) {
    if (running[i]!.t < running[i - 1]!.t) {
      return running
        .map((s, j) => ({ s, j }))
        .sort((a, b) => a.s.t - b.s.t || a.j - b.j)
        .map(({ s }) => s);
    }
  }
  return running;
}

/** One figure per sampled iteration from 2 on, aligned with `sampledIterations` (see the report field). */
function alignedSyncs(
  iterations: ReturnType<typeof groupIterations>,
  estimates: SyncEstimate[],
  rate: number | null,
): number[] {
  const byIteration = new Map(estimates.map((e) => [e.iteration, e.atSyncBytes]));
  return iterations
    .filter((it) => it.iteration >= 2)
    .map((it) => {
      const known = byIteration.get(it.iteration);
      if (known !== undefined) return known;
      const prev = iterations.find((p) => p.iteration === it.iteration - 1);
      const gapS = prev !== undefined && rate !== null ? Math.max(0, it.firstT - prev.lastT) : 0;
      return Math.round(it.firstRemaining + ((rate ?? 0) * gapS) / 2);
    });
}

/**
 * How long one pre-copy iteration takes lately, from the iteration counter over the last
 * {@link ITERATION_TIME_WINDOW_SAMPLES} samples after the first pass (0 when unknown). With no sync
 * in that window an iteration is at least as long as the window.
 */
function recentSecondsPerIteration(running: MigrationSample[]): number {
  const recent = running
    .slice(-ITERATION_TIME_WINDOW_SAMPLES)
    .filter((s) => s.iteration !== undefined && s.iteration >= 2);
  const first = recent[0];
  const last = recent.at(-1);
  if (first === undefined || last === undefined || last.t <= first.t) return 0;
  const syncs = last.iteration! - first.iteration!;
  return syncs > 0 ? (last.t - first.t) / syncs : last.t - first.t;
}

/**
 * Throttle steps the analyzer gives auto-converge before it calls a throttled migration lost to
 * Nova's progress timeout. The throttle a guest needs cannot be read from the samples (QEMU's dirty
 * rate saturates at the link's rate), so assuming the worst (99 %) called migrations lost that the
 * next steps then finished (the sandbox's db-1 after its auto-converge fix, at 70 %). Two more steps
 * (20 points) is the horizon; the verdict grid (`npm run bench -- verdicts`) still warns before every
 * abort with it.
 */
export const THROTTLE_STEPS_AHEAD = 2;

/** Seconds QEMU needs to raise the throttle `THROTTLE_STEPS_AHEAD` more steps (or to its maximum), one step per two sync periods. */
function secondsToThrottleHorizon(throttle: number, secondsPerIteration: number): number {
  const start = throttle <= 0 ? QEMU_AUTO_CONVERGE_INITIAL_PERCENT : throttle;
  const target = Math.min(
    QEMU_AUTO_CONVERGE_MAX_PERCENT,
    start + THROTTLE_STEPS_AHEAD * QEMU_AUTO_CONVERGE_INCREMENT_PERCENT,
  );
  // From no throttle the first step only brings it to the initial value.
  const steps =
    (throttle <= 0 ? 1 : 0) + Math.ceil(Math.max(0, target - start) / QEMU_AUTO_CONVERGE_INCREMENT_PERCENT);
  return steps * SYNC_PERIODS_PER_THROTTLE_STEP * Math.max(MIN_SYNC_PERIOD_S, secondsPerIteration);
}

/** Judges a migration from its samples (in capture order); see the module comment for the rules. */
export function analyzeConvergence(
  samples: MigrationSample[],
  opts: ConvergenceOptions = {},
): ConvergenceReport {
  const last = samples.at(-1);
  if (last === undefined) throw new ConvergenceInputError();

  const running = runningOf(samples);
  let elapsedS = opts.now ?? last.t;
  if (opts.now === undefined) for (const s of samples) elapsedS = Math.max(elapsedS, s.t);
  const clock = novaClock(opts, running);
  const iterations = groupIterations(running);
  const rate =
    transferRate(running) ??
    (last.bandwidthBytesPerS && last.bandwidthBytesPerS > 0 ? last.bandwidthBytesPerS : null);

  const lastRunning = running.at(-1);
  const pageSize = lastRunning?.pageSizeBytes ?? opts.pageSizeBytes ?? DEFAULT_PAGE_SIZE_BYTES;
  // QEMU reports 0 until its first dirty sync has measured anything: treat that as unknown.
  const dirtyPages = lastRunning?.dirtyRatePagesPerS;
  const dirtyRate = dirtyPages !== undefined && dirtyPages > 0 ? dirtyPages * pageSize : null;

  const downtimeLimitMs = clock.limitMsAt(elapsedS);
  const downtimeLimitAssumed = clock.limitAssumed(elapsedS);
  const finalDowntimeMs = clock.finalDowntimeMs(elapsedS);

  const estimates = syncEstimates(running, iterations, { rate, limitMsAt: clock.limitMsAt });
  const syncs = alignedSyncs(iterations, estimates, rate);
  const minRemainingPerIteration = iterations.map((it) => it.minRemaining);
  let iterationCount = 0;
  for (const s of samples) iterationCount = Math.max(iterationCount, s.iteration ?? 0);
  for (const it of iterations) iterationCount = Math.max(iterationCount, it.iteration);
  const throttle = lastRunning?.throttlePercent ?? null;
  const recentEstimates = estimates.slice(-RECENT_SYNC_ESTIMATES);
  const smallestRecent =
    recentEstimates.length > 0 ? Math.min(...recentEstimates.map((e) => e.atSyncBytes)) : null;
  const neededDowntimeMs =
    smallestRecent !== null && rate !== null ? Math.round((smallestRecent / rate) * 1000) : null;
  const expectedDowntimeMs =
    lastRunning?.expectedDowntimeMs !== undefined && (lastRunning.iteration ?? 2) >= 2
      ? lastRunning.expectedDowntimeMs
      : estimates.length > 0 && rate !== null
        ? Math.round((estimates.at(-1)!.atSyncBytes / rate) * 1000)
        : null;
  const floorBytesAt = (t: number) => ((rate ?? 0) * clock.limitMsAt(t)) / 1000;
  const novaResolutionBytes = ((rate ?? 0) * NOVA_MONITOR_POLL_INTERVAL_MS) / 1000;
  const abort = lastRunning ? novaAbortAt(clock, running, elapsedS, floorBytesAt, novaResolutionBytes) : null;

  const base = {
    iterations: iterationCount,
    minRemainingPerIteration,
    sampledIterations: iterations.map((it) => it.iteration),
    remainingAtSyncPerIteration: syncs,
    neededDowntimeMs,
    novaAbortAtS: abort === null ? null : Math.round(abort.atS),
    transferRateBytesPerS: rate === null ? null : Math.round(rate),
    dirtyRateBytesPerS: dirtyRate,
    expectedDowntimeMs,
    downtimeLimitMs,
    downtimeLimitAssumed,
    finalDowntimeMs,
    downtimeMs: null as number | null,
    etaSeconds: null as number | null,
    throttlePercent: throttle,
    elapsedS,
    dataProcessedBytes:
      last.dataProcessedBytes ??
      last.memoryProcessedBytes ??
      lastRunning?.dataProcessedBytes ??
      lastRunning?.memoryProcessedBytes ??
      null,
  };

  const precopy = lastRunning ? judgeRunning() : null;

  if (last.jobType === "completed") {
    const downtime = last.downtimeMs ?? null;
    const parts = [
      `Completed after ${fmtS(last.t || elapsedS)} and ${iterationCount} iteration${iterationCount === 1 ? "" : "s"}`,
    ];
    if (downtime !== null) parts.push(`with ${downtime} ms downtime`);
    const processed = base.dataProcessedBytes;
    if (processed !== null) parts.push(`after sending ${formatBytes(processed)}`);
    return {
      ...base,
      verdict: "completed",
      downtimeMs: downtime,
      etaSeconds: 0,
      precopyVerdict: precopy?.verdict ?? null,
      reason: `${parts.join(" ")}.`,
    };
  }
  if (isEnd(last)) {
    const what = last.jobType === "cancelled" ? "Cancelled" : "Failed";
    const detail = last.errorText ? `: ${last.errorText}` : "";
    const before =
      precopy && precopy.verdict !== "converging"
        ? `; before that it was ${precopy.verdict.replace("-", " ")}: ${precopy.reason.replace(/^[^:]+:\s*/, "").replace(/\.$/, "")}`
        : "";
    return {
      ...base,
      verdict: "failed",
      precopyVerdict: precopy?.verdict ?? null,
      reason: `${what}${elapsedS > 0 ? ` after ${fmtS(elapsedS)}` : ""}${iterationCount > 0 ? ` in iteration ${iterationCount}` : ""}${detail}${before}.`,
    };
  }
  if (precopy === null) {
    return {
      ...base,
      verdict: "stalled",
      precopyVerdict: null,
      reason: "No migration job was running in any sample (job type None): nothing is moving.",
    };
  }
  return {
    ...base,
    verdict: precopy.verdict,
    etaSeconds: precopy.eta,
    precopyVerdict: null,
    reason: precopy.reason,
  };

  function judgeRunning(): { verdict: Verdict; reason: string; eta: number | null } {
    const current = remainingOf(lastRunning!) ?? 0;
    const stalled = stall(running);
    if (stalled) {
      return {
        verdict: "stalled",
        eta: null,
        reason: `Stalled: no bytes moved in the last ${fmtS(stalled.seconds)} (${stalled.samples} samples), with ${formatBytes(current)} still to send in iteration ${iterationCount}.`,
      };
    }

    const throttled = throttle !== null && throttle > 0;
    const atMaxThrottle = throttle !== null && throttle >= AUTO_CONVERGE_MAX_THROTTLE_PERCENT;
    // At the maximum throttle only what was measured there counts: earlier syncs saw a faster guest.
    const basis = atMaxThrottle
      ? estimates.filter((e) => e.throttleFrom >= AUTO_CONVERGE_MAX_THROTTLE_PERCENT)
      : estimates;
    const enoughEvidence = atMaxThrottle ? basis.length >= MIN_ESTIMATES_AT_MAX_THROTTLE : basis.length >= 2;
    const recent = basis.slice(-RECENT_SYNC_ESTIMATES).map((e) => e.atSyncBytes);
    const smallestSync = recent.length > 0 ? Math.min(...recent) : null;
    const lastSync = basis.at(-1)?.atSyncBytes ?? null;
    const earlier = basis.slice(0, -1).map((e) => e.atSyncBytes);
    const earlierBest = earlier.length > 0 ? Math.min(...earlier) : null;
    const falling =
      earlierBest !== null && lastSync !== null ? lastSync < REMAINING_FALL_RATIO * earlierBest : null;
    const dirtyOutpaces =
      dirtyRate !== null && rate !== null && dirtyRate >= DIRTY_RATE_SATURATION_RATIO * rate;
    const neededMs = smallestSync !== null && rate !== null ? (smallestSync / rate) * 1000 : null;
    const cannotAbsorb = neededMs !== null && neededMs > finalDowntimeMs;
    // Two syncs (iteration 3) before any "never": QEMU's auto-converge only reacts at the second
    // sync, so earlier the samples cannot tell a hopeless migration from one about to be throttled.
    const notConverging = enoughEvidence && (falling === false || dirtyOutpaces) && cannotAbsorb;
    const firstShown = basis[0]?.iteration ?? iterations.at(-1)?.iteration ?? iterationCount;
    const trend =
      basis.length >= 2
        ? `${formatBytes(basis[0]!.atSyncBytes)} → ${formatBytes(lastSync!)} over iterations ${firstShown}–${basis.at(-1)!.iteration}`
        : null;
    const rates = `the guest dirties ${dirtyRate === null ? "memory at an unmeasured rate" : `at least ${fmtRate(dirtyRate)}`} against ${fmtRate(rate)} sent`;
    // A pass sends what the sync added at the transfer rate: phase-free, unlike the time between polls.
    const lastNew = basis.at(-1)?.newDirtyBytes ?? null;
    const secondsPerIteration =
      lastNew !== null && rate !== null ? lastNew / rate : recentSecondsPerIteration(running);
    const novaEnds = (what: string) =>
      abort === null
        ? ""
        : abort.why === "progress"
          ? `Nova's progress timeout (${clock.progressTimeoutS} s without a new low of data remaining) will abort it at about ${fmtS(abort.atS)}, ${what}`
          : `Nova's completion timeout aborts it at ${fmtS(abort.atS)}, ${what}`;

    if (notConverging && opts.autoConverge === true && !throttled) {
      const maxAt = elapsedS + secondsToThrottleHorizon(0, secondsPerIteration);
      if (abort !== null && abort.why === "progress" && maxAt >= abort.atS) {
        return {
          verdict: "not-converging",
          eta: null,
          reason: `Not converging in time: the remaining memory at each dirty sync is not falling (${trend}) and ${rates}; auto-converge has yet to throttle the guest, and ${novaEnds(`before QEMU can throttle it ${THROTTLE_STEPS_AHEAD} more steps (about ${fmtS(maxAt)})`)}.`,
        };
      }
      return {
        verdict: "throttling",
        eta: null,
        reason: `Auto-converge is enabled on the source and about to act: the remaining memory at each dirty sync is not falling (${trend}) and ${rates}, so QEMU will throttle the guest's vCPUs until it fits the downtime.`,
      };
    }
    if (notConverging && (!throttled || atMaxThrottle)) {
      const throttledText = throttled ? `, even with auto-converge throttling the guest to ${throttle}%` : "";
      return {
        verdict: "not-converging",
        eta: null,
        reason: `Not converging${throttledText}: after ${iterationCount} iterations the remaining memory at each dirty sync is not falling (${trend}) and ${rates}, so even the smallest final copy (${formatBytes(smallestSync!)}) would take ${fmtMs(neededMs!)} against an allowed downtime of at most ${finalDowntimeMs} ms.`,
      };
    }

    const threshold = rate !== null ? (rate * downtimeLimitMs) / 1000 : 0;
    let eta: number | null = null;
    if (rate !== null && lastSync === null) {
      // First pass: nothing measured about the dirty set yet; the pass itself is a lower bound.
      eta = current / rate;
    } else if (rate !== null && lastSync !== null && basis.length === 1) {
      // One sync: only QEMU's dirty rate (a lower bound) hints at the ratio; trust it only when it
      // is clearly below the transfer rate.
      const fromRates = dirtyRate !== null ? dirtyRate / rate : null;
      eta =
        fromRates !== null && fromRates < DIRTY_RATE_SATURATION_RATIO
          ? projectEta(current, lastSync, fromRates, rate, threshold)
          : null;
    } else if (rate !== null && lastSync !== null) {
      // The current pace: what the throttle or the guest does now, not since the first sync.
      const first = basis.at(-Math.min(basis.length, RECENT_SYNC_ESTIMATES))!;
      const span = Math.max(1, basis.at(-1)!.iteration - first.iteration);
      const measured = first.atSyncBytes > 0 ? (lastSync / first.atSyncBytes) ** (1 / span) : null;
      const fromRates = dirtyRate !== null ? dirtyRate / rate : null;
      const ratio = measured !== null && measured < 1 ? measured : fromRates;
      eta = ratio === null ? null : projectEta(current, lastSync, ratio, rate, threshold);
    }
    const etaText = eta === null ? "no ETA yet" : `about ${fmtS(eta)} to go at ${fmtRate(rate)}`;

    if (throttled) {
      // Not at the maximum yet, or not enough evidence there: QEMU still has throttle to give,
      // unless Nova's progress timeout fires before the throttle can reach its maximum.
      const maxAt = elapsedS + (atMaxThrottle ? 0 : secondsToThrottleHorizon(throttle, secondsPerIteration));
      if (
        falling !== true &&
        neededMs !== null &&
        neededMs > downtimeLimitMs &&
        abort !== null &&
        abort.why === "progress" &&
        maxAt >= abort.atS
      ) {
        return {
          verdict: "not-converging",
          eta: null,
          reason: `Not converging in time: auto-converge holds the guest's vCPUs at ${throttle}% and the remaining memory at each dirty sync is not falling (${trend ?? formatBytes(lastSync ?? current)}); ${novaEnds(atMaxThrottle ? "with no throttle left to give" : `before QEMU can throttle it ${THROTTLE_STEPS_AHEAD} more steps (about ${fmtS(maxAt)})`)}.`,
        };
      }
      if (falling === true && eta !== null && abort !== null && elapsedS + eta > abort.atS) {
        return {
          verdict: "not-converging",
          eta: null,
          reason: `Not converging in time: auto-converge holds the guest's vCPUs at ${throttle}% and the remaining memory at each dirty sync is falling (${trend}), but at this pace it needs ${etaText.replace(/^about /, "about ")}; ${novaEnds("before that")}.`,
        };
      }
      const state =
        falling === true
          ? `the remaining memory at each dirty sync is falling (${trend}), ${etaText}`
          : trend !== null
            ? `the remaining memory at each dirty sync is not falling yet (${trend})`
            : `${formatBytes(current)} left in iteration ${iterationCount}`;
      return {
        verdict: "throttling",
        eta: falling === true ? eta : null,
        reason: `Throttling: auto-converge holds the guest's vCPUs at ${throttle}%; ${state}.`,
      };
    }
    if (lastSync === null) {
      const total = lastRunning!.memoryTotalBytes ?? lastRunning!.dataTotalBytes;
      return {
        verdict: "converging",
        eta,
        reason: `First pass over memory: ${formatBytes(current)}${total !== undefined ? ` of ${formatBytes(total)}` : ""} left at ${fmtRate(rate)}${eta === null ? "" : ` (at least ${fmtS(eta)})`}; too early to judge convergence before the second dirty sync.`,
      };
    }
    if (basis.length === 1) {
      return {
        verdict: "converging",
        eta,
        reason: `Too early to judge: ${formatBytes(lastSync)} was left at the first dirty sync and ${rates}; the third iteration will tell${eta === null ? "" : ` (at best about ${fmtS(eta)} to go)`}.`,
      };
    }
    if (!falling && neededMs !== null && neededMs > downtimeLimitMs) {
      // Not shrinking, but small enough for a later, larger allowed downtime: it finishes when Nova
      // reaches that step (if a schedule says when) — unless Nova's timeouts end it first.
      const stage = clock.schedule?.find((st) => st.downtimeMs >= neededMs);
      if (stage !== undefined && abort !== null && stage.atS >= abort.atS) {
        return {
          verdict: "not-converging",
          eta: null,
          reason: `Not converging in time: ${formatBytes(smallestSync!)} at each dirty sync needs ${fmtMs(neededMs)} of downtime, which Nova allows only from ${fmtS(stage.atS)}; ${novaEnds("before that")}.`,
        };
      }
      const waitS = stage !== undefined ? Math.max(0, stage.atS - elapsedS) : null;
      return {
        verdict: "converging",
        eta: waitS,
        reason: `Converging late: ${formatBytes(smallestSync!)} at each dirty sync needs ${fmtMs(neededMs)} of downtime, more than the ${downtimeLimitMs} ms allowed now but within the final ${finalDowntimeMs} ms${stage !== undefined ? `, which Nova allows from ${fmtS(stage.atS)}` : ""}.`,
      };
    }
    const why = falling
      ? `the remaining memory at each dirty sync is falling (${trend})`
      : `the remaining memory at each dirty sync (${formatBytes(lastSync)}) fits the allowed downtime of ${downtimeLimitMs} ms at ${fmtRate(rate)}`;
    return {
      verdict: "converging",
      eta,
      reason: `Converging: ${why}; ${etaText}.`,
    };
  }
}
