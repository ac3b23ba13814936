import { formatBytes, type MigrationSample } from "./samples/sample";

/**
 * Will this live migration ever finish, and why (not)? Judged from the samples the tracker collects
 * (domjobinfo, QMP, Nova's byte counters or its log), the way LAB.md says they must be read:
 *
 * - `Data remaining` is a sawtooth. Within one pre-copy iteration it only falls (pages are sent and
 *   the dirty bitmap is not re-read); at each dirty-bitmap sync it jumps back up to what the guest
 *   dirtied meanwhile. The low points inside an iteration say only when the poll happened: QEMU
 *   re-syncs as soon as remaining drops below bandwidth × downtime limit, so those minima approach
 *   that threshold by construction. What decides convergence is the amount found at each sync.
 * - `Dirty rate` (pages/s) is capped by working set / sync period, so it is a lower bound of the
 *   guest's write rate, and it saturates near the transfer rate when the guest re-dirties its whole
 *   working set every iteration.
 * - Nova raises the allowed downtime in steps; a migration that cannot finish now may finish once
 *   the final downtime applies, so "never" is judged against the final allowed downtime.
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
   * Estimated remaining right at each dirty sync of the sampled iterations from 2 on, bytes: the
   * iteration's first sample plus what was sent in half the poll gap before it. This is what a
   * stop-and-copy at that sync would have had to send, and what the verdict uses.
   */
  remainingAtSyncPerIteration: number[];
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

export interface DowntimeStep {
  /** Seconds after the start of the migration at which Nova sets this downtime. */
  atS: number;
  downtimeMs: number;
}

export interface ConvergenceOptions {
  /** The downtime allowed now (ms). Default: from `downtimeSchedule` at `now`, else QEMU's 300 ms. */
  downtimeLimitMs?: number;
  /** The largest downtime that will ever be allowed (ms). Default: the schedule's last step, else the limit. */
  finalDowntimeMs?: number;
  /** Nova's downtime steps (see `downtimeSchedule`). */
  downtimeSchedule?: DowntimeStep[];
  /** Page size for `Dirty rate` when the samples do not say. @defaultValue 4096 */
  pageSizeBytes?: number;
  /** Seconds since the start, on the samples' clock. Default: the last sample's `t`. */
  now?: number;
  /**
   * The source permits auto-converge (from its effective nova.conf). QEMU then throttles the guest
   * once it keeps dirtying as fast as it sends, so "never" is only said once the throttle is at its
   * maximum and it still does not converge.
   */
  autoConverge?: boolean;
}

/** QEMU's `downtime-limit` default. */
export const QEMU_DEFAULT_DOWNTIME_LIMIT_MS = 300;
/** x86 page size, used when a source does not report `Page size`. */
export const DEFAULT_PAGE_SIZE_BYTES = 4096;
/** QEMU's `max-cpu-throttle` default: at this throttle auto-converge has nothing left to give. */
export const AUTO_CONVERGE_MAX_THROTTLE_PERCENT = 99;
/**
 * Remaining at a sync must fall below this share of the best earlier sync to count as falling: the
 * sync estimates carry the poll's phase error, so a few percent either way is noise.
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

/** Float noise tolerated when truncating downtime steps like Python does. */
const TRUNCATION_EPSILON_MS = 1e-6;

export class ConvergenceInputError extends Error {
  readonly code = "CONVERGENCE_NO_SAMPLES";
  constructor() {
    super("no migration samples to analyze; collect at least one domjobinfo/query-migrate sample first");
    this.name = "ConvergenceInputError";
  }
}

/**
 * Nova's downtime steps: `steps + 1` stages, stage i at `i × int(delayS × dataGiB)` seconds.
 * `exponential` is Mitaka/Newton (`_migration_downtime_steps` in driver.py): `offset + base^i` with
 * `offset = downtime / (steps + 1)`, `base = (downtime − offset)^(1/steps)`. `linear` is Ocata and
 * later (nova commit bcd584f "Change exponential function to linear", `migration.downtime_steps`):
 * `base + offset × i` with `base = downtime / steps`, `offset = (downtime − base) / steps`. Values are
 * truncated like Python's int(). Nova uses a step once elapsed time is strictly greater than `atS`.
 */
export function downtimeSchedule(opts: {
  downtimeMs: number;
  steps: number;
  delayS: number;
  dataGiB: number;
  formula?: "exponential" | "linear";
}): DowntimeStep[] {
  const { downtimeMs, steps } = opts;
  // Python's int() truncates; V8's `**` can land one ulp below C's pow (e.g. 499.99999999999983
  // instead of 500.0000000000004 for the last step of 500 ms), so nudge by far less than 1 ms.
  const trunc = (x: number) => Math.trunc(x + TRUNCATION_EPSILON_MS);
  const delay = Math.trunc(opts.delayS * opts.dataGiB);
  const out: DowntimeStep[] = [];
  if (opts.formula === "linear") {
    const base = downtimeMs / steps;
    const offset = (downtimeMs - base) / steps;
    for (let i = 0; i <= steps; i++) out.push({ atS: delay * i, downtimeMs: trunc(base + offset * i) });
  } else {
    const offset = downtimeMs / (steps + 1);
    const base = (downtimeMs - offset) ** (1 / steps);
    for (let i = 0; i <= steps; i++) out.push({ atS: delay * i, downtimeMs: trunc(offset + base ** i) });
  }
  return out;
}

