/**
 * One sandbox compute host and the guests on it: the host's files (nova config as Debian or a
 * Mitaka-era install lays them out, the nova-compute log), its nova-compute process (which reads
 * its config only at (re)start, and dies shortly after a start it cannot survive), the CPU a guest
 * gets when it starts there, and the VM records Nova keeps for those guests.
 */

import { randomUUID } from "node:crypto";
import { DEFAULT_NOVA_COMPUTE_LOG_PATH, DEFAULT_NOVA_CONF_PATHS } from "../hosts/inventory";
import { extraFlagFeatures } from "../nova-conf/cpu-flags";
import { effectiveSettings, type LiveMigrationSettings } from "../nova-conf/effective";
import { NovaConfError } from "../nova-conf/errors";
import { type ReleaseInfo, releaseFromVersion } from "../nova-conf/releases";
import { cpuComparison, cpuIncompatibleMessage } from "../nova-facts";
import type { ModelClock } from "./clock";
import type { CloudServer } from "./control-plane";
import { type NovaServerState, POWER_STATE, type ServerImage } from "./control-plane-base";
import {
  type CpuDef,
  type CpuFeature,
  compareCpu,
  guestCpuFor,
  hostCpu,
  hostModelCpu,
  knownCpuModels,
  UnknownCpuModelError,
} from "./cpu";
import { readSandboxData } from "./data-files";
import type { DirtyRateCalc } from "./dirtyrate";
import { HostFilesystem } from "./filesystem";
import { formatNovaLog, type NovaLogLevel } from "./nova-log";
import { novaTimestamp } from "./nova-records";
import { DEFAULT_IMAGE, type SeedHost, type SeedVm } from "./seed";

/** Nova's `report_interval`: a restarted nova-compute shows `up` in os-services after its first report. */
export const SERVICE_REPORT_INTERVAL_S = 10;
/** A nova-compute that cannot load its config dies this long after systemd started it. */
export const SERVICE_CRASH_DELAY_S = 2;
/** First pid of host N's nova-compute is above `N × this` (pids differ per host, as on real hosts). */
const PIDS_PER_HOST = 100;
/** A restart gets a pid up to this much above the last one (other processes started meanwhile). */
const PID_JITTER = 50;

export interface ServiceState {
  /** What `systemctl is-active` says. */
  unit: "active" | "inactive" | "failed";
  /** Model time from which Nova sees the service up (its first report after start). */
  upFromS: number | null;
  pid: number;
}

/** What a guest got when it started: its CPU, and the cpu_mode / model it was started under. */
export interface GuestStart {
  guestCpu: CpuDef;
  cpuMode: string;
  cpuModel: string | null;
  domainId: number;
}

export class SandboxHost {
  readonly fs = new HostFilesystem();
  readonly release: ReleaseInfo;
  /** The host CPU (`virsh capabilities`, what compareCPU judges against). */
  readonly cpu: CpuDef;
  /** What the hypervisor can give a guest (`virsh domcapabilities` host-model; what compareHypervisorCPU judges against). */
  readonly hostModel: CpuDef;
  readonly uuid = randomUUID();
  readonly novaConfPaths: string[];
  readonly logPath = DEFAULT_NOVA_COMPUTE_LOG_PATH;
  service: ServiceState;
  /** The config as nova-compute read it at its last (successful) start; null while it is down. */
  settings: LiveMigrationSettings | null = null;
  nextDomainId = 1;
  /** `virsh domdirtyrate-calc` measurements, by domain name: the last one started on each. */
  readonly dirtyRateCalcs = new Map<string, DirtyRateCalc>();
  private lastReportS: number | null = null;

