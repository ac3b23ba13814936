import {
  AUTO_CONVERGE_PERIODS_PER_STEP,
  type DowntimeStage,
  forceCompleteEffect,
  monitorTimeoutVerdict,
  NOVA_MONITOR_INFO_EVERY_POLLS,
  NOVA_MONITOR_POLL_INTERVAL_MS,
  type NovaRelease,
  type NovaReleaseRef,
  novaRelease,
  POST_COPY_STATUS,
  postCopyEnabled,
  QEMU_AUTO_CONVERGE_INCREMENT_PERCENT,
  QEMU_AUTO_CONVERGE_INITIAL_PERCENT,
  QEMU_AUTO_CONVERGE_MAX_PERCENT,
  QEMU_DEFAULT_DOWNTIME_LIMIT_MS,
  QEMU_SYNC_PERIOD_MIN_S,
  QEMU_THROTTLE_TRIGGER_THRESHOLD_PERCENT,
  resetsProgressWatermark,
  shouldSwitchToPostCopy,
} from "../nova-facts";

/**
 * The pre-copy live-migration model the sandbox's migrations follow: QEMU's RAM migration loop
 * (passes over the dirty bitmap, bitmap syncs, auto-converge throttling, stop-and-copy once what
 * remains fits the allowed downtime) driven by Nova's libvirt monitor (downtime schedule, progress
 * and completion timeouts, post-copy switch, polled every 0.5 s), with Nova's and QEMU's rules
 * and defaults taken from src/nova-facts for the source's release.
 *
 * Pure: no timers, no I/O. The cloud's clock calls {@link step} with the time that passed; the
 * returned events are what Nova and QEMU would log. Outcomes depend only on sizes, rates and
 * config, never on a VM's name. Behaviour is checked against the real QEMU runs in LAB.md.
 *
 * Two invariants keep it honest: {@link step} always advances the clock by the time asked (unless
 * the migration ended), so Nova's timeouts always get their chance; and dirty pages join a pass in
 * whole pages, as QEMU's bitmap counts them, so a pass that ends on the threshold finishes instead
 * of chasing an ever smaller remainder.
 */

/** QEMU's target page size on x86. */
export const PAGE_SIZE_BYTES = 4096;
export { AUTO_CONVERGE_PERIODS_PER_STEP, QEMU_SYNC_PERIOD_MIN_S };
/** Nova's libvirt monitor polls the job this often. */
export const NOVA_MONITOR_POLL_S = NOVA_MONITOR_POLL_INTERVAL_MS / 1000;
/** Device state and the last round trip add a little to the pure RAM stop-and-copy time. */
export const STOP_AND_COPY_OVERHEAD_MS = 6;
/**
 * Bounds the bitmap syncs modelled inside one advance. A pass that keeps ending at the threshold
 * with a page or two re-dirtied can sync thousands of times; past this bound the rest of the
 * interval is spent re-sending at the threshold, so the model's clock still moves on.
 */
const MAX_SYNCS_PER_ADVANCE = 10_000;
/** Below this, two model times are the same instant (float noise of summed intervals). */
const TIME_EPSILON_S = 1e-9;

export type { DowntimeStage };

export interface PrecopyParams {
  /** Guest RAM. */
  memoryBytes: number;
  /** Share of RAM that is zero pages when the migration starts: QEMU sends them as headers only. */
  zeroPageFraction: number;
  /** The guest's write rate with no throttle. */
  dirtyRateBytesPerS: number;
  /** Memory the guest keeps rewriting: at most this much can be dirty again after one pass. */
  workingSetBytes: number;
  /** Effective migration bandwidth: the link, capped by Nova's `live_migration_bandwidth` if set. */
  bandwidthBytesPerS: number;
  /**
   * The raw link speed. QEMU lifts its rate limit for the final stop-and-copy, so the guest's
   * downtime is what remains sent at this speed. @defaultValue bandwidthBytesPerS
   */
  linkBytesPerS?: number;
  /** QEMU auto-converge enabled on this migration (from the source's effective nova config). */
  autoConverge: boolean;
  /**
   * [libvirt] live_migration_permit_post_copy in effect on the source (and the host able to). When
   * Nova switches is the release's rule ({@link PrecopyParams.release}).
   */
  postCopy: boolean;
  /**
   * The source's nova release: decides when Nova switches to post-copy (Newton–Rocky on a poll that
   * shows < 10 % progress, never on its own from Stein, no post-copy on Mitaka), what force-complete
   * does, and which timeouts the monitor checks. @defaultValue none: Stein-and-later post-copy rules
   * (switch only on force-complete or a force_complete timeout action), and both timeouts checked
   * exactly as given
   */
  release?: NovaReleaseRef;
  /** Nova's downtime stages (nova-facts `downtimeSchedule`); empty = QEMU's default limit throughout. */
  downtimeSchedule: DowntimeStage[];
  /** Nova aborts when remaining data has not hit a new low for this long; 0 = off. */
  progressTimeoutS: number;
  /** Nova gives up (or forces completion) after this long; 0 = off. */
  completionTimeoutS: number;
  timeoutAction: "abort" | "force_complete";
  /** Throttle steps; QEMU's defaults unless a test replays a lab run with other values. */
  autoConvergeInitialPercent?: number;
  autoConvergeIncrementPercent?: number;
}

