/**
 * The lab data plane: the sandbox's Nova (its Keystone + Nova HTTP API, unchanged) in front of the
 * LAB's compute hosts instead of the pre-copy model. Servers are real libvirt domains (the dirty
 * guest) on the lab hosts; each live migration is cast to the source host's nova-compute agent,
 * which runs real `virsh migrate` and reports status and memory bytes from real `virsh domjobinfo`;
 * os-services follow the agents' heartbeats; the CPU pre-check runs on the destination's agent
 * against its declared CPU.
 *
 * Why a control plane of its own rather than a switch inside `SandboxCloud`: everything that cloud
 * holds — its in-memory host files, services, guests and model clock — *is* its data plane; in the
 * lab all of that lives on the hosts. What both share — the records, lookups, Nova's refusals and
 * server states (`ControlPlaneBase` in `src/sandbox/control-plane-base.ts`), Nova's wording
 * (`nova-records.ts`) and the Keystone + Nova API with its client files (`client-access.ts`) — is
 * the sandbox's, used from here; the API and the bot see no difference. The sandbox imports
 * nothing from the lab.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { cpus, setPriority, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { HostEntry } from "../hosts/inventory";
import { type Logger, silentLogger } from "../log";
import { type Sandbox, ZED_MAX_MICROVERSION } from "../sandbox";
import { sandboxAdminCredentials, serveSandboxNova } from "../sandbox/client-access";
import type {
  CloudHypervisor,
  CloudMigration,
  CloudService,
  LiveMigrateRequest,
} from "../sandbox/control-plane";
import {
  assertCanHardReboot,
  assertCanLiveMigrate,
  ControlPlaneBase,
  hypervisorCpuInfo,
  hypervisorVersion,
  isMigrationFinished,
  markHardRebooting,
  markMigrating,
  markServerError,
  type NovaMigrationState,
  type NovaServerState,
  POWER_STATE,
  setMigrationStatus,
  settleServer,
} from "../sandbox/control-plane-base";
import { type CpuDef, parseCpuXml } from "../sandbox/cpu";
import { sandboxProjectId } from "../sandbox/keystone";
import { newRequestId } from "../sandbox/nova-log";
import {
  assignDestination,
  computeService,
  computeServiceUnavailable,
  cpuIncompatibility,
  namedDestination,
  newLiveMigrationRecord,
  noValidHost,
  noValidHostFor,
  novaTimestamp,
  wrongMigrationState,
} from "../sandbox/nova-records";
import { RESERVED_HOST_MEMORY_MB } from "../sandbox/scheduler";
import {
  type AgentHeartbeat,
  type AgentMigrationReport,
  agentSocketPath,
  conductorSocketPath,
  type LiveMigrationCast,
  type PrecheckAnswer,
  readJsonBody,
  socketRequest,
} from "./agent-protocol";
import { LabError } from "./errors";
import { buildGuest, DEFAULT_SPIN_ITERATIONS, GUEST_MEMORY_MIB, instanceName, startGuest } from "./guest";
import { virsh } from "./host-exec";
import { readLabState } from "./lab";
import { bindSourceDir } from "./plan";
import type { LabState } from "./state";

/** Nova's `service_down_time` for the lab: three missed heartbeats (the agents beat every second). */
export const LAB_SERVICE_DOWN_TIME_MS = 3_000;
/** How long `startLabCloud` waits for every host's agent to report. */
export const AGENTS_REPORT_TIMEOUT_MS = 30_000;
/** One call to an agent (cast, abort, pre-check: the pre-check runs two `virsh cpu-baseline`). */
const AGENT_CALL_TIMEOUT_MS = 20_000;
/** Tearing the seeded guests down at stop: destroy + undefine per guest. */
const GUEST_TEARDOWN_TIMEOUT_MS = 20_000;
const POLL_INTERVAL_MS = 200;
/** Lowest CPU priority: a guest that should not take CPU from the others (see `niced`). */
const NICEST_PRIORITY = 19;

