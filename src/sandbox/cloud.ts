/**
 * The sandbox cloud's live state: compute hosts (filesystem, nova-compute service, libvirt),
 * VMs, migrations and the model clock, and the {@link ControlPlane} the Nova API serves.
 *
 * Time is model time: `advance(seconds)` moves it (the real-time driver in `index.ts` calls it with
 * elapsed wall time × time scale; tests call it by hand). Migrations follow `precopy-model.ts` with
 * parameters read from the source host's nova config as its nova-compute last loaded it.
 */
import { randomUUID } from "node:crypto";
import type { HostCommand } from "../hosts/catalogue";
import { DEFAULT_NOVA_COMPUTE_LOG_PATH, DEFAULT_NOVA_CONF_PATHS } from "../hosts/inventory";
import { type Logger, silentLogger } from "../log";
import { effectiveSettings, type LiveMigrationSettings } from "../nova-conf/effective";
import { NovaConfError } from "../nova-conf/errors";
import { type ReleaseInfo, releaseFromVersion } from "../nova-conf/releases";
import {
  type CloudHypervisor,
  type CloudMigration,
  type CloudMigrationStatus,
  type CloudServer,
  type CloudService,
  type ControlPlane,
  ControlPlaneError,
  type LiveMigrateRequest,
  type MigrationFilter,
} from "./control-plane";
import {
  baselineCpuXml,
  type CpuDef,
  type CpuXmlError,
  compareCpu,
  featureSet,
  guestCpuFor,
  hostCpu,
  incompatibleText,
  parseCpuXml,
  UnknownCpuModelError,
} from "./cpu";
import { readSandboxData } from "./data-files";
import { HostFilesystem } from "./filesystem";
import { formatNovaLog, type NovaLogLevel, newRequestId } from "./nova-log";
import {
  computeService,
  findMigration,
  instanceNotFound,
  listMigrations,
  migrationOrThrow,
  namedDestination,
  newLiveMigrationRecord,
  noValidHost,
  novaTimestamp,
  SANDBOX_USER_ID,
  wrongMigrationState,
} from "./nova-records";
import {
  cancel as cancelJob,
  forceComplete as forceCompleteJob,
  initialState,
  isFinished,
  novaDataGiB,
  novaDowntimeSchedule,
  PAGE_SIZE_BYTES,
  type PrecopyEvent,
  type PrecopyState,
  step as stepJob,
} from "./precopy-model";
import type { SandboxSeed, SeedHost, SeedVm } from "./seed";
import { formatCapabilities, formatDomainList, formatDomJobInfo, type JobStats } from "./virsh-format";

/** What one host command printed and returned. */
export interface HostCommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Model seconds a migration waits in `queued` before the source starts preparing. */
export const MIGRATION_QUEUED_S = 1;
/** Model seconds of `preparing` (pre_live_migration on the destination). */
export const MIGRATION_PREPARING_S = 2;
/** Model seconds of `post-migrating` (post_live_migration on both hosts). */
export const MIGRATION_POST_S = 2;
/** Model seconds a hard reboot keeps the server in HARD_REBOOT. */
export const HARD_REBOOT_S = 4;
/** Nova's `report_interval`: a restarted nova-compute shows `up` in os-services after its first report. */
export const SERVICE_REPORT_INTERVAL_S = 10;
/** A nova-compute that cannot load its config dies this long after systemd started it. */
export const SERVICE_CRASH_DELAY_S = 2;
/** Model seconds per migration step: Nova's monitor polls every 0.5 s. */
const STEP_S = 0.5;
/** Bounds the timer loop of one `advance` call. */
const MAX_TIMERS_PER_ADVANCE = 100_000;
/** RAM nova keeps for the host itself (`reserved_host_memory_mb` default). */
export const RESERVED_HOST_MEMORY_MB = 512;
/** nova's default `cpu_allocation_ratio` (16 vCPUs per core). */
export const CPU_ALLOCATION_RATIO = 16;
const LIBVIRT_COMPARE_URL = "http://libvirt.org/html/libvirt-libvirt-host.html#virCPUCompareResult";
const PROJECT_ID = "6f70656e737461636b20697320636f6f";

export interface ServiceState {
  /** What `systemctl is-active` says. */
  unit: "active" | "inactive" | "failed";
  /** Model time from which Nova sees the service up (its first report after start). */
  upFromS: number | null;
  pid: number;
}

export class SandboxHost {
  readonly fs = new HostFilesystem();
  readonly release: ReleaseInfo;
  readonly cpu: CpuDef;
  readonly uuid = randomUUID();
  readonly novaConfPaths: string[];
  readonly logPath = DEFAULT_NOVA_COMPUTE_LOG_PATH;
  service: ServiceState;
  /** The config as nova-compute read it at its last (successful) start; null while it is down. */
  settings: LiveMigrationSettings | null = null;
  nextDomainId = 1;

  constructor(
    readonly seed: SeedHost,
    readonly index: number,
  ) {
    this.release = releaseFromVersion(seed.novaVersion);
    this.cpu = hostCpu(seed.cpuModel);
    this.novaConfPaths =
      this.release.major <= 13 ? [DEFAULT_NOVA_CONF_PATHS[0]!] : [...DEFAULT_NOVA_CONF_PATHS];
    this.service = { unit: "inactive", upFromS: null, pid: 2000 + index * 100 };
    installNovaFiles(this);
  }

  get name(): string {
    return this.seed.name;
  }

  /** The files nova-compute reads, in its `--config-file` order. */
  configFiles(): { path: string; text: string }[] {
    return this.novaConfPaths.flatMap((path) => {
      const f = this.fs.get(path);
      return f ? [{ path, text: f.content }] : [];
    });
  }
}

