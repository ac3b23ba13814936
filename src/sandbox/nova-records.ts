/**
 * What both sandbox control planes (the model in `cloud.ts`, the lab's in `src/lab/data-plane.ts`)
 * say as Nova: the records Nova keeps for a live migration and a compute service, the migration
 * listing, and Nova's own wording for a refused request. Kept in one place so the two clouds cannot drift
 * apart in what the bot sees through the Nova API.
 */
import { randomUUID } from "node:crypto";
import { IN_PROGRESS_LIVE_MIGRATION_STATUSES } from "../nova-facts";
import {
  type CloudMigration,
  type CloudMigrationStatus,
  type CloudService,
  ControlPlaneError,
  type MigrationFilter,
} from "./control-plane";

/** The user id on every sandbox record (the value Nova's fake driver uses). */
export const SANDBOX_USER_ID = "fake";
/**
 * The name of the cloud in the clouds.yaml the sandbox writes (`client-access.ts`). Defined in this
 * small module so production code (`src/runtime/nova.ts`) can recognise it without
 * loading the sandbox.
 */
export const SANDBOX_CLOUD_NAME = "migbot-sandbox";

/**
 * Where Nova's libvirt driver sends the reader of a failed CPU comparison (nova 13.0.0 and 26.2.2
 * nova/virt/libvirt/driver.py, `_compare_cpu`).
 */
const LIBVIRT_CPU_COMPARE_URL = "http://libvirt.org/html/libvirt-libvirt-host.html#virCPUCompareResult";

/** Whether Nova counts a live migration in this status as in progress (nova-facts `IN_PROGRESS_LIVE_MIGRATION_STATUSES`). */
export function isInProgress(status: CloudMigrationStatus): boolean {
  return (IN_PROGRESS_LIVE_MIGRATION_STATUSES as readonly string[]).includes(status);
}