export interface LabServerSeed {
  name: string;
  /** Nova's instance id: the domain is `instance-%08x`. */
  instanceId: number;
  host: string;
  /** The guest's spin iterations per page: its dirty rate is inversely proportional. */
  spinIterations: number;
  /**
   * Run the guest's QEMU at the lowest CPU priority. Every TCG guest is a busy loop that takes a
   * whole core; on a 2-core machine a second guest at normal priority would slow the dirty one
   * (and the migration threads) enough to change the outcome.
   */
  niced?: boolean;
}

/**
 * The lab's servers: `dirty-1` dirties ~27 MiB/s (never converges at the lab's 8 MiB/s without
 * auto-converge); `calm-1`, on the Broadwell host, dirties ~1.7 MiB/s (converges at the link's
 * bandwidth, e.g. to the Skylake cmp3; not to the Haswell cmp1, whose CPU lacks Broadwell's features).
 */
export const LAB_DEFAULT_SERVERS: readonly LabServerSeed[] = [
  { name: "dirty-1", instanceId: 0x101, host: "cmp1", spinIterations: DEFAULT_SPIN_ITERATIONS },
  {
    name: "calm-1",
    instanceId: 0x102,
    host: "cmp2",
    spinIterations: DEFAULT_SPIN_ITERATIONS * 16,
    niced: true,
  },
];

const FLAVOR = { name: "m1.lab", ramMb: GUEST_MEMORY_MIB, vcpus: 1, diskGb: 0 };
/** What Glance shows the lab guests booted from: the guest kernel (lab/guest/dirty.S, a few KiB). */
const LAB_GUEST_IMAGE = { name: "migbot-lab-guest", sizeBytes: 4_872 };
/** Lab hypervisors report no local disk: the guests boot from a kernel file, with no disk image. */
const LAB_LOCAL_DISK_GB = 0;
/** The lab's QEMU: Debian 12's 7.2.0. */
const LAB_QEMU = { major: 7, minor: 2, micro: 0 };

interface LabServer extends NovaServerState {
  seed: LabServerSeed;
}

interface LabHost {
  index: number;
  name: string;
  address: string;
  release: string;
  cpu: CpuDef;
  cpuXml: string;
  heartbeat: AgentHeartbeat | null;
  heartbeatAtMs: number;
}

interface LabMigration extends NovaMigrationState {
  server: LabServer;
  requestId: string;
  /** The agent accepted the cast: from then on aborts go to it. */
  cast: boolean;
  report: AgentMigrationReport | null;
}

/** The control plane over the lab's hosts; state comes from the agents' heartbeats and reports. */
export class LabCloud extends ControlPlaneBase<LabServer, LabMigration> {
  readonly hosts = new Map<string, LabHost>();
  private migrationSeq = 0;

  constructor(
    readonly state: LabState,
    projectId: string,
    private readonly log: Logger,
  ) {
    super(projectId);
    state.hosts.forEach((h, i) => {
      const cpuXml = readFileSync(join(state.stateDir, h.name, "declared-cpu.xml"), "utf8");
      this.hosts.set(h.name, {
        index: i + 1,
        name: h.name,
        address: h.address,
        release: h.release,
        cpu: parseCpuXml(cpuXml)[0]!,
        cpuXml,
        heartbeat: null,
        heartbeatAtMs: 0,
      });
    });
  }

  /** Servers by uuid. */
  get servers(): Map<string, LabServer> {
    return this.serverRecords;
  }

  /** The lab runs on real time. */
  wallTime(): Date {
    return new Date();
  }

