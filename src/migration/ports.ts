/**
 * The narrow interfaces the migration code depends on. The production pieces (NovaClient,
 * SshExecutor, the Redis notifier) satisfy them structurally; tests may pass the real ones.
 */
import type { HostCommand } from "../hosts/catalogue";
import type { CommandResult } from "../hosts/types";
import type {
  ComputeService,
  FailedActionEvent,
  Hypervisor,
  Server,
  ServerMigration,
} from "../openstack/nova";

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
>;
export type NovaComputeService = Pick<ComputeService, "host" | "binary" | "state" | "status"> &
  Partial<Pick<ComputeService, "updatedAt" | "disabledReason">>;
export type NovaFailedActionEvent = FailedActionEvent;

/** What migration tracking needs from Nova. */
export interface NovaPort {
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
  /** Servers Nova places on a compute host, all projects (diagnosis: capacity, VMs to restart). Optional so fakes may omit it. */
  listServers?(filter: { host: string }): Promise<NovaServer[]>;
  /**
   * Why Nova's conductor refused a live migration it had accepted (the failed step of the newest
   * live-migration instance action since `sinceMs`). Optional so fakes may omit it.
   */
  liveMigrationFailure?(serverId: string, sinceMs: number): Promise<NovaFailedActionEvent | null>;
}

export type HostCommandResult = CommandResult;

/** What migration tracking needs from the SSH layer. */
export interface HostsPort {
  run(
    host: string,
    command: HostCommand,
    opts?: { timeoutMs?: number; allowNonZeroExit?: boolean },
  ): Promise<HostCommandResult>;
  /** Is this host in the inventory (so that SSH evidence can be gathered)? */
  has?(host: string): boolean;
}

export interface SlackText {
  text: string;
  blocks?: unknown[];
}

/**
 * What the Slack presenters need from src/notify (bot/presenters; the migration code itself shows
 * things through its MigrationPresenter, presenter.ts). Kept here until src/notify owns its port.
 */
export interface NotifierPort {
  post(
    channel: string,
    msg: SlackText & { thread_ts?: string },
    opts: {
      dedupeKey: string;
      /**
       * Jump the channel's post queue. The runner sets it on replies in an existing thread: with many
       * migrations requested at once, their roots and first replies queue for minutes (Slack allows
       * about one post per second per channel), and in arrival order a migration Nova finishes early
       * would wait behind all of them before its final state shows (src/bench/slack.ts: 9 of 50 final
       * states more than 60 s late, the worst 133 s; with thread replies first, the worst 7 s).
       */
      urgent?: boolean;
    },
  ): Promise<string>;
  update(channel: string, ts: string, msg: SlackText, opts?: { urgent?: boolean }): Promise<void>;
}

/**
 * Sends a private answer through Slack's response_url (else an ephemeral message): the transport
 * under the answer presenter (bot/presenters/answers.ts). The migration and queue code answer with
 * typed values through their answer ports instead.
 */
export type ReplyPort = (
  responseUrl: string | undefined,
  user: string,
  channel: string,
  msg: SlackText,
) => Promise<void>;