export type PrecopyPhase = "active" | "postcopy" | "completed" | "cancelled";
export type PrecopyOutcome = "completed" | "progress-timeout" | "completion-timeout" | "cancelled";

export interface PrecopyState {
  params: PrecopyParams;
  phase: PrecopyPhase;
  outcome: PrecopyOutcome | null;
  elapsedS: number;
  /** QEMU's dirty-sync-count (virsh's `Iteration`), 1 during the first full pass. */
  iteration: number;
  /** Bytes of RAM still to send in the current pass (QEMU `ram.remaining`). */
  remainingBytes: number;
  /** Share of `remainingBytes` that is normal (non-zero) pages; the rest costs no bandwidth. */
  remainingNormalShare: number;
  /** Dirtied since the last bitmap sync; becomes the next pass. */
  dirtiedBytes: number;
  /** All bytes put on the wire (`Memory processed`). */
  transferredBytes: number;
  normalBytes: number;
  zeroPages: number;
  throttlePercent: number;
  /** QEMU's dirty_rate_high_cnt. */
  highDirtyPeriods: number;
  periodStartS: number;
  /** Pages newly set in the migration bitmap this period (QEMU's num_dirty_pages_period), bytes. */
  periodDirtiedBytes: number;
  periodSentBytes: number;
  /** Last measured dirty rate (virsh `Dirty rate`), pages/s. */
  dirtyRatePagesPerS: number;
  /** QEMU's expected downtime: remaining right after the last sync over the bandwidth. */
  expectedDowntimeMs: number;
  allowedDowntimeMs: number;
  /** Index of the last downtime stage applied; -1 before Nova's first poll. */
  stageIndex: number;
  polls: number;
  watermarkBytes: number | null;
  watermarkAtS: number;
  /** Remaining at Nova's previous poll (−1 before the first), for Newton–Rocky's post-copy rule. */
  previousPollRemainingBytes: number;
  /** The guest is paused (force-complete): it dirties nothing, stop-and-copy follows. */
  paused: boolean;
  pausedAtS: number | null;
  completionTimeoutHandled: boolean;
  postcopyRequests: number;
  /** Guest downtime once completed. */
  downtimeMs: number | null;
}

export type PrecopyEvent =
  | { kind: "downtime-increased"; downtimeMs: number; afterS: number }
  | {
      kind: "progress";
      secs: number;
      remainingPercent: number;
      processed: number;
      remaining: number;
      total: number;
    }
  | { kind: "sync"; iteration: number; remainingBytes: number }
  | { kind: "throttle"; percent: number }
  | { kind: "switch-postcopy"; afterS: number }
  | { kind: "stuck"; forS: number }
  | { kind: "not-completed"; afterS: number; action: "abort" | "force_complete" }
  | { kind: "completed"; downtimeMs: number; afterS: number }
  | { kind: "cancelled"; reason: PrecopyOutcome };

