/**
 * The CPU-model fix: `cpu_mode = custom` with a model every host runs (`cpu_model` before Train,
 * `cpu_models` from Train on) on every inventory host, then a nova-compute restart there. The
 * hosts' common baseline is preferred, kvm64 is the fallback; each is offered only once libvirt
 * accepted it (with the hosts' cpu_model_extra_flags) on every host that compares CPUs, asked the
 * way that host's release asks.
 */
import { describeProblem, type Evidence, type FleetCpu, type ModelCheck } from "../../diagnose/evidence";
import { cpuComparison } from "../../nova-facts";
import { DEFAULT_CPU_MODEL } from "../nova-conf-plan";
import type { HostFileChange, HostRecipe, ProposalDraft } from "../proposal";
import { draftHostFix } from "../recipe";
import { blockersFor } from "./blockers";
import type { FixContext } from "./context";
import { notIncluded, type VmRestartSelection, vmRestartDraft } from "./vm-restart";

/** Evidence with every inventory host's CPU read (what the CPU-model fix is drafted from). */
export type FleetEvidence = Evidence & { fleet: FleetCpu };

export interface CpuModelDrafts {
  /** Null when no model passed the check on every host. */
  preferred: ProposalDraft | null;
  alternatives: ProposalDraft[];
  notes: string[];
}

/**
 * What kvm64 lacks of the x86-64-v2 level (CMPXCHG16B, LAHF/SAHF, POPCNT, SSE3, SSE4.1, SSE4.2,
 * SSSE3): libvirt's src/cpu_map/x86_kvm64.xml lists cx16 and pni but none of these.
 */
export const KVM64_LACKS_X86_64_V2 = ["ssse3", "sse4.1", "sse4.2", "popcnt", "lahf_lm"] as const;

function refusals(check: ModelCheck): string {
  return check.refusedBy.map((r) => `${r.host} ("${r.text}")`).join(", ");
}

/** The cpu-model fix on every inventory host, with the hosts' baseline model preferred and kvm64 as fallback. */
export function cpuModelDrafts(
  ev: FleetEvidence,
  restarts: VmRestartSelection,
  ctx: FixContext,
): CpuModelDrafts {
  const fleet = ev.fleet;
  const notes: string[] = [];
  const checkOf = (model: string) => fleet.checks.find((c) => c.model === model);
  const offered = (check: ModelCheck | undefined): check is ModelCheck =>
    check !== undefined && check.refusedBy.length === 0 && check.acceptedBy.length + check.unknown.length > 0;
  const baseline = fleet.baseline;
  const baselineCheck =
    baseline && baseline.model !== DEFAULT_CPU_MODEL ? checkOf(baseline.model) : undefined;
  const kvm64Check = checkOf(DEFAULT_CPU_MODEL);
  for (const check of [baselineCheck, kvm64Check]) {
    if (check && check.refusedBy.length > 0) {
      notes.push(
        `${check.model}${check.extraFlags.length ? ` with cpu_model_extra_flags ${check.extraFlags.join(", ")}` : ""} is refused by ${refusals(check)}, so it is not offered.`,
      );
    }
  }
  for (const n of fleet.notCompared) {
    notes.push(`${n.why}; the model is still set there, so guests get the same CPU wherever they run.`);
  }
  const drafts: ProposalDraft[] = [];
  const baselineOk = offered(baselineCheck);
  const kvm64Ok = offered(kvm64Check);
  if (baselineOk) drafts.push(cpuModelDraft(ev, baselineCheck, restarts, ctx, null));
  if (kvm64Ok)
    drafts.push(cpuModelDraft(ev, kvm64Check, restarts, ctx, baselineOk ? baselineCheck.model : null));
  if (baselineOk && kvm64Ok) {
    notes.push(
      `Two fixes are offered: ${baseline!.model}, the common baseline of the hosts' CPUs (virsh ${baseline!.command} on ${baseline!.ranOn}), and kvm64; libvirt accepted each on every host that compares CPUs, asked the way that host's nova-compute asks. Approve one; the second then finds the files changed and is refused.`,
    );
  }
  if (drafts.length === 0) {
    notes.push(
      "No CPU model passed the check on every host, so no CPU-model fix is offered: pick a model older hosts run (virsh cpu-models x86_64 on each), or move the VM to a host with the same CPU.",
    );
  }
  return { preferred: drafts[0] ?? null, alternatives: drafts.slice(1), notes };
}

function cpuModelDraft(
  ev: FleetEvidence,
  check: ModelCheck,
  restartSelection: VmRestartSelection,
  ctx: FixContext,
  betterModel: string | null,
): ProposalDraft {
  const fleet = ev.fleet;
  const model = check.model;
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
      const option = cpuComparison(h.release.info).cpuModelOption;
      lines.push(
        plan.files.length === 0
          ? `${name}: already cpu_mode = custom, ${option} = ${model}.`
          : `${name} (${h.release.info.name}): cpu_mode = custom, ${option} = ${model}.`,
      );
    } catch (err) {
      blockers.push(`${name}: no plan: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  for (const host of check.unknown) {
    blockers.push(
      `libvirt on ${host} could not be asked whether it runs ${model}; re-run /diagnose when it answers.`,
    );
  }
  const restarts = [...new Set(changes.map((c) => c.host))];
  const baseline = fleet.baseline;
  const checked = `libvirt accepted it${check.extraFlags.length ? ` with cpu_model_extra_flags ${check.extraFlags.join(", ")}` : ""} on ${check.acceptedBy.join(", ")}, each asked the way its nova-compute asks`;
  const why =
    model === DEFAULT_CPU_MODEL
      ? `kvm64 is the lowest common x86-64 model (${checked}): it runs on almost any host, including older ones added later, but guests lose newer instructions (AES-NI, AVX…). It lacks ${KVM64_LACKS_X86_64_V2.map((f) => f.toUpperCase()).join(", ")}, so guests built for x86-64-v2 (RHEL 9 and its rebuilds, for one) will not boot with it.${betterModel ? ` ${betterModel} (the other proposal) keeps those; prefer it unless older hosts are coming.` : ""}`
      : `${model} is the common baseline of the hosts' CPUs (virsh ${baseline?.command ?? "cpu-baseline"} on ${baseline?.ranOn ?? "?"}); ${checked}. It keeps the instructions every host has (which kvm64 drops). A host with an older CPU added later would need the model revisited.`;
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
    warnings: [
      ...(model === DEFAULT_CPU_MODEL
        ? [
            `kvm64 lacks ${KVM64_LACKS_X86_64_V2.map((f) => f.toUpperCase()).join(", ")}: guests that need x86-64-v2 will not boot after the hard reboot.`,
          ]
        : []),
      ...warnings,
      ...notIncluded(restartSelection),
    ],
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
