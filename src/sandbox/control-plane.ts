/**
 * The sandbox cloud's control plane, as the sandbox's Nova HTTP API sees it.
 *
 * Two clouds implement this — the model (`cloud.ts`: hosts, VMs, the pre-copy model) and the lab's
 * (`src/lab/data-plane.ts`: real hosts), both on `control-plane-base.ts` — and `nova-api.ts` turns
 * it into Nova's REST shapes. Keeping the seam here lets the model be tested without HTTP and the
 * API without the model.
 */
import { CodedError } from "../errors";

/** Nova's server statuses the sandbox can show. */
export type CloudServerStatus = "ACTIVE" | "MIGRATING" | "HARD_REBOOT" | "SHUTOFF" | "ERROR";

export interface CloudServer {
  id: string;
  name: string;
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

/** Nova migration statuses, in the order a live migration goes through them. */
export type CloudMigrationStatus =
  | "queued"
  | "preparing"
  | "running"
  /** After the switch to post-copy (nova-facts POST_COPY_STATUS). */
  | "running (post-copy)"
  | "post-migrating"
  | "completed"
  | "error"
  | "failed"
  | "cancelling"
  | "cancelled";

export interface CloudMigration {
  id: number;
  uuid: string;
  serverId: string;
  migrationType: "live-migration";
  status: CloudMigrationStatus;
  sourceCompute: string;
  sourceNode: string;
  destCompute: string;
  destNode: string;
  /** The destination's address, as Nova records it (`dest_host`). */
  destHost: string;
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
    topology: { cores: number; threads: number; sockets: number };
  };
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
}

export interface MigrationFilter {
  instanceUuid?: string;
  migrationType?: string;
  /** Only in-progress migrations (what `GET /servers/{id}/migrations` lists). */
  inProgressOnly?: boolean;
}

/** What the Nova API needs from the cloud. Every method throws {@link ControlPlaneError} on a Nova error. */
export interface ControlPlane {
  listServers(): CloudServer[];
  getServer(id: string): CloudServer | undefined;
  liveMigrate(serverId: string, request: LiveMigrateRequest): CloudMigration;
  listMigrations(filter: MigrationFilter): CloudMigration[];
  getMigration(serverId: string, migrationId: number): CloudMigration | undefined;
  forceComplete(serverId: string, migrationId: number): void;
  abortMigration(serverId: string, migrationId: number): void;
  hardReboot(serverId: string): void;
  hypervisors(): CloudHypervisor[];
  services(): CloudService[];
}
