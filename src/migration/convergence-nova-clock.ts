import {
  completionTimeoutS,
  type DowntimeStage,
  downtimeAllowedAt,
  downtimeSchedule,
  liveMigrationDataGiB,
  type NovaRelease,
  type NovaReleaseRef,
  novaRelease,
  QEMU_DEFAULT_DOWNTIME_LIMIT_MS,
  timeoutOptions,
} from "../nova-facts";
import { dataRemainingOf } from "./convergence-dirty-sets";
import type { MigrationSample } from "./samples/sample";

/**
 * Nova's side of a migration's clock, from src/nova-facts: the downtime it allows at each moment,
 * when its timeouts will end the migration, and when its progress watermark last moved.
 */

/** What the analyzer was told about the source's Nova (all optional). */
export interface NovaClockInput {
  release?: NovaReleaseRef;
  /** Flavor RAM, MiB, for Nova's data size; default: the samples' memory total. */
  memoryMb?: number;
  /** Apparent sizes of the disks a block migration copies, bytes. */
  copiedDiskBytes?: readonly number[];
  downtimeSchedule?: readonly DowntimeStage[];
  /** [libvirt] live_migration_downtime / _steps / _delay in effect, when not the release's defaults. */
  downtimeConfig?: { downtimeMs?: number; steps?: number; delayS?: number };
  downtimeLimitMs?: number;
  finalDowntimeMs?: number;
  progressTimeoutS?: number;
  completionTimeoutS?: number;
  timeoutAction?: "abort" | "force_complete";
}

export interface NovaClock {
  release: NovaRelease | null;
  schedule: readonly DowntimeStage[] | null;
  /** The downtime allowed at `t` seconds (QEMU's default before Nova's first stage). */
  limitMsAt: (t: number) => number;
  /** True when neither a limit nor a schedule was known and QEMU's default was assumed. */
  limitAssumed: (t: number) => boolean;
  finalDowntimeMs: (now: number) => number;
  /** Seconds without a new low of data remaining before Nova aborts; 0 = no such timeout. */
  progressTimeoutS: number;
  /** When Nova's completion timeout ends the migration (seconds), null = never. */
  completionAbortS: number | null;
  /** Nova force-completes rather than aborts at the completion timeout (Stein+ option). */
  completionForces: boolean;
}

// Computing a schedule with Python's arithmetic costs ~0.5 ms; the tracker asks every poll.
const SCHEDULE_CACHE_LIMIT = 64;
const scheduleCache = new Map<string, DowntimeStage[]>();

function cachedSchedule(
  release: NovaRelease,
  dataGiB: number,
  config: NovaClockInput["downtimeConfig"],
): DowntimeStage[] {
  const key = `${release.version.join(".")}|${dataGiB}|${config?.downtimeMs}|${config?.steps}|${config?.delayS}`;
  let schedule = scheduleCache.get(key);
  if (schedule === undefined) {
    schedule = downtimeSchedule(release, {
      dataGiB,
      ...(config?.downtimeMs !== undefined && { downtimeMs: config.downtimeMs }),
      ...(config?.steps !== undefined && { steps: config.steps }),
      ...(config?.delayS !== undefined && { delayS: config.delayS }),
    });
    if (scheduleCache.size >= SCHEDULE_CACHE_LIMIT) scheduleCache.clear();
    scheduleCache.set(key, schedule);
  }
  return schedule;
}