  constructor(
    readonly seed: SeedHost,
    readonly index: number,
    private readonly clock: ModelClock,
  ) {
    this.release = releaseFromVersion(seed.novaVersion);
    this.cpu = hostCpu(seed.cpuModel);
    this.hostModel = hostModelCpu(seed.cpuModel);
    this.novaConfPaths =
      this.release.major <= 13 ? [DEFAULT_NOVA_CONF_PATHS[0]!] : [...DEFAULT_NOVA_CONF_PATHS];
    this.service = { unit: "inactive", upFromS: null, pid: 2000 + index * PIDS_PER_HOST };
    this.installNovaFiles();
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

  private installNovaFiles(): void {
    this.fs.mkdirs("/var/lib/nova");
    this.fs.mkdirs("/tmp");
    if (this.release.major <= 13) {
      this.fs.put(
        "/etc/nova/nova.conf",
        readSandboxData("nova-conf/nova.conf.config-reference-example-liberty-mitaka-era.conf"),
        "root",
        "nova",
        0o640,
      );
    } else {
      this.fs.put(
        "/etc/nova/nova.conf",
        readSandboxData("nova-conf/nova.conf.sample-zed-26.2.2-debian-bookworm.conf"),
        "root",
        "nova",
        0o640,
      );
      this.fs.put(
        "/etc/nova/nova-compute.conf",
        readSandboxData("nova-conf/nova-compute.conf-zed-26.2.2-debian-kvm.conf"),
        "root",
        "nova",
        0o640,
      );
    }
    this.fs.put(this.logPath, "", "nova", "adm", 0o640);
  }

  /** Appends a line to nova-compute's log, in this release's oslo.log format. */
  novaLog(
    level: NovaLogLevel,
    logger: string,
    message: string,
    opts: { requestId?: string | null; instance?: string | null } = {},
  ): void {
    this.fs.append(
      this.logPath,
      formatNovaLog(
        {
          time: this.clock.wallTime(),
          pid: this.service.pid,
          level,
          logger,
          requestId: opts.requestId ?? null,
          instanceUuid: opts.instance ?? null,
          message,
        },
        this.release.major,
      ),
    );
  }

  // ---------------------------------------------------------------- nova-compute

  /**
   * When nova-compute last reported to Nova (`updated_at` of its service): every report interval
   * from its first report while it runs; the last one made, once it stopped. Null before any.
   */
  lastReportTime(): string | null {
    const { unit, upFromS } = this.service;
    const now = this.clock.nowS;
    if (unit === "active" && upFromS !== null && now >= upFromS) {
      this.lastReportS =
        upFromS + Math.floor((now - upFromS) / SERVICE_REPORT_INTERVAL_S) * SERVICE_REPORT_INTERVAL_S;
    }
    return this.lastReportS === null ? null : novaTimestamp(this.clock.wallTimeAt(this.lastReportS));
  }

  /** Whether Nova sees this host's nova-compute up now. */
  isUp(): boolean {
    return (
      this.service.unit === "active" &&
      this.service.upFromS !== null &&
      this.clock.nowS >= this.service.upFromS
    );
  }

  /** systemd starting nova-compute: it reads its config files; a bad one makes it die shortly after. */
  startService(opts: { initial?: boolean } = {}): void {
    this.service = {
      unit: "active",
      upFromS: null,
      pid: this.service.pid + 1 + Math.floor(Math.random() * PID_JITTER),
    };
    const pid = this.service.pid;
    this.novaLog("INFO", "nova.service", `Starting compute node (version ${this.seed.novaVersion})`);
    let failure: string | null = null;
    let settings: LiveMigrationSettings | null = null;
    try {
      // The CPU options are judged by Nova's own start-up check below, with its words.
      settings = effectiveSettings(this.configFiles(), this.release, {
        unknownFlags: "error",
        cpuConsistency: "warn",
      });
      failure = this.checkCpuConfig(settings);
    } catch (err) {
      failure = startupFailureText(err);
    }
    if (failure !== null) {
      if (opts.initial) throw new Error(`${this.name}: seed config does not start: ${failure}`);
      this.settings = null;
      const text = failure;
      this.clock.at(SERVICE_CRASH_DELAY_S, () => {
        if (this.service.pid !== pid) return;
        this.novaLog("CRITICAL", "nova", text);
        this.service = { unit: "failed", upFromS: null, pid };
      });
      return;
    }
    this.settings = settings;
    this.service.upFromS = opts.initial ? 0 : this.clock.nowS + SERVICE_REPORT_INTERVAL_S;
  }

  /**
   * `systemctl restart nova-compute`: SIGTERM, then a fresh start. Aborting the migrations it was
   * monitoring is the caller's part (they belong to the cloud).
   */
  restartService(): void {
    this.novaLog("INFO", "nova.service", "Caught SIGTERM, stopping children");
    this.service = { unit: "inactive", upFromS: null, pid: this.service.pid };
    this.startService();
  }

  /**
   * Whether `guest` runs here as this host's nova-compute asks libvirt: compareCPU against the host
   * CPU up to Zed, compareHypervisorCPU against the host-model CPU from 2023.1 (src/nova-facts).
   */
  compareGuestCpu(guest: CpuDef): ReturnType<typeof compareCpu> {
    const against = cpuComparison(this.release).api === "compareHypervisorCPU" ? this.hostModel : this.cpu;
    return compareCpu(against, guest);
  }

  /**
   * Train+ nova-compute's start-up check of its CPU options (`_check_cpu_compatibility`,
   * nova/virt/libvirt/driver.py 20.0.0+), with the exception and the words of each release; null
   * when it starts. Before Train nova-compute starts whatever the CPU options say (guests fail).
   */
  private checkCpuConfig(s: LiveMigrationSettings): string | null {
    const facts = cpuComparison(this.release);
    if (facts.startupCheck === null) return null;
    const rawMode = s.sources.cpuMode === "default" ? null : s.cpuMode;
    if (s.virtType !== "kvm" && s.virtType !== "qemu" && rawMode !== null && rawMode !== "none") {
      return `Invalid: Config requested an explicit CPU model, but the current libvirt hypervisor '${s.virtType}' does not support selecting CPU models`;
    }
    if (s.cpuMode !== "custom") {
      return s.cpuModels.length === 0
        ? null
        : "Invalid: The cpu_models option is not required when cpu_mode!=custom";
    }
    if (s.cpuModels.length === 0) return "Invalid: The cpu_models option is required when cpu_mode=custom";
    if (facts.startupCheck.skipOption !== null && s.skipCpuCompareAtStartup) return null;
    // The comparisons go through _compare_cpu, which returns at once unless virt_type is kvm.
    const compares = facts.comparedForVirtTypes.includes(s.virtType);
    // InvalidCPUInfo's own text (the live-migration pre-check prefixes it from 21.0.0).
    const unacceptable = (result: number | string) =>
      cpuIncompatibleMessage(this.release, result).replace(/^Migration pre-check error: /, "");
    const verdictOf = (guest: CpuDef): string | null => {
      if (!compares) return null;
      try {
        return this.compareGuestCpu(guest).result === "incompatible" ? unacceptable(0) : null;
      } catch (err) {
        if (err instanceof UnknownCpuModelError) return unacceptable(err.message);
        throw err;
      }
    };
    const flags: CpuFeature[] = extraFlagFeatures(this.release, s.cpuModelExtraFlags);
    const custom = (model: string | null, features: CpuFeature[]): CpuDef => ({
      mode: "custom",
      match: "exact",
      arch: null,
      model,
      vendor: null,
      features,
    });
    if (facts.startupCheck.skipOption !== null) {
      // 26.2.1+: each model with all the extra flags, one message naming both.
      for (const model of s.cpuModels) {
        const e = verdictOf(custom(model, flags));
        if (e !== null) {
          return `InvalidCPUInfo: Configured CPU model: ${model} and CPU Flags [${s.cpuModelExtraFlags.map((f) => `'${f}'`).join(", ")}] ar not compatible with host CPU. Please correct your config and try again. ${e}`;
        }
      }
      return null;
    }
    for (const model of s.cpuModels) {
      // 20.x looks the model up among the host's CPU model names first (_get_cpu_model_mapping).
      if (this.release.major === 20 && !knownModel(model)) {
        return `InvalidCPUInfo: Configured CPU model: ${model} is not correct, or your host CPU arch does not suuport this model. Please correct your config and try again.`;
      }
      const e = verdictOf(custom(model, []));
      if (e !== null) {
        return `InvalidCPUInfo: Configured CPU model: ${model} is not compatible with host CPU. Please correct your config and try again. ${e}`;
      }
    }
    // Then the extra flags on the host's own model, added one by one.
    const added: CpuFeature[] = [];
    for (const flag of new Set(s.cpuModelExtraFlags.map((f) => f.toLowerCase()))) {
      added.push(...extraFlagFeatures(this.release, [flag]));
      const e = verdictOf(custom(this.cpu.model, [...added]));
      if (e !== null) {
        return `InvalidCPUInfo: Configured extra flag: ${flag} it not correct, or the host CPU does not support this flag. Please correct the config and try again. ${e}`;
      }
    }
    return null;
  }

  // ---------------------------------------------------------------- guests

  /** A guest starting here: its CPU follows the host's current effective cpu_mode / model. Returns libvirt's error text if it cannot. */
  startGuest(): GuestStart | string {
    const s = this.settings;
    const cpuMode = s?.cpuMode ?? "host-model";
    const cpuModel = cpuMode === "custom" ? (s?.cpuModels[0] ?? null) : null;
    // Before Train nova-compute starts with any CPU options; the guest's start fails instead
    // (`_get_guest_cpu_model_config`, nova/virt/libvirt/driver.py 13.0.0–19.x, exception.Invalid).
    if (
      s &&
      s.virtType !== "kvm" &&
      s.virtType !== "qemu" &&
      s.sources.cpuMode !== "default" &&
      cpuMode !== "none"
    ) {
      return `Config requested an explicit CPU model, but the current libvirt hypervisor '${s.virtType}' does not support selecting CPU models`;
    }
    if (cpuMode === "custom" && cpuModel === null) {
      return "Config requested a custom CPU model, but no model name was provided";
    }
    const guestCpu = guestCpuFor(this.cpu, cpuMode, cpuModel);
    try {
      const verdict = compareCpu(this.cpu, guestCpu);
      if (verdict.result === "incompatible")
        return `unsupported configuration: guest CPU doesn't match specification: ${verdict.reason}`;
    } catch (err) {
      if (err instanceof UnknownCpuModelError) return err.message;
      throw err;
    }
    return { guestCpu, cpuMode, cpuModel, domainId: this.nextDomainId++ };
  }
}

/** A VM of the sandbox cloud: Nova's record of it and the guest it runs as. */
export class SandboxVm implements NovaServerState {
  status: CloudServer["status"] = "ACTIVE";
  taskState: string | null = null;
  vmState = "active";
  powerState: number = POWER_STATE.RUNNING;
  /** The CPU the guest got at its last (re)start, and the cpu_mode / model it was started under (set by {@link startedWith}). */
  guestCpu!: CpuDef;
  cpuMode!: string;
  cpuModel!: string | null;
  /** The libvirt domain id while the guest runs; null while it is shut off. */
  domainId!: number | null;
  readonly created: string;
  updated: string;
  fault: string | null = null;

  constructor(
    readonly seed: SeedVm,
    public host: string,
    started: GuestStart & { at: string },
  ) {
    this.startedWith(started);
    this.created = started.at;
    this.updated = started.at;
  }

  get uuid(): string {
    return this.seed.uuid;
  }
  get name(): string {
    return this.seed.name;
  }
  get flavor(): CloudServer["flavor"] {
    return this.seed.flavor;
  }
  get image(): ServerImage {
    return this.seed.image ?? DEFAULT_IMAGE;
  }
  get instanceName(): string {
    return `instance-${this.seed.instanceId.toString(16).padStart(8, "0")}`;
  }

  /** The guest (re)started with a new CPU and domain. */
  startedWith(started: GuestStart): void {
    this.guestCpu = started.guestCpu;
    this.cpuMode = started.cpuMode;
    this.cpuModel = started.cpuModel;
    this.domainId = started.domainId;
  }
}

/** libvirt knows the model (the sandbox's cpu_map): what 20.x's `_get_cpu_model_mapping` looks up. */
function knownModel(model: string): boolean {
  return knownCpuModels().some((m) => m.toLowerCase() === model.toLowerCase());
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
