/**
 * The sandbox cloud's live state, composed: compute hosts (`compute-host.ts`), the model clock
 * (`clock.ts`), capacity and host choice (`scheduler.ts`), the live-migration lifecycle
 * (`migrations.ts`) and the hosts' shell (`host-commands.ts`), behind the {@link ControlPlane} the
 * Nova API serves.
 *
 * Time is model time: `advance(seconds)` moves it (the real-time driver in `index.ts` calls it with
 * elapsed wall time × time scale; tests call it by hand). Migrations follow `precopy-model.ts` with
 * parameters read from the source host's nova config as its nova-compute last loaded it.
 */
import type { HostCommand } from "../hosts/catalogue";
import { type Logger, silentLogger } from "../log";
import { MICROVERSIONS } from "../nova-facts";
import { ModelClock } from "./clock";
import { SandboxHost, SandboxVm } from "./compute-host";
import type {
  CloudHypervisor,
  CloudMigration,
  CloudResourceProvider,
  CloudService,
  LiveMigrateRequest,
} from "./control-plane";
import {
  assertCanHardReboot,
  assertCanLiveMigrate,
  ControlPlaneBase,
  hypervisorCpuInfo,
  hypervisorVersion,
  markHardRebooting,
  markServerError,
  settleServer,
} from "./control-plane-base";
import { type HostCommandResult, type HostCommandUser, runHostCommand } from "./host-commands";
import { LiveMigrations, type SandboxMigration } from "./migrations";
import { newRequestId } from "./nova-log";
import { CONTROLLER_SERVICE_COUNT, computeService, controllerServices } from "./nova-records";
import { Scheduler } from "./scheduler";
import type { SandboxSeed } from "./seed";

export {
  type GuestStart,
  SandboxHost,
  SandboxVm,
  SERVICE_CRASH_DELAY_S,
  SERVICE_REPORT_INTERVAL_S,
  type ServiceState,
} from "./compute-host";
export type { HostCommandResult } from "./host-commands";
export {
  MIGRATION_POST_S,
  MIGRATION_PREPARING_S,
  MIGRATION_QUEUED_S,
  type SandboxMigration,
} from "./migrations";
export { RESERVED_HOST_MEMORY_MB } from "./scheduler";

/** Model seconds a hard reboot keeps the server in HARD_REBOOT. */
export const HARD_REBOOT_S = 4;
/** The project the servers belong to unless told otherwise (not the admin's: they show only with `all_tenants`). */
const PROJECT_ID = "6f70656e737461636b20697320636f6f";
/** The local disk every sandbox hypervisor reports, GiB. */
const HOST_LOCAL_DISK_GB = 1024;
/** The QEMU of the Mitaka hosts (Ubuntu 16.04's 2.5.0) and of the Zed hosts (Debian 12's 7.2.0). */
const QEMU_MITAKA = { major: 2, minor: 5, micro: 0 };
const QEMU_ZED = { major: 7, minor: 2, micro: 0 };

export interface SandboxCloudOptions {
  seed: SandboxSeed;
  /** Wall-clock time at model time 0 (log timestamps, API dates). @defaultValue now */
  startTime?: Date;
  /**
   * The real clock, when `advance` follows it (the real-time driver): timestamps then say the real
   * time of each event, however fast the model runs. @defaultValue none: model seconds after `startTime`
   */
  wallClock?: () => Date;
  /** nova major of the controller: decides some API error wordings. @defaultValue 26 (Zed) */
  controllerMajor?: number;
  /** The project the servers belong to. @defaultValue a project that is not the admin's */
  projectId?: string;
  log?: Logger;
}

/** The live sandbox cloud. */
export class SandboxCloud extends ControlPlaneBase<SandboxVm, SandboxMigration> {
  readonly hosts = new Map<string, SandboxHost>();
  readonly controllerMajor: number;
  private readonly clock: ModelClock;
  private readonly scheduler: Scheduler;
  private readonly live: LiveMigrations;
  private readonly linkMiBps = new Map<string, number>();

