/**
 * What the rest of migbot needs from Nova: the port NovaClient (src/openstack/nova.ts) satisfies
 * structurally. Consumers pick the methods they use (`Pick<NovaPort, …>`), so fakes stay small.
 */
import type { ComputeService, FailedActionEvent, Hypervisor, Server, ServerMigration } from "./nova";
import type { PlacementAnswer } from "./placement";

// The data shapes are the clients' own (type-only imports, nothing runs); the ports pick the fields
// migration code reads, so fakes in tests need only those.
export type NovaServer = Server;
export type NovaMigration = Pick<
  ServerMigration,
  | "id"
  | "status"
  | "sourceCompute"
  | "destCompute"
  | "memoryTotalBytes"
  | "memoryProcessedBytes"
  | "memoryRemainingBytes"
  | "createdAt"
  | "updatedAt"
>;
export type NovaHypervisor = Pick<
  Hypervisor,
  | "hostname"
  | "serviceHost"
  | "state"
  | "status"
  | "vcpus"
  | "vcpusUsed"
  | "freeRamMb"
  | "memoryMb"
  | "memoryMbUsed"
  | "hostIp"
>;
export type NovaComputeService = Pick<ComputeService, "host" | "binary" | "state" | "status"> &
  Partial<Pick<ComputeService, "updatedAt" | "disabledReason">>;
export type NovaFailedActionEvent = FailedActionEvent;

/** What migration tracking needs from Nova. */
export interface NovaPort {
  /** The microversion this client speaks with the cloud (negotiated at connect). */
  readonly microversion: string;
  findServer(nameOrId: string): Promise<NovaServer | null>;
  getServer(id: string): Promise<NovaServer>;
  liveMigrate(serverId: string, opts: { host: string | null }): Promise<void>;
  listServerMigrations(serverId: string): Promise<NovaMigration[]>;
  getServerMigration(serverId: string, migrationId: number): Promise<NovaMigration | null>;
  listMigrations(filter: { instanceUuid?: string; migrationType?: string }): Promise<NovaMigration[]>;
  forceComplete(serverId: string, migrationId: number): Promise<void>;
  abortMigration(serverId: string, migrationId: number): Promise<void>;
  hypervisors(): Promise<NovaHypervisor[]>;
  computeServices(): Promise<NovaComputeService[]>;
  /** Servers Nova places on a compute host, all projects (diagnosis: capacity, VMs to restart). */
  listServers(filter: { host: string }): Promise<NovaServer[]>;
  /**
   * Why Nova's conductor refused a live migration it had accepted (the failed step of the newest
   * live-migration instance action since `sinceMs`). Optional so fakes may omit it.
   */
  liveMigrationFailure?(serverId: string, sinceMs: number): Promise<NovaFailedActionEvent | null>;
  /**
   * Placement's inventories and usages of a compute node's resource provider (by hypervisor
   * hostname); `no-placement` when the cloud has no Placement. Optional so fakes may omit it.
   */
  placementCapacity?(hypervisorHostname: string): Promise<PlacementAnswer>;
}
