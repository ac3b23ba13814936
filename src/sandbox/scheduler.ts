/**
 * Capacity and host choice in the sandbox cloud: what each host has free (RAM and vCPUs, counting
 * the claims of migrations coming in), Nova's live-migration pre-checks for a destination (service
 * up, room, CPU compatibility) with Nova's wording per release, and the scheduler's pick when the
 * operator names no destination.
 */
import { allocationRatioOf } from "../nova-conf/effective";
import { capacityOptions, destinationCompareSubject, effectiveAllocationRatio } from "../nova-facts";
import type { SandboxHost, SandboxVm } from "./compute-host";
import { ControlPlaneError } from "./control-plane";
import { incompatibleText, UnknownCpuModelError } from "./cpu";
import type { SandboxMigration } from "./migrations";
import { computeServiceUnavailable, cpuIncompatibility } from "./nova-records";

/**
 * RAM nova keeps for the host itself when `reserved_host_memory_mb` is not set (the same at every
 * tag, src/nova-facts); the lab's control plane counts it too.
 */
export const RESERVED_HOST_MEMORY_MB = capacityOptions("zed").reservedHostMemoryMb.default;

/** Why a destination is refused: the API's error, and for a CPU mismatch the libvirt text Nova logs. */
export interface PrecheckFailure {
  error: ControlPlaneError;
  cpu?: { reason: string; message: string };
  /** The host whose check logged the CPU failure, when it is not the destination. */
  cpuHost?: SandboxHost;
}

export interface SchedulerView {
  hosts: ReadonlyMap<string, SandboxHost>;
  vms: ReadonlyMap<string, SandboxVm>;
  /** Migrations not yet ended: an incoming one holds its claim on the destination. */
  activeMigrations(): SandboxMigration[];
  /** nova major of the controller: decides some API error wordings. */
  controllerMajor: number;
}

export class Scheduler {
  constructor(private readonly view: SchedulerView) {}

  /** `reserved_host_memory_mb` as the host's nova-compute last read it (its release's default while it is down). */
  reservedRamMb(host: SandboxHost): number {
    return (
      host.settings?.capacity.reservedHostMemoryMb ??
      capacityOptions(host.release).reservedHostMemoryMb.default
    );
  }

  /** The allocation ratio Nova uses for the host (src/nova-facts, from the host's config when it was read). */
  allocationRatio(host: SandboxHost, resource: "cpu" | "ram"): number {
    return host.settings
      ? allocationRatioOf(host.settings, resource)
      : effectiveAllocationRatio(host.release, resource);
  }

  /** RAM, vCPUs and disk its guests and the migrations coming in claim on a host (the host's reserve not included). */
  claims(host: SandboxHost): { ramMb: number; vcpus: number; diskGb: number } {
    let ramMb = 0;
    let vcpus = 0;
    let diskGb = 0;
    const claim = (vm: SandboxVm) => {
      ramMb += vm.seed.flavor.ramMb;
      vcpus += vm.seed.flavor.vcpus;
      diskGb += vm.seed.flavor.diskGb;
    };
    for (const vm of this.view.vms.values()) if (vm.host === host.name) claim(vm);
    // An incoming migration holds its claim on the destination until it ends.
    for (const m of this.view.activeMigrations()) {
      if (m.record.destCompute === host.name && m.vm.host !== host.name) claim(m.vm);
    }
    return { ramMb, vcpus, diskGb };
  }

  /** `memory_mb_used` as Nova reports it: the host's reserve plus its guests' claims. */
  usedRamMb(host: SandboxHost): number {
    return this.reservedRamMb(host) + this.claims(host).ramMb;
  }

  usedVcpus(host: SandboxHost): number {
    return this.claims(host).vcpus;
  }

  /** `free_ram_mb` as Nova reports it (no overcommit). */
  freeRamMb(host: SandboxHost): number {
    return host.seed.memoryMb - this.usedRamMb(host);
  }

