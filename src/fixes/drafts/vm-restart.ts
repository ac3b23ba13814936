/**
 * The VM-restart fix: hard reboots through Nova so running guests pick up a new CPU model (a guest
 * keeps the CPU it was started with until libvirt starts it again). Which VMs is decided when the
 * CPU-model fix is drafted, from the diagnosis' evidence; the proposal itself follows once that
 * fix is applied. One draft serves both: the reasoning folded into the CPU-model proposal and the
 * VM-restart proposal posted after it.
 */
import type { Evidence } from "../../diagnose/evidence";
import type { NovaPort, NovaServer } from "../../openstack/port";
import type { Proposal, ProposalDraft, VmRestart } from "../proposal";
import { VM_RESTART_BATCH_SIZE } from "../vm-restarts";

/** The VMs a new CPU model needs rebooted, and why these. */
export interface VmRestartSelection {
  vms: VmRestart[];
  /** The VM that could not move, when the diagnosis was about one. */
  affected: string | null;
  /** VMs left out, and why: "app-2 (SHUTOFF) picks the model up at its next start". */
  skipped: string[];
  /** One line per host whose CPU is not runnable on some other host (its VMs are in). */
  hostLines: string[];
  /** Hosts whose CPUs run everywhere: their VMs are left alone. */
  runsEverywhere: string[];
}

/** The VMs named when they were chosen earlier (the CPU-model proposal carries them). */
export function chosenVms(vms: VmRestart[]): VmRestartSelection {
  return { vms, affected: null, skipped: [], hostLines: [], runsEverywhere: [] };
}

/**
 * The VMs that must be hard-rebooted to pick up a new CPU model: the affected VM first, then every
 * ACTIVE VM on a host whose CPU is not runnable on some other host (they were started with that
 * CPU and would fail the same way). VMs on hosts whose CPU runs everywhere are left alone.
 */
export function selectVmRestarts(ev: Evidence): VmRestartSelection {
  const fleet = ev.fleet;
  const affected = ev.server;
  const vms: VmRestart[] = [];
  const skipped: string[] = [];
  const seen = new Set<string>();
  const add = (s: NovaServer, host: string) => {
    if (seen.has(s.id)) return;
    seen.add(s.id);
    if (s.status !== "ACTIVE") {
      skipped.push(`${s.name} (${s.status}) picks the model up at its next start`);
      return;
    }
    vms.push({ serverId: s.id, name: s.name, host });
  };
  if (affected?.host) add(affected, affected.host);
  const hostLines: string[] = [];
  const hostsToRestart = fleet ? Object.keys(fleet.notRunnableOn).filter((h) => fleet.hosts.includes(h)) : [];
  for (const host of fleet?.hosts ?? []) {
    if (!hostsToRestart.includes(host)) continue;
    const h = ev.hosts[host];
    const refusers = [...new Set(fleet!.notRunnableOn[host]!.map((r) => r.on))];
    hostLines.push(`${host} (${h?.cpu?.model ?? "?"}): its CPU is not runnable on ${refusers.join(", ")}.`);
    if (!h?.servers) {
      skipped.push(`the servers on ${host} could not be listed`);
      continue;
    }
    for (const s of [...h.servers].sort((a, b) => a.name.localeCompare(b.name))) add(s, host);
  }
  return {
    vms,
    affected: affected?.name ?? null,
    skipped,
    hostLines,
    runsEverywhere: (fleet?.hosts ?? []).filter((h) => !hostsToRestart.includes(h)),
  };
}

/** The warnings about VMs a selection leaves out. */
export function notIncluded(selection: VmRestartSelection): string[] {
  return selection.skipped.map((s) => `Not included: ${s}.`);
}

/** The note for the diagnosis: which VMs the follow-up proposal will reboot; null when none. */
export function vmRestartNote(selection: VmRestartSelection): string | null {
  if (selection.vms.length === 0) return null;
  return `After the model change, ${selection.vms.length} VM(s) need a hard reboot to pick it up: ${selection.vms.map((v) => `${v.name} (${v.host})`).join(", ")}. migbot proposes that once the model change is applied.`;
}

export interface VmRestartRequest {
  /** The CPU model the guests pick up (unknown for a proposal stored without one). */
  model: string | undefined;
  selection: VmRestartSelection;
  /** The hosts whose nova.conf already selects the model: set once the CPU-model fix is applied. */
  appliedOn?: string[];
  retry?: ProposalDraft["retry"];
}

/** The VM-restart draft. */
export function vmRestartDraft(req: VmRestartRequest): ProposalDraft {
  const { selection: sel } = req;
  const model = req.model ?? "new";
  const names = sel.vms.map((v) => v.name);
  return {
    kind: "vm-restart",
    title: `Hard-reboot ${names.join(", ")} so ${names.length === 1 ? "it picks" : "they pick"} up the ${model} CPU model`,
    reasoning: [
      ...(req.appliedOn && req.appliedOn.length > 0
        ? [`nova.conf now selects ${model} on ${req.appliedOn.join(", ")}.`]
        : []),
      `A running guest keeps the CPU it was started with until libvirt starts it again: only a hard reboot through Nova starts it with the ${model} CPU model, after which it can move to an older-CPU host.`,
      ...(sel.affected ? [`${sel.affected} is the VM that could not move.`] : []),
      ...sel.hostLines,
      ...(sel.hostLines.length > 0
        ? [
            "VMs on those hosts were started with a CPU that other hosts lack, so they would fail to move the same way.",
          ]
        : []),
      ...(sel.runsEverywhere.length > 0
        ? [
            `VMs on ${sel.runsEverywhere.join(", ")} are left alone: those CPUs run on every host; they pick up the model at their next restart.`,
          ]
        : []),
      `Reboots run in batches of ${VM_RESTART_BATCH_SIZE}, host by host, each batch waiting for its VMs to be ACTIVE again.`,
    ].join("\n"),
    warnings: [
      ...notIncluded(sel),
      "Each VM is down while it reboots (usually under a minute); applications inside it restart.",
    ],
    changes: [],
    recipes: [],
    serviceRestarts: [],
    vmRestarts: sel.vms,
    blockers: [],
    ...(req.retry && { retry: req.retry }),
    ...(req.model !== undefined && { cpuModel: req.model }),
  };
}

/**
 * The VM-restart step that follows an applied CPU-model proposal: the VMs it named, or else the
 * VM it would retry, wherever Nova has it now. Null when no running VM is named.
 */
export async function followUpVmRestart(
  p: Proposal,
  nova: Pick<NovaPort, "findServer">,
): Promise<ProposalDraft | null> {
  let vms: VmRestart[] = p.vmRestarts;
  if (vms.length === 0 && p.retry) {
    const server = await nova.findServer(p.retry.vm);
    if (server?.host) vms = [{ serverId: server.id, name: server.name, host: server.host }];
  }
  if (vms.length === 0) return null;
  return vmRestartDraft({
    model: p.cpuModel,
    selection: chosenVms(vms),
    appliedOn: [...new Set(p.changes.map((c) => c.host))],
    ...(p.retry && { retry: p.retry }),
  });
}
