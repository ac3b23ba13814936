/**
 * A small in-memory {@link ControlPlane} for testing the sandbox API and the Nova client without
 * the pre-copy model: live-migrate creates a running migration that the test moves along by hand.
 */
import { IN_PROGRESS_LIVE_MIGRATION_STATUSES } from "../../src/nova-facts";
import {
  type CloudFlavor,
  type CloudHypervisor,
  type CloudImage,
  type CloudInstanceAction,
  type CloudMigration,
  type CloudServer,
  type CloudService,
  type ControlPlane,
  ControlPlaneError,
  type LiveMigrateRequest,
  type MigrationFilter,
} from "../../src/sandbox/control-plane";

export const PROJECT_FOR_TESTS = "not-the-sandbox-project";
const IN_PROGRESS = new Set<string>(IN_PROGRESS_LIVE_MIGRATION_STATUSES);
const GIB = 1024 ** 3;

export class FakeCloud implements ControlPlane {
  servers: CloudServer[] = [];
  migrations: CloudMigration[] = [];
  hypervisorList: CloudHypervisor[] = [];
  serviceList: CloudService[] = [];
  liveMigrateCalls: Array<{ serverId: string; request: LiveMigrateRequest }> = [];
  forceCompleted: number[] = [];
  aborted: number[] = [];
  rebooted: string[] = [];
  private nextMigrationId = 1;

  constructor(hosts = ["cmp1", "cmp2", "cmp3", "cmp4"]) {
    hosts.forEach((host, i) => {
      this.serviceList.push({
        id: 10 + i,
        binary: "nova-compute",
        host,
        zone: "nova",
        status: i === 3 ? "disabled" : "enabled",
        state: i === 2 ? "down" : "up",
        updatedAt: "2024-05-01T10:00:00Z",
        disabledReason: i === 3 ? "maintenance window" : null,
        forcedDown: false,
      });
      this.hypervisorList.push({
        id: 1 + i,
        uuid: `00000000-0000-4000-8000-00000000000${i + 1}`,
        hypervisorHostname: `${host}.sandbox`,
        hypervisorType: "QEMU",
        hypervisorVersion: 7002000,
        hostIp: `10.99.0.1${i + 1}`,
        serviceHost: host,
        serviceId: 10 + i,
        state: i === 2 ? "down" : "up",
        status: i === 3 ? "disabled" : "enabled",
        vcpus: 16,
        vcpusUsed: 2,
        memoryMb: 65536,
        memoryMbUsed: 4608,
        freeRamMb: 60928,
        localGb: 500,
        localGbUsed: 20,
        freeDiskGb: 480,
        runningVms: 1,
        cpuInfo: {
          arch: "x86_64",
          model: i % 2 === 0 ? "Skylake-Client" : "Broadwell",
          vendor: "Intel",
          features: ["pge", "clflush"],
          topology: { cells: 1, cores: 4, threads: 2, sockets: 1 },
        },
      });
    });
    this.addServer({ id: "8600d31b-d1a1-4632-b2ff-45c2be1a70ff", name: "db-1", host: "cmp1" });
    this.addServer({ id: "9128d044-7b61-403e-b766-7547076ff6c1", name: "web.1", host: "cmp2" });
    this.addServer({ id: "4cfba335-03d8-49b2-8c52-e69043d1e8fe", name: "web-1", host: "cmp2" });
  }

  addServer(s: { id: string; name: string; host: string; tenantId?: string }): CloudServer {
    const server: CloudServer = {
      id: s.id,
      name: s.name,
      image: { id: "70a599e0-31e7-49b7-b260-868f441e862b", name: "cirros" },
      status: "ACTIVE",
      host: s.host,
      hypervisorHostname: `${s.host}.sandbox`,
      instanceName: `instance-${(this.servers.length + 1).toString(16).padStart(8, "0")}`,
      taskState: null,
      vmState: "active",
      powerState: 1,
      flavor: { name: "m1.large", ramMb: 8192, vcpus: 4, diskGb: 80 },
      tenantId: s.tenantId ?? PROJECT_FOR_TESTS,
      userId: "5c48ebaa193f4c5d948af559cc92cd5e",
      created: "2024-05-01T09:00:00Z",
      updated: "2024-05-01T09:30:00Z",
    };
    this.servers.push(server);
    return server;
  }

  listServers(): CloudServer[] {
    return this.servers;
  }

  getServer(id: string): CloudServer | undefined {
    return this.servers.find((s) => s.id === id);
  }

