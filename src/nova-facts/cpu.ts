import { type NovaRelease, type NovaReleaseRef, novaRelease, versionAtLeast } from "./releases";

/**
 * How Nova's libvirt driver checks CPU compatibility (`_compare_cpu` in nova/virt/libvirt/driver.py):
 * at the live-migration destination pre-check (`check_can_live_migrate_destination`) and, from
 * Train, at nova-compute start-up (`_check_cpu_compatibility`), plus the CPU model options.
 */

/** libvirt's `virCPUCompareResult` (include/libvirt/libvirt-host.h): what compareCPU returns. */
export const VIR_CPU_COMPARE = { ERROR: -1, INCOMPATIBLE: 0, IDENTICAL: 1, SUPERSET: 2 } as const;

/** The page Nova's message points to (`u` in `_compare_cpu`, every tag 13.0.0–33.0.0). */
export const CPU_COMPARE_RESULT_URL = "http://libvirt.org/html/libvirt-libvirt-host.html#virCPUCompareResult";

export interface CpuComparisonFacts {
  /**
   * The libvirt call: `virConnectCompareCPU` (host CPU as the kernel reports it; `virsh cpu-compare`)
   * up to 26.x, `virConnectCompareHypervisorCPU` (the CPU QEMU/KVM can give a guest; `virsh
   * hypervisor-cpu-compare`) from 27.0.0 (nova commit 468b03e0ee; not backported to Zed). Both with
   * flags 0, so an incompatible CPU is a result of 0, not an error (libvirt src/cpu/cpu.c
   * virCPUCompareXML: only VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE turns it into one).
   */
  api: "compareCPU" | "compareHypervisorCPU";
  virshCommand: "cpu-compare" | "hypervisor-cpu-compare";
  /**
   * [libvirt] virt_type values for which Nova compares at all: qemu and kvm in 13.0.0; only kvm from
   * 13.1.0 and 14.0.0 (nova commit afa31e67c3 "Skip CPU compatibility check for emulated guests").
   */
  comparedForVirtTypes: readonly string[];
  /**
   * [workarounds] skip_cpu_compare_on_dest (default False) skips the destination check: from
   * 25.1.0 (Yoga backport) and 26.0.0.
   */
  skipOnDestOption: string | null;
  /**
   * Train+ start-up check: each [libvirt] cpu_models entry (with cpu_model_extra_flags) is compared
   * with the host; an incompatible one stops nova-compute (InvalidCPUInfo). It only compares when
   * virt_type is kvm (it goes through `_compare_cpu`). [workarounds] skip_cpu_compare_at_startup
   * skips it from 26.2.1 (Zed backport) and 27.0.0.
   */
  startupCheck: { skipOption: string | null } | null;
  /** The CPU model option: `cpu_model` (a string) up to 19.x, `cpu_models` (a list, deprecated name cpu_model) from 20.0.0. */
  cpuModelOption: "cpu_model" | "cpu_models";
  /**
   * [libvirt] cpu_model_extra_flags: from 18.0.0, backported to 17.0.3, 16.1.2 and 15.1.1 where it
   * first accepted only `pcid` (until 17.0.5, 16.1.4 and 15.1.3). Null when the option is absent.
   */
  extraFlags: { option: "cpu_model_extra_flags"; choices: readonly string[] | null } | null;
}

function inSeriesFrom(r: NovaRelease, since: Record<number, string>, fromMajor: number): boolean {
  if (r.major >= fromMajor) return true;
  const first = since[r.major];
  return first !== undefined && versionAtLeast(r, first);
}

/** CPU comparison facts of a release (point-release exact when the release carries its version). */
export function cpuComparison(release: NovaReleaseRef): CpuComparisonFacts {
  const r = novaRelease(release);
  const hypervisorCpu = r.major >= 27;
  const extraFlagsPresent = inSeriesFrom(r, { 15: "15.1.1", 16: "16.1.2", 17: "17.0.3" }, 18);
  const pcidOnly = extraFlagsPresent && !inSeriesFrom(r, { 15: "15.1.3", 16: "16.1.4", 17: "17.0.5" }, 18);
  return {
    api: hypervisorCpu ? "compareHypervisorCPU" : "compareCPU",
    virshCommand: hypervisorCpu ? "hypervisor-cpu-compare" : "cpu-compare",
    comparedForVirtTypes: inSeriesFrom(r, { 13: "13.1.0" }, 14) ? ["kvm"] : ["qemu", "kvm"],
    skipOnDestOption: inSeriesFrom(r, { 25: "25.1.0" }, 26) ? "skip_cpu_compare_on_dest" : null,
    startupCheck:
      r.major >= 20
        ? { skipOption: inSeriesFrom(r, { 26: "26.2.1" }, 27) ? "skip_cpu_compare_at_startup" : null }
        : null,
    cpuModelOption: r.major >= 20 ? "cpu_models" : "cpu_model",
    extraFlags: extraFlagsPresent
      ? { option: "cpu_model_extra_flags", choices: pcidOnly ? ["pcid"] : null }
      : null,
  };
}

