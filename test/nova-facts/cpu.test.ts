import { describe, expect, it } from "vitest";
import {
  CPU_COMPARE_RESULT_URL,
  cpuComparison,
  cpuIncompatibleMessage,
  defaultCpuMode,
  destinationCompareSubject,
  destinationComparesCpu,
  VIR_CPU_COMPARE,
  virtTypeOption,
} from "../../src/nova-facts";
import { readFixture } from "../support/fixtures";
import { MITAKA_LIBVIRT_TABLE, sampleOptions, tableDefaults, ZED_SAMPLE } from "./config-docs";

describe("which CPU comparison Nova performs", () => {
  it("uses compareCPU through Zed and compareHypervisorCPU from 2023.1", () => {
    expect(cpuComparison("26.3.0")).toMatchObject({ api: "compareCPU", virshCommand: "cpu-compare" });
    expect(cpuComparison("27.0.0")).toMatchObject({
      api: "compareHypervisorCPU",
      virshCommand: "hypervisor-cpu-compare",
    });
  });

  it("compares only for kvm from 13.1.0 (qemu too in 13.0.0)", () => {
    expect(cpuComparison("13.0.0").comparedForVirtTypes).toEqual(["qemu", "kvm"]);
    expect(cpuComparison("13.1.0").comparedForVirtTypes).toEqual(["kvm"]);
    expect(cpuComparison("newton").comparedForVirtTypes).toEqual(["kvm"]);
    expect(destinationComparesCpu("zed", { virtType: "qemu" })).toBe(false);
    expect(destinationComparesCpu("13.0.0", { virtType: "qemu" })).toBe(true);
    expect(destinationComparesCpu("zed")).toBe(true);
  });

  it("offers skip_cpu_compare_on_dest from 25.1.0 and skip_cpu_compare_at_startup from 26.2.1", () => {
    expect(cpuComparison("25.0.1").skipOnDestOption).toBeNull();
    expect(cpuComparison("25.1.0").skipOnDestOption).toBe("skip_cpu_compare_on_dest");
    expect(destinationComparesCpu("zed", { skipCpuCompareOnDest: true })).toBe(false);
    expect(destinationComparesCpu("24.2.1", { skipCpuCompareOnDest: true })).toBe(true);
    expect(cpuComparison("stein").startupCheck).toBeNull();
    expect(cpuComparison("train").startupCheck).toEqual({ skipOption: null });
    expect(cpuComparison("26.2.0").startupCheck).toEqual({ skipOption: null });
    expect(cpuComparison("26.2.1").startupCheck).toEqual({ skipOption: "skip_cpu_compare_at_startup" });
    const workarounds = sampleOptions(ZED_SAMPLE).get("workarounds")!;
    expect(workarounds.get("skip_cpu_compare_on_dest")!.value).toBe("false");
    expect(workarounds.get("skip_cpu_compare_at_startup")!.value).toBe("false");
  });

  it("names the model option cpu_model before Train and cpu_models from Train", () => {
    expect(cpuComparison("stein").cpuModelOption).toBe("cpu_model");
    expect(cpuComparison("train").cpuModelOption).toBe("cpu_models");
    expect(tableDefaults(MITAKA_LIBVIRT_TABLE).get("cpu_model")).toBe("None");
    const models = sampleOptions(ZED_SAMPLE).get("libvirt")!.get("cpu_models")!;
    expect(models.deprecatedNames).toEqual(["[libvirt]/cpu_model"]);
  });

  it("knows when cpu_model_extra_flags arrived and when it stopped being pcid-only", () => {
    expect(cpuComparison("newton").extraFlags).toBeNull();
    expect(cpuComparison("15.1.0").extraFlags).toBeNull();
    expect(cpuComparison("15.1.1").extraFlags).toEqual({
      option: "cpu_model_extra_flags",
      choices: ["pcid"],
    });
    expect(cpuComparison("15.1.3").extraFlags!.choices).toBeNull();
    expect(cpuComparison("16.1.2").extraFlags!.choices).toEqual(["pcid"]);
    expect(cpuComparison("17.0.2").extraFlags).toBeNull();
    expect(cpuComparison("17.0.5").extraFlags!.choices).toBeNull();
    expect(cpuComparison("rocky").extraFlags!.choices).toBeNull();
  });
});

describe("what is compared and what Nova says", () => {
  it("compares a custom guest model, else the source host's CPU", () => {
    expect(destinationCompareSubject("Haswell-noTSX")).toBe("guest-model");
    expect(destinationCompareSubject(null)).toBe("source-host-cpu");
  });

  it("reports libvirt's 0 (incompatible), not libvirt's reason", () => {
    expect(VIR_CPU_COMPARE.INCOMPATIBLE).toBe(0);
    const old = cpuIncompatibleMessage("mitaka", VIR_CPU_COMPARE.INCOMPATIBLE);
    expect(old).toBe(
      `Unacceptable CPU info: CPU doesn't have compatibility.\n\n0\n\nRefer to ${CPU_COMPARE_RESULT_URL}`,
    );
    expect(cpuIncompatibleMessage("mitaka", "internal error: x")).toMatch(
      /^Migration pre-check error: CPU doesn't/,
    );
    expect(cpuIncompatibleMessage("ussuri", 0)).toMatch(
      /^Migration pre-check error: Unacceptable CPU info: CPU doesn't have compatibility\.\n\n0\n\n/,
    );
    // nova commit 758307c9e0's message quotes the exception Nova raised: InvalidCPUInfo with that text.
    const log = readFixture("logs/libvirt-cpu-incompatibility-errors.log");
    expect(log).toMatch(/InvalidCPUInfo:\s*\nCPU doesn't have compatibility/);
    expect(old).toContain("CPU doesn't have compatibility");
  });

  it("drops xen and uml from virt_type in Wallaby", () => {
    expect(virtTypeOption("victoria").choices).toContain("xen");
    expect(virtTypeOption("wallaby").choices).toEqual(["kvm", "lxc", "qemu", "parallels"]);
    expect(sampleOptions(ZED_SAMPLE).get("libvirt")!.get("virt_type")!.value).toBe(
      virtTypeOption("zed").default,
    );
  });

  it("defaults guests to host-model on kvm and qemu", () => {
    expect(defaultCpuMode("zed")).toBe("host-model");
    expect(defaultCpuMode("zed", { virtType: "lxc" })).toBe("none");
    expect(defaultCpuMode("queens", { aarch64Host: true })).toBe("host-passthrough");
    expect(defaultCpuMode("pike", { aarch64Host: true })).toBe("host-model");
  });
});
