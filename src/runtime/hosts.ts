/** The compute hosts a worker reaches: the SSH executor behind the migration code's HostsPort. */
import type { SshExecutor } from "../hosts/executor";
import type { HostEntry } from "../hosts/inventory";
import type { HostsPort } from "../hosts/port";

/** Adapts the SSH executor to the migration code's port, which also asks whether a host is known. */
export function hostsPort(entries: HostEntry[], exec: SshExecutor): HostsPort & { close(): Promise<void> } {
  const names = new Set(entries.map((e) => e.name));
  return {
    run: (host, command, opts) => exec.run(host, command, opts),
    has: (host) => names.has(host),
    close: () => exec.close(),
  };
}