function scheduleAt(schedule: DowntimeStep[], elapsedS: number): number | undefined {
  let current: number | undefined;
  for (const step of schedule) if (elapsedS > step.atS) current = step.downtimeMs;
  return current;
}

const remainingOf = (s: MigrationSample) => s.memoryRemainingBytes ?? s.dataRemainingBytes;
const processedOf = (s: MigrationSample) => s.memoryProcessedBytes ?? s.dataProcessedBytes;
const isEnd = (s: MigrationSample) =>
  s.jobType === "completed" ||
  s.jobType === "failed" ||
  s.jobType === "cancelled" ||
  s.errorText !== undefined;

interface IterationStats {
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
function groupIterations(running: MigrationSample[]): IterationStats[] {
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
  const key = (s: MigrationSample) => processedOf(s) ?? remainingOf(s);
  const lastKey = key(last);
  if (lastKey === undefined) return null;
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

/** Judges a migration from its samples (in capture order); see the module comment for the rules. */
export function analyzeConvergence(
  samples: MigrationSample[],
  opts: ConvergenceOptions = {},
): ConvergenceReport {
  const last = samples.at(-1);
  if (last === undefined) throw new ConvergenceInputError();

  const running = samples
    .filter((s) => !isEnd(s) && s.jobType !== "none")
    .map((s, i) => ({ s, i }))
    .sort((a, b) => a.s.t - b.s.t || a.i - b.i)
    .map(({ s }) => s);
  const elapsedS = opts.now ?? Math.max(...samples.map((s) => s.t));
  const iterations = groupIterations(running);
  const rate =
    transferRate(running) ??
    (last.bandwidthBytesPerS && last.bandwidthBytesPerS > 0 ? last.bandwidthBytesPerS : null);

  const lastRunning = running.at(-1);
  const pageSize = lastRunning?.pageSizeBytes ?? opts.pageSizeBytes ?? DEFAULT_PAGE_SIZE_BYTES;
  // QEMU reports 0 until its first dirty sync has measured anything: treat that as unknown.
  const dirtyPages = lastRunning?.dirtyRatePagesPerS;
  const dirtyRate = dirtyPages !== undefined && dirtyPages > 0 ? dirtyPages * pageSize : null;

  const scheduleNow = opts.downtimeSchedule ? scheduleAt(opts.downtimeSchedule, elapsedS) : undefined;
  const downtimeLimitAssumed = opts.downtimeLimitMs === undefined && scheduleNow === undefined;
  const downtimeLimitMs = opts.downtimeLimitMs ?? scheduleNow ?? QEMU_DEFAULT_DOWNTIME_LIMIT_MS;
  const finalDowntimeMs =
    opts.finalDowntimeMs ?? opts.downtimeSchedule?.at(-1)?.downtimeMs ?? Math.max(downtimeLimitMs, 0);

  // Iteration 1 is the bulk copy of all memory: its start says nothing about the dirty set. The
  // sync happened somewhere between the previous iteration's last poll and this one's first, and
  // remaining fell at the transfer rate since: add back half that gap (the expected phase error).
  // QEMU's own `expected-downtime` is not used here: QEMU 7.2 refreshes it from the remaining of
  // its last query, so it moves with the polling, not with the syncs.
  const syncs = iterations
    .filter((it) => it.iteration >= 2)
    .map((it) => {
      const prev = iterations.find((p) => p.iteration === it.iteration - 1);
      const gapS = prev !== undefined && rate !== null ? Math.max(0, it.firstT - prev.lastT) : 0;
      return Math.round(it.firstRemaining + ((rate ?? 0) * gapS) / 2);
    });
  const minRemainingPerIteration = iterations.map((it) => it.minRemaining);
  const iterationCount = Math.max(
    0,
    ...samples.map((s) => s.iteration ?? 0),
    ...iterations.map((it) => it.iteration),
  );
  const expectedDowntimeMs =
    lastRunning?.expectedDowntimeMs !== undefined && (lastRunning.iteration ?? 2) >= 2
      ? lastRunning.expectedDowntimeMs
      : syncs.length > 0 && rate !== null
        ? Math.round((syncs.at(-1)! / rate) * 1000)
        : null;
  const throttle = lastRunning?.throttlePercent ?? null;

  const base = {
    iterations: iterationCount,
    minRemainingPerIteration,
    sampledIterations: iterations.map((it) => it.iteration),
    remainingAtSyncPerIteration: syncs,
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

    const smallestSync = syncs.length > 0 ? Math.min(...syncs) : null;
    const lastSync = syncs.at(-1) ?? null;
    const earlierBest = syncs.length >= 2 ? Math.min(...syncs.slice(0, -1)) : null;
    const falling =
      earlierBest !== null && lastSync !== null ? lastSync < REMAINING_FALL_RATIO * earlierBest : null;
    const dirtyOutpaces =
      dirtyRate !== null && rate !== null && dirtyRate >= DIRTY_RATE_SATURATION_RATIO * rate;
    const neededMs = smallestSync !== null && rate !== null ? (smallestSync / rate) * 1000 : null;
    const cannotAbsorb = neededMs !== null && neededMs > finalDowntimeMs;
    // Two syncs (iteration 3) before any "never": QEMU's auto-converge only reacts at the second
    // sync, so earlier the samples cannot tell a hopeless migration from one about to be throttled.
    const notConverging = syncs.length >= 2 && (falling === false || dirtyOutpaces) && cannotAbsorb;
    const trend =
      syncs.length >= 2
        ? `${formatBytes(syncs[0]!)} → ${formatBytes(lastSync!)} over iterations 2–${iterations.at(-1)!.iteration}`
        : null;
    const rates = `the guest dirties ${dirtyRate === null ? "memory at an unmeasured rate" : `at least ${fmtRate(dirtyRate)}`} against ${fmtRate(rate)} sent`;

    if (notConverging && opts.autoConverge === true && (throttle === null || throttle <= 0)) {
      return {
        verdict: "throttling",
        eta: null,
        reason: `Auto-converge is enabled on the source and about to act: the remaining memory at each dirty sync is not falling (${trend}) and ${rates}, so QEMU will throttle the guest's vCPUs until it fits the downtime.`,
      };
    }
    if (
      notConverging &&
      (throttle === null || throttle <= 0 || throttle >= AUTO_CONVERGE_MAX_THROTTLE_PERCENT)
    ) {
      const throttled =
        throttle !== null && throttle > 0
          ? `, even with auto-converge throttling the guest to ${throttle}%`
          : "";
      return {
        verdict: "not-converging",
        eta: null,
        reason: `Not converging${throttled}: after ${iterationCount} iterations the remaining memory at each dirty sync is not falling (${trend}) and ${rates}, so even the smallest final copy (${formatBytes(smallestSync!)}) would take ${fmtMs(neededMs!)} against an allowed downtime of at most ${finalDowntimeMs} ms.`,
      };
    }

    const threshold = rate !== null ? (rate * downtimeLimitMs) / 1000 : 0;
    let eta: number | null = null;
    if (rate !== null && lastSync === null) {
      // First pass: nothing measured about the dirty set yet; the pass itself is a lower bound.
      eta = current / rate;
    } else if (rate !== null && lastSync !== null && syncs.length === 1) {
      // One sync: only QEMU's dirty rate (a lower bound) hints at the ratio; trust it only when it
      // is clearly below the transfer rate.
      const fromRates = dirtyRate !== null ? dirtyRate / rate : null;
      eta =
        fromRates !== null && fromRates < DIRTY_RATE_SATURATION_RATIO
          ? projectEta(current, lastSync, fromRates, rate, threshold)
          : null;
    } else if (rate !== null && lastSync !== null) {
      const measured = syncs.length >= 2 ? (lastSync / syncs[0]!) ** (1 / (syncs.length - 1)) : null;
      const fromRates = dirtyRate !== null ? dirtyRate / rate : null;
      const ratio = measured !== null && measured < 1 ? measured : fromRates;
      eta = ratio === null ? null : projectEta(current, lastSync, ratio, rate, threshold);
    }
    const etaText = eta === null ? "no ETA yet" : `about ${fmtS(eta)} to go at ${fmtRate(rate)}`;

    if (throttle !== null && throttle > 0) {
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
    if (syncs.length === 1) {
      return {
        verdict: "converging",
        eta,
        reason: `Too early to judge: ${formatBytes(lastSync)} was left at the first dirty sync and ${rates}; the third iteration will tell${eta === null ? "" : ` (at best about ${fmtS(eta)} to go)`}.`,
      };
    }
    if (!falling && neededMs !== null && neededMs > downtimeLimitMs) {
      // Not shrinking, but small enough for a later, larger allowed downtime: it finishes when Nova
      // reaches that step (if a schedule says when).
      const step = opts.downtimeSchedule?.find((st) => st.downtimeMs >= neededMs);
      const waitS = step !== undefined ? Math.max(0, step.atS - elapsedS) : null;
      return {
        verdict: "converging",
        eta: waitS,
        reason: `Converging late: ${formatBytes(smallestSync!)} at each dirty sync needs ${fmtMs(neededMs)} of downtime, more than the ${downtimeLimitMs} ms allowed now but within the final ${finalDowntimeMs} ms${step !== undefined ? `, which Nova allows from ${fmtS(step.atS)}` : ""}.`,
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