  constructor(readonly opts: SandboxCloudOptions) {
    super(opts.projectId ?? PROJECT_ID);
    this.controllerMajor = opts.controllerMajor ?? 26;
    const log = opts.log ?? silentLogger;
    this.clock = new ModelClock(
      opts.startTime ?? new Date(),
      (dtS) => this.live.step(dtS),
      opts.wallClock ?? null,
    );
    this.scheduler = new Scheduler({
      hosts: this.hosts,
      vms: this.vms,
      activeMigrations: () => this.live.active(),
      controllerMajor: this.controllerMajor,
    });
    this.live = new LiveMigrations(this.migrations, {
      clock: this.clock,
      hosts: this.hosts,
      scheduler: this.scheduler,
      controllerMajor: this.controllerMajor,
      projectId: opts.projectId ?? PROJECT_ID,
      log,
      linkBandwidthMiBps: (a, b) => this.linkBandwidthMiBps(a, b),
      disabled: (host) => this.serviceDisabled(host),
      actions: {
        start: (serverId, action, requestId) => this.startAction(serverId, action, requestId),
        event: (action, event, host, outcome) => this.actionEvent(action, event, host, outcome),
      },
    });
    for (const [i, h] of opts.seed.hosts.entries())
      this.hosts.set(h.name, new SandboxHost(h, i + 1, this.clock));
    for (const link of opts.seed.links) this.linkMiBps.set(linkKey(link.a, link.b), link.bandwidthMiBps);
    for (const host of this.hosts.values()) host.startService({ initial: true });
    for (const seed of opts.seed.vms) {
      const host = this.hostOrThrow(seed.host);
      const started = host.startGuest();
      if (typeof started === "string") throw new Error(`seed VM ${seed.name} cannot start: ${started}`);
      this.vms.set(seed.uuid, new SandboxVm(seed, host.name, { ...started, at: this.clock.isoNow() }));
      const created = this.startAction(seed.uuid, "create", newRequestId());
      this.actionEvent(created, "compute__do_build_and_run_instance", host.name);
    }
  }

  /** VMs by uuid. */
  get vms(): Map<string, SandboxVm> {
    return this.serverRecords;
  }

  /** Model seconds since the cloud started. */
  get nowS(): number {
    return this.clock.nowS;
  }

  /** Wall-clock time of the model's now. */
  wallTime(): Date {
    return this.clock.wallTime();
  }

  /** Moves model time forward, running migrations and scheduled state changes on the way. */
  advance(dtS: number): void {
    this.clock.advance(dtS);
  }

  /** Migration bandwidth between two hosts, MiB/s. */
  linkBandwidthMiBps(a: string, b: string): number {
    return this.linkMiBps.get(linkKey(a, b)) ?? this.opts.seed.defaultLinkMiBps;
  }

  vmByName(name: string): SandboxVm | undefined {
    return [...this.vms.values()].find((v) => v.name === name);
  }

