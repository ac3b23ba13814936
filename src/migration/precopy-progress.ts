/**
 * The pre-copy figures a person sees, merged at each poll from the fresh sample, the analyzer's
 * report and Nova's own counters, without mixing sources: once a source has given a figure, Nova's
 * counters no longer stand in for it.
 */

import type { NovaMigration } from "../openstack/port";
import type { ConvergenceReport } from "./convergence";
import type { MigrationSample } from "./samples/sample";
import { emptyPrecopy, type PrecopyProgress } from "./view";

/** The view's pre-copy figures after a poll (`s` null: nothing new; `r` null: nothing judged yet). */
export function toProgress(
  m: NovaMigration,
  s: MigrationSample | null,
  r: ConvergenceReport | null,
  previous: PrecopyProgress | null,
): PrecopyProgress {
  const p = previous ?? emptyPrecopy();
  // Without a fresh sample, keep the figures of the source the reply names rather than mixing in
  // Nova's counters; those stand in only before any source has given a figure.
  const nova = p.source === null ? m : null;
  return {
    ...p,
    iteration: s?.iteration ?? (s ? (r?.iterations ?? p.iteration) : p.iteration),
    memoryTotalBytes:
      s?.memoryTotalBytes ?? nova?.memoryTotalBytes ?? p.memoryTotalBytes ?? m.memoryTotalBytes,
    memoryProcessedBytes: s?.memoryProcessedBytes ?? nova?.memoryProcessedBytes ?? p.memoryProcessedBytes,
    memoryRemainingBytes: s?.memoryRemainingBytes ?? nova?.memoryRemainingBytes ?? p.memoryRemainingBytes,
    transferRateBytesPerS: r?.transferRateBytesPerS ?? s?.bandwidthBytesPerS ?? p.transferRateBytesPerS,
    dirtyRateBytesPerS: r?.dirtyRateBytesPerS ?? p.dirtyRateBytesPerS,
    expectedDowntimeMs: r?.expectedDowntimeMs ?? s?.expectedDowntimeMs ?? p.expectedDowntimeMs,
    downtimeLimitMs: r?.downtimeLimitMs ?? p.downtimeLimitMs,
    throttlePercent: r?.throttlePercent ?? s?.throttlePercent ?? p.throttlePercent,
    etaSeconds: r?.etaSeconds ?? null,
    verdict: r?.verdict ?? p.verdict,
    reason: r?.reason ?? p.reason,
    minRemainingPerIteration: r?.minRemainingPerIteration ?? p.minRemainingPerIteration,
    source: s?.source ?? p.source,
  };
}
