/**
 * What both sandbox control planes (the model cloud in `cloud.ts`, the lab's in `src/lab/data-plane.ts`)
 * do alike as Nova's API and conductor: keep the server and live-migration records, look them up,
 * refuse an action in the wrong state with Nova's wording, and move a server into MIGRATING or
 * HARD_REBOOT and back. Each cloud brings only its data plane: where a migration really runs and
 * what a host reports. Kept here so the bot cannot tell the two clouds apart through the Nova API.
 */

import { uuidFrom } from "./api-common";
import {
  type CloudActionEvent,
  type CloudFlavor,
  type CloudHypervisor,
  type CloudImage,
  type CloudInstanceAction,
  type CloudMigration,
  type CloudMigrationStatus,
  type CloudServer,
  type CloudService,
  type ControlPlane,
  ControlPlaneError,
  type LiveMigrateRequest,
  type MigrationFilter,
} from "./control-plane";
import type { CpuDef } from "./cpu";
import { featureSet } from "./cpu";
import {
  findMigration,
  instanceNotFound,
  listMigrations,
  migrationOrThrow,
  novaTimestamp,
  SANDBOX_USER_ID,
} from "./nova-records";

/** A server as both clouds keep it: what Nova's API shows of it, changed in place. */
export interface NovaServerState {
  readonly uuid: string;
  readonly name: string;
  /** The Glance image it booted from. */
  readonly image: ServerImage;
  /** The libvirt domain, `instance-%08x`. */
  readonly instanceName: string;
  readonly flavor: CloudServer["flavor"];
  host: string;
  status: CloudServer["status"];
  taskState: string | null;
  vmState: string;
  powerState: number;
  readonly created: string;
  updated: string;
  /** The last error Nova recorded for the server (a failed pre-check or reboot). */
  fault: string | null;
}

/** A server's image: its name and size (its id is derived from the name, the same in every cloud start). */
export interface ServerImage {
  name: string;
  sizeBytes: number;
}

/** The image id Glance shows for an image name. */
export function imageId(name: string): string {
  return uuidFrom(`image:${name}`);
}

/** A live migration as both clouds keep it: Nova's record plus whatever the data plane needs. */
export interface NovaMigrationState {
  record: CloudMigration;
}

/** Statuses after which a live migration no longer moves (nor holds a claim on its destination). */
const FINISHED_MIGRATION_STATUSES: readonly CloudMigrationStatus[] = [
  "completed",
  "error",
  "failed",
  "cancelled",
];

/** `OS-EXT-STS:power_state` values (nova 13.0.0 nova/compute/power_state.py; the same indexes in 26.2.2). */
export const POWER_STATE = { RUNNING: 1, PAUSED: 3, SHUTDOWN: 4 } as const;

/** A migration's new status, stamped with `now`. */
export function setMigrationStatus(m: NovaMigrationState, status: CloudMigrationStatus, now: string): void {
  m.record.status = status;
  m.record.updatedAt = now;
}

/** Whether a live migration has ended, one way or another. */
export function isMigrationFinished(status: CloudMigrationStatus): boolean {
  return FINISHED_MIGRATION_STATUSES.includes(status);
}

/** Nova's 409 for `os-migrateLive` on a server that is busy or not active. */
export function assertCanLiveMigrate(s: NovaServerState): void {
  if (s.status === "ACTIVE" && s.taskState === null) return;
  const [attr, value] = s.taskState !== null ? ["task_state", s.taskState] : ["vm_state", s.vmState];
  throw new ControlPlaneError(
    "conflict",
    409,
    `Cannot 'os-migrateLive' instance ${s.uuid} while it is in ${attr} ${value}`,
  );
}

/** Nova's 409 for `reboot` on a server with a task under way. */
export function assertCanHardReboot(s: NovaServerState): void {
  if (s.taskState === null) return;
  throw new ControlPlaneError(
    "conflict",
    409,
    `Cannot 'reboot' instance ${s.uuid} while it is in task_state ${s.taskState}`,
  );
}

/** The server as Nova shows it while a live migration of it is accepted and under way. */
export function markMigrating(s: NovaServerState, now: string): void {
  s.status = "MIGRATING";
  s.taskState = "migrating";
  s.fault = null;
  s.updated = now;
}

/** The server as Nova shows it while a hard reboot is under way. */
export function markHardRebooting(s: NovaServerState, now: string): void {
  s.status = "HARD_REBOOT";
  s.taskState = "rebooting_hard";
  s.updated = now;
}

