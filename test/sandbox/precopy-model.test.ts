import { describe, expect, it } from "vitest";
import { downtimeSchedule } from "../../src/nova-facts";
import {
  cancel,
  forceComplete,
  initialState,
  type PrecopyEvent,
  type PrecopyParams,
  type PrecopyState,
  step,
} from "../../src/sandbox/precopy-model";
import { readFixture } from "../support/fixtures";

const MiB = 1024 * 1024;

interface QmpSample {
  _t: number;
  status: string;
  "cpu-throttle-percentage"?: number;
  ram: { remaining: number; transferred: number; total: number; "dirty-sync-count": number };
}

function qmpRun(name: string): QmpSample[] {
  return readFixture(`libvirt-lab/${name}`)
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as QmpSample);
}

/** The lab guest (LAB.md): 128 MiB, a 32 MiB working set rewritten at ~27 MiB/s, limit 300 ms, loopback link. */
function labGuest(overrides: Partial<PrecopyParams> = {}): PrecopyParams {
  const total = qmpRun("qmp-query-migrate-noac_bw5.jsonl")[0]!.ram.total;
  return {
    memoryBytes: total,
    // Most of a fresh 128 MiB guest is zero pages: the lab's first pass put only ~35 MiB on the wire.
    zeroPageFraction: 0.73,
    dirtyRateBytesPerS: 27 * MiB,
    workingSetBytes: 32 * MiB,
    bandwidthBytesPerS: 5 * MiB,
    linkBytesPerS: 1600 * MiB,
    autoConverge: false,
    postCopy: false,
    downtimeSchedule: [],
    progressTimeoutS: 0,
    completionTimeoutS: 0,
    timeoutAction: "abort",
    ...overrides,
  };
}

interface Trace {
  samples: { t: number; remaining: number; iteration: number; throttle: number; transferred: number }[];
  events: PrecopyEvent[];
  final: PrecopyState;
}

/** Runs the model, sampling once a second as the lab's QMP recorder did. */
function run(params: PrecopyParams, maxS: number): Trace {
  let state = initialState(params);
  const samples: Trace["samples"] = [];
  const events: PrecopyEvent[] = [];
  for (let i = 0; i < maxS; i++) {
    const r = step(state, 1);
    state = r.state;
    events.push(...r.events);
    samples.push({
      t: state.elapsedS,
      remaining: state.remainingBytes,
      iteration: state.iteration,
      throttle: state.throttlePercent,
      transferred: state.transferredBytes,
    });
    if (state.phase === "completed" || state.phase === "cancelled") break;
  }
  return { samples, events, final: state };
}