  private hostOrThrow(name: string): SandboxHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no sandbox host ${name}`);
    return h;
  }

  /** Whether Nova sees the host's nova-compute up now. */
  serviceUp(host: SandboxHost): boolean {
    return host.isUp();
  }

  freeRamMb(host: SandboxHost): number {
    return this.scheduler.freeRamMb(host);
  }

  /** `systemctl restart nova-compute`: migrations it was monitoring abort, then it starts afresh. */
  private restartNovaCompute(host: SandboxHost): void {
    this.live.abortForRestart(host);
    host.restartService();
  }

  /** Answers one catalogue command on a host, as the real tools would. */
  runCommand(hostName: string, cmd: HostCommand, ctx: HostCommandUser): HostCommandResult {
    return runHostCommand(
      {
        vms: this.vms,
        latestMigration: (vm, name) => this.live.latestOn(vm, name),
        restartNovaCompute: (host) => this.restartNovaCompute(host),
        // libvirt's measurement period runs on the host's real clock (migbot waits real seconds for
        // it), whatever the model's time scale; the figure itself is the model guest's.
        nowS: () => performance.now() / 1000,
        hosts: this.hosts,
        linkMiBps: (a, b) => this.linkBandwidthMiBps(a, b),
        defaultLinkMiBps: this.opts.seed.defaultLinkMiBps,
      },
      this.hostOrThrow(hostName),
      cmd,
      ctx,
    );
  }

  // ---------------------------------------------------------------- ControlPlane

  liveMigrate(serverId: string, request: LiveMigrateRequest): CloudMigration {
    const vm = this.serverOrThrow(serverId);
    assertCanLiveMigrate(vm);
    return this.live.start(vm, request);
  }

  forceComplete(serverId: string, migrationId: number): void {
    this.live.forceComplete(this.migrationOrThrow(serverId, migrationId));
  }

  abortMigration(serverId: string, migrationId: number, opts: { requestMicroversion?: string } = {}): void {
    // Without a request microversion (a test calling the model directly): the lowest that aborts.
    this.live.abort(
      this.migrationOrThrow(serverId, migrationId),
      opts.requestMicroversion ?? MICROVERSIONS.ABORT_MIGRATION,
    );
  }

  hardReboot(serverId: string): void {
    const vm = this.serverOrThrow(serverId);
    assertCanHardReboot(vm);
    const host = this.hostOrThrow(vm.host);
    markHardRebooting(vm, this.clock.isoNow());
    const requestId = newRequestId();
    const action = this.startAction(serverId, "reboot", requestId);
    host.novaLog("INFO", "nova.compute.manager", "Rebooting instance", { requestId, instance: vm.uuid });
    this.clock.at(HARD_REBOOT_S, () => {
      const started = host.startGuest();
      if (typeof started === "string") {
        markServerError(vm, started, this.clock.isoNow());
        vm.domainId = null;
        this.actionEvent(action, "compute_reboot_instance", host.name, { error: started });
        host.novaLog("ERROR", "nova.compute.manager", `Cannot reboot instance: ${started}`, {
          requestId,
          instance: vm.uuid,
        });
        return;
      }
      vm.startedWith(started);
      vm.vmState = "active";
      settleServer(vm, this.clock.isoNow());
      this.actionEvent(action, "compute_reboot_instance", host.name);
      host.novaLog("INFO", "nova.virt.libvirt.driver", "Instance rebooted successfully.", {
        requestId,
        instance: vm.uuid,
      });
    });
  }

  /**
   * What each nova-compute reports to Placement (nova 26.2.2 nova/virt/libvirt/driver.py
   * `update_provider_tree`): MEMORY_MB with reserved_host_memory_mb reserved, VCPU and DISK_GB, each
   * with the host's allocation ratio, min_unit and step_size 1, max_unit the total; usages are the
   * guests' flavors plus the migrations coming in (their allocations are held on the destination).
   */
  resourceProviders(): CloudResourceProvider[] {
    return [...this.hosts.values()].map((h) => {
      const claims = this.scheduler.claims(h);
      const inv = (total: number, reserved: number, allocationRatio: number) => ({
        total,
        reserved,
        allocationRatio,
        minUnit: 1,
        maxUnit: total,
        stepSize: 1,
      });
      return {
        uuid: h.uuid,
        name: h.name,
        generation: 1,
        inventories: {
          MEMORY_MB: inv(
            h.seed.memoryMb,
            this.scheduler.reservedRamMb(h),
            this.scheduler.allocationRatio(h, "ram"),
          ),
          VCPU: inv(h.seed.vcpus, 0, this.scheduler.allocationRatio(h, "cpu")),
          DISK_GB: inv(HOST_LOCAL_DISK_GB, 0, 1.0),
        },
        usages: { MEMORY_MB: claims.ramMb, VCPU: claims.vcpus, DISK_GB: claims.diskGb },
      };
    });
  }

  hypervisors(): CloudHypervisor[] {
    return [...this.hosts.values()].map((h) => {
      const used = this.scheduler.usedRamMb(h);
      const guests = [...this.vms.values()].filter((v) => v.host === h.name);
      const diskUsedGb = guests.reduce((a, v) => a + v.seed.flavor.diskGb, 0);
      return {
        id: h.index,
        uuid: h.uuid,
        hypervisorHostname: h.name,
        hypervisorType: "QEMU",
        hypervisorVersion: hypervisorVersion(h.release.major <= 13 ? QEMU_MITAKA : QEMU_ZED),
        hostIp: h.seed.hostIp,
        serviceHost: h.name,
        serviceId: h.index,
        state: h.isUp() ? "up" : "down",
        status: this.serviceDisabled(h.name) ? "disabled" : "enabled",
        vcpus: h.seed.vcpus,
        vcpusUsed: this.scheduler.usedVcpus(h),
        memoryMb: h.seed.memoryMb,
        memoryMbUsed: used,
        freeRamMb: h.seed.memoryMb - used,
        localGb: HOST_LOCAL_DISK_GB,
        localGbUsed: diskUsedGb,
        freeDiskGb: HOST_LOCAL_DISK_GB - diskUsedGb,
        runningVms: guests.filter((v) => v.domainId !== null).length,
        cpuInfo: hypervisorCpuInfo(h.cpu, { cores: Math.max(1, h.seed.vcpus / 2), threads: 2, sockets: 1 }),
      };
    });
  }

  /** The controller's nova-conductor and nova-scheduler, then each host's nova-compute (as of its last report). */
  services(): CloudService[] {
    const now = this.clock.isoNow();
    return [
      ...controllerServices(now),
      ...[...this.hosts.values()].map((h) =>
        this.withOperatorStatus(
          computeService({
            id: h.index + CONTROLLER_SERVICE_COUNT,
            host: h.name,
            up: h.isUp(),
            updatedAt: h.lastReportTime() ?? now,
          }),
        ),
      ),
    ];
  }
}

function linkKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
