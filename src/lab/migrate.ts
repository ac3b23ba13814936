/** Real live migrations between lab hosts: `virsh migrate --live --p2p` over qemu+ssh, as nova-compute's libvirt driver does. */
import { spawn } from "node:child_process";
import { type DomJobInfo, parseDomJobInfo } from "./domjobinfo";
import { labPath } from "./exec";
import { inHost, VIRSH_TIMEOUT_MS, virsh } from "./host-exec";
import type { LabState } from "./state";

export interface MigrationOptions {
  domain: string;
  /** Destination host name; the source's libvirtd connects to `qemu+ssh://<to>/system` itself (peer to peer). */
  to: string;
  /** Migration bandwidth cap in MiB/s (`--bandwidth`). @defaultValue no cap */
  bandwidthMiBps?: number;
  /** QEMU auto-converge: throttle the vCPU, starting at `initialPercent`, rising by `incrementPercent`. */
  autoConverge?: { initialPercent?: number; incrementPercent?: number };
}

/** `virsh migrate` arguments, with the flags Nova always sets (live, peer to peer, persist on the destination, undefine on the source). */
export function virshMigrateArgs(options: MigrationOptions): string[] {
  const args = ["migrate", "--live", "--p2p", "--persistent", "--undefinesource"];
  if (options.bandwidthMiBps !== undefined) args.push("--bandwidth", String(options.bandwidthMiBps));
  if (options.autoConverge !== undefined) {
    args.push("--auto-converge");
    const { initialPercent, incrementPercent } = options.autoConverge;
    if (initialPercent !== undefined) args.push("--auto-converge-initial", String(initialPercent));
    if (incrementPercent !== undefined) args.push("--auto-converge-increment", String(incrementPercent));
  }
  args.push(options.domain, `qemu+ssh://${options.to}/system`);
  return args;
}

export interface MigrationResult {
  code: number | null;
  /** virsh's error text when the migration failed or was aborted. */
  stderr: string;
  elapsedMs: number;
}

/** A migration in flight: `done` settles when `virsh migrate` exits (or is killed at `timeoutMs`). */
export interface RunningMigration {
  done: Promise<MigrationResult>;
  /** Polls `virsh domjobinfo` on the source. */
  jobInfo(): Promise<DomJobInfo>;
  /** `virsh domjobabort` on the source; QEMU cancels and the guest keeps running there. */
  abort(): Promise<void>;
}

/** Starts `virsh migrate` inside the source host and returns at once. */
export function startMigration(
  state: LabState,
  from: string,
  options: MigrationOptions,
  timeoutMs: number,
): RunningMigration {
  const argv = inHost(state, from, ["virsh", "-c", "qemu:///system", ...virshMigrateArgs(options)]);
  const started = Date.now();
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, PATH: labPath() },
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const done = new Promise<MigrationResult>((resolve) => {
    const timer = setTimeout(() => {
      stderr += `\n[virsh migrate killed after ${timeoutMs} ms]`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr: stderr.trim(), elapsedMs: Date.now() - started });
    });
  });
  return {
    done,
    async jobInfo() {
      const result = await virsh(state, from, ["domjobinfo", options.domain], VIRSH_TIMEOUT_MS);
      return parseDomJobInfo(result.code === 0 ? result.stdout : "");
    },
    async abort() {
      await virsh(state, from, ["domjobabort", options.domain], VIRSH_TIMEOUT_MS);
    },
  };
}