/** Nova's clock for one migration: the given figures first, the release's defaults for the rest. */
export function novaClock(input: NovaClockInput, samples: readonly MigrationSample[]): NovaClock {
  const release = input.release === undefined ? null : novaRelease(input.release);
  let dataGiB: number | null = null;
  if (release !== null) {
    const totalBytes = samples.find((s) => s.memoryTotalBytes !== undefined)?.memoryTotalBytes;
    const memoryMb =
      input.memoryMb ?? (totalBytes !== undefined ? Math.floor(totalBytes / 1024 ** 2) : undefined);
    if (memoryMb !== undefined) {
      dataGiB = liveMigrationDataGiB(release, {
        memoryMb,
        ...(input.copiedDiskBytes !== undefined && { copiedDiskBytes: input.copiedDiskBytes }),
      });
    }
  }
  const schedule =
    input.downtimeSchedule ??
    (release !== null && dataGiB !== null ? cachedSchedule(release, dataGiB, input.downtimeConfig) : null);
  const limitMsAt = (t: number) =>
    input.downtimeLimitMs ??
    (schedule ? downtimeAllowedAt(schedule, t) : undefined) ??
    QEMU_DEFAULT_DOWNTIME_LIMIT_MS;
  const limitAssumed = (t: number) =>
    input.downtimeLimitMs === undefined &&
    (schedule ? downtimeAllowedAt(schedule, t) : undefined) === undefined;
  const finalDowntimeMs = (now: number) =>
    input.finalDowntimeMs ?? schedule?.at(-1)?.downtimeMs ?? Math.max(limitMsAt(now), 0);
  const timeouts = release !== null ? timeoutOptions(release) : null;
  const progressTimeoutS = input.progressTimeoutS ?? timeouts?.progress?.defaultS ?? 0;
  const completion =
    input.completionTimeoutS ??
    (release !== null && dataGiB !== null ? completionTimeoutS(release, { dataGiB }) : 0);
  return {
    release,
    schedule,
    limitMsAt,
    limitAssumed,
    finalDowntimeMs,
    // A release without the option (Stein removed it) has no progress timeout, whatever was passed.
    progressTimeoutS: timeouts !== null && timeouts.progress === null ? 0 : Math.max(0, progressTimeoutS),
    completionAbortS: completion > 0 ? completion : null,
    // Before Stein there is no timeout action: the completion timeout always aborts.
    completionForces:
      input.timeoutAction === "force_complete" && (timeouts === null || timeouts.action !== null),
  };
}

/**
 * When Nova's progress watermark last moved, estimated from the samples. Nova polls every 0.5 s and
 * keeps the lowest data remaining it saw; the tracker sees one sample per poll of its own, so its
 * lows are not Nova's. What is known: during the first pass every Nova poll is a new low, and the
 * pass ends at the threshold (allowed downtime × transfer rate), which is the floor of the sawtooth
 * that follows; Nova's last poll of that pass may land anywhere within half a second of it.
 *
 * So the estimate first takes the watermark to be at that floor — the reading under which Nova
 * aborts soonest, so a warning is not late — and counts only samples below it as new lows. Once
 * the migration outlives that reading by the progress timeout, Nova evidently saw lows the samples
 * cannot show; from then on the samples' own new lows after the first pass are the estimate.
 * Without an iteration counter (Nova's own log or API) the samples' own lows are used throughout.
 */
export function lastLowAt(
  running: readonly MigrationSample[],
  floorBytesAt: (t: number) => number,
  now: number,
  progressTimeoutS: number,
  novaResolutionBytes = 0,
): number | null {
  const firstPass = running.findIndex((s) => s.iteration === 1);
  const afterFirst = running.findIndex((s) => s.iteration !== undefined && s.iteration >= 2);
  const hasFirstPass = firstPass >= 0 && afterFirst > firstPass;
  const from = hasFirstPass ? afterFirst : 0;
  let ownLow = Number.POSITIVE_INFINITY;
  let ownAt: number | null = null;
  for (const s of running.slice(from)) {
    const remaining = dataRemainingOf(s);
    // Nova's polls between two samples may already have seen up to half a poll's sending lower.
    if (remaining !== undefined && remaining < ownLow - (ownAt === null ? 0 : novaResolutionBytes)) {
      ownLow = remaining;
      ownAt = s.t;
    }
  }
  if (!hasFirstPass) return ownAt;
  const syncAt = (running[afterFirst - 1]!.t + running[afterFirst]!.t) / 2;
  let watermark = floorBytesAt(syncAt);
  let floorAt = syncAt;
  for (const s of running.slice(afterFirst)) {
    const remaining = dataRemainingOf(s);
    if (remaining !== undefined && remaining < watermark) {
      watermark = remaining;
      floorAt = s.t;
    }
  }
  if (now - floorAt <= progressTimeoutS) return floorAt;
  return Math.max(floorAt, ownAt ?? floorAt);
}

/** When Nova will end the migration if nothing changes: its progress or completion timeout, whichever first. */
export function novaAbortAt(
  clock: NovaClock,
  running: readonly MigrationSample[],
  now: number,
  floorBytesAt: (t: number) => number,
  novaResolutionBytes = 0,
): { atS: number; why: "progress" | "completion" } | null {
  let best: { atS: number; why: "progress" | "completion" } | null = null;
  if (clock.progressTimeoutS > 0) {
    const low = lastLowAt(running, floorBytesAt, now, clock.progressTimeoutS, novaResolutionBytes);
    if (low !== null) best = { atS: Math.max(now, low + clock.progressTimeoutS), why: "progress" };
  }
  if (clock.completionAbortS !== null && !clock.completionForces) {
    if (best === null || clock.completionAbortS < best.atS) {
      best = { atS: clock.completionAbortS, why: "completion" };
    }
  }
  return best;
}
