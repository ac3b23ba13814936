/**
 * src/migration: following one live migration — the request (request.ts), the tracker state
 * machine (tracker.ts) with its sampler, Nova-record reading and thread reporter, the convergence
 * analyzer (convergence*.ts, verdict.ts), failure explanations and the stored record (store.ts).
 */
import type { MigrationSample } from "./samples/sample";

/**
 * What each dirty-bitmap sync found, read from the samples in a way that does not depend on where
 * a poll lands on the sawtooth.
 *
 * QEMU's counters obey one identity between any two polls A and B of the same job. Bytes sent in
 * between are the rest of A's pass, every pass that started in between, minus what B's pass still
 * holds; and each pass is the data left over at its sync (a little under the threshold, where QEMU
 * stopped the previous pass) plus the pages newly dirtied since. So
 *
 *     Σ new dirty bytes at the syncs in (A, B] = processed_B − processed_A − remaining_A + remaining_B
 *
 * with the iteration counter (libvirt `Iteration`, QEMU `dirty-sync-count`) telling how many syncs
 * that sum covers. Divided by their number it is the average per sync — exact when one sync passed,
 * an average when several did, and the same wherever A and B fell on the sawtooth. Adding the
 * leftover (the threshold: allowed downtime × transfer rate) gives the remaining right after each
 * sync, which is what a stop-and-copy at that sync would have had to send, and which QEMU compares
 * with the threshold.
 *
 * Pairs that start in the first pass are not used that way: that pass skips zero pages, which
 * leave `remaining` without adding to `processed`, so the identity undercounts. The first sync is
 * then read off the sawtooth as before (the first sample of iteration 2 plus what was sent in half
 * the gap since the previous poll). Sources without an iteration counter (Nova's log and API) only
 * have the sawtooth: {@link groupIterations} infers their syncs from remaining going up.
 */

export const remainingOf = (s: MigrationSample) => s.memoryRemainingBytes ?? s.dataRemainingBytes;
export const processedOf = (s: MigrationSample) => s.memoryProcessedBytes ?? s.dataProcessedBytes;
/** What Nova's progress watermark watches: all data, memory and copied disks. */
export const dataRemainingOf = (s: MigrationSample) => s.dataRemainingBytes ?? s.memoryRemainingBytes;

export interface IterationStats {
  iteration: number;
  firstT: number;
  lastT: number;
  /** Largest remaining seen: the sample closest to the sync that started the iteration. */
  firstRemaining: number;
  minRemaining: number;
}

/**
 * Groups running samples by iteration. Sources without an iteration counter (Nova) get one
 * inferred from the sawtooth: remaining only rises at a dirty sync. A sync between two polls
 * that does not show as a rise is missed, so Nova-sourced iteration counts are lower bounds.
 */
export function groupIterations(running: readonly MigrationSample[]): IterationStats[] {
  const byIteration = new Map<number, IterationStats>();
  let inferred = 1;
  let prevRemaining: number | undefined;
  for (const s of running) {
    const remaining = remainingOf(s);
    if (s.iteration === undefined && remaining !== undefined && prevRemaining !== undefined) {
      if (remaining > prevRemaining) inferred += 1;
    }
    if (remaining !== undefined) prevRemaining = remaining;
    const iteration = s.iteration ?? inferred;
    if (remaining === undefined) continue;
    const stats = byIteration.get(iteration);
    if (stats === undefined) {
      byIteration.set(iteration, {
        iteration,
        firstT: s.t,
        lastT: s.t,
        firstRemaining: remaining,
        minRemaining: remaining,
      });
    } else {
      stats.lastT = s.t;
      stats.minRemaining = Math.min(stats.minRemaining, remaining);
      // Remaining falls within an iteration, so the largest value is the one closest to the sync.
      stats.firstRemaining = Math.max(stats.firstRemaining, remaining);
    }
  }
  return [...byIteration.values()].sort((a, b) => a.iteration - b.iteration);
}

/** The dirty set at the syncs between two polls (or at one sync, read off the sawtooth). */
export interface SyncEstimate {
  /** The iteration of the poll that closed the interval: the estimate is shown against it. */
  iteration: number;
  /** How many syncs the estimate averages over. */
  syncs: number;
  /** Time of the poll that closed the interval. */
  t: number;
  /** Seconds per iteration over the interval. */
  secondsPerIteration: number;
  /** Remaining right after each sync (leftover + newly dirtied), bytes, on average. */
  atSyncBytes: number;
  /** Newly dirtied bytes per sync from the counters; null when read off the sawtooth. */
  newDirtyBytes: number | null;
  /** Auto-converge throttle at the poll that opened the interval (0 when not reported). */
  throttleFrom: number;
  throttleTo: number;
}

export interface SyncEstimateInput {
  /** Transfer rate, bytes/s (QEMU's measured bandwidth, or processed over time). */
  rate: number | null;
  /** The downtime QEMU allowed at a given time (ms): the pass stops at rate × that. */
  limitMsAt: (t: number) => number;
}

/**
 * How far a figure can be from the true byte count: virsh prints sizes with three decimals of the
 * largest binary unit (`1.004 TiB` is ±0.5 GiB), QMP and Nova print bytes.
 */
export function printedError(s: MigrationSample, bytes: number): number {
  if (s.source !== "domjobinfo" || bytes < 1024) return 0.5;
  const unit = 1024 ** Math.min(6, Math.floor(Math.log(bytes) / Math.log(1024)));
  return unit / 2000;
}