  liveMigrate(serverId: string, request: LiveMigrateRequest): CloudMigration {
    const server = this.getServer(serverId);
    if (!server) throw new ControlPlaneError("itemNotFound", 404, `Instance ${serverId} could not be found.`);
    if (server.status !== "ACTIVE") {
      throw new ControlPlaneError(
        "conflict",
        409,
        `Cannot 'os-migrateLive' instance ${serverId} while it is in task_state migrating`,
      );
    }
    if (request.host !== null && !this.serviceList.some((s) => s.host === request.host)) {
      throw new ControlPlaneError("badRequest", 400, `Compute host ${request.host} could not be found.`);
    }
    this.liveMigrateCalls.push({ serverId, request });
    const dest = request.host ?? this.serviceList.find((s) => s.host !== server.host)!.host;
    const now = new Date().toISOString();
    const migration: CloudMigration = {
      id: this.nextMigrationId++,
      uuid: `12341d4b-346a-40d0-83c6-5f4f6892b6${String(this.nextMigrationId).padStart(2, "0")}`,
      serverId,
      migrationType: "live-migration",
      status: "running",
      sourceCompute: server.host,
      sourceNode: server.hypervisorHostname,
      destCompute: dest,
      destNode: `${dest}.sandbox`,
      destHost: null,
      memoryTotalBytes: 8 * GIB,
      memoryProcessedBytes: 2 * GIB,
      memoryRemainingBytes: 6 * GIB,
      diskTotalBytes: 0,
      diskProcessedBytes: 0,
      diskRemainingBytes: 0,
      oldInstanceTypeId: 3,
      newInstanceTypeId: 3,
      userId: server.userId,
      projectId: server.tenantId,
      createdAt: now,
      updatedAt: now,
    };
    this.migrations.push(migration);
    server.status = "MIGRATING";
    server.taskState = "migrating";
    return migration;
  }

  listMigrations(filter: MigrationFilter): CloudMigration[] {
    return this.migrations.filter(
      (m) =>
        (filter.instanceUuid === undefined || m.serverId === filter.instanceUuid) &&
        (filter.migrationType === undefined || m.migrationType === filter.migrationType) &&
        (!filter.inProgressOnly || IN_PROGRESS.has(m.status)),
    );
  }

  getMigration(serverId: string, migrationId: number): CloudMigration | undefined {
    return this.migrations.find((m) => m.serverId === serverId && m.id === migrationId);
  }

  forceComplete(serverId: string, migrationId: number): void {
    const m = this.getMigration(serverId, migrationId);
    if (m?.status !== "running") {
      throw new ControlPlaneError(
        "conflict",
        409,
        `Migration ${migrationId} state of instance ${serverId} is ${m?.status ?? "unknown"}. Cannot force_complete while the migration is in this state.`,
      );
    }
    this.forceCompleted.push(migrationId);
  }

  abortMigration(serverId: string, migrationId: number): void {
    const m = this.getMigration(serverId, migrationId)!;
    m.status = "cancelled";
    this.aborted.push(migrationId);
  }

  hardReboot(serverId: string): void {
    this.rebooted.push(serverId);
  }

  hypervisors(): CloudHypervisor[] {
    return this.hypervisorList;
  }

  wallTime(): Date {
    return new Date();
  }

  setServiceStatus(
    host: string,
    binary: string,
    change: { status: "enabled" | "disabled"; disabledReason: string | null },
  ): CloudService {
    const s = this.serviceList.find((x) => x.host === host && x.binary === binary);
    if (!s)
      throw new ControlPlaneError("itemNotFound", 404, `Could not find binary ${binary} on host ${host}.`);
    s.status = change.status;
    s.disabledReason = change.disabledReason;
    return s;
  }

  instanceActions(serverId: string): CloudInstanceAction[] {
    if (!this.getServer(serverId)) {
      throw new ControlPlaneError("itemNotFound", 404, `Instance ${serverId} could not be found.`);
    }
    return [];
  }

  images(): CloudImage[] {
    return [
      {
        id: "70a599e0-31e7-49b7-b260-868f441e862b",
        name: "cirros",
        sizeBytes: 21_430_272,
        createdAt: "2024-05-01T08:00:00Z",
        owner: PROJECT_FOR_TESTS,
      },
    ];
  }

  flavors(): CloudFlavor[] {
    return [{ id: "m1.large", name: "m1.large", ramMb: 8192, vcpus: 4, diskGb: 80 }];
  }

  services(): CloudService[] {
    return this.serviceList;
  }

  /** Moves a migration to a final status, as the model would. */
  finish(migrationId: number, status: "completed" | "error" | "cancelled"): void {
    const m = this.migrations.find((x) => x.id === migrationId)!;
    m.status = status;
    m.updatedAt = new Date().toISOString();
    const server = this.getServer(m.serverId)!;
    server.status = "ACTIVE";
    server.taskState = null;
    if (status === "completed" && m.destCompute !== null) server.host = m.destCompute;
  }
}
