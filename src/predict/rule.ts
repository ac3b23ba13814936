/**
 * The decision rule: will a live migration converge, judged before it starts from the guest's
 * measured dirty rate, the link, the downtime Nova will allow before it gives up, and whether
 * QEMU may throttle the guest (auto-converge). Pure: the bench, /diagnose and /migrate all call
 * {@link predictConvergence}.
 *
 * Pre-copy sends memory while the guest keeps writing it. It converges when what is left after a
 * pass can be sent within the allowed downtime. A guest that writes slower than the link sends
 * leaves less after every pass and gets there. One that writes as fast or faster leaves what it
 * rewrites during a pass, at most its hot set: it converges only if that set, at the link's rate,
 * fits the downtime Nova allows by the time its own timeouts end the migration.
 *
 * libvirt's measurement counts the distinct pages written in its period, so two periods tell a
 * rate from a hot set: the set written in 2 s is twice the set written in 1 s when the guest
 * writes new pages all along (the figure is its rate), and about the same when it rewrites one
 * hot set faster than once a second (the figure is that set; the rate is higher, and unknown).
 *
 * Auto-converge raises the vCPU throttle one step per AUTO_CONVERGE_PERIODS_PER_STEP dirty syncs
 * while the guest dirties more than QEMU_THROTTLE_TRIGGER_THRESHOLD_PERCENT of what was sent
 * (QEMU migration/ram.c): it rescues a guest when the throttle it needs is reached before Nova
 * gives up.
 */
import {
  AUTO_CONVERGE_PERIODS_PER_STEP,
  type DowntimeStage,
  downtimeAllowedAt,
  QEMU_AUTO_CONVERGE_INCREMENT_PERCENT,
  QEMU_AUTO_CONVERGE_INITIAL_PERCENT,
  QEMU_AUTO_CONVERGE_MAX_PERCENT,
  QEMU_DEFAULT_DOWNTIME_LIMIT_MS,
  QEMU_SYNC_PERIOD_MIN_S,
  QEMU_THROTTLE_TRIGGER_THRESHOLD_PERCENT,
} from "../nova-facts";

const MIB = 1024 ** 2;

/** What the prediction says. */
export type PredictionOutcome =
  | "will-converge"
  | "will-not-converge"
  | "converges-only-with-auto-converge"
  | "cannot-measure";

/** Why no prediction could be made. */
export type CannotMeasure =
  | { reason: "libvirt-too-old"; host: string; version: string }
  | { reason: "not-running"; host: string }
  | { reason: "no-host-access"; host: string }
  | { reason: "link-unknown"; host: string; detail: string }
  | { reason: "measurement-failed"; host: string; detail: string };

/** One `domdirtyrate-calc` result: MiB/s of distinct pages written over `periodS` seconds. */
export interface DirtyRateReading {
  periodS: number;
  mibPerS: number;
}

/** The measured dirty rate: readings over the short period first, then the long one. */
export interface DirtyRateMeasurement {
  readings: readonly DirtyRateReading[];
  /** The libvirt that measured it, e.g. "9.0.0". */
  libvirt: string;
}

/** What two readings say about the guest. */
export interface GuestWrites {
  /** The short period's figure, MiB/s (what "dirties ~X MiB/s" shows). */
  shownMiBps: number;
  periodS: number;
  /** The guest's write rate, MiB/s; null when it rewrites its hot set faster than the short period shows. */
  rateMiBps: number | null;
  /** The set it keeps rewriting, MiB, when the readings show one; null when it writes new pages all along. */
  hotSetMiB: number | null;
  /** The most distinct memory one reading saw written, MiB: the hot set is at least this. */
  writtenMiB: number;
}

/**
 * A set counts as the same when the long period found less than this share more pages than the
 * short one (whole-MiB/s rounding moves a figure by up to 1 MiB/s).
 */
const SAME_SET_GROWTH = 1.1;
/** The long period's set is this share of `long/short ×` the short one, or more, when the guest writes new pages all along. */
const NEW_PAGES_GROWTH = 0.9;