  /** Adds a server whose domain already runs on its host. */
  addServer(seed: LabServerSeed): LabServer {
    const uuid = `1ab0c0de-7e57-4b1d-9c1a-${seed.instanceId.toString(16).padStart(12, "0")}`;
    const now = this.isoNow();
    const server: LabServer = {
      seed,
      uuid,
      name: seed.name,
      instanceName: instanceName(seed.instanceId),
      image: LAB_GUEST_IMAGE,
      flavor: FLAVOR,
      host: seed.host,
      status: "ACTIVE",
      taskState: null,
      vmState: "active",
      powerState: POWER_STATE.RUNNING,
      created: now,
      updated: now,
      fault: null,
    };
    this.servers.set(uuid, server);
    return server;
  }

  serverByName(name: string): LabServer | undefined {
    return [...this.servers.values()].find((s) => s.seed.name === name);
  }

  /** Nova sees a host's nova-compute up while its heartbeats keep coming. */
  serviceUp(host: LabHost): boolean {
    return host.heartbeat !== null && Date.now() - host.heartbeatAtMs < LAB_SERVICE_DOWN_TIME_MS;
  }

  // ---------------------------------------------------------------- conductor side

  onHeartbeat(beat: AgentHeartbeat): void {
    const host = this.hosts.get(beat.host);
    if (host === undefined) return;
    host.heartbeat = beat;
    host.heartbeatAtMs = Date.now();
    for (const report of beat.migrations) this.onMigrationReport(beat.host, report);
  }

  /** A stopping agent says so: its service shows down at once (a restart then shows up again). */
  onStopping(hostName: string, pid: number): void {
    const host = this.hosts.get(hostName);
    if (host?.heartbeat?.pid === pid) host.heartbeatAtMs = 0;
  }

  onMigrationReport(hostName: string, report: AgentMigrationReport): void {
    const m = this.migrations.find(
      (x) => x.record.id === report.migrationId && x.record.sourceCompute === hostName,
    );
    if (m === undefined || isMigrationFinished(m.record.status)) return;
    m.report = report;
    m.record.memoryTotalBytes = report.memoryTotalBytes;
    m.record.memoryProcessedBytes = report.memoryProcessedBytes;
    m.record.memoryRemainingBytes = report.memoryRemainingBytes;
    if (report.status !== m.record.status) {
      setMigrationStatus(m, report.status, this.isoNow());
      if (report.status === "completed" && m.record.destCompute !== null) {
        m.server.host = m.record.destCompute;
        settleServer(m.server, this.isoNow());
        if (m.server.seed.niced) void this.renice(m.server);
      } else if (report.status === "error" || report.status === "cancelled") {
        m.server.fault = report.fault ?? null;
        settleServer(m.server, this.isoNow());
      }
      this.log.info("lab migration status", { id: m.record.id, status: report.status });
    }
  }

  // ---------------------------------------------------------------- helpers

  private fail(m: LabMigration, status: "error" | "cancelled", fault: string | null): void {
    setMigrationStatus(m, status, this.isoNow());
    m.server.fault = fault;
    settleServer(m.server, this.isoNow());
  }

  private agent<T>(host: string, path: string, body: unknown): Promise<T> {
    return socketRequest<T>(
      agentSocketPath(this.state.stateDir, host),
      "POST",
      path,
      body,
      AGENT_CALL_TIMEOUT_MS,
    );
  }

  /** Lowest CPU priority for every thread of the server's QEMU on its current host. */
  async renice(server: LabServer): Promise<void> {
    const pidFile = join(
      bindSourceDir(join(this.state.stateDir, server.host), "/run/libvirt"),
      "qemu",
      `${server.instanceName}.pid`,
    );
    try {
      const pid = Number(readFileSync(pidFile, "utf8").trim());
      // setpriority(2) on Linux applies to one thread: each of QEMU's threads (the vCPU's too) is set.
      for (const tid of readdirSync(`/proc/${pid}/task`)) setPriority(Number(tid), NICEST_PRIORITY);
    } catch (err) {
      this.log.warn("could not lower the guest's CPU priority", { server: server.seed.name, err });
    }
  }

  // ---------------------------------------------------------------- ControlPlane