/** A timestamp as Nova prints it: ISO 8601 to the second, UTC. */
export function novaTimestamp(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Nova's record of a live migration the conductor just created: `accepted`, no bytes moved, a fresh
 * uuid. The destination is the host asked for on a forced move, else null until the scheduler has
 * chosen; the nodes are set once the checks passed ({@link assignDestination}).
 */
export function newLiveMigrationRecord(p: {
  id: number;
  serverId: string;
  source: string;
  /** The forced destination, or null (the scheduler chooses). */
  dest: string | null;
  projectId: string;
  now: string;
}): CloudMigration {
  return {
    id: p.id,
    uuid: randomUUID(),
    serverId: p.serverId,
    migrationType: "live-migration",
    status: "accepted",
    sourceCompute: p.source,
    sourceNode: null,
    destCompute: p.dest,
    destNode: null,
    destHost: null,
    memoryTotalBytes: 0,
    memoryProcessedBytes: 0,
    memoryRemainingBytes: 0,
    diskTotalBytes: 0,
    diskProcessedBytes: 0,
    diskRemainingBytes: 0,
    oldInstanceTypeId: 1,
    newInstanceTypeId: 1,
    userId: SANDBOX_USER_ID,
    projectId: p.projectId,
    createdAt: p.now,
    updatedAt: p.now,
  };
}

/**
 * What the conductor writes once the destination passed its checks (nova 26.2.2
 * nova/conductor/tasks/live_migrate.py `_execute`: `source_node`, `dest_node`, `dest_compute`).
 */
export function assignDestination(record: CloudMigration, source: string, dest: string): void {
  record.sourceNode = source;
  record.destCompute = dest;
  record.destNode = dest;
}

/**
 * The scheduler's refusal when no host passes (nova 26.2.2 nova/scheduler/manager.py
 * `select_destinations`): with an empty reason when Placement offered no candidate at all (a
 * disabled compute carries the COMPUTE_STATUS_DISABLED trait and is never offered), else when the
 * filters left none. Real Zed's instance action for a disabled destination says
 * "No valid host was found. " (seen in the lab).
 */
export function noValidHostFor(reason: "no-candidates" | "filtered"): ControlPlaneError {
  return new ControlPlaneError(
    "badRequest",
    400,
    reason === "no-candidates"
      ? "No valid host was found. "
      : "No valid host was found. There are not enough hosts available.",
  );
}

/** `GET /os-migrations` and `GET /servers/{id}/migrations`: copies of the records the filter keeps. */
export function listMigrations(
  migrations: readonly { record: CloudMigration }[],
  filter: MigrationFilter,
): CloudMigration[] {
  return migrations
    .filter((m) => filter.instanceUuid === undefined || m.record.serverId === filter.instanceUuid)
    .filter((m) => filter.migrationType === undefined || m.record.migrationType === filter.migrationType)
    .filter((m) => !filter.inProgressOnly || isInProgress(m.record.status))
    .map((m) => ({ ...m.record }));
}

/** The migration of a server by id, or undefined. */
export function findMigration<M extends { record: CloudMigration }>(
  migrations: readonly M[],
  serverId: string,
  migrationId: number,
): M | undefined {
  return migrations.find((x) => x.record.serverId === serverId && x.record.id === migrationId);
}

/** The migration of a known server, or Nova's 404 for an unknown server or migration. */
export function migrationOrThrow<M extends { record: CloudMigration }>(
  migrations: readonly M[],
  serverKnown: boolean,
  serverId: string,
  migrationId: number,
): M {
  if (!serverKnown) throw instanceNotFound(serverId);
  const m = findMigration(migrations, serverId, migrationId);
  if (!m) {
    throw new ControlPlaneError(
      "itemNotFound",
      404,
      `Migration ${migrationId} for instance ${serverId} could not be found.`,
    );
  }
  return m;
}

export function instanceNotFound(serverId: string): ControlPlaneError {
  return new ControlPlaneError("itemNotFound", 404, `Instance ${serverId} could not be found.`);
}

/** The host the operator named, which the API looks up first: an unknown one is refused at once. */
export function namedHost<H>(hosts: ReadonlyMap<string, H>, name: string): H {
  const host = hosts.get(name);
  if (host === undefined)
    throw new ControlPlaneError("badRequest", 400, `Compute host ${name} could not be found.`);
  return host;
}

/** The conductor's refusal of a forced move to the host the server is on. */
export function currentHostRefusal(serverId: string, source: string): ControlPlaneError {
  return new ControlPlaneError(
    "badRequest",
    400,
    `Unable to migrate instance (${serverId}) to current host (${source}).`,
  );
}

/** The destination the operator named, after Nova's checks: it must exist and not be the source. */
export function namedDestination<H>(
  hosts: ReadonlyMap<string, H>,
  serverId: string,
  source: string,
  dest: string,
): H {
  const host = hosts.get(dest);
  if (host === undefined) {
    throw new ControlPlaneError("badRequest", 400, `Compute host ${dest} could not be found.`);
  }
  if (dest === source) {
    throw new ControlPlaneError(
      "badRequest",
      400,
      `Unable to migrate instance (${serverId}) to current host (${source}).`,
    );
  }
  return host;
}

/** Nova's refusal of a destination whose nova-compute it does not see up. */
export function computeServiceUnavailable(host: string): ControlPlaneError {
  return new ControlPlaneError("badRequest", 400, `Compute service of ${host} is unavailable at this time.`);
}

/** The scheduler's answer when no host fits. */
export function noValidHost(): ControlPlaneError {
  return new ControlPlaneError(
    "badRequest",
    400,
    "No valid host was found. There are not enough hosts available.",
  );
}

/** Nova's refusal of force-complete or abort for a migration in the wrong state. */
export function wrongMigrationState(
  action: "force_complete" | "abort live migration",
  serverId: string,
  migrationId: number,
  status: CloudMigrationStatus,
): ControlPlaneError {
  return new ControlPlaneError(
    "badRequest",
    400,
    `Migration ${migrationId} state of instance ${serverId} is ${status}. Cannot ${action} while the migration is in this state.`,
  );
}

/**
 * Nova's pre-check failure for a CPU the destination cannot run: `reason` is what the libvirt driver
 * logs (`_compare_cpu`, nova/virt/libvirt/driver.py), `message` what the API and the fault say.
 * @param libvirtText libvirt's own explanation (`virsh cpu-compare`'s text)
 */
export function cpuIncompatibility(libvirtText: string): { reason: string; message: string } {
  const reason = `CPU doesn't have compatibility.\n\n${libvirtText}\n\nRefer to ${LIBVIRT_CPU_COMPARE_URL}`;
  return { reason, message: `Migration pre-check error: ${reason}` };
}

/** Nova's os-services record of a host's nova-compute. */
export function computeService(p: {
  id: number;
  host: string;
  up: boolean;
  updatedAt: string;
}): CloudService {
  return {
    id: p.id,
    binary: "nova-compute",
    host: p.host,
    zone: "nova",
    status: "enabled",
    state: p.up ? "up" : "down",
    updatedAt: p.updatedAt,
    disabledReason: null,
    forcedDown: false,
  };
}

/** The controller's services Nova lists besides the computes: nova-conductor and nova-scheduler. */
export const CONTROLLER_SERVICE_COUNT = 2;

/**
 * The controller's nova-conductor and nova-scheduler (`GET /os-services` lists them with the
 * computes, zone `internal`), always up, last reported at `updatedAt`.
 */
export function controllerServices(updatedAt: string): CloudService[] {
  return ["nova-conductor", "nova-scheduler"].map((binary, i) => ({
    id: i + 1,
    binary,
    host: "controller",
    zone: "internal",
    status: "enabled",
    state: "up",
    updatedAt,
    disabledReason: null,
    forcedDown: false,
  }));
}
