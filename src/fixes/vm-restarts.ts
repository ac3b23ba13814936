/**
 * Hard reboots through Nova, in batches, so running VMs pick up a new CPU model: a guest keeps the
 * CPU it was started with until libvirt starts it again. Progress is reported per VM.
 */
import type { AuditLog } from "../audit/stream";
import type { Logger } from "../log";
import type { NovaPort } from "../openstack/port";
import type { ProgressSink } from "./progress";
import type { Proposal } from "./proposal";

/** VMs rebooted at once: small, so that a bad batch hurts few services. */
export const VM_RESTART_BATCH_SIZE = 3;
/** Longest wait for one VM to be ACTIVE again after its reboot. */
export const VM_ACTIVE_TIMEOUT_MS = 10 * 60_000;
export const VM_POLL_INTERVAL_MS = 1_000;
/** Nova may still say ACTIVE for a moment after accepting the reboot; ACTIVE counts only after this. */
export const VM_REBOOT_SEEN_GRACE_MS = 3_000;
const MAX_POLLS = 100_000;

export interface VmRestartTiming {
  activeTimeoutMs: number;
  pollIntervalMs: number;
  rebootSeenGraceMs: number;
  batchSize: number;
}

export const DEFAULT_VM_RESTART_TIMING: VmRestartTiming = {
  activeTimeoutMs: VM_ACTIVE_TIMEOUT_MS,
  pollIntervalMs: VM_POLL_INTERVAL_MS,
  rebootSeenGraceMs: VM_REBOOT_SEEN_GRACE_MS,
  batchSize: VM_RESTART_BATCH_SIZE,
};

/** Nova's reboot, which the migration port does not carry (the NovaClient has it). */
export interface RebootPort {
  rebootServer(serverId: string, type: "HARD" | "SOFT"): Promise<void>;
}

export interface VmRestartDeps {
  nova: Pick<NovaPort, "getServer"> & RebootPort;
  audit: AuditLog;
  log: Logger;
  progress: ProgressSink;
  timing?: Partial<VmRestartTiming>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runVmRestarts(
  p: Proposal,
  deps: VmRestartDeps,
): Promise<{ ok: boolean; results: { host: string; ok: boolean; detail: string }[] }> {
  const timing = { ...DEFAULT_VM_RESTART_TIMING, ...deps.timing };
  const actor = p.decidedBy ?? p.requestedBy;
  const results: { host: string; ok: boolean; detail: string }[] = [];
  const batches = Math.ceil(p.vmRestarts.length / timing.batchSize);
  for (let b = 0; b < batches; b++) {
    const batch = p.vmRestarts.slice(b * timing.batchSize, (b + 1) * timing.batchSize);
    await deps.progress({ kind: "vm-batch", batch: b + 1, batches, vms: batch.map((v) => v.name) });
    const outcomes = await Promise.all(
      batch.map(async (vm) => {
        try {
          await deps.nova.rebootServer(vm.serverId, "HARD");
          const detail = await waitActive(vm.serverId, deps, timing);
          return { host: vm.name, ok: true, detail };
        } catch (err) {
          return { host: vm.name, ok: false, detail: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
    for (const [i, o] of outcomes.entries()) {
      const vm = batch[i]!;
      await deps.audit.write({
        actor,
        action: "vm-restart",
        proposalId: p.id,
        host: vm.host,
        what: `hard reboot of ${vm.name} (${vm.serverId})`,
        result: o.ok ? "ok" : "failed",
        detail: o.detail,
      });
      await deps.progress({ kind: "vm-done", vm: vm.name, ok: o.ok, detail: o.detail });
      results.push(o);
    }
    if (outcomes.some((o) => !o.ok)) {
      // A failed batch stops the rest: the next VMs keep running on their old CPU, which is safe.
      for (const vm of p.vmRestarts.slice((b + 1) * timing.batchSize)) {
        results.push({
          host: vm.name,
          ok: false,
          detail: "not rebooted: stopped after a failure in an earlier batch",
        });
      }
      break;
    }
  }
  return { ok: results.every((r) => r.ok), results };
}

async function waitActive(serverId: string, deps: VmRestartDeps, timing: VmRestartTiming): Promise<string> {
  const started = Date.now();
  let seenReboot = false;
  let last = "?";
  for (let n = 0; n < MAX_POLLS; n++) {
    const s = await deps.nova.getServer(serverId);
    last = `${s.status}${s.taskState ? ` (${s.taskState})` : ""}`;
    if (s.status !== "ACTIVE" || s.taskState !== null) seenReboot = true;
    if (s.status === "ERROR")
      throw new Error(
        `Nova put the VM in ERROR after the reboot; check its fault with 'openstack server show ${serverId}'`,
      );
    const elapsed = Date.now() - started;
    if (
      s.status === "ACTIVE" &&
      s.taskState === null &&
      (seenReboot || elapsed >= timing.rebootSeenGraceMs)
    ) {
      return `ACTIVE again after ${(elapsed / 1000).toFixed(1)} s`;
    }
    if (elapsed > timing.activeTimeoutMs) {
      throw new Error(
        `not ACTIVE within ${Math.round(timing.activeTimeoutMs / 1000)} s of the reboot (Nova says ${last}); check the VM in Nova`,
      );
    }
    await sleep(timing.pollIntervalMs);
  }
  throw new Error(`gave up waiting (Nova says ${last})`);
}