  liveMigrate(serverId: string, request: LiveMigrateRequest): CloudMigration {
    const server = this.serverOrThrow(serverId);
    assertCanLiveMigrate(server);
    const source = this.hosts.get(server.host)!;
    let dest: LabHost | undefined;
    if (request.host !== null) {
      dest = namedDestination(this.hosts, server.uuid, source.name, request.host);
    } else {
      dest = [...this.hosts.values()].find((h) => h.name !== source.name && this.serviceUp(h));
      if (dest === undefined) throw noValidHost();
    }
    if (!this.serviceUp(dest)) throw computeServiceUnavailable(dest.name);
    // The lab's conductor does not model the scheduler; a disabled compute is refused as Nova's is.
    if (this.serviceDisabled(dest.name)) throw noValidHostFor("no-candidates");
    const now = this.isoNow();
    const record = newLiveMigrationRecord({
      id: ++this.migrationSeq,
      serverId: server.uuid,
      source: source.name,
      dest: dest.name,
      projectId: this.tenantId,
      now,
    });
    assignDestination(record, source.name, dest.name);
    record.status = "queued";
    const m: LabMigration = { record, server, requestId: newRequestId(), cast: false, report: null };
    this.migrations.push(m);
    markMigrating(server, now);
    // The pre-check (a CPU comparison on the destination) needs the real virsh there, so it runs
    // after the API answers, as Nova does from microversion 2.34.
    void this.run(m, source, dest);
    return { ...record };
  }

  private async run(m: LabMigration, source: LabHost, dest: LabHost): Promise<void> {
    try {
      const check = await this.agent<PrecheckAnswer>(dest.name, "/precheck", {
        cpuXml: source.cpuXml,
        requestId: m.requestId,
      });
      if (m.record.status !== "queued") return;
      if (!check.compatible) {
        const libvirtText = check.text
          .split("\n")
          .map((l) => l.replace(/^error:\s*/, ""))
          .filter((l) => l.trim() !== "" && !/^Failed to compare/.test(l))
          .join("\n");
        this.fail(m, "error", cpuIncompatibility(libvirtText).message);
        return;
      }
      setMigrationStatus(m, "preparing", this.isoNow());
      const cast: LiveMigrationCast = {
        migrationId: m.record.id,
        instanceUuid: m.server.uuid,
        domain: m.server.instanceName,
        dest: dest.name,
        memoryMb: FLAVOR.ramMb,
        requestId: m.requestId,
      };
      await this.agent(source.name, "/live-migration", cast);
      m.cast = true;
    } catch (err) {
      if (!isMigrationFinished(m.record.status)) {
        this.fail(m, "error", `nova-compute did not take the migration: ${(err as Error).message}`);
      }
    }
  }

  forceComplete(serverId: string, migrationId: number): void {
    const m = this.migrationOrThrow(serverId, migrationId);
    if (m.record.status !== "running") {
      throw wrongMigrationState("force_complete", serverId, migrationId, m.record.status);
    }
    void this.agent(m.record.sourceCompute, `/migrations/${migrationId}/force-complete`, {}).catch((err) =>
      this.log.warn("force-complete not delivered", { id: migrationId, err }),
    );
  }

  abortMigration(serverId: string, migrationId: number, _opts?: { abortQueued?: boolean }): void {
    const m = this.migrationOrThrow(serverId, migrationId);
    const status = m.record.status;
    if (status === "queued" || (status === "preparing" && !m.cast)) {
      this.fail(m, "cancelled", null);
      return;
    }
    if (status !== "running" && status !== "preparing") {
      throw wrongMigrationState("abort live migration", serverId, migrationId, status);
    }
    void this.agent(m.record.sourceCompute, `/migrations/${migrationId}/abort`, {}).catch((err) =>
      this.log.warn("abort not delivered", { id: migrationId, err }),
    );
  }

