import { describe, expect, it } from "vitest";
import {
  downtimeAllowedAt,
  downtimeFormula,
  downtimeOptions,
  downtimeSchedule,
  liveMigrationDataGiB,
  NovaFactsError,
} from "../../src/nova-facts";
import { MITAKA_LIVE_MIGRATION_TABLE, sampleOptions, tableDefaults, ZED_SAMPLE } from "./config-docs";

const ms = (stages: { downtimeMs: number }[]) => stages.map((s) => s.downtimeMs);
const at = (stages: { atS: number }[]) => stages.map((s) => s.atS);

describe("downtime formula per release", () => {
  it("is exponential through Newton and linear from Ocata", () => {
    expect(downtimeFormula("mitaka")).toBe("exponential");
    expect(downtimeFormula("14.1.0")).toBe("exponential");
    expect(downtimeFormula("15.0.0")).toBe("linear");
    expect(downtimeFormula("2024.1")).toBe("linear");
  });

  it("reproduces Mitaka's own docstring: 10 steps, 30 s, 3 GB, 400 ms", () => {
    // 13.0.0 nova/virt/libvirt/driver.py _migration_downtime_steps docstring.
    const stages = downtimeSchedule("mitaka", { dataGiB: 3, downtimeMs: 400, steps: 10, delayS: 30 });
    expect(at(stages)).toEqual([0, 90, 180, 270, 360, 450, 540, 630, 720, 810, 900]);
    expect(ms(stages)).toEqual([37, 38, 39, 42, 46, 55, 70, 98, 148, 238, 400]);
  });

  it("reproduces Ocata's own docstring for the linear form", () => {
    // 15.0.0 nova/virt/libvirt/migration.py downtime_steps docstring.
    const stages = downtimeSchedule("ocata", { dataGiB: 3, downtimeMs: 400, steps: 10, delayS: 30 });
    expect(at(stages)).toEqual([0, 90, 180, 270, 360, 450, 540, 630, 720, 810, 900]);
    expect(ms(stages)).toEqual([40, 76, 112, 148, 184, 220, 256, 292, 328, 364, 400]);
  });

  it("gives Newton the exponential steps, not Ocata's linear ones", () => {
    const newton = downtimeSchedule("newton", { dataGiB: 2 });
    const ocata = downtimeSchedule("ocata", { dataGiB: 2 });
    expect(ms(newton)).toEqual([46, 47, 48, 51, 57, 66, 84, 117, 179, 291, 500]);
    expect(ms(ocata)).toEqual([50, 95, 140, 185, 230, 275, 320, 365, 410, 455, 500]);
    expect(at(newton)).toEqual(at(ocata));
    expect(newton[1]!.atS).toBe(150);
  });

  it("truncates like Python int() on correctly rounded powers", () => {
    // Nova really sets 99 ms as the last step here; V8's ** would make it 100.
    expect(ms(downtimeSchedule(13, { dataGiB: 2, downtimeMs: 100, steps: 18 })).at(-1)).toBe(99);
    expect(ms(downtimeSchedule(13, { dataGiB: 2, downtimeMs: 100, steps: 3 }))).toEqual([26, 29, 42, 99]);
    expect(ms(downtimeSchedule(13, { dataGiB: 2, downtimeMs: 107, steps: 10 })).at(-1)).toBe(106);
  });

  it("floors the linear steps on Python 2 and not on Python 3", () => {
    const py2 = downtimeSchedule("pike", { dataGiB: 2, downtimeMs: 500, steps: 3, python: 2 });
    const py3 = downtimeSchedule("pike", { dataGiB: 2, downtimeMs: 500, steps: 3, python: 3 });
    expect(ms(py2)).toEqual([166, 277, 388, 499]);
    expect(ms(py3)).toEqual([166, 277, 388, 500]);
    expect(ms(downtimeSchedule("ocata", { dataGiB: 2, downtimeMs: 500, steps: 3 }))).toEqual(ms(py2));
  });

  it("scales the step interval by the data size Nova counts", () => {
    const data = liveMigrationDataGiB("zed", { memoryMb: 4096 + 512 }); // 4.5 GiB on Python 3
    expect(at(downtimeSchedule("zed", { dataGiB: data })).slice(0, 3)).toEqual([0, 337, 674]);
    const py2Data = liveMigrationDataGiB("mitaka", { memoryMb: 4096 + 512 }); // 4 GiB on Python 2
    expect(at(downtimeSchedule("mitaka", { dataGiB: py2Data })).slice(0, 3)).toEqual([0, 300, 600]);
  });
});

describe("downtime options", () => {
  it("rounds small values up through Ocata, with a 10 s delay floor", () => {
    expect(downtimeOptions("ocata").delayS).toMatchObject({ min: 10, belowMinimum: "rounded-up" });
    const rounded = downtimeSchedule("mitaka", { dataGiB: 2, downtimeMs: 50, steps: 1, delayS: 5 });
    // downtime rounded up to 100 ms, steps to 3, delay to 10 s per GiB.
    expect(ms(rounded)).toEqual([26, 29, 42, 99]);
    expect(at(rounded)).toEqual([0, 20, 40, 60]);
  });

  it("refuses values below min= from Pike, whose delay floor is 3 s", () => {
    expect(downtimeOptions("pike")).toMatchObject({
      downtimeMs: { min: 100, belowMinimum: "rejected" },
      steps: { min: 3 },
      delayS: { min: 3 },
    });
    expect(downtimeSchedule("pike", { dataGiB: 2, delayS: 5 })[1]!.atS).toBe(10);
    expect(() => downtimeSchedule("pike", { dataGiB: 2, delayS: 2 })).toThrow(NovaFactsError);
    expect(() => downtimeSchedule("zed", { dataGiB: 2, downtimeMs: 99 })).toThrow(/minimum 100/);
  });

  it("has the defaults the Mitaka table and the Zed sample document", () => {
    const mitaka = tableDefaults(MITAKA_LIVE_MIGRATION_TABLE);
    const m = downtimeOptions("mitaka");
    expect(Number(mitaka.get(m.downtimeMs.option))).toBe(m.downtimeMs.default);
    expect(Number(mitaka.get(m.steps.option))).toBe(m.steps.default);
    expect(Number(mitaka.get(m.delayS.option))).toBe(m.delayS.default);
    const libvirt = sampleOptions(ZED_SAMPLE).get("libvirt")!;
    const z = downtimeOptions("zed");
    expect(Number(libvirt.get(z.downtimeMs.option)!.value)).toBe(z.downtimeMs.default);
    expect(Number(libvirt.get(z.steps.option)!.value)).toBe(z.steps.default);
    expect(Number(libvirt.get(z.delayS.option)!.value)).toBe(z.delayS.default);
  });
});

describe("downtimeAllowedAt", () => {
  it("applies a stage only once its time has strictly passed", () => {
    const stages = downtimeSchedule("zed", { dataGiB: 2 });
    expect(downtimeAllowedAt(stages, 0)).toBeUndefined();
    expect(downtimeAllowedAt(stages, 0.5)).toBe(50);
    expect(downtimeAllowedAt(stages, 150)).toBe(50);
    expect(downtimeAllowedAt(stages, 150.5)).toBe(95);
    expect(downtimeAllowedAt(stages, 10_000)).toBe(500);
  });
});