/** The server back to ACTIVE and running once its task ended (whatever the migration's outcome). */
export function settleServer(s: NovaServerState, now: string): void {
  s.status = "ACTIVE";
  s.taskState = null;
  s.powerState = POWER_STATE.RUNNING;
  s.updated = now;
}

/** A server whose guest could not be (re)started: ERROR, shut down, with the reason as its fault. */
export function markServerError(s: NovaServerState, fault: string | null, now: string): void {
  s.status = "ERROR";
  s.vmState = "error";
  s.taskState = null;
  s.powerState = POWER_STATE.SHUTDOWN;
  s.fault = fault;
  s.updated = now;
}

/** The server as the {@link ControlPlane} hands it to the API. */
export function serverView(s: NovaServerState, tenantId: string): CloudServer {
  return {
    id: s.uuid,
    name: s.name,
    status: s.status,
    host: s.host,
    hypervisorHostname: s.host,
    instanceName: s.instanceName,
    taskState: s.taskState,
    vmState: s.vmState,
    powerState: s.powerState,
    image: { id: imageId(s.image.name), name: s.image.name },
    flavor: { ...s.flavor },
    tenantId,
    userId: SANDBOX_USER_ID,
    created: s.created,
    updated: s.updated,
  };
}

/** A hypervisor's `cpu_info`: libvirt's host CPU (model, vendor, features) and the topology. */
export function hypervisorCpuInfo(
  cpu: CpuDef,
  topology: Omit<CloudHypervisor["cpuInfo"]["topology"], "cells">,
): CloudHypervisor["cpuInfo"] {
  return {
    arch: cpu.arch ?? "x86_64",
    model: cpu.model ?? "",
    vendor: cpu.vendor ?? "",
    features: [...featureSet(cpu)].sort(),
    // One NUMA node: what libvirt reports for the sandbox's and the lab's hosts.
    topology: { cells: 1, ...topology },
  };
}

/**
 * A hypervisor's `hypervisor_version`: libvirt's `getVersion()` for QEMU, which Nova passes through
 * (nova 26.2.2 nova/virt/libvirt/host.py `get_version`): major × 1,000,000 + minor × 1,000 + micro.
 */
export function hypervisorVersion(qemu: { major: number; minor: number; micro: number }): number {
  return qemu.major * 1_000_000 + qemu.minor * 1_000 + qemu.micro;
}

/**
 * The records and lookups of a {@link ControlPlane}; a subclass adds the actions (migrate, abort,
 * force-complete, reboot) and the host views (hypervisors, services) from its data plane.
 */