/** A migration just started: the first pass covers all of RAM. */
export function initialState(params: PrecopyParams): PrecopyState {
  return {
    params,
    phase: "active",
    outcome: null,
    elapsedS: 0,
    iteration: 1,
    remainingBytes: params.memoryBytes,
    remainingNormalShare: 1 - clamp(params.zeroPageFraction, 0, 0.999),
    dirtiedBytes: 0,
    transferredBytes: 0,
    normalBytes: 0,
    zeroPages: 0,
    throttlePercent: 0,
    highDirtyPeriods: 0,
    periodStartS: 0,
    periodDirtiedBytes: 0,
    periodSentBytes: 0,
    dirtyRatePagesPerS: 0,
    expectedDowntimeMs: QEMU_DEFAULT_DOWNTIME_LIMIT_MS,
    allowedDowntimeMs: QEMU_DEFAULT_DOWNTIME_LIMIT_MS,
    stageIndex: -1,
    polls: 0,
    watermarkBytes: null,
    watermarkAtS: 0,
    previousPollRemainingBytes: -1,
    paused: false,
    pausedAtS: null,
    completionTimeoutHandled: false,
    postcopyRequests: 0,
    downtimeMs: null,
  };
}

/** Whether the migration has finished one way or another. */
export function isFinished(state: PrecopyState): boolean {
  return state.phase === "completed" || state.phase === "cancelled";
}

function releaseOf(p: PrecopyParams): NovaRelease | null {
  return p.release === undefined ? null : novaRelease(p.release);
}

/** Whether Nova would let this migration switch to post-copy at all (release and permit option). */
function postCopyAllowed(p: PrecopyParams): boolean {
  const release = releaseOf(p);
  return release === null ? p.postCopy : postCopyEnabled(release, { permitPostCopy: p.postCopy });
}

/** Nova's migration status for the job, as its post-copy and timeout rules read it. */
function migrationStatus(s: PrecopyState): string {
  return s.phase === "postcopy" ? POST_COPY_STATUS : "running";
}

/**
 * Force-complete, as the source's Nova does it (nova-facts `forceCompleteEffect`): Mitaka pauses the
 * guest; from Newton a migration allowed post-copy switches to it, any other is paused; without a
 * release, post-copy when permitted, else pause.
 */
export function forceComplete(state: PrecopyState): PrecopyState {
  if (isFinished(state) || state.paused || state.phase === "postcopy") return state;
  const p = state.params;
  const release = releaseOf(p);
  const effect =
    release === null
      ? p.postCopy
        ? "switch-to-post-copy"
        : "pause"
      : forceCompleteEffect(release, {
          postCopyEnabled: postCopyAllowed(p),
          migrationStatus: migrationStatus(state),
        });
  if (effect === "switch-to-post-copy") return { ...state, phase: "postcopy" };
  if (effect === "pause") return { ...state, paused: true, pausedAtS: state.elapsedS };
  return state;
}

/** Cancels the job (libvirt abortJob): the guest keeps running on the source. */
export function cancel(state: PrecopyState): { state: PrecopyState; events: PrecopyEvent[] } {
  if (isFinished(state) || state.phase === "postcopy") return { state, events: [] };
  return {
    state: { ...state, phase: "cancelled", outcome: "cancelled" },
    events: [{ kind: "cancelled", reason: "cancelled" }],
  };
}

/** Advances the migration by `dtS` seconds of model time (always all of it, unless it ends). */
export function step(input: PrecopyState, dtS: number): { state: PrecopyState; events: PrecopyEvent[] } {
  const s: PrecopyState = { ...input };
  const events: PrecopyEvent[] = [];
  const until = s.elapsedS + Math.max(0, dtS);
  // Split at Nova's poll boundaries so its checks see the job exactly when the real monitor would.
  // advance() always reaches the boundary it is given, so this runs once per poll interval.
  const bound = Math.ceil(Math.max(0, dtS) / NOVA_MONITOR_POLL_S) + 2;
  for (let i = 0; i < bound && !isFinished(s) && s.elapsedS < until - TIME_EPSILON_S; i++) {
    const nextPollAt = (s.polls + 1) * NOVA_MONITOR_POLL_S;
    const target = Math.min(until, nextPollAt);
    advance(s, target - s.elapsedS, events);
    if (!isFinished(s) && s.elapsedS >= nextPollAt - TIME_EPSILON_S) novaPoll(s, events);
  }
  return { state: s, events };
}