/** Lowest remaining seen in each iteration (sync count), in order. */
function minimaPerIteration(points: { iteration: number; remaining: number }[]): number[] {
  const minima = new Map<number, number>();
  for (const p of points) minima.set(p.iteration, Math.min(minima.get(p.iteration) ?? Infinity, p.remaining));
  return [...minima.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

describe("pre-copy model against the lab's real QEMU runs", () => {
  it("never converges without auto-converge at 5 MiB/s: a sawtooth whose minima do not fall", () => {
    const lab = qmpRun("qmp-query-migrate-noac_bw5.jsonl");
    const labLast = lab[lab.length - 1]!;
    const model = run(labGuest(), Math.ceil(labLast._t));

    expect(model.final.phase).toBe("active");
    // Same number of dirty syncs and bytes on the wire as QEMU in the same time, within a few.
    expect(Math.abs(model.final.iteration - labLast.ram["dirty-sync-count"])).toBeLessThanOrEqual(3);
    expect(model.final.transferredBytes / labLast.ram.transferred).toBeGreaterThan(0.9);
    expect(model.final.transferredBytes / labLast.ram.transferred).toBeLessThan(1.1);

    // Sawtooth: remaining jumps back up at each sync, in the model as in the lab.
    const rises = (xs: number[]) => xs.filter((x, i) => i > 0 && x > xs[i - 1]! + 5 * MiB).length;
    const labRemaining = lab.map((s) => s.ram.remaining);
    const modelRemaining = model.samples.map((s) => s.remaining);
    expect(rises(labRemaining)).toBeGreaterThanOrEqual(10);
    expect(rises(modelRemaining)).toBeGreaterThanOrEqual(10);

    // Non-convergence as LAB.md defines it: iterations rise, the per-iteration minimum does not fall.
    for (const minima of [
      minimaPerIteration(
        lab.map((s) => ({ iteration: s.ram["dirty-sync-count"], remaining: s.ram.remaining })),
      ),
      minimaPerIteration(model.samples),
    ]) {
      const settled = minima.slice(1);
      const half = Math.floor(settled.length / 2);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(settled.slice(half))).toBeGreaterThanOrEqual(mean(settled.slice(0, half)) * 0.8);
    }
  });

  it("completes with QEMU's default auto-converge (20 then +10) after a throttle ramp, as the lab did in ~108 s", () => {
    const model = run(labGuest({ autoConverge: true }), 300);
    expect(model.final.phase).toBe("completed");
    expect(model.final.elapsedS).toBeGreaterThan(108 * 0.85);
    expect(model.final.elapsedS).toBeLessThan(108 * 1.15);
    const ramp = model.events.flatMap((e) => (e.kind === "throttle" ? [e.percent] : []));
    expect(ramp).toEqual([20, 30, 40, 50, 60, 70, 80, 90, 99]);
    // One step per two syncs, as QEMU does.
    const firstThrottleAt = model.samples.find((s) => s.throttle > 0)!;
    expect(firstThrottleAt.iteration).toBeGreaterThanOrEqual(3);
  });

  it("replays the lab's auto-converge 50/20 run: same throttle values, completion near 51 s", () => {
    const lab = qmpRun("qmp-query-migrate-ac_bw5_50_20.jsonl");
    const labRamp = [
      ...new Set(lab.flatMap((s) => (s["cpu-throttle-percentage"] ? [s["cpu-throttle-percentage"]] : []))),
    ];
    const labDone = lab.find((s) => s.status === "completed")!;
    const model = run(
      labGuest({ autoConverge: true, autoConvergeInitialPercent: 50, autoConvergeIncrementPercent: 20 }),
      200,
    );
    const ramp = model.events.flatMap((e) => (e.kind === "throttle" ? [e.percent] : []));
    expect(ramp.slice(0, labRamp.length)).toEqual(labRamp);
    expect(model.final.phase).toBe("completed");
    expect(Math.abs(model.final.elapsedS - labDone._t)).toBeLessThan(labDone._t * 0.15);
  });

  it("finishes the 50 MiB/s run in about a second with a tiny downtime, like the lab", () => {
    const lab = qmpRun("qmp-query-migrate-noac_bw50.jsonl")[0] as QmpSample & {
      downtime: number;
      "total-time": number;
    };
    const model = run(labGuest({ bandwidthBytesPerS: 50 * MiB }), 10);
    expect(model.final.phase).toBe("completed");
    expect(model.final.elapsedS * 1000).toBeLessThan(lab["total-time"] * 2);
    expect(model.final.downtimeMs!).toBeLessThan(50);
    expect(lab.downtime).toBeLessThan(50);
  });
});

describe("the model's clock", () => {
  it("keeps running when remaining settles exactly on the threshold (the migration ends, it does not freeze)", () => {
    // A 4 GiB guest rewriting an 80 MiB hot set at 80 MiB/s over 100 MiB/s with 50 ms allowed:
    // each pass ends exactly at the threshold and finds a smaller dirty set at the next sync, so
    // remaining closes in on the threshold. Before the fix the model's clock stopped at ~44 s and
    // neither the completion nor the 150 s progress timeout ever fired.
    const params = labGuest({
      memoryBytes: 4 * 1024 * MiB,
      zeroPageFraction: 0,
      dirtyRateBytesPerS: 80 * MiB,
      workingSetBytes: 80 * MiB,
      bandwidthBytesPerS: 100 * MiB,
      linkBytesPerS: 100 * MiB,
      downtimeSchedule: [{ atS: 0, downtimeMs: 50 }],
      progressTimeoutS: 150,
      completionTimeoutS: 3200,
    });
    let state = initialState(params);
    let stepped = 0;
    for (let i = 0; i < 600 && state.phase === "active"; i++) {
      state = step(state, 2).state;
      stepped += 2;
      if (state.phase === "active") expect(state.elapsedS).toBeCloseTo(stepped, 6);
    }
    expect(state.phase).not.toBe("active");
    expect(state.elapsedS).toBeLessThan(200);
  });
});

describe("Nova's monitor in the model", () => {
  it("computes LAB.md's Mitaka downtime schedule example (3 GiB, 400 ms, 30 s delay)", () => {
    const stages = downtimeSchedule(13, { downtimeMs: 400, steps: 10, delayS: 30, dataGiB: 3 });
    expect(stages[0]).toEqual({ atS: 0, downtimeMs: 37 });
    expect(stages[1]).toEqual({ atS: 90, downtimeMs: 38 });
    expect(stages[8]).toEqual({ atS: 720, downtimeMs: 148 });
    expect(stages[9]).toEqual({ atS: 810, downtimeMs: 238 });
    expect(stages[10]).toEqual({ atS: 900, downtimeMs: 400 });
  });

  it("Newton 14.x is still exponential, computed as Nova's Python does (defaults, 2 GiB)", () => {
    const stages = downtimeSchedule(14, { downtimeMs: 500, steps: 10, delayS: 75, dataGiB: 2 });
    expect(stages.map((s) => s.downtimeMs).slice(0, 4)).toEqual([46, 47, 48, 51]);
    expect(stages.at(-1)).toEqual({ atS: 1500, downtimeMs: 500 });
    // Nova's minimums: Newton rounds a 50 ms downtime up to 100 ms.
    expect(
      downtimeSchedule(14, { downtimeMs: 50, steps: 10, delayS: 75, dataGiB: 2 }).at(-1)!.downtimeMs,
    ).toBe(100);
  });

  it("uses the linear schedule from Ocata on (Zed defaults: 50 ms rising by 45 to 500)", () => {
    const stages = downtimeSchedule(26, { downtimeMs: 500, steps: 10, delayS: 75, dataGiB: 2 });
    expect(stages.map((s) => s.downtimeMs)).toEqual([50, 95, 140, 185, 230, 275, 320, 365, 410, 455, 500]);
    expect(stages.map((s) => s.atS).slice(0, 3)).toEqual([0, 150, 300]);
  });

  it("logs each downtime stage once the monitor passes it", () => {
    const schedule = downtimeSchedule(13, { downtimeMs: 500, steps: 10, delayS: 75, dataGiB: 2 });
    const model = run(labGuest({ downtimeSchedule: schedule }), 400);
    const raised = model.events.flatMap((e) => (e.kind === "downtime-increased" ? [e] : []));
    expect(raised[0]).toEqual({ kind: "downtime-increased", downtimeMs: schedule[0]!.downtimeMs, afterS: 0 });
    expect(raised[1]!.afterS).toBe(150);
    expect(raised.length).toBe(3);
  });

  it("aborts a stuck migration after Mitaka's 150 s progress timeout, guest still on the source", () => {
    const model = run(labGuest({ progressTimeoutS: 150 }), 600);
    expect(model.final.phase).toBe("cancelled");
    expect(model.final.outcome).toBe("progress-timeout");
    const stuck = model.events.find((e) => e.kind === "stuck");
    expect(stuck).toMatchObject({ kind: "stuck" });
    expect((stuck as { forS: number }).forS).toBeGreaterThanOrEqual(150);
  });

  it("gives up at the completion timeout, or pauses the guest to finish when the action is force_complete", () => {
    const aborted = run(labGuest({ completionTimeoutS: 60 }), 300);
    expect(aborted.final.outcome).toBe("completion-timeout");
    expect(aborted.events).toContainEqual({ kind: "not-completed", afterS: 60, action: "abort" });

    const forced = run(labGuest({ completionTimeoutS: 60, timeoutAction: "force_complete" }), 300);
    expect(forced.final.phase).toBe("completed");
    expect(forced.final.elapsedS).toBeLessThan(75);
    // Paused for the rest of the pass: a long downtime, the price of forcing.
    expect(forced.final.downtimeMs!).toBeGreaterThan(1000);
  });

  it("force-complete and abort act on a running job", () => {
    let s = initialState(labGuest());
    s = step(s, 30).state;
    const done = run({ ...s.params }, 1); // sanity: params unchanged by stepping
    expect(done.final.params).toEqual(s.params);
    let paused = forceComplete(s);
    for (let i = 0; i < 60 && paused.phase === "active"; i++) paused = step(paused, 1).state;
    expect(paused.phase).toBe("completed");

    const cancelled = cancel(s);
    expect(cancelled.state.phase).toBe("cancelled");
    expect(cancelled.events).toEqual([{ kind: "cancelled", reason: "cancelled" }]);
  });

  it("Newton–Rocky switch to post-copy on their own once a poll after the first pass shows < 10 % progress", () => {
    for (const release of ["newton", "rocky"]) {
      const model = run(labGuest({ postCopy: true, release }), 120);
      const switched = model.events.find((e) => e.kind === "switch-postcopy");
      expect(switched, release).toBeDefined();
      expect(model.final.phase).toBe("completed");
      // The switch comes at the first poll of iteration 2: remaining jumped back up at the sync.
      expect(model.final.iteration).toBe(2);
    }
  });

  it("Mitaka has no post-copy, and from Stein Nova never switches on its own", () => {
    for (const release of ["mitaka", "stein", "zed"]) {
      const model = run(labGuest({ postCopy: true, release }), 60);
      expect(
        model.events.some((e) => e.kind === "switch-postcopy"),
        release,
      ).toBe(false);
      expect(model.final.phase).toBe("active");
    }
    // Without a release the model follows the Stein-and-later rule.
    expect(run(labGuest({ postCopy: true }), 60).events.some((e) => e.kind === "switch-postcopy")).toBe(
      false,
    );
  });

  it("force-complete switches to post-copy from Newton when post-copy is allowed, and pauses on Mitaka", () => {
    const at30 = (release: string, postCopy: boolean) =>
      step(initialState(labGuest({ postCopy, release })), 30).state;
    expect(forceComplete(at30("zed", true))).toMatchObject({ phase: "postcopy", paused: false });
    expect(forceComplete(at30("zed", false))).toMatchObject({ phase: "active", paused: true });
    expect(forceComplete(at30("mitaka", true))).toMatchObject({ phase: "active", paused: true });
  });

  it("Stein+: live_migration_timeout_action = force_complete switches to post-copy when allowed", () => {
    const model = run(
      labGuest({ postCopy: true, release: "zed", completionTimeoutS: 60, timeoutAction: "force_complete" }),
      300,
    );
    expect(model.events).toContainEqual({ kind: "not-completed", afterS: 60, action: "force_complete" });
    expect(model.events.find((e) => e.kind === "switch-postcopy")).toMatchObject({ kind: "switch-postcopy" });
    expect(model.final.phase).toBe("completed");
    // Post-copy: the guest ran on the destination, so no long pause.
    expect(model.final.downtimeMs!).toBeLessThan(100);
  });
});