/**
 * The counter identity's error bound is the printed error of its four figures; the estimate is
 * taken over enough syncs that this stays below {@link PRINTED_ERROR_SHARE} of it (a long job's
 * `Data processed` in TiB is only good to half a GiB).
 */
export const PRINTED_ERROR_SHARE = 0.05;
/** How far back (in samples) an estimate may reach for enough syncs to beat the printed error. */
export const MAX_ESTIMATE_SPAN_SAMPLES = 90;
/** Estimates closing at the latest this many iterations are taken over error-bounded spans; older ones over one poll. */
export const SPANNED_ESTIMATES = 24;

function counterEstimate(
  a: MigrationSample,
  b: MigrationSample,
  input: SyncEstimateInput,
): { estimate: SyncEstimate; error: number } | null {
  const ia = a.iteration!;
  const ib = b.iteration!;
  const pa = processedOf(a);
  const pb = processedOf(b);
  const ra = remainingOf(a);
  const rb = remainingOf(b);
  if (ia < 2 || ib <= ia || pa === undefined || pb === undefined || ra === undefined || rb === undefined) {
    return null;
  }
  if (pb < pa) return null;
  const syncs = ib - ia;
  const newDirty = Math.max(0, (pb - pa - ra + rb) / syncs);
  const leftover = input.rate === null ? 0 : (input.rate * input.limitMsAt(b.t)) / 1000;
  const error =
    (printedError(a, pa) + printedError(b, pb) + printedError(a, ra) + printedError(b, rb)) / syncs;
  return {
    estimate: {
      iteration: ib,
      syncs,
      t: b.t,
      secondsPerIteration: Math.max(0, b.t - a.t) / syncs,
      atSyncBytes: Math.round(newDirty + leftover),
      newDirtyBytes: Math.round(newDirty),
      throttleFrom: a.throttlePercent ?? 0,
      throttleTo: b.throttlePercent ?? 0,
    },
    error,
  };
}

/**
 * One estimate per poll that opened a new iteration: from the counters when the interval started
 * after the first pass (phase-free), from the sawtooth for the first sync or without counters.
 */
export function syncEstimates(
  running: readonly MigrationSample[],
  iterations: readonly IterationStats[],
  input: SyncEstimateInput,
): SyncEstimate[] {
  const { rate } = input;
  const withCounter = running.filter((s) => s.iteration !== undefined && remainingOf(s) !== undefined);
  if (withCounter.length < running.length / 2 || withCounter.length === 0) {
    return sawtoothEstimates(iterations, input);
  }
  const closing: number[] = [];
  for (let i = 1; i < withCounter.length; i++) {
    if (withCounter[i]!.iteration! > withCounter[i - 1]!.iteration!) closing.push(i);
  }
  const spannedFrom = closing.length - SPANNED_ESTIMATES;
  const out: SyncEstimate[] = [];
  closing.forEach((i, k) => {
    const a = withCounter[i - 1]!;
    const b = withCounter[i]!;
    let best = counterEstimate(a, b, input);
    if (best !== null && k >= spannedFrom) {
      // Reach back until the printed error is small against what the syncs found.
      for (let j = i - 2; j >= Math.max(0, i - MAX_ESTIMATE_SPAN_SAMPLES); j--) {
        if (best.error <= PRINTED_ERROR_SHARE * Math.max(best.estimate.newDirtyBytes ?? 0, 1)) break;
        const wider = counterEstimate(withCounter[j]!, b, input);
        if (wider === null) break;
        if (wider.error < best.error) best = wider;
      }
    }
    if (best !== null) {
      out.push(best.estimate);
    } else if (b.iteration! - a.iteration! === 1 && (a.iteration! < 2 || processedOf(a) === undefined)) {
      // The first sync (or counters without processed bytes): remaining fell at the transfer rate
      // since the sync, somewhere in the gap; add back half the gap (the expected phase error).
      out.push({
        iteration: b.iteration!,
        syncs: 1,
        t: b.t,
        secondsPerIteration: Math.max(0, b.t - a.t),
        atSyncBytes: Math.round(remainingOf(b)! + ((rate ?? 0) * Math.max(0, b.t - a.t)) / 2),
        newDirtyBytes: null,
        throttleFrom: a.throttlePercent ?? 0,
        throttleTo: b.throttlePercent ?? 0,
      });
    }
  });
  return out;
}

/** Sources without a counter: one estimate per inferred iteration from 2 on, from its first sample. */
function sawtoothEstimates(iterations: readonly IterationStats[], input: SyncEstimateInput): SyncEstimate[] {
  const out: SyncEstimate[] = [];
  for (const it of iterations) {
    if (it.iteration < 2) continue;
    const prev = iterations.find((p) => p.iteration === it.iteration - 1);
    const gapS = prev !== undefined && input.rate !== null ? Math.max(0, it.firstT - prev.lastT) : 0;
    out.push({
      iteration: it.iteration,
      syncs: 1,
      t: it.firstT,
      secondsPerIteration: prev !== undefined ? Math.max(0, it.firstT - prev.firstT) : 0,
      atSyncBytes: Math.round(it.firstRemaining + ((input.rate ?? 0) * gapS) / 2),
      newDirtyBytes: null,
      throttleFrom: 0,
      throttleTo: 0,
    });
  }
  return out;
}
