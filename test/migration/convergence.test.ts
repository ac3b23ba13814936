import { describe, expect, it } from "vitest";
import {
  AUTO_CONVERGE_MAX_THROTTLE_PERCENT,
  analyzeConvergence,
  ConvergenceInputError,
} from "../../src/migration/convergence";
import { parseDomjobinfoSeries } from "../../src/migration/samples/domjobinfo";
import { parseQmpQueryMigrate } from "../../src/migration/samples/qmp";
import type { MigrationSample } from "../../src/migration/samples/sample";
import { downtimeSchedule } from "../../src/nova-facts";
import { readFixture } from "../support/fixtures";

const MiB = 1024 ** 2;

const virshNoAc = () =>
  parseDomjobinfoSeries(readFixture("libvirt-lab/domjobinfo-series-no-autoconverge.txt"));
const virshAc = () =>
  parseDomjobinfoSeries(readFixture("libvirt-lab/domjobinfo-series-autoconverge-50-20.txt"));
const qmpNoAc = () => parseQmpQueryMigrate(readFixture("libvirt-lab/qmp-query-migrate-noac_bw5.jsonl"));
const qmpAc = () => parseQmpQueryMigrate(readFixture("libvirt-lab/qmp-query-migrate-ac_bw5_50_20.jsonl"));

/** The samples up to and including the first one of `iteration`. */
function upToFirstOf(samples: MigrationSample[], iteration: number): MigrationSample[] {
  const i = samples.findIndex((s) => s.iteration === iteration);
  expect(i).toBeGreaterThan(0);
  return samples.slice(0, i + 1);
}

/** Every verdict a tracker would have shown, sample by sample. */
function verdictsAlong(samples: MigrationSample[]): string[] {
  return samples.map((_, n) => analyzeConvergence(samples.slice(0, n + 1)).verdict);
}

describe("without auto-converge (guest dirties ~5 MiB/s over a 5 MiB/s link)", () => {
  for (const [name, load] of [
    ["virsh domjobinfo series", virshNoAc],
    ["QMP query-migrate series", qmpNoAc],
  ] as const) {
    it(`${name}: not converging by the first sample of iteration 3, never before iteration 3`, () => {
      const samples = load();
      const onlyIteration1 = samples.filter((s) => s.iteration === 1);
      expect(analyzeConvergence(onlyIteration1).verdict).not.toBe("not-converging");
      expect(analyzeConvergence(onlyIteration1).verdict).toBe("converging");
      const beforeIteration3 = samples.slice(
        0,
        samples.findIndex((s) => s.iteration === 3),
      );
      expect(verdictsAlong(beforeIteration3)).not.toContain("not-converging");

      const report = analyzeConvergence(upToFirstOf(samples, 3));
      expect(report.verdict).toBe("not-converging");
      expect(report.iterations).toBe(3);
      expect(report.etaSeconds).toBeNull();
      // Its numbers: about 5 MiB/s each way, a dirty set of ~30 MiB that would need seconds of downtime.
      expect(report.transferRateBytesPerS! / MiB).toBeCloseTo(5, 0);
      expect(report.dirtyRateBytesPerS! / MiB).toBeCloseTo(4.9, 0);
      expect(Math.min(...report.remainingAtSyncPerIteration) / MiB).toBeGreaterThan(20);
      expect(report.reason).toMatch(/^Not converging: after 3 iterations .* MiB .* 300 ms\.$/);
    });
  }

  it("the QMP series stays not converging to its end (20 iterations), also against a 500 ms final downtime", () => {
    const samples = qmpNoAc();
    const along = verdictsAlong(samples);
    const firstOf3 = samples.findIndex((s) => s.iteration === 3);
    expect(new Set(along.slice(firstOf3))).toEqual(new Set(["not-converging"]));
    const report = analyzeConvergence(samples, { downtimeLimitMs: 50, finalDowntimeMs: 500 });
    expect(report).toMatchObject({
      verdict: "not-converging",
      iterations: 20,
      finalDowntimeMs: 500,
      downtimeLimitMs: 50,
    });
    expect(report.reason).toContain("at most 500 ms");
  });

  it("a final downtime large enough for the dirty set turns the verdict into a late convergence", () => {
    // ~32 MiB at ~5 MiB/s needs ~6.4 s: a (silly) 10 s final downtime could absorb it.
    const report = analyzeConvergence(upToFirstOf(qmpNoAc(), 5), {
      downtimeLimitMs: 300,
      finalDowntimeMs: 10_000,
    });
    expect(report.verdict).toBe("converging");
    expect(report.reason).toMatch(
      /^Converging late: .* more than the 300 ms allowed now but within the final 10000 ms/,
    );
  });

  it("the whole virsh capture ends failed (cancelled by client) and keeps what pre-copy looked like", () => {
    const report = analyzeConvergence(virshNoAc());
    expect(report).toMatchObject({ verdict: "failed", iterations: 7, precopyVerdict: "not-converging" });
    expect(report.reason).toMatch(
      /^Cancelled after 42\.0 s in iteration 7: operation aborted: job 'migration out' canceled by client; before that it was not converging: /,
    );
    expect(report.minRemainingPerIteration).toHaveLength(7);
    expect(report.sampledIterations).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // The sawtooth's low points move around (2.5 MiB in iteration 4) without meaning convergence.
    expect(report.minRemainingPerIteration[3]).toBe(Math.round(2.5 * MiB));
  });
});