export interface DestinationCheckInput {
  /** [libvirt] virt_type of the destination. @defaultValue "kvm" */
  virtType?: string;
  /** [workarounds] skip_cpu_compare_on_dest of the destination. @defaultValue false */
  skipCpuCompareOnDest?: boolean;
}

/** Whether the destination's pre-check compares CPUs at all. */
export function destinationComparesCpu(release: NovaReleaseRef, input: DestinationCheckInput = {}): boolean {
  const facts = cpuComparison(release);
  if (facts.skipOnDestOption !== null && input.skipCpuCompareOnDest === true) return false;
  return facts.comparedForVirtTypes.includes(input.virtType ?? "kvm");
}

/**
 * What the destination compares: the instance's `vcpu_model` when it names a model (cpu_mode
 * custom), else the source host's `cpu_info` (host-model and host-passthrough guests have no model
 * in vcpu_model) — `check_can_live_migrate_destination`, every tag 13.0.0–33.0.0.
 */
export function destinationCompareSubject(
  guestCpuModel: string | null | undefined,
): "guest-model" | "source-host-cpu" {
  return guestCpuModel ? "guest-model" : "source-host-cpu";
}

/**
 * The error text Nova raises when the destination's CPU check fails. `result` is what libvirt
 * returned (0 = incompatible) or libvirt's error message when the call itself failed (a
 * VIR_ERR_NO_SUPPORT error is not a failure: Nova proceeds). Up to 20.x an incompatible result is
 * InvalidCPUInfo ("Unacceptable CPU info: …") and a libvirt error MigrationPreCheckError; from 21.0.0
 * both are InvalidCPUInfo, wrapped in MigrationPreCheckError by the pre-check.
 */
export function cpuIncompatibleMessage(release: NovaReleaseRef, result: number | string): string {
  const r = novaRelease(release);
  const reason = `CPU doesn't have compatibility.\n\n${result}\n\nRefer to ${CPU_COMPARE_RESULT_URL}`;
  const invalidCpuInfo = `Unacceptable CPU info: ${reason}`;
  if (r.major >= 21) return `Migration pre-check error: ${invalidCpuInfo}`;
  return typeof result === "number" ? invalidCpuInfo : `Migration pre-check error: ${reason}`;
}

/**
 * The CPU mode a guest gets when [libvirt] cpu_mode is unset: host-model for kvm and qemu
 * (host-passthrough on AArch64 hosts from 17.0.0), none for other virt types
 * (`_get_guest_cpu_model_config`).
 */
export function defaultCpuMode(
  release: NovaReleaseRef,
  input: { virtType?: string; aarch64Host?: boolean } = {},
): "host-model" | "host-passthrough" | "none" {
  const r = novaRelease(release);
  const virtType = input.virtType ?? "kvm";
  if (virtType !== "kvm" && virtType !== "qemu") return "none";
  return r.major >= 17 && input.aarch64Host === true ? "host-passthrough" : "host-model";
}

/**
 * [libvirt] virt_type: default kvm at every tag; choices kvm, lxc, qemu, uml, xen, parallels up to
 * 22.x, and kvm, lxc, qemu, parallels from 23.0.0 (nova/conf/libvirt.py; driver.py in 13.0.0).
 */
export function virtTypeOption(release: NovaReleaseRef): { default: "kvm"; choices: readonly string[] } {
  return {
    default: "kvm",
    choices:
      novaRelease(release).major >= 23
        ? ["kvm", "lxc", "qemu", "parallels"]
        : ["kvm", "lxc", "qemu", "uml", "xen", "parallels"],
  };
}
