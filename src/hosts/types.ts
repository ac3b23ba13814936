/** The narrow interface the rest of migbot uses to run catalogue commands on compute hosts. */
import type { HostCommand } from "./catalogue";

/** What a command printed and how it exited. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  /** Stop the command after this long and raise HOST_TIMEOUT. @defaultValue the executor's `commandTimeoutMs` */
  timeoutMs?: number;
  /**
   * Return a non-zero exit as a result instead of raising HOST_COMMAND_FAILED: `virsh cpu-compare`
   * and `systemctl is-active` answer with their exit status. @defaultValue false
   */
  allowNonZeroExit?: boolean;
}

export interface HostExecutor {
  /** Runs one catalogue command on the inventory host `host`; errors are {@link HostError}s. */
  run(host: string, command: HostCommand, opts?: RunOptions): Promise<CommandResult>;
  /** Closes every connection; later `run` calls fail. */
  close(): Promise<void>;
}
