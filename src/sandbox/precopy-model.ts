/**
 * The pre-copy live-migration model the sandbox's migrations follow: QEMU's RAM migration loop
 * (passes over the dirty bitmap, bitmap syncs, auto-converge throttling, stop-and-copy once what
 * remains fits the allowed downtime) driven by Nova's libvirt monitor (downtime schedule, progress
 * and completion timeouts, polled every 0.5 s).
 *
 * Pure: no timers, no I/O. The cloud's clock calls {@link step} with the time that passed; the
 * returned events are what Nova and QEMU would log. Outcomes depend only on sizes, rates and
 * config, never on a VM's name. Behaviour is checked against the real QEMU runs in LAB.md.
 */

/** QEMU's target page size on x86. */
export const PAGE_SIZE_BYTES = 4096;
/** QEMU's `downtime-limit` before anyone sets one (Nova's first stage replaces it at its first poll). */
export const QEMU_DEFAULT_DOWNTIME_LIMIT_MS = 300;
/** QEMU `cpu-throttle-initial`, `cpu-throttle-increment`, `max-cpu-throttle` defaults. */
export const AUTO_CONVERGE_INITIAL_PERCENT = 20;
export const AUTO_CONVERGE_INCREMENT_PERCENT = 10;
export const AUTO_CONVERGE_MAX_PERCENT = 99;
/** QEMU `throttle-trigger-threshold`: a period counts as "dirtying too fast" above this share of the bytes sent. */
export const AUTO_CONVERGE_TRIGGER_SHARE = 0.5;
/** QEMU raises the throttle after this many such periods in a row. */
export const AUTO_CONVERGE_PERIODS_PER_STEP = 2;
/** QEMU only evaluates dirty-rate statistics over periods at least this long. */
export const QEMU_SYNC_PERIOD_MIN_S = 1;
/** Nova's libvirt monitor polls the job every half second. */
export const NOVA_MONITOR_POLL_S = 0.5;
/** Nova logs "Migration running for ..." at INFO every 60th poll. */
export const NOVA_INFO_EVERY_POLLS = 60;
/** Device state and the last round trip add a little to the pure RAM stop-and-copy time. */
export const STOP_AND_COPY_OVERHEAD_MS = 6;
/** Bounds the inner loop of one step (passes that end inside one poll interval). */
const MAX_SYNCS_PER_POLL = 10_000;

/** One stage of Nova's downtime schedule: from `atS` seconds of elapsed time, allow `downtimeMs`. */
export interface DowntimeStage {
  atS: number;
  downtimeMs: number;
}

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
  /** Post-copy permitted: the monitor switches after the first full pass. */
  postCopy: boolean;
  /** Nova's downtime stages; empty = QEMU's default limit throughout. */
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
  periodDirtiedBytes: number;
  periodSentBytes: number;
  /** Last measured dirty rate (virsh `Dirty rate`), pages/s. */
  dirtyRatePagesPerS: number;
  expectedDowntimeMs: number;
  allowedDowntimeMs: number;
  /** Index of the last downtime stage applied; -1 before Nova's first poll. */
  stageIndex: number;
  polls: number;
  watermarkBytes: number | null;
  watermarkAtS: number;
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

/** Pauses the guest, as Nova's force-complete does: it stops dirtying and stop-and-copy follows. */
export function forceComplete(state: PrecopyState): PrecopyState {
  if (isFinished(state) || state.paused) return state;
  return { ...state, paused: true, pausedAtS: state.elapsedS };
}

/** Cancels the job (libvirt abortJob): the guest keeps running on the source. */
export function cancel(state: PrecopyState): { state: PrecopyState; events: PrecopyEvent[] } {
  if (isFinished(state) || state.phase === "postcopy") return { state, events: [] };
  return {
    state: { ...state, phase: "cancelled", outcome: "cancelled" },
    events: [{ kind: "cancelled", reason: "cancelled" }],
  };
}

/** Advances the migration by `dtS` seconds of model time. */
export function step(input: PrecopyState, dtS: number): { state: PrecopyState; events: PrecopyEvent[] } {
  const s: PrecopyState = { ...input };
  const events: PrecopyEvent[] = [];
  let left = Math.max(0, dtS);
  // Split at Nova's poll boundaries so its checks see the job exactly when the real monitor would.
  let guard = Math.ceil(left / NOVA_MONITOR_POLL_S) + 2;
  while (left > 1e-12 && !isFinished(s) && guard-- > 0) {
    const nextPollAt = (s.polls + 1) * NOVA_MONITOR_POLL_S;
    const chunk = Math.min(left, Math.max(0, nextPollAt - s.elapsedS));
    advance(s, chunk, events);
    left -= chunk;
    if (!isFinished(s) && s.elapsedS >= nextPollAt - 1e-9) novaPoll(s, events);
  }
  return { state: s, events };
}