/** Reads the guest from its readings: a rate, a hot set, or both. */
export function guestWrites(readings: readonly DirtyRateReading[]): GuestWrites {
  const sorted = [...readings].sort((a, b) => a.periodS - b.periodS);
  const short = sorted[0]!;
  const long = sorted.at(-1)!;
  const shortSet = short.mibPerS * short.periodS;
  const longSet = long.mibPerS * long.periodS;
  const base = {
    shownMiBps: short.mibPerS,
    periodS: short.periodS,
    writtenMiB: Math.max(shortSet, longSet),
  };
  if (long === short || longSet >= NEW_PAGES_GROWTH * shortSet * (long.periodS / short.periodS)) {
    return { ...base, rateMiBps: short.mibPerS, hotSetMiB: null };
  }
  if (longSet <= SAME_SET_GROWTH * shortSet) {
    return { ...base, rateMiBps: null, hotSetMiB: Math.max(shortSet, longSet) };
  }
  // Filled between the two periods: the short figure is the rate, the long one the set.
  return { ...base, rateMiBps: short.mibPerS, hotSetMiB: longSet };
}

/** The link a migration gets: Nova's cap, else the NIC towards the destination. */
export interface LinkEstimate {
  mibPerS: number;
  from: "live_migration_bandwidth" | "nic";
  /** The interface and its speed when read from the NIC. */
  nic?: { name: string; mbps: number };
}

/** Nova's side: its downtime stages and timeouts for this VM, and auto-converge per host. */
export interface NovaLimits {
  release?: string;
  /** Nova's stages for this migration (empty or absent: QEMU's default limit throughout). */
  downtimeSchedule?: readonly DowntimeStage[];
  /** Seconds without a new low of remaining memory before Nova aborts; 0 = off. */
  progressTimeoutS?: number;
  /** Seconds before Nova ends the migration; 0 = never. */
  completionTimeoutS?: number;
  /** Auto-converge in effect for this migration's type on the source (it is the source's flags that count). */
  autoConvergeSource: boolean;
  /** The same on the destination, when known (shown so the operator sees both hosts). */
  autoConvergeDestination: boolean | null;
}

export interface PredictionInput {
  vm: string;
  source: string;
  destination: string | null;
  memoryMb: number | null;
  measurement: DirtyRateMeasurement | CannotMeasure;
  link: LinkEstimate | CannotMeasure;
  nova: NovaLimits;
}

/** The fix the rule can see: turning auto-converge on for this migration's source. */
export type PredictionFix = "auto-converge" | null;

/** The typed view every presenter renders. */
export interface Prediction {
  vm: string;
  source: string;
  destination: string | null;
  outcome: PredictionOutcome;
  /** Set when outcome is cannot-measure. */
  cannot?: CannotMeasure;
  /** What the measurement showed (absent when nothing could be measured). */
  writes?: GuestWrites;
  link?: LinkEstimate;
  /** The downtime Nova will have allowed by the time it gives up, ms. */
  allowedDowntimeMs?: number;
  /** That downtime as bytes at the link's rate: what may be left when the guest is paused. */
  downtimeBytes?: number;
  autoConverge: { source: boolean; destination: boolean | null };
  /** The throttle auto-converge would need, percent (set when the guest outruns the link). */
  throttleNeededPercent?: number;
  /** Even auto-converge would not get there before Nova gives up (or beyond its 99 % throttle). */
  beyondAutoConverge?: boolean;
  fix: PredictionFix;
}

/** Where a first pass is over: all of RAM at the link's rate (zero pages make it shorter). */
function firstPassS(memoryMb: number | null, linkMiBps: number): number {
  return memoryMb !== null && linkMiBps > 0 ? memoryMb / linkMiBps : 0;
}

/**
 * The time by which Nova will have ended a migration that does not converge: its completion
 * timeout, or (where the release has it) the progress timeout counted from the end of the first
 * pass, when remaining memory stops making new lows. Null when neither is set.
 */
export function novaGivesUpAtS(nova: NovaLimits, memoryMb: number | null, linkMiBps: number): number | null {
  const ends: number[] = [];
  if (nova.completionTimeoutS !== undefined && nova.completionTimeoutS > 0)
    ends.push(nova.completionTimeoutS);
  if (nova.progressTimeoutS !== undefined && nova.progressTimeoutS > 0) {
    ends.push(firstPassS(memoryMb, linkMiBps) + nova.progressTimeoutS);
  }
  return ends.length === 0 ? null : Math.min(...ends);
}

/** The largest downtime Nova allows before it gives up (its last stage when it never gives up). */
export function allowedDowntimeMs(nova: NovaLimits, givesUpAtS: number | null): number {
  const schedule = nova.downtimeSchedule ?? [];
  if (schedule.length === 0) return QEMU_DEFAULT_DOWNTIME_LIMIT_MS;
  if (givesUpAtS === null) return schedule.at(-1)!.downtimeMs;
  return downtimeAllowedAt(schedule, givesUpAtS) ?? QEMU_DEFAULT_DOWNTIME_LIMIT_MS;
}

