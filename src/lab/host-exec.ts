/** Running programs inside one lab host: its network, mount (/etc overlay, libvirt folders) and UTS namespaces. */
import { join } from "node:path";
import { LabError } from "./errors";
import { type CommandResult, runCommand } from "./exec";
import { bindSourceDir } from "./plan";
import { isRunning, type LabState } from "./state";

/** A virsh call that takes longer than this is stuck (libvirtd answers list/domjobinfo in milliseconds). */
export const VIRSH_TIMEOUT_MS = 20_000;

/** The sshd PID whose namespaces stand for the host. */
export function hostAnchorPid(state: LabState, host: string): number {
  const sshd = state.processes.find((p) => p.role === "sshd" && p.host === host);
  if (sshd === undefined || !isRunning(sshd)) {
    throw new LabError(
      "LAB_NOT_UP",
      `lab host ${host} is not running (no live sshd recorded in ${state.stateDir}) — run \`npm run lab -- status\`, then \`down\` and \`up\``,
    );
  }
  return sshd.pid;
}

/** argv that runs `argv` inside the host's namespaces. */
export function inHost(state: LabState, host: string, argv: string[]): string[] {
  return ["nsenter", "-t", String(hostAnchorPid(state, host)), "-m", "-n", "-u", "--", ...argv];
}

/** Runs `virsh -c qemu:///system <args>` inside a host (the host's own libvirtd). */
export function virsh(
  state: LabState,
  host: string,
  args: string[],
  timeoutMs = VIRSH_TIMEOUT_MS,
): Promise<CommandResult> {
  return runCommand(inHost(state, host, ["virsh", "-c", "qemu:///system", ...args]), { timeoutMs });
}

/** Like `virsh`, but throws LAB_COMMAND_FAILED with virsh's own error unless it exits 0. */
export async function mustVirsh(
  state: LabState,
  host: string,
  args: string[],
  timeoutMs = VIRSH_TIMEOUT_MS,
): Promise<string> {
  const result = await virsh(state, host, args, timeoutMs);
  if (result.code !== 0) {
    throw new LabError(
      "LAB_COMMAND_FAILED",
      `virsh ${args.join(" ")} on ${host} failed: ${result.stderr.trim() || result.stdout.trim()} — its libvirtd log is ${join(bindSourceDir(join(state.stateDir, host), "/var/log/libvirt"), "libvirtd.log")}`,
    );
  }
  return result.stdout;
}