/** QEMU's migration thread for `dtS` seconds; ends with `s.elapsedS` advanced by exactly `dtS` unless finished. */
function advance(s: PrecopyState, dtS: number, events: PrecopyEvent[]): void {
  const p = s.params;
  const bw = Math.max(1, p.bandwidthBytesPerS);
  const end = s.elapsedS + dtS;
  let syncs = 0;
  while (s.elapsedS < end - TIME_EPSILON_S && !isFinished(s)) {
    const h = end - s.elapsedS;
    if (s.phase === "postcopy") {
      // The guest runs on the destination and pulls what is missing; nothing is dirtied on the source.
      const used = Math.min(h, s.remainingBytes / bw);
      const send = Math.min(s.remainingBytes, bw * used);
      sendBytes(s, send);
      s.elapsedS += used;
      s.postcopyRequests += Math.ceil(send / PAGE_SIZE_BYTES / 64);
      if (s.remainingBytes <= 0) complete(s, STOP_AND_COPY_OVERHEAD_MS, events);
      else s.elapsedS = end;
      continue;
    }
    const thresholdBytes = (bw * s.allowedDowntimeMs) / 1000;
    if (syncs >= MAX_SYNCS_PER_ADVANCE) {
      // Re-sending at the threshold for the rest of the interval: the guest keeps dirtying, QEMU
      // keeps sending, remaining stays where it is.
      resendAtThreshold(s, h);
      continue;
    }
    const passRate = bw / Math.max(0.001, s.remainingNormalShare);
    const toThreshold = Math.max(0, (s.remainingBytes - thresholdBytes) / passRate);
    if (toThreshold > h) {
      passFor(s, h);
      s.elapsedS = end;
      return;
    }
    if (toThreshold > 0) {
      passFor(s, toThreshold);
      // The pass stops where it fits the threshold; no float remainder may keep it above.
      s.remainingBytes = Math.min(s.remainingBytes, thresholdBytes);
      s.elapsedS += toThreshold;
    }
    // The pass got down to the threshold: sync the bitmap, then either stop-and-copy or go on.
    syncs += 1;
    sync(s, events);
    if (s.remainingBytes <= thresholdBytes) {
      const pending = s.remainingBytes;
      sendBytes(s, pending);
      const link = Math.max(bw, p.linkBytesPerS ?? bw);
      const pausedFor = s.paused && s.pausedAtS !== null ? (s.elapsedS - s.pausedAtS) * 1000 : 0;
      complete(s, pausedFor + (pending / link) * 1000 + STOP_AND_COPY_OVERHEAD_MS, events);
      return;
    }
  }
}

/** Sends the current pass for `tauS` seconds (not past what it holds) while the guest dirties. */
function passFor(s: PrecopyState, tauS: number): void {
  const bw = Math.max(1, s.params.bandwidthBytesPerS);
  const passRate = bw / Math.max(0.001, s.remainingNormalShare);
  const passed = Math.min(s.remainingBytes, passRate * tauS);
  const normal = passed * s.remainingNormalShare;
  s.zeroPages += Math.round((passed - normal) / PAGE_SIZE_BYTES);
  s.remainingBytes = Math.max(0, s.remainingBytes - passed);
  sendBytes(s, normal, false);
  dirty(s, tauS);
}

function resendAtThreshold(s: PrecopyState, seconds: number): void {
  const bw = Math.max(1, s.params.bandwidthBytesPerS);
  sendBytes(s, bw * seconds, false);
  dirty(s, seconds);
  s.elapsedS += seconds;
}

function sendBytes(s: PrecopyState, normalBytes: number, fromPending = true): void {
  if (fromPending) s.remainingBytes = Math.max(0, s.remainingBytes - normalBytes);
  s.transferredBytes += normalBytes;
  s.normalBytes += normalBytes;
  s.periodSentBytes += normalBytes;
}

function dirty(s: PrecopyState, dtS: number): void {
  if (s.paused) return;
  const rate = s.params.dirtyRateBytesPerS * (1 - s.throttlePercent / 100);
  const room = Math.max(0, s.params.workingSetBytes - s.dirtiedBytes);
  s.dirtiedBytes += Math.min(room, rate * dtS);
}

