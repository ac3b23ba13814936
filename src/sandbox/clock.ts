/**
 * The sandbox cloud's model clock: model seconds since the cloud started, the wall-clock time they
 * stand for, timers ("in 2 model seconds, do this"), and `advance`, which moves time forward in
 * steps of Nova's monitor poll, running each step's work (the migrations' pre-copy jobs) and every
 * timer that falls due on the way, in order. The model itself never reads the real clock; only the
 * timestamps it writes (API records, log lines) may, when the cloud runs on real time: a sandbox
 * whose model runs ten times faster still stamps what happens now with the time it is now, as a
 * real Nova would.
 */
import { novaTimestamp } from "./nova-records";
import { NOVA_MONITOR_POLL_S } from "./precopy-model";

/** Model seconds per step: Nova's libvirt monitor polls the migration job this often. */
export const MODEL_STEP_S = NOVA_MONITOR_POLL_S;
/** Bounds the timer loop of one `advance` call. */
const MAX_TIMERS_PER_ADVANCE = 100_000;
/** Two model times this close count as the same instant (float sums of steps). */
const EPSILON_S = 1e-9;

interface Timer {
  atS: number;
  seq: number;
  run: () => void;
}

export class ModelClock {
  private nowSValue = 0;
  private timers: Timer[] = [];
  private timerSeq = 0;
  private readonly startMs: number;

  /**
   * @param startTime wall-clock time at model time 0
   * @param onStep runs once per step with the step's length, after time has moved
   * @param wallClock the real clock, when model time is driven by it; without one a model second
   *   stands for a second after `startTime` (tests that move time by hand)
   */
  constructor(
    startTime: Date,
    private readonly onStep: (dtS: number) => void,
    private readonly wallClock: (() => Date) | null = null,
  ) {
    this.startMs = startTime.getTime();
  }

  /** Model seconds since the cloud started. */
  get nowS(): number {
    return this.nowSValue;
  }

  /** Wall-clock time of the model's now. */
  wallTime(): Date {
    return this.wallClock?.() ?? new Date(this.startMs + this.nowSValue * 1000);
  }

  /**
   * Wall-clock time of an earlier model instant `atS`: on real time, that far back from now in
   * real seconds (the model seconds scaled by how fast the model has run so far).
   */
  wallTimeAt(atS: number): Date {
    if (this.wallClock === null) return new Date(this.startMs + atS * 1000);
    const now = this.wallClock().getTime();
    const realPerModel = this.nowSValue > 0 ? (now - this.startMs) / (this.nowSValue * 1000) : 1;
    return new Date(now - (this.nowSValue - atS) * 1000 * realPerModel);
  }

  /** The model's now as Nova prints a record's timestamp. */
  isoNow(): string {
    return novaTimestamp(this.wallTime());
  }

  /** Runs `run` once model time reaches now + `delayS`. */
  at(delayS: number, run: () => void): void {
    this.timers.push({ atS: this.nowSValue + delayS, seq: this.timerSeq++, run });
  }

  /** Moves model time forward, running steps and due timers on the way. */
  advance(dtS: number): void {
    const target = this.nowSValue + Math.max(0, dtS);
    for (let n = 0; n < MAX_TIMERS_PER_ADVANCE; n++) {
      this.timers.sort((a, b) => a.atS - b.atS || a.seq - b.seq);
      const next = this.timers[0];
      if (next && next.atS <= this.nowSValue + EPSILON_S) {
        this.timers.shift();
        next.run();
        continue;
      }
      const until = next && next.atS <= target ? next.atS : target;
      // A step may schedule new timers (a completed migration's post phase): re-plan when it does.
      this.stepUntil(until);
      if (this.nowSValue >= target - EPSILON_S && !this.timers.some((t) => t.atS <= target)) return;
    }
  }

  private stepUntil(untilS: number): void {
    const timersBefore = this.timerSeq;
    let guard = Math.ceil((untilS - this.nowSValue) / MODEL_STEP_S) + 2;
    while (this.nowSValue < untilS - EPSILON_S && guard-- > 0) {
      const dt = Math.min(MODEL_STEP_S, untilS - this.nowSValue);
      this.nowSValue += dt;
      this.onStep(dt);
      if (this.timerSeq !== timersBefore) return;
    }
    if (guard > 0) this.nowSValue = Math.max(this.nowSValue, untilS);
  }
}