describe("with auto-converge 50/20", () => {
  for (const [name, load, iterations, downtimeMs] of [
    ["virsh domjobinfo series", virshAc, 14, 25],
    ["QMP query-migrate series", qmpAc, 12, 1],
  ] as const) {
    it(`${name}: converging, then throttling with its percentage, never not-converging, then completed`, () => {
      const samples = load();
      const along = verdictsAlong(samples);
      expect(along).not.toContain("not-converging");
      expect(along[0]).toBe("converging");
      expect(along.at(-1)).toBe("completed");
      const firstThrottled = samples.findIndex((s) => (s.throttlePercent ?? 0) > 0);
      expect(new Set(along.slice(firstThrottled, -1))).toEqual(new Set(["throttling"]));
      const midway = analyzeConvergence(samples.slice(0, firstThrottled + 1));
      expect(midway.throttlePercent).toBe(50);
      expect(midway.reason).toMatch(/^Throttling: auto-converge holds the guest's vCPUs at 50%/);

      const end = analyzeConvergence(samples);
      expect(end).toMatchObject({
        verdict: "completed",
        iterations,
        downtimeMs,
        etaSeconds: 0,
        precopyVerdict: "throttling",
      });
      expect(end.reason).toMatch(
        new RegExp(`^Completed after 51\\.\\d s and ${iterations} iterations with ${downtimeMs} ms downtime`),
      );
    });
  }

  it("once throttled enough, the dirty set falls and the report gives an ETA", () => {
    const samples = qmpAc();
    const report = analyzeConvergence(upToFirstOf(samples, 8));
    expect(report.verdict).toBe("throttling");
    expect(report.reason).toContain("is falling");
    // The real migration completed 7 s after this sample; the projection says the same order.
    expect(report.etaSeconds).toBeGreaterThan(3);
    expect(report.etaSeconds).toBeLessThan(60);
  });
});

describe("completed captures", () => {
  it("noac_bw50: one completed reply", () => {
    const report = analyzeConvergence(
      parseQmpQueryMigrate(readFixture("libvirt-lab/qmp-query-migrate-noac_bw50.jsonl")),
    );
    expect(report).toMatchObject({
      verdict: "completed",
      iterations: 5,
      downtimeMs: 8,
      precopyVerdict: null,
    });
  });

  it("the real run-3 domjobinfo capture (2 GiB memtest guest, unlimited bandwidth)", () => {
    const report = analyzeConvergence(
      parseDomjobinfoSeries(
        readFixture("libvirt/virsh-outputs/virsh-domjobinfo-live-migration-run3-completed.txt"),
      ),
    );
    expect(report).toMatchObject({ verdict: "completed", iterations: 6, downtimeMs: 213 });
    expect(report.reason).toContain("4.00 GiB");
  });
});

describe("synthetic edge cases", () => {
  const base = {
    source: "qmp" as const,
    jobType: "unbounded" as const,
    bandwidthBytesPerS: 5 * MiB,
    pageSizeBytes: 4096,
  };

  it("stalled: no bytes moving across samples for several seconds", () => {
    const samples: MigrationSample[] = [
      { ...base, t: 1, iteration: 2, memoryRemainingBytes: 20 * MiB, memoryProcessedBytes: 100 * MiB },
      { ...base, t: 2, iteration: 2, memoryRemainingBytes: 15 * MiB, memoryProcessedBytes: 105 * MiB },
      { ...base, t: 5, iteration: 2, memoryRemainingBytes: 15 * MiB, memoryProcessedBytes: 105 * MiB },
      { ...base, t: 8, iteration: 2, memoryRemainingBytes: 15 * MiB, memoryProcessedBytes: 105 * MiB },
    ];
    const report = analyzeConvergence(samples);
    expect(report.verdict).toBe("stalled");
    expect(report.reason).toBe(
      "Stalled: no bytes moved in the last 6.0 s (3 samples), with 15.00 MiB still to send in iteration 2.",
    );
    // Two equal samples a second apart are not yet a stall.
    expect(analyzeConvergence(samples.slice(0, 3)).verdict).not.toBe("stalled");
  });

  it("converging: the dirty set shrinks each iteration, with an ETA", () => {
    const samples: MigrationSample[] = [];
    let t = 0;
    for (const [iteration, atSync] of [
      [2, 40],
      [3, 20],
      [4, 10],
    ] as const) {
      samples.push({
        ...base,
        t: t++,
        iteration,
        memoryRemainingBytes: atSync * MiB,
        dirtyRatePagesPerS: 640,
      });
      samples.push({
        ...base,
        t: t++,
        iteration,
        memoryRemainingBytes: (atSync / 2) * MiB,
        dirtyRatePagesPerS: 640,
      });
    }
    const report = analyzeConvergence(samples);
    expect(report.verdict).toBe("converging");
    expect(report.etaSeconds).toBeGreaterThan(0);
    expect(report.reason).toMatch(
      /^Converging: the remaining memory at each dirty sync is falling .* about .* to go/,
    );
  });

  it("auto-converge at its maximum and still not converging is not converging", () => {
    const samples = qmpNoAc().map((s) => ({ ...s, throttlePercent: AUTO_CONVERGE_MAX_THROTTLE_PERCENT }));
    const report = analyzeConvergence(upToFirstOf(samples, 4));
    expect(report.verdict).toBe("not-converging");
    expect(report.reason).toContain("even with auto-converge throttling the guest to 99%");
  });

  it("Nova samples without an iteration counter: iterations are read off the sawtooth", () => {
    const nova = qmpNoAc()
      .filter((_, i) => i % 2 === 0)
      .map(({ t, memoryRemainingBytes, memoryProcessedBytes, memoryTotalBytes }) => ({
        t,
        source: "nova-log" as const,
        jobType: "unbounded" as const,
        memoryRemainingBytes: memoryRemainingBytes!,
        memoryProcessedBytes: memoryProcessedBytes!,
        memoryTotalBytes: memoryTotalBytes!,
      }));
    const report = analyzeConvergence(nova);
    expect(report.iterations).toBeGreaterThanOrEqual(15);
    expect(report.verdict).toBe("not-converging");
  });

  it("a schedule gives the downtime allowed now and the final one", () => {
    const schedule = downtimeSchedule("mitaka", { downtimeMs: 400, steps: 10, delayS: 30, dataGiB: 3 });
    const report = analyzeConvergence(upToFirstOf(qmpNoAc(), 3), { downtimeSchedule: schedule, now: 100 });
    expect(report).toMatchObject({ downtimeLimitMs: 38, finalDowntimeMs: 400, downtimeLimitAssumed: false });
  });

  it("no samples is a coded error", () => {
    expect(() => analyzeConvergence([])).toThrow(ConvergenceInputError);
  });
});

describe("the analyzer takes Nova's schedule from src/nova-facts", () => {
  it("Mitaka's exponential steps: LAB.md's worked example (3 GiB, 400 ms, 30 s delay)", () => {
    const steps = downtimeSchedule("mitaka", { downtimeMs: 400, steps: 10, delayS: 30, dataGiB: 3 });
    expect(steps.map((s) => s.downtimeMs)).toEqual([37, 38, 39, 42, 46, 55, 70, 98, 148, 238, 400]);
    expect(steps.at(-1)!.atS).toBe(900);
  });

  it("Ocata and later: linear steps (nova's own docstring example); Newton is still exponential", () => {
    const steps = downtimeSchedule("ocata", { downtimeMs: 400, steps: 10, delayS: 30, dataGiB: 3 });
    expect(steps.map((s) => s.downtimeMs)).toEqual([40, 76, 112, 148, 184, 220, 256, 292, 328, 364, 400]);
    expect(downtimeSchedule("newton", { downtimeMs: 400, steps: 10, delayS: 30, dataGiB: 3 })[1]).toEqual({
      atS: 90,
      downtimeMs: 38,
    });
  });
});

describe("when the source permits auto-converge", () => {
  it("the same early series is not called hopeless: QEMU is about to throttle", () => {
    const samples = upToFirstOf(virshNoAc(), 3);
    expect(analyzeConvergence(samples).verdict).toBe("not-converging");
    const withAc = analyzeConvergence(samples, { autoConverge: true });
    expect(withAc.verdict).toBe("throttling");
    expect(withAc.reason).toMatch(/Auto-converge is enabled on the source/);
  });

  it("at the maximum throttle, judges only on syncs measured there", () => {
    // The QMP run's figures, as if QEMU had reached 99 % at the start of iteration 10.
    const samples = qmpNoAc().map((s) => ({
      ...s,
      throttlePercent: (s.iteration ?? 0) >= 10 ? AUTO_CONVERGE_MAX_THROTTLE_PERCENT : 90,
    }));
    const justThere = analyzeConvergence(upToFirstOf(samples, 10), { autoConverge: true });
    expect(justThere.verdict).toBe("throttling");
    const twoSyncsLater = analyzeConvergence(upToFirstOf(samples, 12), { autoConverge: true });
    expect(twoSyncsLater.verdict).toBe("not-converging");
    expect(twoSyncsLater.reason).toContain("even with auto-converge throttling the guest to 99%");
  });

  it("is still not converging once the throttle is at its maximum", () => {
    const samples = upToFirstOf(virshNoAc(), 3).map((s) => ({
      ...s,
      throttlePercent: AUTO_CONVERGE_MAX_THROTTLE_PERCENT,
    }));
    expect(analyzeConvergence(samples, { autoConverge: true }).verdict).toBe("not-converging");
  });
});