function installNovaFiles(host: SandboxHost): void {
  host.fs.mkdirs("/var/lib/nova");
  host.fs.mkdirs("/tmp");
  if (host.release.major <= 13) {
    host.fs.put(
      "/etc/nova/nova.conf",
      readSandboxData("nova-conf/nova.conf.config-reference-example-liberty-mitaka-era.conf"),
      "root",
      "nova",
      0o640,
    );
  } else {
    host.fs.put(
      "/etc/nova/nova.conf",
      readSandboxData("nova-conf/nova.conf.sample-zed-26.2.2-debian-bookworm.conf"),
      "root",
      "nova",
      0o640,
    );
    host.fs.put(
      "/etc/nova/nova-compute.conf",
      readSandboxData("nova-conf/nova-compute.conf-zed-26.2.2-debian-kvm.conf"),
      "root",
      "nova",
      0o640,
    );
  }
  host.fs.put(host.logPath, "", "nova", "adm", 0o640);
}

export class SandboxVm {
  status: CloudServer["status"] = "ACTIVE";
  taskState: string | null = null;
  vmState = "active";
  powerState = 1;
  /** The CPU the guest got at its last (re)start, and the cpu_mode / model it was started under. */
  guestCpu: CpuDef;
  cpuMode: string;
  cpuModel: string | null;
  domainId: number | null;
  readonly created: string;
  updated: string;
  fault: string | null = null;

  constructor(
    readonly seed: SeedVm,
    public host: string,
    started: { guestCpu: CpuDef; cpuMode: string; cpuModel: string | null; domainId: number; at: string },
  ) {
    this.guestCpu = started.guestCpu;
    this.cpuMode = started.cpuMode;
    this.cpuModel = started.cpuModel;
    this.domainId = started.domainId;
    this.created = started.at;
    this.updated = started.at;
  }

  get uuid(): string {
    return this.seed.uuid;
  }
  get name(): string {
    return this.seed.name;
  }
  get instanceName(): string {
    return `instance-${this.seed.instanceId.toString(16).padStart(8, "0")}`;
  }
}

export interface SandboxMigration {
  record: CloudMigration;
  vm: SandboxVm;
  requestId: string;
  job: PrecopyState | null;
  /** Model time the QEMU job started. */
  jobStartS: number;
  /** Stats kept for `domjobinfo --completed` on each side. */
  completedJobs: Map<string, JobStats>;
}

interface Timer {
  atS: number;
  seq: number;
  run: () => void;
}

export interface SandboxCloudOptions {
  seed: SandboxSeed;
  /** Wall-clock time at model time 0 (log timestamps, API dates). @defaultValue now */
  startTime?: Date;
  /** nova major of the controller: decides some API error wordings. @defaultValue 26 (Zed) */
  controllerMajor?: number;
  log?: Logger;
}

/** The live sandbox cloud. */
export class SandboxCloud implements ControlPlane {
  readonly hosts = new Map<string, SandboxHost>();
  readonly vms = new Map<string, SandboxVm>();
  readonly migrations: SandboxMigration[] = [];
  readonly controllerMajor: number;
  private readonly startMs: number;
  private nowSValue = 0;
  private timers: Timer[] = [];
  private timerSeq = 0;
  private migrationSeq = 0;
  private readonly log: Logger;
  private readonly linkMiBps = new Map<string, number>();

  constructor(readonly opts: SandboxCloudOptions) {
    this.startMs = (opts.startTime ?? new Date()).getTime();
    this.controllerMajor = opts.controllerMajor ?? 26;
    this.log = opts.log ?? silentLogger;
    for (const [i, h] of opts.seed.hosts.entries()) this.hosts.set(h.name, new SandboxHost(h, i + 1));
    for (const link of opts.seed.links) this.linkMiBps.set(linkKey(link.a, link.b), link.bandwidthMiBps);
    for (const host of this.hosts.values()) this.startService(host, { initial: true });
    for (const seed of opts.seed.vms) {
      const host = this.hostOrThrow(seed.host);
      const started = this.startGuest(host);
      if (typeof started === "string") throw new Error(`seed VM ${seed.name} cannot start: ${started}`);
      this.vms.set(seed.uuid, new SandboxVm(seed, host.name, { ...started, at: this.isoNow() }));
    }
  }

  /** Model seconds since the cloud started. */
  get nowS(): number {
    return this.nowSValue;
  }

  /** Wall-clock time of the model's now. */
  wallTime(): Date {
    return new Date(this.startMs + this.nowSValue * 1000);
  }

