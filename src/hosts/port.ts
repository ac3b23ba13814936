/**
 * What the rest of migbot needs from the compute hosts: the catalogue's commands, run over SSH by
 * the executor (src/hosts/executor.ts, adapted in src/runtime/hosts.ts).
 */
import type { HostCommand } from "./catalogue";
import type { CommandResult } from "./types";

export type HostCommandResult = CommandResult;

/** What migration tracking needs from the SSH layer. */
export interface HostsPort {
  run(
    host: string,
    command: HostCommand,
    opts?: { timeoutMs?: number; allowNonZeroExit?: boolean },
  ): Promise<HostCommandResult>;
  /** Is this host in the inventory (so that SSH evidence can be gathered)? */
  has(host: string): boolean;
}
