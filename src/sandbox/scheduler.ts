/**
 * Capacity and host choice in the sandbox cloud: what each host has free (RAM and vCPUs, counting
 * the claims of migrations coming in), Nova's live-migration pre-checks for a destination (service
 * up, room, CPU compatibility) with Nova's wording per release, and the scheduler's pick when the
 * operator names no destination.
 */
import type { SandboxHost, SandboxVm } from "./compute-host";
import { ControlPlaneError } from "./control-plane";
import { compareCpu, incompatibleText, UnknownCpuModelError } from "./cpu";
import type { SandboxMigration } from "./migrations";
import { computeServiceUnavailable, cpuIncompatibility } from "./nova-records";

/**
 * RAM nova keeps for the host itself: `reserved_host_memory_mb`, default 512 (nova 13.0.0
 * nova/compute/resource_tracker.py; nova 26.2.2 nova/conf/compute.py).
 */
export const RESERVED_HOST_MEMORY_MB = 512;
/**
 * vCPUs per physical CPU: 16, nova's `cpu_allocation_ratio` when unset (nova 13.0.0
 * nova/objects/compute_node.py; `initial_cpu_allocation_ratio` in nova 26.2.2 nova/conf/compute.py).
 */
export const CPU_ALLOCATION_RATIO = 16;

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

  /** RAM and vCPUs claimed on a host: its own reserve, its guests, and migrations coming in. */
  private claims(host: SandboxHost): { ramMb: number; vcpus: number } {
    let ramMb = RESERVED_HOST_MEMORY_MB;
    let vcpus = 0;
    const claim = (vm: SandboxVm) => {
      ramMb += vm.seed.flavor.ramMb;
      vcpus += vm.seed.flavor.vcpus;
    };
    for (const vm of this.view.vms.values()) if (vm.host === host.name) claim(vm);
    // An incoming migration holds its claim on the destination until it ends.
    for (const m of this.view.activeMigrations()) {
      if (m.record.destCompute === host.name && m.vm.host !== host.name) claim(m.vm);
    }
    return { ramMb, vcpus };
  }

  usedRamMb(host: SandboxHost): number {
    return this.claims(host).ramMb;
  }

  usedVcpus(host: SandboxHost): number {
    return this.claims(host).vcpus;
  }

  freeRamMb(host: SandboxHost): number {
    return host.seed.memoryMb - this.usedRamMb(host);
  }

  freeVcpus(host: SandboxHost): number {
    return host.seed.vcpus * CPU_ALLOCATION_RATIO - this.usedVcpus(host);
  }

  /** Nova's pre-checks for a destination: service up, room, CPU. Returns the failure or null. */
  precheck(vm: SandboxVm, dest: SandboxHost): PrecheckFailure | null {
    if (!dest.isUp()) return { error: computeServiceUnavailable(dest.name) };
    const free = this.freeRamMb(dest);
    if (free < vm.seed.flavor.ramMb) {
      const message =
        this.view.controllerMajor <= 13
          ? `Migration pre-check error: Unable to migrate ${vm.uuid} to ${dest.name}: Lack of memory(host:${free} <= instance:${vm.seed.flavor.ramMb})`
          : `Migration pre-check error: Unable to move instance ${vm.uuid} to host ${dest.name}. There is not enough capacity on the host for the instance.`;
      return { error: new ControlPlaneError("badRequest", 400, message) };
    }
    if (this.freeVcpus(dest) < vm.seed.flavor.vcpus) {
      return {
        error: new ControlPlaneError(
          "badRequest",
          400,
          `Migration pre-check error: Unable to move instance ${vm.uuid} to host ${dest.name}. There is not enough capacity on the host for the instance.`,
        ),
      };
    }
    // Nova compares the guest's own CPU when it was started with a custom model, else the source host's.
    const source = this.view.hosts.get(vm.host);
    if (!source) throw new Error(`no sandbox host ${vm.host}`);
    const guest = vm.cpuMode === "custom" ? vm.guestCpu : source.cpu;
    let verdict: ReturnType<typeof compareCpu>;
    try {
      verdict = compareCpu(dest.cpu, guest);
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