export abstract class ControlPlaneBase<S extends NovaServerState, M extends NovaMigrationState>
  implements ControlPlane
{
  /** Every live migration ever accepted, oldest first. */
  readonly migrations: M[] = [];
  /** Servers by uuid. */
  protected readonly serverRecords = new Map<string, S>();
  /** Instance actions by server uuid, oldest first. */
  private readonly actionRecords = new Map<string, CloudInstanceAction[]>();
  /** Services an operator disabled (`PUT /os-services`), by `host/binary`. */
  private readonly disabledServices = new Map<string, string | null>();

  /** @param tenantId the project the servers belong to (`tenant_id`). */
  constructor(protected readonly tenantId: string) {}

  /** Wall-clock time of the cloud's now (timestamps of records). */
  abstract wallTime(): Date;
  abstract liveMigrate(serverId: string, request: LiveMigrateRequest): CloudMigration;
  abstract forceComplete(serverId: string, migrationId: number): void;
  abstract abortMigration(serverId: string, migrationId: number): void;
  abstract hardReboot(serverId: string): void;
  abstract hypervisors(): CloudHypervisor[];
  /** Every service Nova lists, with the operator's enable/disable applied ({@link withOperatorStatus}). */
  abstract services(): CloudService[];

  /** Now, as Nova prints a record's timestamp. */
  protected isoNow(): string {
    return novaTimestamp(this.wallTime());
  }

  listServers(): CloudServer[] {
    return [...this.serverRecords.values()].map((s) => serverView(s, this.tenantId));
  }

  getServer(id: string): CloudServer | undefined {
    const s = this.serverRecords.get(id);
    return s ? serverView(s, this.tenantId) : undefined;
  }

  listMigrations(filter: MigrationFilter): CloudMigration[] {
    return listMigrations(this.migrations, filter);
  }

  getMigration(serverId: string, migrationId: number): CloudMigration | undefined {
    const m = findMigration(this.migrations, serverId, migrationId);
    return m ? { ...m.record } : undefined;
  }

  /** The flavors of the servers (each once). */
  flavors(): CloudFlavor[] {
    const byName = new Map<string, CloudFlavor>();
    for (const s of this.serverRecords.values())
      byName.set(s.flavor.name, { id: s.flavor.name, ...s.flavor });
    return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The images the servers booted from (each once), uploaded by the servers' project when the cloud started. */
  images(): CloudImage[] {
    const byName = new Map<string, CloudImage>();
    for (const s of this.serverRecords.values()) {
      if (!byName.has(s.image.name)) {
        byName.set(s.image.name, {
          id: imageId(s.image.name),
          name: s.image.name,
          sizeBytes: s.image.sizeBytes,
          createdAt: s.created,
          owner: this.tenantId,
        });
      }
    }
    return [...byName.values()];
  }

  // ---------------------------------------------------------------- instance actions

  /** Records that a user asked something of a server (`instance_actions`); returns the action. */
  protected startAction(serverId: string, action: string, requestId: string): CloudInstanceAction {
    const now = this.isoNow();
    const record: CloudInstanceAction = {
      action,
      requestId,
      serverId,
      userId: SANDBOX_USER_ID,
      projectId: this.tenantId,
      startTime: now,
      updatedAt: now,
      message: null,
      events: [],
    };
    const list = this.actionRecords.get(serverId) ?? [];
    list.push(record);
    this.actionRecords.set(serverId, list);
    return record;
  }

  /**
   * Records one step of an action as Nova's `wrap_instance_event` does: started and finished now,
   * with its result; a failed step marks the action `Error` and keeps the exception's message.
   */
  protected actionEvent(
    action: CloudInstanceAction | undefined,
    event: string,
    host: string,
    outcome: { error?: string } = {},
  ): void {
    if (action === undefined) return;
    const now = this.isoNow();
    const e: CloudActionEvent = {
      event,
      startTime: now,
      finishTime: now,
      result: outcome.error === undefined ? "Success" : "Error",
      host,
      details: outcome.error ?? null,
    };
    action.events.push(e);
    action.updatedAt = now;
    if (outcome.error !== undefined) action.message = "Error";
  }

  /** The server's latest action of a kind (`live-migration`, ...), if any. */
  protected latestAction(serverId: string, kind: string): CloudInstanceAction | undefined {
    return [...(this.actionRecords.get(serverId) ?? [])].reverse().find((a) => a.action === kind);
  }

  instanceActions(serverId: string): CloudInstanceAction[] {
    this.serverOrThrow(serverId);
    return [...(this.actionRecords.get(serverId) ?? [])]
      .reverse()
      .map((a) => ({ ...a, events: [...a.events].reverse() }));
  }

  // ---------------------------------------------------------------- services

  /** Whether an operator disabled the service (`openstack compute service set --disable`). */
  protected serviceDisabled(host: string, binary = "nova-compute"): boolean {
    return this.disabledServices.has(`${host}/${binary}`);
  }

  /** A service record with the operator's enable/disable applied. */
  protected withOperatorStatus(s: CloudService): CloudService {
    const key = `${s.host}/${s.binary}`;
    if (!this.disabledServices.has(key)) return s;
    return { ...s, status: "disabled", disabledReason: this.disabledServices.get(key) ?? null };
  }

  setServiceStatus(
    host: string,
    binary: string,
    change: { status: "enabled" | "disabled"; disabledReason: string | null },
  ): CloudService {
    const key = `${host}/${binary}`;
    if (!this.services().some((s) => s.host === host && s.binary === binary)) {
      throw new ControlPlaneError("itemNotFound", 404, `Could not find binary ${binary} on host ${host}.`);
    }
    if (change.status === "disabled") this.disabledServices.set(key, change.disabledReason);
    else this.disabledServices.delete(key);
    return this.services().find((s) => s.host === host && s.binary === binary)!;
  }

  /** The server, or Nova's 404. */
  protected serverOrThrow(serverId: string): S {
    const s = this.serverRecords.get(serverId);
    if (!s) throw instanceNotFound(serverId);
    return s;
  }

  /** The migration of a known server, or Nova's 404. */
  protected migrationOrThrow(serverId: string, migrationId: number): M {
    return migrationOrThrow(this.migrations, this.serverRecords.has(serverId), serverId, migrationId);
  }
}