  private isoNow(): string {
    return novaTimestamp(this.wallTime());
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

  private at(delayS: number, run: () => void): void {
    this.timers.push({ atS: this.nowSValue + delayS, seq: this.timerSeq++, run });
  }

  /** Moves model time forward, running migrations and scheduled state changes on the way. */
  advance(dtS: number): void {
    const target = this.nowSValue + Math.max(0, dtS);
    for (let n = 0; n < MAX_TIMERS_PER_ADVANCE; n++) {
      this.timers.sort((a, b) => a.atS - b.atS || a.seq - b.seq);
      const next = this.timers[0];
      if (next && next.atS <= this.nowSValue + 1e-9) {
        this.timers.shift();
        next.run();
        continue;
      }
      const until = next && next.atS <= target ? next.atS : target;
      // Jobs may schedule new timers (a completed migration's post phase): re-plan when they do.
      this.runJobsUntil(until);
      if (this.nowSValue >= target - 1e-9 && !this.timers.some((t) => t.atS <= target)) return;
    }
  }

  private runJobsUntil(untilS: number): void {
    const timersBefore = this.timerSeq;
    let guard = Math.ceil((untilS - this.nowSValue) / STEP_S) + 2;
    while (this.nowSValue < untilS - 1e-9 && guard-- > 0) {
      const dt = Math.min(STEP_S, untilS - this.nowSValue);
      this.nowSValue += dt;
      for (const m of this.migrations) {
        if (m.job === null || isFinished(m.job) || m.record.status !== "running") continue;
        const r = stepJob(m.job, dt);
        m.job = r.state;
        m.record.memoryProcessedBytes = Math.round(m.job.transferredBytes);
        m.record.memoryRemainingBytes = Math.round(m.job.remainingBytes);
        for (const e of r.events) this.onJobEvent(m, e);
      }
      if (this.timerSeq !== timersBefore) return;
    }
    if (guard > 0) this.nowSValue = Math.max(this.nowSValue, untilS);
  }

  // ---------------------------------------------------------------- logging

  private novaLog(
    host: SandboxHost,
    level: NovaLogLevel,
    logger: string,
    message: string,
    opts: { requestId?: string | null; instance?: string | null } = {},
  ): void {
    host.fs.append(
      host.logPath,
      formatNovaLog(
        {
          time: this.wallTime(),
          pid: host.service.pid,
          level,
          logger,
          requestId: opts.requestId ?? null,
          instanceUuid: opts.instance ?? null,
          message,
        },
        host.release.major,
      ),
    );
  }

  // ---------------------------------------------------------------- services

  /** systemd starting nova-compute: it reads its config files; a bad one makes it die shortly after. */
  private startService(host: SandboxHost, opts: { initial?: boolean } = {}): void {
    host.service = {
      unit: "active",
      upFromS: null,
      pid: host.service.pid + 1 + Math.floor(Math.random() * 50),
    };
    const pid = host.service.pid;
    this.novaLog(host, "INFO", "nova.service", `Starting compute node (version ${host.seed.novaVersion})`);
    let failure: string | null = null;
    let settings: LiveMigrationSettings | null = null;
    try {
      settings = effectiveSettings(host.configFiles(), host.release, { unknownFlags: "error" });
      failure = this.checkCpuConfig(host, settings);
    } catch (err) {
      failure = startupFailureText(err);
    }
    if (failure !== null) {
      if (opts.initial) throw new Error(`${host.name}: seed config does not start: ${failure}`);
      host.settings = null;
      this.at(SERVICE_CRASH_DELAY_S, () => {
        if (host.service.pid !== pid) return;
        this.novaLog(host, "CRITICAL", "nova", failure!);
        host.service = { unit: "failed", upFromS: null, pid };
      });
      return;
    }
    host.settings = settings;
    host.service.upFromS = opts.initial ? 0 : this.nowSValue + SERVICE_REPORT_INTERVAL_S;
  }

  /** Train+ nova-compute refuses to start with a CPU model the host cannot run (`_check_cpu_compatibility`). */
  private checkCpuConfig(host: SandboxHost, s: LiveMigrationSettings): string | null {
    if (s.cpuMode !== "custom") return null;
    if (s.cpuModels.length === 0) {
      return "InvalidCPUInfo: Unacceptable CPU info: Config requested a custom CPU model, but no model name was provided.";
    }
    if (host.release.major < 20) return null;
    for (const model of s.cpuModels) {
      const guest = guestCpuFor(host.cpu, "custom", model);
      let verdict: ReturnType<typeof compareCpu>;
      try {
        verdict = compareCpu(host.cpu, guest);
      } catch (err) {
        if (err instanceof UnknownCpuModelError) {
          return `InvalidCPUInfo: Unacceptable CPU info: Configured CPU model: ${model} is not correct, or your host CPU arch does not support this model. Please correct your config and try again.`;
        }
        throw err;
      }
      if (verdict.result === "incompatible") {
        return `InvalidCPUInfo: Unacceptable CPU info: Configured CPU model: ${model} is not compatible with host CPU. Please correct your config and try again. ${incompatibleText(verdict.reason)}`;
      }
    }
    return null;
  }

  /** Whether Nova sees the host's nova-compute up now. */
  serviceUp(host: SandboxHost): boolean {
    return (
      host.service.unit === "active" &&
      host.service.upFromS !== null &&
      this.nowSValue >= host.service.upFromS
    );
  }

  private restartService(host: SandboxHost): void {
    // A restart under a running migration kills Nova's monitor: the job is aborted and the record errors.
    for (const m of this.activeMigrations()) {
      if (m.record.sourceCompute !== host.name && m.record.destCompute !== host.name) continue;
      if (m.job && !isFinished(m.job)) m.job = cancelJob(m.job).state;
      this.failMigration(m, "error");
      this.novaLog(
        host,
        "WARNING",
        "nova.compute.manager",
        "Instance found in migrating state during startup. Resetting task_state",
        {
          instance: m.vm.uuid,
        },
      );
    }
    this.novaLog(host, "INFO", "nova.service", "Caught SIGTERM, stopping children");
    host.service = { unit: "inactive", upFromS: null, pid: host.service.pid };
    this.startService(host);
  }

  // ---------------------------------------------------------------- guests

  /** A guest starting on `host`: its CPU follows the host's current effective cpu_mode / model. */
  private startGuest(
    host: SandboxHost,
  ): { guestCpu: CpuDef; cpuMode: string; cpuModel: string | null; domainId: number } | string {
    const s = host.settings;
    const cpuMode = s?.cpuMode ?? "host-model";
    const cpuModel = cpuMode === "custom" ? (s?.cpuModels[0] ?? null) : null;
    const guestCpu = guestCpuFor(host.cpu, cpuMode, cpuModel);
    try {
      const verdict = compareCpu(host.cpu, guestCpu);
      if (verdict.result === "incompatible")
        return `unsupported configuration: guest CPU doesn't match specification: ${verdict.reason}`;
    } catch (err) {
      if (err instanceof UnknownCpuModelError) return err.message;
      throw err;
    }
    return { guestCpu, cpuMode, cpuModel, domainId: host.nextDomainId++ };
  }

  // ---------------------------------------------------------------- migrations

  private activeMigrations(): SandboxMigration[] {
    return this.migrations.filter(
      (m) => !["completed", "error", "failed", "cancelled"].includes(m.record.status),
    );
  }

  private setStatus(m: SandboxMigration, status: CloudMigrationStatus): void {
    m.record.status = status;
    m.record.updatedAt = this.isoNow();
  }

  private vmDone(vm: SandboxVm): void {
    vm.status = "ACTIVE";
    vm.taskState = null;
    vm.powerState = 1;
    vm.updated = this.isoNow();
  }

  private failMigration(m: SandboxMigration, status: "error" | "cancelled" | "failed"): void {
    this.setStatus(m, status);
    this.vmDone(m.vm);
  }

  /** Nova's pre-checks for a destination: service up, room, CPU. Returns the NovaError or null. */
  private precheck(
    vm: SandboxVm,
    dest: SandboxHost,
  ): { error: ControlPlaneError; cpu?: { reason: string; message: string } } | null {
    if (!this.serviceUp(dest)) {
      return {
        error: new ControlPlaneError(
          "badRequest",
          400,
          `Compute service of ${dest.name} is unavailable at this time.`,
        ),
      };
    }
    const free = this.freeRamMb(dest);
    if (free < vm.seed.flavor.ramMb) {
      const message =
        this.controllerMajor <= 13
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
    const source = this.hostOrThrow(vm.host);
    const guest = vm.cpuMode === "custom" ? vm.guestCpu : source.cpu;
    let verdict: ReturnType<typeof compareCpu>;
    try {
      verdict = compareCpu(dest.cpu, guest);
    } catch (err) {
      if (!(err instanceof UnknownCpuModelError)) throw err;
      verdict = { result: "incompatible", reason: err.message };
    }
    if (verdict.result === "incompatible") {
      const reason = `CPU doesn't have compatibility.\n\n${incompatibleText(verdict.reason)}\n\nRefer to ${LIBVIRT_COMPARE_URL}`;
      return {
        error: new ControlPlaneError("badRequest", 400, `Migration pre-check error: ${reason}`),
        cpu: { reason, message: `Migration pre-check error: ${reason}` },
      };
    }
    return null;
  }

  private logPrecheckFailure(
    dest: SandboxHost,
    requestId: string,
    cpu: { reason: string; message: string },
  ): void {
    this.novaLog(dest, "ERROR", "nova.virt.libvirt.driver", cpu.reason, { requestId });
    this.novaLog(dest, "ERROR", "oslo_messaging.rpc.server", "Exception during message handling", {
      requestId,
    });
    const cls = dest.release.major <= 13 ? "MigrationPreCheckError" : "nova.exception.MigrationPreCheckError";
    this.novaLog(dest, "ERROR", "oslo_messaging.rpc.server", `${cls}: ${cpu.message}`, { requestId });
  }

  private pickHost(vm: SandboxVm): SandboxHost | null {
    const candidates = [...this.hosts.values()]
      .filter((h) => h.name !== vm.host && this.precheck(vm, h) === null)
      .sort((a, b) => this.freeRamMb(b) - this.freeRamMb(a) || a.name.localeCompare(b.name));
    return candidates[0] ?? null;
  }

  liveMigrate(serverId: string, request: LiveMigrateRequest): CloudMigration {
    const vm = this.vms.get(serverId);
    if (!vm) throw instanceNotFound(serverId);
    if (vm.status !== "ACTIVE" || vm.taskState !== null) {
      const [attr, state] = vm.taskState !== null ? ["task_state", vm.taskState] : ["vm_state", vm.vmState];
      throw new ControlPlaneError(
        "conflict",
        409,
        `Cannot 'os-migrateLive' instance ${vm.uuid} while it is in ${attr} ${state}`,
      );
    }
    const source = this.hostOrThrow(vm.host);
    const requestId = newRequestId();
    let dest: SandboxHost | null;
    let precheckFailure: ReturnType<SandboxCloud["precheck"]> = null;
    if (request.host !== null) {
      dest = namedDestination(this.hosts, vm.uuid, source.name, request.host);
      precheckFailure = this.precheck(vm, dest);
    } else {
      dest = this.pickHost(vm);
      if (dest === null) {
        precheckFailure = { error: noValidHost() };
      }
    }
    if (precheckFailure !== null && !request.asyncPrecheck) {
      if (precheckFailure.cpu && dest) this.logPrecheckFailure(dest, requestId, precheckFailure.cpu);
      throw precheckFailure.error;
    }
    const destHost = dest ?? source;
    const now = this.isoNow();
    const record = newLiveMigrationRecord({
      id: ++this.migrationSeq,
      uuid: randomUUID(),
      serverId: vm.uuid,
      source: source.name,
      dest: destHost.name,
      destHost: destHost.seed.hostIp,
      projectId: PROJECT_ID,
      now,
    });
    const m: SandboxMigration = { record, vm, requestId, job: null, jobStartS: 0, completedJobs: new Map() };
    this.migrations.push(m);
    vm.status = "MIGRATING";
    vm.taskState = "migrating";
    vm.updated = now;
    if (precheckFailure !== null) {
      const failure = precheckFailure;
      this.at(MIGRATION_QUEUED_S, () => {
        if (failure.cpu && dest) this.logPrecheckFailure(dest, requestId, failure.cpu);
        vm.fault = failure.error.message;
        this.failMigration(m, "error");
      });
    } else {
      this.at(MIGRATION_QUEUED_S, () => this.tryPrepare(m));
    }
    this.log.info("live migration accepted", {
      vm: vm.name,
      source: source.name,
      dest: destHost.name,
      id: record.id,
    });
    return { ...record };
  }

  /** Leaves `queued` once the source runs fewer than `max_concurrent_live_migrations`. */
  private tryPrepare(m: SandboxMigration): void {
    if (m.record.status !== "queued") return;
    const source = this.hostOrThrow(m.record.sourceCompute);
    const limit = source.settings?.maxConcurrent ?? 1;
    const running = this.activeMigrations().filter(
      (o) => o !== m && o.record.sourceCompute === source.name && o.record.status !== "queued",
    ).length;
    if (limit > 0 && running >= limit) {
      this.at(STEP_S, () => this.tryPrepare(m));
      return;
    }
    this.setStatus(m, "preparing");
    this.at(MIGRATION_PREPARING_S, () => this.startJob(m));
  }

  private startJob(m: SandboxMigration): void {
    if (m.record.status !== "preparing") return;
    const source = this.hostOrThrow(m.record.sourceCompute);
    const s = source.settings;
    if (s === null || !this.serviceUp(source)) {
      this.failMigration(m, "error");
      return;
    }
    const seed = m.vm.seed;
    const memoryBytes = seed.flavor.ramMb * 1024 * 1024;
    const dataGiB = novaDataGiB(memoryBytes);
    const linkBps = this.linkBandwidthMiBps(m.record.sourceCompute, m.record.destCompute) * 1024 * 1024;
    const capBps = s.bandwidthMiBps > 0 ? s.bandwidthMiBps * 1024 * 1024 : Number.POSITIVE_INFINITY;
    m.job = initialState({
      memoryBytes,
      zeroPageFraction: seed.zeroPageFraction,
      dirtyRateBytesPerS: seed.dirtyRateMiBps * 1024 * 1024,
      workingSetBytes: Math.min(memoryBytes, seed.workingSetMiB * 1024 * 1024),
      bandwidthBytesPerS: Math.min(linkBps, capBps),
      linkBytesPerS: linkBps,
      autoConverge: s.autoConvergeEffective,
      postCopy: s.postCopy,
      downtimeSchedule: novaDowntimeSchedule(
        { downtimeMs: s.downtimeMs, steps: s.downtimeSteps, delayS: s.downtimeDelayS },
        dataGiB,
        source.release.major,
      ),
      progressTimeoutS: s.progressTimeoutS,
      completionTimeoutS: Math.trunc(s.completionTimeoutS * dataGiB),
      timeoutAction: s.timeoutAction,
    });
    m.jobStartS = this.nowSValue;
    m.record.memoryTotalBytes = memoryBytes;
    m.record.memoryRemainingBytes = memoryBytes;
    this.setStatus(m, "running");
  }

  private onJobEvent(m: SandboxMigration, e: PrecopyEvent): void {
    const source = this.hostOrThrow(m.record.sourceCompute);
    const job = m.job!;
    m.record.memoryProcessedBytes = Math.round(job.transferredBytes);
    m.record.memoryRemainingBytes = Math.round(job.remainingBytes);
    const mitaka = source.release.major <= 13;
    const driver = "nova.virt.libvirt.driver";
    const migrationLogger = mitaka ? driver : "nova.virt.libvirt.migration";
    const log = (level: NovaLogLevel, logger: string, text: string) =>
      this.novaLog(source, level, logger, text, { requestId: m.requestId, instance: m.vm.uuid });
    const abortedText = mitaka
      ? "operation aborted: migration job: canceled by client"
      : "operation aborted: job 'migration out' canceled by client";
    switch (e.kind) {
      case "downtime-increased":
        log(
          "INFO",
          migrationLogger,
          `Increasing downtime to ${e.downtimeMs} ms after ${e.afterS} sec elapsed time`,
        );
        break;
      case "progress":
        log(
          "INFO",
          driver,
          mitaka
            ? `Migration running for ${e.secs} secs, memory ${e.remainingPercent}% remaining; (bytes processed=${e.processed}, remaining=${e.remaining}, total=${e.total})`
            : `Migration running for ${e.secs} secs, memory ${e.remainingPercent}% remaining (bytes processed=${e.processed}, remaining=${e.remaining}, total=${e.total}); disk 0% remaining (bytes processed=0, remaining=0, total=0).`,
        );
        break;
      case "switch-postcopy":
        log("INFO", migrationLogger, "Switching to post-copy migration mode");
        break;
      case "stuck":
        log("WARNING", driver, `Live migration stuck for ${e.forS} sec`);
        break;
      case "not-completed":
        log("WARNING", migrationLogger, `Live migration not completed after ${e.afterS} sec`);
        break;
      case "cancelled":
        this.recordJobEnd(m, "Cancelled");
        if (e.reason === "cancelled") {
          log("ERROR", driver, `Live Migration failure: ${abortedText}`);
          log("WARNING", driver, "Migration operation was cancelled");
          this.failMigration(m, "cancelled");
        } else {
          log("ERROR", driver, `Live Migration failure: ${abortedText}`);
          log("ERROR", driver, "Migration operation has aborted");
          this.failMigration(m, "error");
        }
        break;
      case "completed": {
        this.recordJobEnd(m, "Completed");
        log("INFO", driver, "Migration operation has completed");
        this.setStatus(m, "post-migrating");
        const dest = this.hostOrThrow(m.record.destCompute);
        // The guest now runs on the destination; the source domain is undefined (VIR_MIGRATE_UNDEFINE_SOURCE).
        m.vm.host = dest.name;
        m.vm.domainId = dest.nextDomainId++;
        this.at(MIGRATION_POST_S, () => {
          this.novaLog(
            source,
            "INFO",
            "nova.compute.manager",
            `Migrating instance to ${dest.name} finished successfully.`,
            {
              requestId: m.requestId,
              instance: m.vm.uuid,
            },
          );
          this.setStatus(m, "completed");
          this.vmDone(m.vm);
        });
        break;
      }
      default:
        break;
    }
  }

  private recordJobEnd(m: SandboxMigration, type: "Completed" | "Cancelled"): void {
    const job = m.job!;
    const stats = jobStats(job, "Outgoing migration", type);
    m.completedJobs.set(m.record.sourceCompute, stats);
    if (type === "Completed")
      m.completedJobs.set(m.record.destCompute, { ...stats, operation: "Incoming migration" });
  }

  // ---------------------------------------------------------------- ControlPlane

  listServers(): CloudServer[] {
    return [...this.vms.values()].map((vm) => this.toServer(vm));
  }

  getServer(id: string): CloudServer | undefined {
    const vm = this.vms.get(id);
    return vm ? this.toServer(vm) : undefined;
  }

  private toServer(vm: SandboxVm): CloudServer {
    return {
      id: vm.uuid,
      name: vm.name,
      status: vm.status,
      host: vm.host,
      hypervisorHostname: vm.host,
      instanceName: vm.instanceName,
      taskState: vm.taskState,
      vmState: vm.vmState,
      powerState: vm.powerState,
      flavor: { ...vm.seed.flavor },
      tenantId: PROJECT_ID,
      userId: SANDBOX_USER_ID,
      created: vm.created,
      updated: vm.updated,
    };
  }

  listMigrations(filter: MigrationFilter): CloudMigration[] {
    return listMigrations(this.migrations, filter);
  }

  getMigration(serverId: string, migrationId: number): CloudMigration | undefined {
    const m = findMigration(this.migrations, serverId, migrationId);
    return m ? { ...m.record } : undefined;
  }

  private migrationOrThrow(serverId: string, migrationId: number): SandboxMigration {
    return migrationOrThrow(this.migrations, this.vms.has(serverId), serverId, migrationId);
  }

  forceComplete(serverId: string, migrationId: number): void {
    const m = this.migrationOrThrow(serverId, migrationId);
    if (m.record.status !== "running" || m.job === null) {
      throw wrongMigrationState("force_complete", serverId, migrationId, m.record.status);
    }
    m.job = forceCompleteJob(m.job);
    m.vm.powerState = 3;
    const source = this.hostOrThrow(m.record.sourceCompute);
    this.novaLog(
      source,
      "INFO",
      "nova.compute.manager",
      "Pausing instance to force live migration to complete",
      {
        requestId: newRequestId(),
        instance: m.vm.uuid,
      },
    );
  }

  abortMigration(serverId: string, migrationId: number): void {
    const m = this.migrationOrThrow(serverId, migrationId);
    const status = m.record.status;
    if (status === "queued" || status === "preparing") {
      if (this.controllerMajor < 17 && status === "queued") {
        throw wrongMigrationState("abort live migration", serverId, migrationId, status);
      }
      this.failMigration(m, "cancelled");
      return;
    }
    if (status !== "running" || m.job === null || m.job.phase === "postcopy") {
      throw wrongMigrationState("abort live migration", serverId, migrationId, status);
    }
    const r = cancelJob(m.job);
    m.job = r.state;
    for (const e of r.events) this.onJobEvent(m, e);
  }

  hardReboot(serverId: string): void {
    const vm = this.vms.get(serverId);
    if (!vm) throw instanceNotFound(serverId);
    if (vm.taskState !== null) {
      throw new ControlPlaneError(
        "conflict",
        409,
        `Cannot 'reboot' instance ${vm.uuid} while it is in task_state ${vm.taskState}`,
      );
    }
    const host = this.hostOrThrow(vm.host);
    vm.status = "HARD_REBOOT";
    vm.taskState = "rebooting_hard";
    vm.updated = this.isoNow();
    const requestId = newRequestId();
    this.novaLog(host, "INFO", "nova.compute.manager", "Rebooting instance", {
      requestId,
      instance: vm.uuid,
    });
    this.at(HARD_REBOOT_S, () => {
      const started = this.startGuest(host);
      if (typeof started === "string") {
        vm.status = "ERROR";
        vm.vmState = "error";
        vm.taskState = null;
        vm.powerState = 4;
        vm.domainId = null;
        vm.fault = started;
        vm.updated = this.isoNow();
        this.novaLog(host, "ERROR", "nova.compute.manager", `Cannot reboot instance: ${started}`, {
          requestId,
          instance: vm.uuid,
        });
        return;
      }
      vm.guestCpu = started.guestCpu;
      vm.cpuMode = started.cpuMode;
      vm.cpuModel = started.cpuModel;
      vm.domainId = started.domainId;
      vm.vmState = "active";
      this.vmDone(vm);
      this.novaLog(host, "INFO", "nova.virt.libvirt.driver", "Instance rebooted successfully.", {
        requestId,
        instance: vm.uuid,
      });
    });
  }

  private usedRamMb(host: SandboxHost): number {
    let used = RESERVED_HOST_MEMORY_MB;
    for (const vm of this.vms.values()) if (vm.host === host.name) used += vm.seed.flavor.ramMb;
    // An incoming migration holds its claim on the destination until it ends.
    for (const m of this.activeMigrations()) {
      if (m.record.destCompute === host.name && m.vm.host !== host.name) used += m.vm.seed.flavor.ramMb;
    }
    return used;
  }

  private usedVcpus(host: SandboxHost): number {
    let used = 0;
    for (const vm of this.vms.values()) if (vm.host === host.name) used += vm.seed.flavor.vcpus;
    for (const m of this.activeMigrations()) {
      if (m.record.destCompute === host.name && m.vm.host !== host.name) used += m.vm.seed.flavor.vcpus;
    }
    return used;
  }

  freeRamMb(host: SandboxHost): number {
    return host.seed.memoryMb - this.usedRamMb(host);
  }

  private freeVcpus(host: SandboxHost): number {
    return host.seed.vcpus * CPU_ALLOCATION_RATIO - this.usedVcpus(host);
  }

  hypervisors(): CloudHypervisor[] {
    return [...this.hosts.values()].map((h) => {
      const used = this.usedRamMb(h);
      const cpuSet = featureSet(h.cpu);
      return {
        id: h.index,
        uuid: h.uuid,
        hypervisorHostname: h.name,
        hypervisorType: "QEMU",
        hypervisorVersion: h.release.major <= 13 ? 2005000 : 7002000,
        hostIp: h.seed.hostIp,
        serviceHost: h.name,
        serviceId: h.index,
        state: this.serviceUp(h) ? "up" : "down",
        status: "enabled",
        vcpus: h.seed.vcpus,
        vcpusUsed: this.usedVcpus(h),
        memoryMb: h.seed.memoryMb,
        memoryMbUsed: used,
        freeRamMb: h.seed.memoryMb - used,
        localGb: 1024,
        localGbUsed: [...this.vms.values()]
          .filter((v) => v.host === h.name)
          .reduce((a, v) => a + v.seed.flavor.diskGb, 0),
        freeDiskGb:
          1024 -
          [...this.vms.values()]
            .filter((v) => v.host === h.name)
            .reduce((a, v) => a + v.seed.flavor.diskGb, 0),
        runningVms: [...this.vms.values()].filter((v) => v.host === h.name && v.domainId !== null).length,
        cpuInfo: {
          arch: h.cpu.arch ?? "x86_64",
          model: h.cpu.model ?? "",
          vendor: h.cpu.vendor ?? "",
          features: [...cpuSet].sort(),
          topology: { cores: Math.max(1, h.seed.vcpus / 2), threads: 2, sockets: 1 },
        },
      };
    });
  }

  services(): CloudService[] {
    return [...this.hosts.values()].map((h) =>
      computeService({ id: h.index, host: h.name, up: this.serviceUp(h), updatedAt: this.isoNow() }),
    );
  }

  // ---------------------------------------------------------------- host commands

  /** Answers one catalogue command on a host, as the real tools would. */
  runCommand(hostName: string, cmd: HostCommand, ctx: { user: string; sudo: boolean }): HostCommandResult {
    const host = this.hostOrThrow(hostName);
    const root = ctx.user === "root" || ctx.sudo;
    switch (cmd.kind) {
      case "virsh-domjobinfo":
        return this.domJobInfo(host, cmd.domain, cmd.completed === true);
      case "virsh-list":
        return ok(
          formatDomainList(
            [...this.vms.values()]
              .filter((v) => v.host === host.name)
              .sort((a, b) => (a.domainId ?? 1e9) - (b.domainId ?? 1e9))
              .map((v) => ({
                id: v.domainId,
                name: v.instanceName,
                state: v.domainId === null ? "shut off" : v.powerState === 3 ? "paused" : "running",
              })),
          ),
        );
      case "virsh-capabilities":
        return ok(
          formatCapabilities({
            uuid: host.uuid,
            cpu: host.cpu,
            memoryKiB: host.seed.memoryMb * 1024,
            cpus: host.seed.vcpus,
          }),
        );
      case "virsh-cpu-compare":
        return this.cpuCompare(host, cmd.cpuXml);
      case "virsh-cpu-baseline":
        try {
          return ok(baselineCpuXml(parseCpuXml(cmd.cpusXml)));
        } catch (err) {
          return virshError(`error: ${(err as Error).message}`);
        }
      case "read-file":
        return host.fs.cat(cmd.path);
      case "stat-file":
        return host.fs.stat(cmd.path);
      case "write-file":
        if (!root)
          return { stdout: "", stderr: `dd: failed to open '${cmd.path}': Permission denied\n`, exitCode: 1 };
        return host.fs.write(cmd.path, cmd.content);
      case "copy-file":
        if (!root)
          return {
            stdout: "",
            stderr: `cp: cannot create regular file '${cmd.to}': Permission denied\n`,
            exitCode: 1,
          };
        return host.fs.copyPreserving(cmd.from, cmd.to);
      case "rename-file":
        if (!root)
          return {
            stdout: "",
            stderr: `mv: cannot move '${cmd.from}' to '${cmd.to}': Permission denied\n`,
            exitCode: 1,
          };
        return host.fs.rename(cmd.from, cmd.to);
      case "remove-temp-file":
        return host.fs.remove(cmd.path);
      case "systemctl-is-active": {
        if (cmd.service !== "nova-compute")
          return {
            stdout: cmd.service === "libvirtd" ? "active\n" : "inactive\n",
            stderr: "",
            exitCode: cmd.service === "libvirtd" ? 0 : 3,
          };
        const unit = host.service.unit;
        return { stdout: `${unit}\n`, stderr: "", exitCode: unit === "active" ? 0 : 3 };
      }
      case "systemctl-restart":
        if (!root) {
          return {
            stdout: "",
            stderr:
              "Failed to restart nova-compute.service: Access denied\nSee system logs and 'systemctl status nova-compute.service' for details.\n",
            exitCode: 1,
          };
        }
        if (cmd.service === "openstack-nova-compute") {
          return {
            stdout: "",
            stderr:
              "Failed to restart openstack-nova-compute.service: Unit openstack-nova-compute.service not found.\n",
            exitCode: 5,
          };
        }
        if (cmd.service === "nova-compute") this.restartService(host);
        return ok("");
      case "nova-compute-version":
        // Mitaka's nova runs on Python 2.7, whose argparse prints --version on stderr.
        return host.release.major <= 13
          ? { stdout: "", stderr: `${host.seed.novaVersion}\n`, exitCode: 0 }
          : ok(`${host.seed.novaVersion}\n`);
      case "tail-log":
        return host.fs.tail(cmd.path, cmd.lines);
    }
  }

  private cpuCompare(host: SandboxHost, xml: string): HostCommandResult {
    const failed = "error: Failed to compare host CPU with /dev/stdin";
    let cpus: CpuDef[];
    try {
      cpus = parseCpuXml(xml);
    } catch (err) {
      return virshError(`${failed}\nerror: ${(err as CpuXmlError).message}`);
    }
    try {
      const verdict = compareCpu(host.cpu, cpus[0]!);
      if (verdict.result === "incompatible")
        return virshError(`${failed}\nerror: ${incompatibleText(verdict.reason)}`);
      return ok(
        verdict.result === "identical"
          ? "CPU described in /dev/stdin is identical to host CPU\n\n"
          : "Host CPU is a superset of CPU described in /dev/stdin\n\n",
      );
    } catch (err) {
      if (err instanceof UnknownCpuModelError) return virshError(`${failed}\nerror: ${err.message}`);
      throw err;
    }
  }

  private domJobInfo(host: SandboxHost, domain: string, completed: boolean): HostCommandResult {
    const vm = [...this.vms.values()].find((v) => v.instanceName === domain || v.uuid === domain);
    const migration = vm
      ? [...this.migrations]
          .reverse()
          .find(
            (m) =>
              m.vm === vm && (m.record.sourceCompute === host.name || m.record.destCompute === host.name),
          )
      : undefined;
    const inbound =
      migration !== undefined &&
      migration.record.destCompute === host.name &&
      migration.record.status === "running" &&
      vm!.host !== host.name;
    if (!vm || (vm.host !== host.name && !inbound))
      return virshError(`error: failed to get domain '${domain}'`);
    if (completed) {
      const stats = migration?.completedJobs.get(host.name);
      return ok(formatDomJobInfo(stats ?? null));
    }
    if (migration?.record.status !== "running" || migration.job === null || isFinished(migration.job)) {
      return ok(formatDomJobInfo(null));
    }
    return ok(
      formatDomJobInfo(
        jobStats(migration.job, inbound ? "Incoming migration" : "Outgoing migration", "Unbounded"),
      ),
    );
  }
}

function jobStats(job: PrecopyState, operation: JobStats["operation"], type: JobStats["type"]): JobStats {
  const elapsedMs = Math.round(job.elapsedS * 1000);
  const finished = type !== "Unbounded";
  const seconds = Math.max(job.elapsedS, 0.001);
  return {
    type,
    operation,
    timeElapsedMs: elapsedMs,
    ...(finished ? { timeElapsedNoNetworkMs: Math.max(0, elapsedMs - 1) } : {}),
    dataProcessed: job.transferredBytes,
    dataRemaining: finished && type === "Completed" ? 0 : job.remainingBytes,
    dataTotal: job.params.memoryBytes,
    memoryBandwidthBytesPerS:
      job.iteration === 1 && !finished ? job.params.bandwidthBytesPerS : job.transferredBytes / seconds,
    dirtyRatePagesPerS: finished ? 0 : job.dirtyRatePagesPerS,
    pageSizeBytes: PAGE_SIZE_BYTES,
    iteration: job.iteration,
    postcopyRequests: job.postcopyRequests,
    constantPages: job.zeroPages,
    normalPages: Math.round(job.normalBytes / PAGE_SIZE_BYTES),
    normalData: job.normalBytes,
    ...(type === "Completed"
      ? { totalDowntimeMs: job.downtimeMs ?? 0 }
      : { expectedDowntimeMs: job.expectedDowntimeMs }),
    setupTimeMs: 2,
    autoConvergeThrottle: job.throttlePercent,
  };
}

function linkKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

function ok(stdout: string): HostCommandResult {
  return { stdout, stderr: "", exitCode: 0 };
}

function virshError(text: string): HostCommandResult {
  return { stdout: "", stderr: `${text}\n\n`, exitCode: 1 };
}

/** The CRITICAL line nova-compute dies with when its config cannot be used. */
function startupFailureText(err: unknown): string {
  if (err instanceof NovaConfError) {
    const loc = err.location;
    if (err.code === "NOVA_CONF_PARSE" && loc && err.reason) {
      // oslo.config also quotes the line here; the sandbox leaves it out, as migbot's errors do.
      return `ConfigFileParseError: Failed to parse ${loc.path}: at line ${loc.line}, ${err.reason}`;
    }
    const first = err.message.split(/; nova-compute would fail on it\./)[0] ?? err.message;
    return loc?.key
      ? `ConfigFileValueError: Value for option ${loc.key} from LocationInfo(location=<Locations.user: (4, True)>, detail='${loc.path}') is not valid: ${first.replace(/^.*? = /, "")}`
      : `ConfigFileValueError: ${first}`;
  }
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