  hardReboot(serverId: string): void {
    const server = this.serverOrThrow(serverId);
    assertCanHardReboot(server);
    markHardRebooting(server, this.isoNow());
    void this.agent<{ ok: boolean; error?: string }>(server.host, "/reboot", {
      domain: server.instanceName,
      instanceUuid: server.uuid,
    })
      .then((answer) => {
        if (answer.ok) {
          server.vmState = "active";
          settleServer(server, this.isoNow());
          if (server.seed.niced) void this.renice(server);
        } else {
          markServerError(server, answer.error ?? null, this.isoNow());
        }
      })
      .catch((err: Error) => {
        // The agent did not answer: the guest's power state is not known, so it is left as it was.
        Object.assign(server, { status: "ERROR", vmState: "error", taskState: null, fault: err.message });
      });
  }

  private usedRamMb(host: LabHost): number {
    let used = RESERVED_HOST_MEMORY_MB;
    for (const s of this.servers.values()) if (s.host === host.name) used += FLAVOR.ramMb;
    return used;
  }

  hypervisors(): CloudHypervisor[] {
    // Every lab host is the same machine: its memory and CPU count, split nowhere.
    const memoryMb = Math.floor(totalmem() / 1024 / 1024);
    const vcpus = cpus().length;
    return [...this.hosts.values()].map((h) => {
      const used = this.usedRamMb(h);
      const running = [...this.servers.values()].filter((s) => s.host === h.name).length;
      return {
        id: h.index,
        uuid: `1ab0c0de-0000-4000-8000-${String(h.index).padStart(12, "0")}`,
        hypervisorHostname: h.name,
        hypervisorType: "QEMU",
        hypervisorVersion: hypervisorVersion(LAB_QEMU),
        hostIp: h.address,
        serviceHost: h.name,
        serviceId: h.index,
        state: this.serviceUp(h) ? "up" : "down",
        status: this.serviceDisabled(h.name) ? "disabled" : "enabled",
        vcpus,
        vcpusUsed: running,
        memoryMb,
        memoryMbUsed: used,
        freeRamMb: memoryMb - used,
        localGb: LAB_LOCAL_DISK_GB,
        localGbUsed: 0,
        freeDiskGb: LAB_LOCAL_DISK_GB,
        runningVms: running,
        cpuInfo: hypervisorCpuInfo(h.cpu, { cores: vcpus, threads: 1, sockets: 1 }),
      };
    });
  }

  services(): CloudService[] {
    return [...this.hosts.values()].map((h) =>
      this.withOperatorStatus(
        computeService({
          id: h.index,
          host: h.name,
          up: this.serviceUp(h),
          updatedAt: h.heartbeatAtMs > 0 ? novaTimestamp(new Date(h.heartbeatAtMs)) : this.isoNow(),
        }),
      ),
    );
  }
}

export interface LabCloudOptions {
  /** The state dir of a lab brought up with `migbot lab up`. */
  labStateDir: string;
  /** @defaultValue {@link LAB_DEFAULT_SERVERS} */
  servers?: readonly LabServerSeed[];
  /** @defaultValue "2.93" (a Zed controller) */
  novaMaxMicroversion?: string;
  /** clouds.yaml and the inventory go here. @defaultValue a new temp dir */
  dataDir?: string;
  log?: Logger;
}

/**
 * What the built-in sandbox hands out (hosts, keys, endpoints, clouds.yaml, inventory), with the
 * lab's control plane as `cloud`; the lab hosts' sshd are the lab's own, so no `sshServers`.
 */
export interface LabSandbox extends Omit<Sandbox, "cloud" | "sshServers"> {
  cloud: LabCloud;
  lab: LabState;
}

