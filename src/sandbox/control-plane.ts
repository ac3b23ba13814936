/**
 * The sandbox cloud's control plane, as the sandbox's Nova HTTP API sees it.
 *
 * Two clouds implement this — the model (`cloud.ts`: hosts, VMs, the pre-copy model) and the lab's
 * (`src/lab/data-plane.ts`: real hosts), both on `control-plane-base.ts` — and `nova-api.ts` turns
 * it into Nova's REST shapes. Keeping the seam here lets the model be tested without HTTP and the
 * API without the model.
 */
import { CodedError } from "../errors";
import type { PlacementInventory } from "../nova-facts";

/** Nova's server statuses the sandbox can show. */
export type CloudServerStatus = "ACTIVE" | "MIGRATING" | "HARD_REBOOT" | "SHUTOFF" | "ERROR";

export interface CloudServer {
  id: string;
  name: string;
  image: { id: string; name: string };
  status: CloudServerStatus;
  /** `OS-EXT-SRV-ATTR:host` */
  host: string;
  /** `OS-EXT-SRV-ATTR:hypervisor_hostname` */
  hypervisorHostname: string;
  /** `OS-EXT-SRV-ATTR:instance_name`, the libvirt domain, e.g. `instance-0000002a` */
  instanceName: string;
  /** `OS-EXT-STS:task_state`, e.g. `migrating`, `rebooting_hard`, or null */
  taskState: string | null;
  /** `OS-EXT-STS:vm_state`, e.g. `active` */
  vmState: string;
  /** `OS-EXT-STS:power_state`: 1 running, 3 paused, 4 shutdown */
  powerState: number;
  flavor: { name: string; ramMb: number; vcpus: number; diskGb: number };
  tenantId: string;
  userId: string;
  created: string;
  updated: string;
}

/**
 * Nova's live-migration statuses, in the order a migration goes through them: the conductor
 * creates the record `accepted`, the source's nova-compute sets `queued`, `preparing`, `running`,
 * `post-migrating` and `completed` (nova 13.1.4 and 26.2.2 nova/conductor/manager.py
 * `_live_migrate`, nova/compute/manager.py `_do_live_migration`, `_post_live_migration`); `error`
 * or `failed` when checks or the move fail, `cancelled` after an abort.
 */
export type CloudMigrationStatus =
  | "accepted"
  | "queued"
  | "preparing"
  | "running"
  /** After the switch to post-copy (nova-facts POST_COPY_STATUS). */
  | "running (post-copy)"
  | "post-migrating"
  | "completed"
  | "error"
  | "failed"
  | "cancelled";

export interface CloudMigration {
  id: number;
  uuid: string;
  serverId: string;
  migrationType: "live-migration";
  status: CloudMigrationStatus;
  sourceCompute: string;
  /** Set once the conductor's checks passed; null when the scheduler refused every host. */
  sourceNode: string | null;
  /** The host asked for (a forced move) or chosen; null while the scheduler has not chosen, and when it refused. */
  destCompute: string | null;
  destNode: string | null;
  /**
   * `dest_host`: Nova sets it for resizes and cold migrations only, never for a live migration
   * (nova 13.1.4 and 26.2.2: no writer in the conductor's or compute manager's live-migration
   * code), so it is always null here.
   */
  destHost: null;
  memoryTotalBytes: number;
  memoryProcessedBytes: number;
  memoryRemainingBytes: number;
  diskTotalBytes: number;
  diskProcessedBytes: number;
  diskRemainingBytes: number;
  oldInstanceTypeId: number;
  newInstanceTypeId: number;
  userId: string;
  projectId: string;
  createdAt: string;
  updatedAt: string;
}

/** A compute node's resource provider in Placement (the sandbox's Zed-era clouds). */
export interface CloudResourceProvider {
  uuid: string;
  /** The hypervisor hostname, as nova-compute names its provider. */
  name: string;
  generation: number;
  /** By resource class: `MEMORY_MB`, `VCPU`, `DISK_GB`. */
  inventories: Record<string, PlacementInventory>;
  usages: Record<string, number>;
}

export interface CloudHypervisor {
  id: number;
  uuid: string;
  hypervisorHostname: string;
  hypervisorType: string;
  hypervisorVersion: number;
  hostIp: string;
  serviceHost: string;
  serviceId: number;
  state: "up" | "down";
  status: "enabled" | "disabled";
  vcpus: number;
  vcpusUsed: number;
  memoryMb: number;
  memoryMbUsed: number;
  freeRamMb: number;
  localGb: number;
  localGbUsed: number;
  freeDiskGb: number;
  runningVms: number;
  /** libvirt's host CPU description as Nova reports it (`cpu_info`). */
  cpuInfo: {
    arch: string;
    model: string;
    vendor: string;
    features: string[];
    /** `cells`: NUMA nodes (nova 13.1.4 and 26.2.2 driver.py `_get_cpu_info`). */
    topology: { cells: number; cores: number; threads: number; sockets: number };
  };
}