function sync(s: PrecopyState, events: PrecopyEvent[]): void {
  const p = s.params;
  const bw = Math.max(1, p.bandwidthBytesPerS);
  const normalLeft = s.remainingBytes * s.remainingNormalShare;
  // The bitmap is a set: a page dirtied again while still waiting in this pass counts once. After
  // the first pass both sets live in the working set; during it the leftover is spread over all RAM.
  const pool = s.iteration === 1 ? p.memoryBytes : Math.max(p.workingSetBytes, 1);
  const overlap = Math.min(s.remainingBytes, s.dirtiedBytes, (s.remainingBytes * s.dirtiedBytes) / pool);
  // QEMU's bitmap holds whole pages: less than a page of new writes is no new page yet, and carries
  // over to the next sync instead of joining this pass.
  const added = Math.max(0, s.dirtiedBytes - overlap);
  const addedPages = Math.floor(added / PAGE_SIZE_BYTES);
  const addedBytes = addedPages * PAGE_SIZE_BYTES;
  const pending = s.remainingBytes + addedBytes;
  s.remainingNormalShare = pending > 0 ? Math.min(1, (normalLeft + addedBytes) / pending) : 1;
  s.remainingBytes = pending;
  s.dirtiedBytes = added - addedBytes;
  s.periodDirtiedBytes += addedBytes;
  s.iteration += 1;
  s.expectedDowntimeMs = Math.round((pending / bw) * 1000);
  const periodS = s.elapsedS - s.periodStartS;
  if (periodS >= QEMU_SYNC_PERIOD_MIN_S) {
    s.dirtyRatePagesPerS = Math.round(s.periodDirtiedBytes / PAGE_SIZE_BYTES / periodS);
    const triggerShare = QEMU_THROTTLE_TRIGGER_THRESHOLD_PERCENT / 100;
    if (p.autoConverge && s.periodDirtiedBytes > triggerShare * s.periodSentBytes) {
      s.highDirtyPeriods += 1;
      if (s.highDirtyPeriods >= AUTO_CONVERGE_PERIODS_PER_STEP) {
        s.highDirtyPeriods = 0;
        const initial = p.autoConvergeInitialPercent ?? QEMU_AUTO_CONVERGE_INITIAL_PERCENT;
        const increment = p.autoConvergeIncrementPercent ?? QEMU_AUTO_CONVERGE_INCREMENT_PERCENT;
        const next =
          s.throttlePercent === 0
            ? initial
            : Math.min(QEMU_AUTO_CONVERGE_MAX_PERCENT, s.throttlePercent + increment);
        if (next !== s.throttlePercent) {
          s.throttlePercent = next;
          events.push({ kind: "throttle", percent: next });
        }
      }
    }
    s.periodStartS = s.elapsedS;
    s.periodDirtiedBytes = 0;
    s.periodSentBytes = 0;
  }
  events.push({ kind: "sync", iteration: s.iteration, remainingBytes: s.remainingBytes });
}

function complete(s: PrecopyState, downtimeMs: number, events: PrecopyEvent[]): void {
  s.phase = "completed";
  s.outcome = "completed";
  s.remainingBytes = 0;
  s.dirtiedBytes = 0;
  s.downtimeMs = Math.max(1, Math.round(downtimeMs));
  events.push({ kind: "completed", downtimeMs: s.downtimeMs, afterS: s.elapsedS });
}

function switchToPostCopy(s: PrecopyState, events: PrecopyEvent[]): void {
  s.phase = "postcopy";
  events.push({ kind: "switch-postcopy", afterS: s.elapsedS });
}

/**
 * Nova's `_live_migration_monitor` body, once per poll, in Nova's order: the progress watermark,
 * the timeouts, the post-copy switch (Newton–Rocky), then the downtime stage.
 */