function advance(s: PrecopyState, dtS: number, events: PrecopyEvent[]): void {
  const p = s.params;
  const bw = Math.max(1, p.bandwidthBytesPerS);
  let t = 0;
  let syncs = 0;
  while (t < dtS - 1e-12 && !isFinished(s)) {
    const h = dtS - t;
    if (s.phase === "postcopy") {
      // The guest runs on the destination and pulls what is missing; nothing is dirtied on the source.
      const send = Math.min(s.remainingBytes, bw * h);
      sendBytes(s, send);
      const used = send / bw;
      s.elapsedS += used;
      t += used;
      s.postcopyRequests += Math.ceil(send / PAGE_SIZE_BYTES / 64);
      if (s.remainingBytes <= 0) {
        complete(s, STOP_AND_COPY_OVERHEAD_MS, events);
        return;
      }
      continue;
    }
    const thresholdBytes = (bw * s.allowedDowntimeMs) / 1000;
    const passRate = bw / Math.max(0.001, s.remainingNormalShare);
    const toThreshold = Math.max(0, (s.remainingBytes - thresholdBytes) / passRate);
    const tau = Math.min(h, toThreshold);
    if (tau > 0) {
      const passed = passRate * tau;
      const normal = Math.min(s.remainingBytes, passed) * s.remainingNormalShare;
      s.zeroPages += Math.round((Math.min(s.remainingBytes, passed) - normal) / PAGE_SIZE_BYTES);
      s.remainingBytes = Math.max(0, s.remainingBytes - passed);
      sendBytes(s, normal, false);
      dirty(s, tau);
      s.elapsedS += tau;
      t += tau;
    }
    if (tau >= h - 1e-12 && toThreshold > h - 1e-12) return;
    // The pass got below the threshold: sync the bitmap, then either stop-and-copy or go on.
    if (++syncs > MAX_SYNCS_PER_POLL) return;
    sync(s, events);
    if (s.remainingBytes <= thresholdBytes) {
      const pending = s.remainingBytes;
      sendBytes(s, pending);
      const link = Math.max(bw, p.linkBytesPerS ?? bw);
      const pausedFor = s.paused && s.pausedAtS !== null ? (s.elapsedS - s.pausedAtS) * 1000 : 0;
      complete(s, pausedFor + (pending / link) * 1000 + STOP_AND_COPY_OVERHEAD_MS, events);
      return;
    }
    if (p.postCopy && s.iteration >= 2 && !s.paused) {
      s.phase = "postcopy";
      events.push({ kind: "switch-postcopy", afterS: s.elapsedS });
    }
  }
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
  const dirtied = Math.min(room, rate * dtS);
  s.dirtiedBytes += dirtied;
  s.periodDirtiedBytes += dirtied;
}

