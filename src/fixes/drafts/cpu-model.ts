/**
 * The CPU-model fix: `cpu_mode = custom` with a model every host runs (`cpu_model` before Train,
 * `cpu_models` from Train on) on every inventory host, then a nova-compute restart there. The
 * hosts' common baseline is preferred when libvirt accepts it everywhere; kvm64 is the fallback.
 */
import { describeProblem, type Evidence, type FleetCpu } from "../../diagnose/evidence";
import { atLeast } from "../../nova-conf/releases";
import { DEFAULT_CPU_MODEL } from "../nova-conf-plan";
import type { HostFileChange, HostRecipe, ProposalDraft } from "../proposal";
import { draftHostFix } from "../recipe";
import { blockersFor } from "./blockers";
import type { FixContext } from "./context";
import { notIncluded, type VmRestartSelection, vmRestartDraft } from "./vm-restart";

/** Evidence with every inventory host's CPU read (what the CPU-model fix is drafted from). */
export type FleetEvidence = Evidence & { fleet: FleetCpu };

export interface CpuModelDrafts {
  preferred: ProposalDraft;
  alternatives: ProposalDraft[];
  notes: string[];
}

/** The cpu-model fix on every inventory host, with the hosts' baseline model preferred and kvm64 as fallback. */
export function cpuModelDrafts(
  ev: FleetEvidence,
  restarts: VmRestartSelection,
  ctx: FixContext,
): CpuModelDrafts {
  const fleet = ev.fleet;
  const notes: string[] = [];
  const baseline = fleet.baseline;
  const baselineUsable =
    baseline !== null && fleet.baselineRefusedBy.length === 0 && baseline.model !== DEFAULT_CPU_MODEL;
  if (baseline && !baselineUsable && fleet.baselineRefusedBy.length > 0) {
    notes.push(
      `The hosts' baseline ${baseline.model} is refused by ${fleet.baselineRefusedBy.map((r) => `${r.host} ("${r.text}")`).join(", ")}; only kvm64 is offered.`,
    );
  }
  const kvm64 = cpuModelDraft(ev, DEFAULT_CPU_MODEL, restarts, ctx, baselineUsable ? baseline!.model : null);
  if (!baselineUsable) return { preferred: kvm64, alternatives: [], notes };
  const preferred = cpuModelDraft(ev, baseline!.model, restarts, ctx, null);
  notes.push(
    `Two fixes are offered: ${baseline!.model}, the common baseline of the hosts' CPUs (virsh cpu-baseline on ${baseline!.ranOn}, then checked with cpu-compare on every host), and kvm64. Approve one; the second then finds the files changed and is refused.`,
  );
  return { preferred, alternatives: [kvm64], notes };
}

function cpuModelDraft(
  ev: FleetEvidence,
  model: string,
  restartSelection: VmRestartSelection,
  ctx: FixContext,
  betterModel: string | null,
): ProposalDraft {
  const fleet = ev.fleet;
  const restart = vmRestartDraft({
    model,
    selection: restartSelection,
    ...(ctx.retry && { retry: ctx.retry }),
  });
  const changes: HostFileChange[] = [];
  const recipes: HostRecipe[] = [];
  const warnings: string[] = [];
  const blockers: string[] = [];
  const lines: string[] = [];
  for (const name of fleet.hosts) {
    const h = ev.hosts[name];
    if (!h?.config || !h.release) {
      const why = h?.problems.map(describeProblem).join("; ") || "not read";
      blockers.push(
        `${name}'s nova-compute config could not be read (${why}); the model must be set on every host the VM may land on. Re-run /diagnose when it answers.`,
      );
      continue;
    }
    try {
      const {
        plan,
        changes: planned,
        recipe,
      } = draftHostFix(name, "cpu-model", h.config.files, h.release.info, { model });
      changes.push(...planned);
      if (recipe) recipes.push(recipe);
      // The plan's own note about hard reboots is said once, in the reasoning.
      for (const w of plan.warnings) if (!/hard reboot/.test(w)) warnings.push(`${name}: ${w}`);
      const option = atLeast(h.release.info, "train") ? "cpu_models" : "cpu_model";
      lines.push(
        plan.files.length === 0
          ? `${name}: already cpu_mode = custom, ${option} = ${model}.`
          : `${name} (${h.release.info.name}): cpu_mode = custom, ${option} = ${model}.`,
      );
    } catch (err) {
      blockers.push(`${name}: no plan: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const restarts = [...new Set(changes.map((c) => c.host))];
  const why =
    model === DEFAULT_CPU_MODEL
      ? `kvm64 is the lowest common x86-64 model: it runs on any host, including older ones added later, but guests lose newer instructions (SSE4.2, AES-NI, AVX…).${betterModel ? ` ${betterModel} (the other proposal) keeps those; prefer it unless older hosts are coming.` : ""}`
      : `${model} is the common baseline of all ${fleet.hosts.length} hosts' CPUs (virsh cpu-baseline): it keeps the instructions every host has (which kvm64 drops) and libvirt confirmed it on each host. A host with an older CPU added later would need the model revisited.`;
  return {
    kind: "cpu-model",
    title: `Give guests the ${model} CPU model on all ${fleet.hosts.length} compute hosts${model === DEFAULT_CPU_MODEL && betterModel ? " (fallback)" : model !== DEFAULT_CPU_MODEL ? " (hosts' baseline, preferred)" : ""}`,
    reasoning: [
      `Under host-model a guest gets its host's CPU, so a VM started on a newer CPU (${ev.source}) cannot move to an older one (${ev.destination}). A CPU model common to all hosts lets VMs move in any direction.`,
      why,
      ...lines,
      "nova-compute is restarted on each changed host. Running VMs keep their CPU until a hard reboot: a VM-restart proposal follows once this is applied.",
      restart.reasoning,
    ].join("\n"),
    warnings: [...warnings, ...notIncluded(restartSelection)],
    changes,
    recipes,
    serviceRestarts: restarts,
    // The VMs the follow-up vm-restart proposal reboots (src/fixes reads them from here).
    vmRestarts: restart.vmRestarts,
    blockers: [...blockers, ...blockersFor(ev, restarts, ctx)],
    ...(ctx.retry && { retry: ctx.retry }),
    next: "vm-restart",
    cpuModel: model,
  };
}