function novaPoll(s: PrecopyState, events: PrecopyEvent[]): void {
  const p = s.params;
  const release = releaseOf(p);
  s.polls += 1;
  const elapsed = s.elapsedS;
  const remaining = s.remainingBytes;
  const newLow =
    release === null
      ? s.watermarkBytes === null || remaining < s.watermarkBytes
      : resetsProgressWatermark(release, s.watermarkBytes, remaining);
  if (newLow) {
    s.watermarkBytes = remaining;
    s.watermarkAtS = elapsed;
  }
  // The INFO progress line every 60th poll. Nova also logs it at DEBUG every 10th and counts polls
  // from 0 (nova-facts `progressLogLine`); the sandbox cloud formats this event itself.
  if (s.polls % NOVA_MONITOR_INFO_EVERY_POLLS === 0) {
    const total = p.memoryBytes;
    events.push({
      kind: "progress",
      secs: Math.floor(s.polls / 2),
      remainingPercent: total > 0 ? Math.round((Math.min(remaining, total) * 100) / total) : 0,
      processed: Math.round(s.transferredBytes),
      remaining: Math.round(remaining),
      total,
    });
  }
  if (!timeouts(s, release, events)) return;
  if (
    release !== null &&
    s.phase === "active" &&
    !s.paused &&
    shouldSwitchToPostCopy(release, {
      postCopyEnabled: postCopyAllowed(p),
      memoryIteration: s.iteration,
      dataRemainingBytes: remaining,
      previousDataRemainingBytes: s.previousPollRemainingBytes,
      migrationStatus: migrationStatus(s),
    })
  ) {
    switchToPostCopy(s, events);
  }
  s.previousPollRemainingBytes = remaining;
  const next = p.downtimeSchedule[s.stageIndex + 1];
  // Nova applies a stage once elapsed passes its start and logs the stage's own time.
  if (next !== undefined && elapsed > next.atS) {
    s.stageIndex += 1;
    s.allowedDowntimeMs = next.downtimeMs;
    events.push({ kind: "downtime-increased", downtimeMs: next.downtimeMs, afterS: next.atS });
  }
}

/** The monitor's timeout check; false when the job ended here. */
function timeouts(s: PrecopyState, release: NovaRelease | null, events: PrecopyEvent[]): boolean {
  const p = s.params;
  const sinceProgressS = s.elapsedS - s.watermarkAtS;
  let progressFired: boolean;
  let completionFired: boolean;
  let action: "abort" | "force_complete" = p.timeoutAction;
  if (release === null) {
    if (s.phase !== "active") return true;
    progressFired = p.progressTimeoutS > 0 && sinceProgressS > p.progressTimeoutS;
    completionFired = p.completionTimeoutS > 0 && s.elapsedS > p.completionTimeoutS;
  } else {
    const verdict = monitorTimeoutVerdict(release, {
      elapsedS: s.elapsedS,
      sinceProgressS,
      progressTimeoutS: p.progressTimeoutS,
      completionTimeoutS: p.completionTimeoutS,
      migrationStatus: migrationStatus(s),
      timeoutAction: p.timeoutAction,
    });
    progressFired = verdict.fired.includes("progress");
    completionFired = verdict.fired.includes("completion");
    // Before Stein the completion timeout always aborts; from Stein the option decides.
    action = verdict.action === "force-complete" ? "force_complete" : "abort";
  }
  if (progressFired) {
    events.push({ kind: "stuck", forS: Math.floor(sinceProgressS) });
    s.phase = "cancelled";
    s.outcome = "progress-timeout";
    events.push({ kind: "cancelled", reason: "progress-timeout" });
    return false;
  }
  if (!completionFired || s.completionTimeoutHandled) return true;
  s.completionTimeoutHandled = true;
  events.push({ kind: "not-completed", afterS: p.completionTimeoutS, action });
  if (action === "abort") {
    s.phase = "cancelled";
    s.outcome = "completion-timeout";
    events.push({ kind: "cancelled", reason: "completion-timeout" });
    return false;
  }
  const forced = forceComplete(s);
  if (forced.phase === "postcopy" && s.phase !== "postcopy") switchToPostCopy(s, events);
  s.paused = forced.paused;
  s.pausedAtS = forced.pausedAtS;
  return true;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/**
 * What `virsh domdirtyrate-calc --seconds <periodS>` (page-sampling) reads on a guest of this model
 * while it is not migrating: the distinct pages written over the period per second. A guest that
 * rewrites a small set reads lower over a longer period (the lab: 34 MiB/s at 1 s, 25 at 2 s, 11
 * at 4 s on one guest), as QEMU counts each sampled page once. Whole MiB/s, rounded down, as QEMU's
 * `dirty-rate` (an int64 MB/s) and libvirt's `megabytes_per_second` print it.
 */
export function measuredDirtyRateMiBps(
  guest: Pick<PrecopyParams, "dirtyRateBytesPerS" | "workingSetBytes">,
  periodS: number,
): number {
  const written = Math.min(guest.dirtyRateBytesPerS * periodS, guest.workingSetBytes);
  return Math.floor(written / periodS / 1024 ** 2);
}