function sync(s: PrecopyState, events: PrecopyEvent[]): void {
  const p = s.params;
  const bw = Math.max(1, p.bandwidthBytesPerS);
  const normalLeft = s.remainingBytes * s.remainingNormalShare;
  // The bitmap is a set: a page dirtied again while still waiting in this pass counts once. After
  // the first pass both sets live in the working set; during it the leftover is spread over all RAM.
  const pool = s.iteration === 1 ? p.memoryBytes : Math.max(p.workingSetBytes, 1);
  const overlap = Math.min(s.remainingBytes, s.dirtiedBytes, (s.remainingBytes * s.dirtiedBytes) / pool);
  const pending = s.remainingBytes + s.dirtiedBytes - overlap;
  s.remainingNormalShare = pending > 0 ? Math.min(1, (normalLeft + s.dirtiedBytes - overlap) / pending) : 1;
  s.remainingBytes = pending;
  s.dirtiedBytes = 0;
  s.iteration += 1;
  s.expectedDowntimeMs = Math.round((pending / bw) * 1000);
  const periodS = s.elapsedS - s.periodStartS;
  if (periodS >= QEMU_SYNC_PERIOD_MIN_S) {
    s.dirtyRatePagesPerS = Math.round(s.periodDirtiedBytes / PAGE_SIZE_BYTES / periodS);
    if (p.autoConverge && s.periodDirtiedBytes > AUTO_CONVERGE_TRIGGER_SHARE * s.periodSentBytes) {
      s.highDirtyPeriods += 1;
      if (s.highDirtyPeriods >= AUTO_CONVERGE_PERIODS_PER_STEP) {
        s.highDirtyPeriods = 0;
        const initial = p.autoConvergeInitialPercent ?? AUTO_CONVERGE_INITIAL_PERCENT;
        const increment = p.autoConvergeIncrementPercent ?? AUTO_CONVERGE_INCREMENT_PERCENT;
        const next =
          s.throttlePercent === 0
            ? initial
            : Math.min(AUTO_CONVERGE_MAX_PERCENT, s.throttlePercent + increment);
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

/** Nova's `_live_migration_monitor` body, once per poll. */
function novaPoll(s: PrecopyState, events: PrecopyEvent[]): void {
  const p = s.params;
  s.polls += 1;
  const elapsed = s.elapsedS;
  const next = p.downtimeSchedule[s.stageIndex + 1];
  // Nova pops one stage per poll once elapsed passes its start, and logs the real elapsed seconds.
  if (next !== undefined && elapsed > next.atS) {
    s.stageIndex += 1;
    s.allowedDowntimeMs = next.downtimeMs;
    events.push({ kind: "downtime-increased", downtimeMs: next.downtimeMs, afterS: Math.floor(elapsed) });
  }
  const remaining = s.remainingBytes;
  if (s.watermarkBytes === null || remaining < s.watermarkBytes) {
    s.watermarkBytes = remaining;
    s.watermarkAtS = elapsed;
  }
  if (s.polls % NOVA_INFO_EVERY_POLLS === 0) {
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
  if (s.phase !== "active") return;
  if (p.progressTimeoutS > 0 && elapsed - s.watermarkAtS > p.progressTimeoutS) {
    events.push({ kind: "stuck", forS: Math.floor(elapsed - s.watermarkAtS) });
    s.phase = "cancelled";
    s.outcome = "progress-timeout";
    events.push({ kind: "cancelled", reason: "progress-timeout" });
    return;
  }
  if (p.completionTimeoutS > 0 && elapsed > p.completionTimeoutS && !s.completionTimeoutHandled) {
    s.completionTimeoutHandled = true;
    events.push({ kind: "not-completed", afterS: p.completionTimeoutS, action: p.timeoutAction });
    if (p.timeoutAction === "abort") {
      s.phase = "cancelled";
      s.outcome = "completion-timeout";
      events.push({ kind: "cancelled", reason: "completion-timeout" });
    } else if (p.postCopy) {
      s.phase = "postcopy";
      events.push({ kind: "switch-postcopy", afterS: elapsed });
    } else {
      s.paused = true;
      s.pausedAtS = elapsed;
    }
  }
}

/** Nova's data size for its per-GiB timeouts: RAM in GiB, at least 2 (`_live_migration_data_gb`). */
export function novaDataGiB(memoryBytes: number): number {
  return Math.max(2, memoryBytes / 1024 ** 3);
}

export interface DowntimeConfig {
  downtimeMs: number;
  steps: number;
  delayS: number;
}

/**
 * Nova's downtime schedule. Mitaka (13.x) grows it exponentially (`offset + base^i`, LAB.md);
 * Newton and later use the linear form of `nova/virt/libvirt/migration.py:downtime_steps`.
 */
export function novaDowntimeSchedule(
  cfg: DowntimeConfig,
  dataGiB: number,
  releaseMajor: number,
): DowntimeStage[] {
  const steps = Math.max(1, Math.floor(cfg.steps));
  const delay = Math.trunc(cfg.delayS * dataGiB);
  const out: DowntimeStage[] = [];
  if (releaseMajor <= 13) {
    const offset = cfg.downtimeMs / (steps + 1);
    const base = (cfg.downtimeMs - offset) ** (1 / steps);
    for (let i = 0; i <= steps; i++) out.push({ atS: delay * i, downtimeMs: Math.trunc(offset + base ** i) });
  } else {
    const base = cfg.downtimeMs / steps;
    const offset = (cfg.downtimeMs - base) / steps;
    for (let i = 0; i <= steps; i++) out.push({ atS: delay * i, downtimeMs: Math.trunc(base + offset * i) });
  }
  return out;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
