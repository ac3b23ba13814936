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
 * lab all of that lives on the hosts. What both share is the {@link ControlPlane} seam the Nova API
 * serves, so the API and the bot see no difference.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { cpus, setPriority, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { HostEntry } from "../hosts/inventory";
import {
  type AgentHeartbeat,
  type AgentMigrationReport,
  agentSocketPath,
  conductorSocketPath,
  type LiveMigrationCast,
  type PrecheckAnswer,
  readJsonBody,
  socketRequest,
} from "../lab/agent-protocol";
import { LabError } from "../lab/errors";
import {
  buildGuest,
  DEFAULT_SPIN_ITERATIONS,
  GUEST_MEMORY_MIB,
  instanceName,
  startGuest,
} from "../lab/guest";
import { virsh } from "../lab/host-exec";
import { readLabState } from "../lab/lab";
import { bindSourceDir } from "../lab/plan";
import type { LabState } from "../lab/state";
import { type Logger, silentLogger } from "../log";
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
import { type CpuDef, featureSet, parseCpuXml } from "./cpu";
import { type Sandbox, type SandboxCredentials, ZED_MAX_MICROVERSION } from "./index";
import { sandboxProjectId, startNovaApi } from "./nova-api";
import { newRequestId } from "./nova-log";
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
  sandboxAdminCredentials,
  writeSandboxClientFiles,
  wrongMigrationState,
} from "./nova-records";

/** Nova's `service_down_time` for the lab: three missed heartbeats (the agents beat every second). */
export const LAB_SERVICE_DOWN_TIME_MS = 3_000;
/** How long `startLabCloud` waits for every host's agent to report. */
export const AGENTS_REPORT_TIMEOUT_MS = 30_000;
/** One call to an agent (cast, abort, pre-check: the pre-check runs two `virsh cpu-baseline`). */
const AGENT_CALL_TIMEOUT_MS = 20_000;
/** Tearing the seeded guests down at stop: destroy + undefine per guest. */
const GUEST_TEARDOWN_TIMEOUT_MS = 20_000;
const POLL_INTERVAL_MS = 200;
/** Nova keeps this much RAM for the host itself (`reserved_host_memory_mb`). */
const RESERVED_HOST_MEMORY_MB = 512;
/** Lowest CPU priority: a guest that should not take CPU from the others (see `niced`). */
const NICEST_PRIORITY = 19;
const LIBVIRT_COMPARE_URL = "http://libvirt.org/html/libvirt-libvirt-host.html#virCPUCompareResult";

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

interface LabServer {
  seed: LabServerSeed;
  uuid: string;
  domain: string;
  host: string;
  status: CloudServer["status"];
  taskState: string | null;
  vmState: string;
  powerState: number;
  created: string;
  updated: string;
  fault: string | null;
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

interface LabMigration {
  record: CloudMigration;
  server: LabServer;
  requestId: string;
  /** The agent accepted the cast: from then on aborts go to it. */
  cast: boolean;
  report: AgentMigrationReport | null;
}

function isoNow(): string {
  return novaTimestamp(new Date());
}

const FINISHED: readonly CloudMigrationStatus[] = ["completed", "error", "failed", "cancelled"];

/** The control plane over the lab's hosts; state comes from the agents' heartbeats and reports. */
export class LabCloud implements ControlPlane {
  readonly hosts = new Map<string, LabHost>();
  readonly servers = new Map<string, LabServer>();
  readonly migrations: LabMigration[] = [];
  private migrationSeq = 0;

