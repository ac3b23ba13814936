/** The one decision rule, on cases an operator would recognise. */
import { describe, expect, test } from "vitest";
import { downtimeSchedule, liveMigrationDataGiB, novaRelease } from "../../src/nova-facts";
import {
  guestWrites,
  type NovaLimits,
  type PredictionInput,
  predictConvergence,
} from "../../src/predict/rule";

const zed = novaRelease("zed");
const schedule4G = downtimeSchedule(zed, { dataGiB: liveMigrationDataGiB(zed, { memoryMb: 4096 }) });
const NOVA: NovaLimits = {
  release: "zed",
  downtimeSchedule: schedule4G,
  progressTimeoutS: 0,
  completionTimeoutS: 800 * 4,
  autoConvergeSource: false,
  autoConvergeDestination: false,
};

function input(over: Partial<PredictionInput> & { rates?: [number, number] }): PredictionInput {
  const [short, long] = over.rates ?? [5, 5];
  return {
    vm: "db-1",
    source: "compute-1",
    destination: "compute-2",
    memoryMb: 4096,
    measurement: {
      readings: [
        { periodS: 1, mibPerS: short },
        { periodS: 2, mibPerS: long },
      ],
      libvirt: "9.0.0",
    },
    link: { mibPerS: 112, from: "nic", nic: { name: "eth0", mbps: 1000 } },
    nova: NOVA,
    ...over,
  };
}

describe("guestWrites", () => {
  test("a set that doubles with the period is a rate; one that stays is a hot set", () => {
    expect(
      guestWrites([
        { periodS: 1, mibPerS: 180 },
        { periodS: 2, mibPerS: 180 },
      ]),
    ).toMatchObject({
      rateMiBps: 180,
      hotSetMiB: null,
    });
    expect(
      guestWrites([
        { periodS: 1, mibPerS: 80 },
        { periodS: 2, mibPerS: 40 },
      ]),
    ).toMatchObject({
      rateMiBps: null,
      hotSetMiB: 80,
    });
    expect(
      guestWrites([
        { periodS: 1, mibPerS: 100 },
        { periodS: 2, mibPerS: 75 },
      ]),
    ).toMatchObject({
      rateMiBps: 100,
      hotSetMiB: 150,
    });
  });
});

describe("predictConvergence", () => {
  test("a calm guest converges", () => {
    expect(predictConvergence(input({ rates: [5, 5] })).outcome).toBe("will-converge");
  });

  test("180 MiB/s against a 112 MiB/s link without auto-converge: will not converge, fix is auto-converge", () => {
    const p = predictConvergence(input({ rates: [180, 180] }));
    expect(p.outcome).toBe("will-not-converge");
    expect(p.fix).toBe("auto-converge");
    expect(p.autoConverge).toEqual({ source: false, destination: false });
    // Nova's last stage on Zed is live_migration_downtime, 500 ms: 56 MiB at 112 MiB/s.
    expect(p.allowedDowntimeMs).toBe(500);
    expect(p.downtimeBytes).toBe(56 * 1024 ** 2);
  });

  test("the same guest converges only thanks to auto-converge when the source has it", () => {
    const p = predictConvergence(input({ rates: [180, 180], nova: { ...NOVA, autoConvergeSource: true } }));
    expect(p.outcome).toBe("converges-only-with-auto-converge");
    expect(p.fix).toBeNull();
  });

  test("a small hot set rewritten fast still fits the downtime", () => {
    // 40 MiB rewritten faster than once a second; 500 ms at 112 MiB/s sends 56 MiB.
    expect(predictConvergence(input({ rates: [40, 20] })).outcome).toBe("will-converge");
  });

  test("Mitaka's progress timeout ends it before the downtime grows: the same hot set will not converge", () => {
    const mitaka = novaRelease("mitaka");
    const nova: NovaLimits = {
      ...NOVA,
      release: "mitaka",
      downtimeSchedule: downtimeSchedule(mitaka, { dataGiB: 4 }),
      progressTimeoutS: 150,
      completionTimeoutS: 3200,
    };
    const p = predictConvergence(input({ rates: [40, 20], nova }));
    expect(p.outcome).toBe("will-not-converge");
    expect(p.allowedDowntimeMs).toBeLessThan(100);
  });

  test("no libvirt to measure with: cannot-measure, with the reason kept", () => {
    const p = predictConvergence(
      input({ measurement: { reason: "libvirt-too-old", host: "compute-1", version: "6.0.0" } }),
    );
    expect(p.outcome).toBe("cannot-measure");
    expect(p.cannot).toEqual({ reason: "libvirt-too-old", host: "compute-1", version: "6.0.0" });
  });

  test("a rate beyond what 99 % throttle can tame offers no fix", () => {
    const p = predictConvergence(input({ rates: [20_000, 20_000] }));
    expect(p.outcome).toBe("will-not-converge");
    expect(p.beyondAutoConverge).toBe(true);
    expect(p.fix).toBeNull();
  });
});