/**
 * The throttle (percent) at which the guest writes at most the trigger share of what the link
 * sends, so each pass leaves at most half of the last; null beyond QEMU's maximum.
 */
export function throttleNeededPercent(rateMiBps: number | null, linkMiBps: number): number | null {
  const target = (QEMU_THROTTLE_TRIGGER_THRESHOLD_PERCENT / 100) * linkMiBps;
  if (rateMiBps === null) return QEMU_AUTO_CONVERGE_MAX_PERCENT;
  const needed = Math.ceil(100 * (1 - target / rateMiBps));
  if (needed <= 0) return 0;
  return needed <= QEMU_AUTO_CONVERGE_MAX_PERCENT ? needed : null;
}

/** Seconds of dirty syncs QEMU needs to raise the throttle to `percent` (a sync per pass, at least QEMU_SYNC_PERIOD_MIN_S). */
export function secondsToThrottle(percent: number, passS: number): number {
  if (percent <= 0) return 0;
  const steps =
    1 +
    Math.max(
      0,
      Math.ceil((percent - QEMU_AUTO_CONVERGE_INITIAL_PERCENT) / QEMU_AUTO_CONVERGE_INCREMENT_PERCENT),
    );
  return steps * AUTO_CONVERGE_PERIODS_PER_STEP * Math.max(QEMU_SYNC_PERIOD_MIN_S, passS);
}

function isCannot(x: object): x is CannotMeasure {
  return "reason" in x;
}

/** The prediction for one migration: one pure rule shared by the bench, /diagnose and /migrate. */
export function predictConvergence(input: PredictionInput): Prediction {
  const autoConverge = {
    source: input.nova.autoConvergeSource,
    destination: input.nova.autoConvergeDestination,
  };
  const base = { vm: input.vm, source: input.source, destination: input.destination, autoConverge };
  if (isCannot(input.measurement)) {
    return { ...base, outcome: "cannot-measure", cannot: input.measurement, fix: null };
  }
  if (input.measurement.readings.length === 0) {
    const cannot: CannotMeasure = {
      reason: "measurement-failed",
      host: input.source,
      detail: "no reading came back",
    };
    return { ...base, outcome: "cannot-measure", cannot, fix: null };
  }
  const writes = guestWrites(input.measurement.readings);
  if (isCannot(input.link)) {
    return { ...base, outcome: "cannot-measure", cannot: input.link, writes, fix: null };
  }
  const link = input.link;
  const givesUpAt = novaGivesUpAtS(input.nova, input.memoryMb, link.mibPerS);
  const downtimeMs = allowedDowntimeMs(input.nova, givesUpAt);
  const downtimeMiB = (link.mibPerS * downtimeMs) / 1000;
  const figures = {
    writes,
    link,
    allowedDowntimeMs: downtimeMs,
    downtimeBytes: Math.round(downtimeMiB * MIB),
  };
  // Slower than the link: every pass leaves less. Or the hot set fits the downtime whatever the rate.
  const slower = writes.rateMiBps !== null && writes.rateMiBps < link.mibPerS;
  const setFits = writes.hotSetMiB !== null && writes.hotSetMiB <= downtimeMiB;
  if (slower || setFits) return { ...base, ...figures, outcome: "will-converge", fix: null };

  // Auto-converge: the throttle it needs, reached one step per two syncs, each sync a pass over the
  // rewritten set (at least QEMU's sync period), before Nova's window after the first pass closes.
  const needed = throttleNeededPercent(writes.rateMiBps, link.mibPerS);
  const setMiB = writes.hotSetMiB ?? writes.writtenMiB;
  const window =
    input.nova.progressTimeoutS !== undefined && input.nova.progressTimeoutS > 0
      ? input.nova.progressTimeoutS
      : givesUpAt === null
        ? Number.POSITIVE_INFINITY
        : givesUpAt - firstPassS(input.memoryMb, link.mibPerS);
  const beyondAutoConverge = needed === null || secondsToThrottle(needed, setMiB / link.mibPerS) >= window;
  const withThrottle = needed === null ? {} : { throttleNeededPercent: needed };
  if (autoConverge.source && !beyondAutoConverge) {
    return { ...base, ...figures, ...withThrottle, outcome: "converges-only-with-auto-converge", fix: null };
  }
  return {
    ...base,
    ...figures,
    ...withThrottle,
    outcome: "will-not-converge",
    beyondAutoConverge,
    fix: !autoConverge.source && !beyondAutoConverge ? "auto-converge" : null,
  };
}