  constructor(
    readonly state: LabState,
    private readonly projectId: string,
    private readonly log: Logger,
  ) {
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

  /** Adds a server whose domain already runs on its host. */
  addServer(seed: LabServerSeed): LabServer {
    const uuid = `1ab0c0de-7e57-4b1d-9c1a-${seed.instanceId.toString(16).padStart(12, "0")}`;
    const now = isoNow();
    const server: LabServer = {
      seed,
      uuid,
      domain: instanceName(seed.instanceId),
      host: seed.host,
      status: "ACTIVE",
      taskState: null,
      vmState: "active",
      powerState: 1,
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
    if (m === undefined || FINISHED.includes(m.record.status)) return;
    m.report = report;
    m.record.memoryTotalBytes = report.memoryTotalBytes;
    m.record.memoryProcessedBytes = report.memoryProcessedBytes;
    m.record.memoryRemainingBytes = report.memoryRemainingBytes;
    if (report.status !== m.record.status) {
      this.setStatus(m, report.status);
      if (report.status === "completed") {
        m.server.host = m.record.destCompute;
        this.serverDone(m.server);
        if (m.server.seed.niced) void this.renice(m.server);
      } else if (report.status === "error" || report.status === "cancelled") {
        m.server.fault = report.fault ?? null;
        this.serverDone(m.server);
      }
      this.log.info("lab migration status", { id: m.record.id, status: report.status });
    }
  }

  // ---------------------------------------------------------------- helpers

  private setStatus(m: LabMigration, status: CloudMigrationStatus): void {
    m.record.status = status;
    m.record.updatedAt = isoNow();
  }

  private serverDone(server: LabServer): void {
    server.status = "ACTIVE";
    server.taskState = null;
    server.powerState = 1;
    server.updated = isoNow();
  }

  private fail(m: LabMigration, status: "error" | "cancelled", fault: string | null): void {
    this.setStatus(m, status);
    m.server.fault = fault;
    this.serverDone(m.server);
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
      `${server.domain}.pid`,
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

  listServers(): CloudServer[] {
    return [...this.servers.values()].map((s) => this.toServer(s));
  }

  getServer(id: string): CloudServer | undefined {
    const s = this.servers.get(id);
    return s ? this.toServer(s) : undefined;
  }

  private toServer(s: LabServer): CloudServer {
    return {
      id: s.uuid,
      name: s.seed.name,
      status: s.status,
      host: s.host,
      hypervisorHostname: s.host,
      instanceName: s.domain,
      taskState: s.taskState,
      vmState: s.vmState,
      powerState: s.powerState,
      flavor: { ...FLAVOR },
      tenantId: this.projectId,
      userId: SANDBOX_USER_ID,
      created: s.created,
      updated: s.updated,
    };
  }

  liveMigrate(serverId: string, request: LiveMigrateRequest): CloudMigration {
    const server = this.servers.get(serverId);
    if (!server) throw instanceNotFound(serverId);
    if (server.status !== "ACTIVE" || server.taskState !== null) {
      const [attr, value] =
        server.taskState !== null ? ["task_state", server.taskState] : ["vm_state", server.vmState];
      throw new ControlPlaneError(
        "conflict",
        409,
        `Cannot 'os-migrateLive' instance ${server.uuid} while it is in ${attr} ${value}`,
      );
    }
    const source = this.hosts.get(server.host)!;
    let dest: LabHost | undefined;
    if (request.host !== null) {
      dest = namedDestination(this.hosts, server.uuid, source.name, request.host);
    } else {
      dest = [...this.hosts.values()].find((h) => h.name !== source.name && this.serviceUp(h));
      if (dest === undefined) throw noValidHost();
    }
    if (!this.serviceUp(dest)) {
      throw new ControlPlaneError(
        "badRequest",
        400,
        `Compute service of ${dest.name} is unavailable at this time.`,
      );
    }
    const now = isoNow();
    const record = newLiveMigrationRecord({
      id: ++this.migrationSeq,
      uuid: randomUUID(),
      serverId: server.uuid,
      source: source.name,
      dest: dest.name,
      destHost: dest.address,
      projectId: this.projectId,
      now,
    });
    const m: LabMigration = { record, server, requestId: newRequestId(), cast: false, report: null };
    this.migrations.push(m);
    server.status = "MIGRATING";
    server.taskState = "migrating";
    server.fault = null;
    server.updated = now;
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
        this.fail(
          m,
          "error",
          `Migration pre-check error: CPU doesn't have compatibility.\n\n${libvirtText}\n\nRefer to ${LIBVIRT_COMPARE_URL}`,
        );
        return;
      }
      this.setStatus(m, "preparing");
      const cast: LiveMigrationCast = {
        migrationId: m.record.id,
        instanceUuid: m.server.uuid,
        domain: m.server.domain,
        dest: dest.name,
        memoryMb: FLAVOR.ramMb,
        requestId: m.requestId,
      };
      await this.agent(source.name, "/live-migration", cast);
      m.cast = true;
    } catch (err) {
      if (!FINISHED.includes(m.record.status)) {
        this.fail(m, "error", `nova-compute did not take the migration: ${(err as Error).message}`);
      }
    }
  }

  listMigrations(filter: MigrationFilter): CloudMigration[] {
    return listMigrations(this.migrations, filter);
  }

  getMigration(serverId: string, migrationId: number): CloudMigration | undefined {
    const m = findMigration(this.migrations, serverId, migrationId);
    return m ? { ...m.record } : undefined;
  }

  private migrationOrThrow(serverId: string, migrationId: number): LabMigration {
    return migrationOrThrow(this.migrations, this.servers.has(serverId), serverId, migrationId);
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

  abortMigration(serverId: string, migrationId: number): void {
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
    const server = this.servers.get(serverId);
    if (!server) throw instanceNotFound(serverId);
    if (server.taskState !== null) {
      throw new ControlPlaneError(
        "conflict",
        409,
        `Cannot 'reboot' instance ${server.uuid} while it is in task_state ${server.taskState}`,
      );
    }
    server.status = "HARD_REBOOT";
    server.taskState = "rebooting_hard";
    server.updated = isoNow();
    void this.agent<{ ok: boolean; error?: string }>(server.host, "/reboot", {
      domain: server.domain,
      instanceUuid: server.uuid,
    })
      .then((answer) => {
        if (answer.ok) {
          server.vmState = "active";
          this.serverDone(server);
          if (server.seed.niced) void this.renice(server);
        } else {
          Object.assign(server, {
            status: "ERROR",
            vmState: "error",
            taskState: null,
            powerState: 4,
            fault: answer.error,
          });
        }
      })
      .catch((err: Error) => {
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
        hypervisorVersion: 7002000,
        hostIp: h.address,
        serviceHost: h.name,
        serviceId: h.index,
        state: this.serviceUp(h) ? "up" : "down",
        status: "enabled",
        vcpus,
        vcpusUsed: running,
        memoryMb,
        memoryMbUsed: used,
        freeRamMb: memoryMb - used,
        localGb: 0,
        localGbUsed: 0,
        freeDiskGb: 0,
        runningVms: running,
        cpuInfo: {
          arch: h.cpu.arch ?? "x86_64",
          model: h.cpu.model ?? "",
          vendor: h.cpu.vendor ?? "",
          features: [...featureSet(h.cpu)].sort(),
          topology: { cores: vcpus, threads: 1, sockets: 1 },
        },
      };
    });
  }

  services(): CloudService[] {
    return [...this.hosts.values()].map((h) =>
      computeService({
        id: h.index,
        host: h.name,
        up: this.serviceUp(h),
        updatedAt: h.heartbeatAtMs > 0 ? novaTimestamp(new Date(h.heartbeatAtMs)) : isoNow(),
      }),
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
  const baseCredentials = sandboxAdminCredentials(randomUUID());
  const cloud = new LabCloud(state, sandboxProjectId(baseCredentials), log);
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
          ["destroy", server.domain],
          ["undefine", server.domain],
        ]) {
          await virsh(state, server.host, args, GUEST_TEARDOWN_TIMEOUT_MS).catch(() => undefined);
        }
      });
      if (seed.niced) await cloud.renice(server);
    }

    const api = await startNovaApi({
      controlPlane: cloud,
      credentials: baseCredentials,
      maxMicroversion: opts.novaMaxMicroversion ?? ZED_MAX_MICROVERSION,
      log,
    });
    closers.push(() => api.close());
    const credentials: SandboxCredentials = { authUrl: api.keystoneUrl, ...baseCredentials };
    const labInventory = join(state.stateDir, "inventory.yaml");
    if (!existsSync(labInventory))
      throw new LabError("LAB_NOT_UP", `${labInventory} is missing — run \`npm run lab -- up\` again`);
    const hosts = (parseYaml(readFileSync(labInventory, "utf8")) as { hosts: HostEntry[] }).hosts;
    const { cloudsYaml, cloudsYamlPath, inventoryPath } = await writeSandboxClientFiles(
      dataDir,
      credentials,
      hosts,
    );
    log.info("lab cloud started", { hosts: hosts.length, novaUrl: api.novaUrl, servers: cloud.servers.size });
    return {
      hosts,
      privateKeyPath: join(state.stateDir, "client_ed25519"),
      keystoneUrl: api.keystoneUrl,
      novaUrl: api.novaUrl,
      credentials,
      cloudsYaml,
      cloudsYamlPath,
      inventoryPath,
      cloud,
      lab: state,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