/** A Glance image as the sandbox keeps it (the servers' images). */
export interface CloudImage {
  id: string;
  name: string;
  sizeBytes: number;
  createdAt: string;
  /** Glance's `owner`: the project that uploaded it. */
  owner: string;
}

/** A Nova flavor (the servers' flavors; the id is the name, as `openstack flavor create --id` allows). */
export interface CloudFlavor {
  id: string;
  name: string;
  ramMb: number;
  vcpus: number;
  diskGb: number;
}

/** One event of an instance action (`os-instance-actions/{request_id}`). */
export interface CloudActionEvent {
  /** e.g. `conductor_live_migrate_instance`, `compute_live_migration`. */
  event: string;
  startTime: string;
  finishTime: string | null;
  result: "Success" | "Error" | null;
  /** Where it ran: a compute host, or the controller for conductor events. */
  host: string;
  /** The exception's message on an error (2.84+ `details`). */
  details: string | null;
}

/** An instance action: what a user asked of a server, by request id (`os-instance-actions`). */
export interface CloudInstanceAction {
  action: string;
  requestId: string;
  serverId: string;
  userId: string;
  projectId: string;
  startTime: string;
  updatedAt: string;
  /** "Error" once an event failed, else null. */
  message: string | null;
  events: CloudActionEvent[];
}

export interface CloudService {
  id: number;
  binary: string;
  host: string;
  zone: string;
  status: "enabled" | "disabled";
  state: "up" | "down";
  updatedAt: string;
  disabledReason: string | null;
  forcedDown: boolean;
}

export type ControlPlaneErrorKind = "badRequest" | "itemNotFound" | "conflict" | "forbidden";

/** An error Nova would answer with; the API layer renders it as `{ "<kind>": { code, message } }`. */
export class ControlPlaneError extends CodedError<"SANDBOX_NOVA_FAULT"> {
  constructor(
    readonly kind: ControlPlaneErrorKind,
    readonly status: 400 | 403 | 404 | 409,
    message: string,
  ) {
    // Not retryable: every kind is a 4xx, which Nova would answer again.
    super("SANDBOX_NOVA_FAULT", message, { retryable: false });
  }
}

export interface LiveMigrateRequest {
  /** Destination host, or null to let the scheduler choose. */
  host: string | null;
  blockMigration: boolean | "auto";
  /**
   * Nova ran the pre-checks (CPU compatibility, destination capacity) synchronously in the API
   * call before microversion 2.34 and asynchronously from 2.34 on; the API passes which.
   */
  asyncPrecheck: boolean;
  /**
   * A named host skips the scheduler (a forced move): always before 2.30, with `force: true`
   * from 2.30 to 2.67. Otherwise the scheduler checks the named host like any other (enabled, up,
   * room) and the record names no destination until it has chosen (nova 26.2.2
   * nova/compute/api.py `live_migrate`, `requested_destination`). @defaultValue true
   */
  forced?: boolean;
}

export interface MigrationFilter {
  instanceUuid?: string;
  migrationType?: string;
  /** Only in-progress migrations (what `GET /servers/{id}/migrations` lists). */
  inProgressOnly?: boolean;
}

/** What the Nova API needs from the cloud. Every method throws {@link ControlPlaneError} on a Nova error. */
export interface ControlPlane {
  /** Wall-clock time now (what timestamps Nova writes at this moment say). */
  wallTime(): Date;
  listServers(): CloudServer[];
  getServer(id: string): CloudServer | undefined;
  liveMigrate(serverId: string, request: LiveMigrateRequest): CloudMigration;
  listMigrations(filter: MigrationFilter): CloudMigration[];
  getMigration(serverId: string, migrationId: number): CloudMigration | undefined;
  forceComplete(serverId: string, migrationId: number): void;
  /**
   * Aborts a live migration in a status the request may abort (nova-facts `abortRule` for the
   * controller's release and `requestMicroversion`), else Nova's 400. `abortQueued` says the same
   * for a control plane that does not know its release (the lab's).
   */
  abortMigration(
    serverId: string,
    migrationId: number,
    opts?: { requestMicroversion?: string; abortQueued?: boolean },
  ): void;
  hardReboot(serverId: string): void;
  hypervisors(): CloudHypervisor[];
  /** The compute nodes' resource providers; absent where the cloud serves no Placement. */
  resourceProviders?(): CloudResourceProvider[];
  services(): CloudService[];
  /** Enables or disables a service (`PUT /os-services/...`); Nova's 404 for an unknown one. */
  setServiceStatus(
    host: string,
    binary: string,
    change: { status: "enabled" | "disabled"; disabledReason: string | null },
  ): CloudService;
  /** The instance actions of a server, newest first; Nova's 404 for an unknown server. */
  instanceActions(serverId: string): CloudInstanceAction[];
  images(): CloudImage[];
  flavors(): CloudFlavor[];
}
