/**
 * Debounced convergence verdicts: the analyzer's verdict must hold for a few polls in a row before
 * the thread says "not converging", and a warning already posted is updated (not posted again) when
 * the migration starts throttling or converging after all, or relapses.
 */
import type { ConvergenceReport, Verdict } from "./convergence";
import type { NotConvergingFacts } from "./view";

/**
 * A verdict must hold for this many consecutive polls (with fresh samples) before the thread says
 * so: the analyzer can flip from not-converging to throttling once auto-converge kicks in.
 */
export const VERDICT_CONFIRM_POLLS = 2;

/** What the tracker keeps in the record about verdicts (stored with it). */
export interface ConvergenceWatch {
  /** The verdict of the latest polls with fresh samples, and how many in a row held it. */
  verdict: Verdict | null;
  streak: number;
  /** The figures the posted warning shows; null until it is posted. */
  facts: NotConvergingFacts | null;
}

/**
 * What a confirmed verdict asks of the thread: `warn` (post the warning, once), `relapse` (the
 * warning said it recovered; it no longer does), `recover` (throttling or converging after the
 * warning), or nothing.
 */
export type VerdictStep = "warn" | "relapse" | "recover" | null;

/** Counts one poll's verdict into `watch` and says what the thread should show (see {@link VerdictStep}). */
export function confirmVerdict(
  watch: ConvergenceWatch,
  report: ConvergenceReport,
  warned: boolean,
): VerdictStep {
  if (report.verdict === watch.verdict) watch.streak += 1;
  else {
    watch.verdict = report.verdict;
    watch.streak = 1;
  }
  if (watch.streak < VERDICT_CONFIRM_POLLS) return null;
  if (report.verdict === "not-converging") {
    if (!warned) return "warn";
    return watch.facts?.later ? "relapse" : null;
  }
  if (
    (report.verdict === "throttling" || report.verdict === "converging") &&
    watch.facts !== null &&
    watch.facts.later?.state !== report.verdict
  ) {
    return "recover";
  }
  return null;
}

/** The warning's figures from the report that confirmed it. */
export function factsOf(
  report: ConvergenceReport,
  source: string | null,
  novaWillDo: string | null,
): NotConvergingFacts {
  return {
    iteration: report.iterations,
    minRemainingPerIteration: report.minRemainingPerIteration,
    sampledIterations: report.sampledIterations,
    remainingAtSyncPerIteration: report.remainingAtSyncPerIteration,
    dirtyRateBytesPerS: report.dirtyRateBytesPerS,
    transferRateBytesPerS: report.transferRateBytesPerS,
    expectedDowntimeMs: report.expectedDowntimeMs,
    downtimeLimitMs: report.downtimeLimitMs,
    finalDowntimeMs: report.finalDowntimeMs,
    throttlePercent: report.throttlePercent,
    reason: report.reason,
    source,
    novaWillDo,
    later: null,
  };
}