async function startConductor(cloud: LabCloud, socketPath: string): Promise<Server> {
  rmSync(socketPath, { force: true });
  const server = createServer((req, res) => {
    readJsonBody(req)
      .then((body) => {
        const b = body as Record<string, unknown>;
        if (req.url === "/heartbeat") cloud.onHeartbeat(b as unknown as AgentHeartbeat);
        else if (req.url === "/migration")
          cloud.onMigrationReport(String(b.host), b as unknown as AgentMigrationReport);
        else if (req.url === "/stopping") cloud.onStopping(String(b.host), Number(b.pid));
        else {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(204).end();
      })
      .catch((err: Error) => res.writeHead(400).end(err.message));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, resolve);
  });
  return server;
}

/**
 * Starts the sandbox's Nova over a running lab: the conductor socket the agents report to, the
 * seeded guests as real domains, and the Nova API on loopback. `stop()` removes the guests again.
 */
export async function startLabCloud(opts: LabCloudOptions): Promise<LabSandbox> {
  const log = opts.log ?? silentLogger;
  const state = readLabState(opts.labStateDir);
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "migbot-lab-cloud-"));
  const account = sandboxAdminCredentials(randomUUID());
  const cloud = new LabCloud(state, sandboxProjectId(account), log);
  const closers: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const close of closers.splice(0).reverse())
      await close().catch((err) => log.warn("lab cloud stop step failed", { err }));
  };
  try {
    const socketPath = conductorSocketPath(state.stateDir);
    const conductor = await startConductor(cloud, socketPath);
    closers.push(async () => {
      await new Promise<void>((resolve) => conductor.close(() => resolve()));
      rmSync(socketPath, { force: true });
    });
    const deadline = Date.now() + AGENTS_REPORT_TIMEOUT_MS;
    while ([...cloud.hosts.values()].some((h) => !cloud.serviceUp(h))) {
      if (Date.now() > deadline) {
        const silent = [...cloud.hosts.values()].filter((h) => !cloud.serviceUp(h)).map((h) => h.name);
        throw new LabError(
          "LAB_TIMEOUT",
          `nova-compute on ${silent.join(", ")} did not report within ${AGENTS_REPORT_TIMEOUT_MS} ms — check \`npm run lab -- status --state-dir ${state.stateDir}\` and ${join(state.stateDir, silent[0] ?? "cmp1", "nova-compute.out")}`,
        );
      }
      await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
    }

    const kernels = new Map<number, string>();
    for (const seed of opts.servers ?? LAB_DEFAULT_SERVERS) {
      if (!kernels.has(seed.spinIterations)) {
        kernels.set(
          seed.spinIterations,
          await buildGuest(join(state.stateDir, "guest", `spin-${seed.spinIterations}`), seed.spinIterations),
        );
      }
      await startGuest(state, seed.host, {
        id: seed.instanceId,
        kernelPath: kernels.get(seed.spinIterations)!,
      });
      const server = cloud.addServer(seed);
      closers.push(async () => {
        for (const args of [
          ["destroy", server.instanceName],
          ["undefine", server.instanceName],
        ]) {
          await virsh(state, server.host, args, GUEST_TEARDOWN_TIMEOUT_MS).catch(() => undefined);
        }
      });
      if (seed.niced) await cloud.renice(server);
    }

    const labInventory = join(state.stateDir, "inventory.yaml");
    if (!existsSync(labInventory))
      throw new LabError("LAB_NOT_UP", `${labInventory} is missing — run \`npm run lab -- up\` again`);
    const hosts = (parseYaml(readFileSync(labInventory, "utf8")) as { hosts: HostEntry[] }).hosts;
    const { close: closeApi, ...access } = await serveSandboxNova({
      controlPlane: cloud,
      account,
      maxMicroversion: opts.novaMaxMicroversion ?? ZED_MAX_MICROVERSION,
      dataDir,
      hosts,
      log,
    });
    closers.push(closeApi);
    log.info("lab cloud started", {
      hosts: hosts.length,
      novaUrl: access.novaUrl,
      servers: cloud.servers.size,
    });
    return {
      ...access,
      hosts,
      privateKeyPath: join(state.stateDir, "client_ed25519"),
      cloud,
      lab: state,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
