import { describe, expect, it } from "vitest";
import {
  allocationRatioOption,
  capacityOptions,
  effectiveAllocationRatio,
  liveMigrationConcurrency,
  NovaFactsError,
} from "../../src/nova-facts";
import { MITAKA_LIVE_MIGRATION_TABLE, sampleOptions, tableDefaults, ZED_SAMPLE } from "./config-docs";

describe("allocation ratios", () => {
  it("fill Mitaka–Rocky's 0.0 default with 16 / 1.5 / 1.0", () => {
    expect(allocationRatioOption("mitaka", "cpu")).toMatchObject({
      default: 0,
      initialOption: null,
      defaultInEffect: 16,
    });
    expect(effectiveAllocationRatio("rocky", "ram")).toBe(1.5);
    expect(effectiveAllocationRatio("rocky", "cpu", { configured: 0 })).toBe(16);
    expect(effectiveAllocationRatio("rocky", "cpu", { configured: 4 })).toBe(4);
  });

  it("use initial_*_allocation_ratio from Stein, lowered in 2023.1", () => {
    expect(allocationRatioOption("stein", "cpu")).toMatchObject({
      default: null,
      initialOption: "initial_cpu_allocation_ratio",
      initialDefault: 16,
    });
    expect(effectiveAllocationRatio("zed", "cpu")).toBe(16);
    expect(effectiveAllocationRatio("zed", "ram")).toBe(1.5);
    expect(effectiveAllocationRatio("2023.1", "cpu")).toBe(4);
    expect(effectiveAllocationRatio("2023.1", "ram")).toBe(1);
    expect(effectiveAllocationRatio("2023.1", "disk")).toBe(1);
  });

  it("keep an existing node's ratio when the option is unset or 0.0", () => {
    expect(effectiveAllocationRatio("2023.1", "cpu", { existingNodeRatio: 16 })).toBe(16);
    expect(effectiveAllocationRatio("2023.1", "cpu", { configured: 0, existingNodeRatio: 8 })).toBe(8);
    expect(effectiveAllocationRatio("2023.1", "cpu", { configured: 2, existingNodeRatio: 8 })).toBe(2);
    expect(effectiveAllocationRatio("zed", "cpu", { configuredInitial: 3 })).toBe(3);
    expect(() => effectiveAllocationRatio("zed", "cpu", { configured: -1 })).toThrow(NovaFactsError);
  });

  it("match the Zed sample's defaults", () => {
    const defaults = sampleOptions(ZED_SAMPLE).get("DEFAULT")!;
    for (const resource of ["cpu", "ram", "disk"] as const) {
      const opt = allocationRatioOption("zed", resource);
      expect(defaults.get(opt.option)!.value).toBe("<None>");
      expect(Number(defaults.get(opt.initialOption!)!.value)).toBe(opt.initialDefault);
    }
  });
});

describe("capacity options", () => {
  it("reserve 512 MiB, run one live migration at a time and leave the bandwidth to libvirt", () => {
    for (const r of ["mitaka", "stein", "zed", "2026.1"]) {
      const c = capacityOptions(r);
      expect(c.reservedHostMemoryMb.default).toBe(512);
      expect(c.maxConcurrentLiveMigrations.default).toBe(1);
      expect(c.liveMigrationBandwidth).toEqual({ defaultMiBps: 0, zeroMeans: "libvirt-default" });
    }
    const mitaka = tableDefaults(MITAKA_LIVE_MIGRATION_TABLE);
    expect(Number(mitaka.get("max_concurrent_live_migrations"))).toBe(1);
    expect(Number(mitaka.get("live_migration_bandwidth"))).toBe(0);
    const zed = sampleOptions(ZED_SAMPLE);
    expect(Number(zed.get("DEFAULT")!.get("reserved_host_memory_mb")!.value)).toBe(512);
    expect(Number(zed.get("DEFAULT")!.get("max_concurrent_live_migrations")!.value)).toBe(1);
    expect(Number(zed.get("libvirt")!.get("live_migration_bandwidth")!.value)).toBe(0);
  });

  it("treats 0 concurrent live migrations as unlimited and refuses negatives from Train", () => {
    expect(liveMigrationConcurrency("zed")).toBe(1);
    expect(liveMigrationConcurrency("zed", 0)).toBe(Number.POSITIVE_INFINITY);
    expect(liveMigrationConcurrency("stein", -1)).toBe(Number.POSITIVE_INFINITY);
    expect(() => liveMigrationConcurrency("train", -1)).toThrow(/0 or more/);
  });
});