  /** vCPUs the scheduler still places on the host: placement's (total × cpu_allocation_ratio) − used. */
  freeVcpus(host: SandboxHost): number {
    return Math.floor(host.seed.vcpus * this.allocationRatio(host, "cpu")) - this.usedVcpus(host);
  }

  /**
   * Room for `ramMb` more on `dest`, as the controller checks it. Up to Mitaka a named destination
   * goes through the conductor's `_check_destination_has_enough_memory` (nova 13.1.4
   * nova/conductor/tasks/live_migrate.py): avail = total × ram_allocation_ratio − (total − free),
   * refused when avail <= the instance's RAM; vCPUs are not checked. Later controllers ask the
   * scheduler (placement): (total − reserved) × ratio must hold what is used plus the instance.
   */
  private ramRefusal(vm: SandboxVm, dest: SandboxHost): string | null {
    const total = dest.seed.memoryMb;
    const ratio = this.allocationRatio(dest, "ram");
    const need = vm.seed.flavor.ramMb;
    if (this.view.controllerMajor <= 13) {
      const avail = total * ratio - this.usedRamMb(dest);
      // Python 2 prints the float product with %s: "24064.0".
      const shown = Number.isInteger(avail) ? `${avail}.0` : String(avail);
      return avail <= need
        ? `Migration pre-check error: Unable to migrate ${vm.uuid} to ${dest.name}: Lack of memory(host:${shown} <= instance:${need})`
        : null;
    }
    const capacity = (total - this.reservedRamMb(dest)) * ratio;
    return this.claims(dest).ramMb + need > capacity ? notEnoughCapacity(vm, dest) : null;
  }

  /** Nova's pre-checks for a destination: service up, room, CPU. Returns the failure or null. */
  precheck(vm: SandboxVm, dest: SandboxHost): PrecheckFailure | null {
    if (!dest.isUp()) return { error: computeServiceUnavailable(dest.name) };
    const ram = this.ramRefusal(vm, dest);
    if (ram !== null) return { error: new ControlPlaneError("badRequest", 400, ram) };
    if (this.view.controllerMajor > 13 && this.freeVcpus(dest) < vm.seed.flavor.vcpus) {
      return { error: new ControlPlaneError("badRequest", 400, notEnoughCapacity(vm, dest)) };
    }
    // The destination compares CPUs only for virt_type kvm (13.1.0+) and unless told to skip (25.1.0+).
    if (dest.settings?.comparesCpuAsDestination === false) return null;
    // Nova compares the guest's own CPU when it was started with a custom model, else the source host's.
    const source = this.view.hosts.get(vm.host);
    if (!source) throw new Error(`no sandbox host ${vm.host}`);
    const subject = destinationCompareSubject(vm.cpuMode === "custom" ? vm.cpuModel : null);
    const guest = subject === "guest-model" ? vm.guestCpu : source.cpu;
    let verdict: ReturnType<SandboxHost["compareGuestCpu"]>;
    try {
      verdict = dest.compareGuestCpu(guest);
    } catch (err) {
      if (!(err instanceof UnknownCpuModelError)) throw err;
      verdict = { result: "incompatible", reason: err.message };
    }
    if (verdict.result === "incompatible") {
      const cpu = cpuIncompatibility(incompatibleText(verdict.reason));
      return { error: new ControlPlaneError("badRequest", 400, cpu.message), cpu };
    }
    return null;
  }

  /** The scheduler's choice: the host with the most free RAM that passes the pre-checks (and `offered`). */
  pickHost(vm: SandboxVm, offered: (h: SandboxHost) => boolean = () => true): SandboxHost | null {
    const candidates = [...this.view.hosts.values()]
      .filter((h) => h.name !== vm.host && offered(h) && this.precheck(vm, h) === null)
      .sort((a, b) => this.freeRamMb(b) - this.freeRamMb(a) || a.name.localeCompare(b.name));
    return candidates[0] ?? null;
  }
}

function notEnoughCapacity(vm: SandboxVm, dest: SandboxHost): string {
  return `Migration pre-check error: Unable to move instance ${vm.uuid} to host ${dest.name}. There is not enough capacity on the host for the instance.`;
}
