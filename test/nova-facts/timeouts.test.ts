import { describe, expect, it } from "vitest";
import {
  completionTimeoutS,
  DATA_GIB_FLOOR_PER_ITEM,
  defaultPython,
  liveMigrationDataGiB,
  NovaFactsError,
  timeoutOptions,
} from "../../src/nova-facts";
import { MITAKA_LIVE_MIGRATION_TABLE, sampleOptions, tableDefaults, ZED_SAMPLE } from "./config-docs";

const GIB = 1024 ** 3;

describe("liveMigrationDataGiB", () => {
  it("counts RAM with a 2 GiB floor", () => {
    expect(DATA_GIB_FLOOR_PER_ITEM).toBe(2);
    expect(liveMigrationDataGiB("zed", { memoryMb: 512 })).toBe(2);
    expect(liveMigrationDataGiB("zed", { memoryMb: 8192 })).toBe(8);
  });

  it("floors RAM to whole GiB on Python 2 (Mitaka–Ocata by default)", () => {
    expect(defaultPython("mitaka")).toBe(2);
    expect(defaultPython("train")).toBe(2);
    expect(defaultPython("ussuri")).toBe(3);
    expect(liveMigrationDataGiB("mitaka", { memoryMb: 3584 })).toBe(3);
    expect(liveMigrationDataGiB("zed", { memoryMb: 3584 })).toBe(3.5);
    expect(liveMigrationDataGiB("train", { memoryMb: 3584, python: 3 })).toBe(3.5);
  });

  it("adds each copied disk of a block migration, each at least 2 GiB", () => {
    const disks = [512 * 1024 ** 2, 10 * GIB + GIB / 2];
    expect(liveMigrationDataGiB("zed", { memoryMb: 2048, copiedDiskBytes: disks })).toBe(2 + 2 + 10.5);
    expect(liveMigrationDataGiB("mitaka", { memoryMb: 2048, copiedDiskBytes: disks })).toBe(2 + 2 + 10);
  });

  it("refuses sizes Nova never sees", () => {
    expect(() => liveMigrationDataGiB("zed", { memoryMb: 1.5 })).toThrow(NovaFactsError);
    expect(() => liveMigrationDataGiB("zed", { memoryMb: 2048, copiedDiskBytes: [-1] })).toThrow(
      /byte count/,
    );
  });
});

describe("timeout options", () => {
  it("defaults the progress timeout to 150 s through Newton, deprecates it at 0 in Ocata, drops it in Stein", () => {
    expect(timeoutOptions("mitaka").progress).toMatchObject({ defaultS: 150, deprecated: false });
    expect(timeoutOptions("14.1.0").progress).toMatchObject({ defaultS: 150, deprecated: false });
    expect(timeoutOptions("ocata").progress).toMatchObject({ defaultS: 0, deprecated: true });
    expect(timeoutOptions("rocky").progress).toMatchObject({ defaultS: 0, deprecated: true });
    expect(timeoutOptions("stein").progress).toBeNull();
  });

  it("keeps 800 s per GiB for completion, min 0 and a timeout action from Stein", () => {
    for (const r of ["mitaka", "rocky", "stein", "zed", "2026.1"]) {
      expect(timeoutOptions(r).completion.defaultSPerGiB).toBe(800);
    }
    expect(timeoutOptions("rocky").completion.min).toBeNull();
    expect(timeoutOptions("rocky").action).toBeNull();
    expect(timeoutOptions("stein").completion.min).toBe(0);
    expect(timeoutOptions("stein").action).toEqual({
      option: "live_migration_timeout_action",
      default: "abort",
      choices: ["abort", "force_complete"],
    });
  });

  it("matches the documented Mitaka and Zed defaults", () => {
    const mitaka = tableDefaults(MITAKA_LIVE_MIGRATION_TABLE);
    expect(Number(mitaka.get("live_migration_progress_timeout"))).toBe(
      timeoutOptions("mitaka").progress!.defaultS,
    );
    expect(Number(mitaka.get("live_migration_completion_timeout"))).toBe(
      timeoutOptions("mitaka").completion.defaultSPerGiB,
    );
    const libvirt = sampleOptions(ZED_SAMPLE).get("libvirt")!;
    expect(libvirt.has("live_migration_progress_timeout")).toBe(false);
    expect(Number(libvirt.get("live_migration_completion_timeout")!.value)).toBe(800);
    expect(libvirt.get("live_migration_timeout_action")!.value).toBe(timeoutOptions("zed").action!.default);
  });
});

describe("completionTimeoutS", () => {
  it("multiplies by the data size and truncates", () => {
    expect(completionTimeoutS("zed", { dataGiB: 2 })).toBe(1600);
    expect(completionTimeoutS("zed", { dataGiB: 2.25 })).toBe(1800);
    expect(completionTimeoutS("zed", { dataGiB: 2 + 1 / 1024 })).toBe(1600); // 1600.78125 truncated
    expect(completionTimeoutS("mitaka", { dataGiB: 5, completionTimeoutSPerGiB: 0 })).toBe(0);
  });

  it("refuses a negative per-GiB value from Stein but not before", () => {
    expect(completionTimeoutS("rocky", { dataGiB: 2, completionTimeoutSPerGiB: -1 })).toBe(-2);
    expect(() => completionTimeoutS("stein", { dataGiB: 2, completionTimeoutSPerGiB: -1 })).toThrow(
      /minimum 0/,
    );
  });
});
