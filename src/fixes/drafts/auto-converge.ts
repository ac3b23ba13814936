/**
 * The auto-converge fix: libvirt's auto-converge on each host that lacks it, by release
 * (`live_migration_permit_auto_converge` from Newton on, the `live_migration_flag` list before),
 * then a nova-compute restart there.
 */
import type { Evidence, HostEvidence } from "../../diagnose/evidence";
import { atLeast } from "../../nova-conf/releases";
import type { HostFileChange, HostRecipe, ProposalDraft } from "../proposal";
import { draftHostFix } from "../recipe";
import { blockersFor } from "./blockers";
import type { FixContext } from "./context";

/** The draft for `hosts`; null when none of them could be planned. */
export function autoConvergeDraft(
  ev: Evidence,
  hosts: HostEvidence[],
  ctx: FixContext,
): ProposalDraft | null {
  const changes: HostFileChange[] = [];
  const recipes: HostRecipe[] = [];
  const warnings: string[] = [];
  const lines: string[] = [];
  for (const h of hosts) {
    if (!h.config || !h.release) continue;
    try {
      const {
        plan,
        changes: planned,
        recipe,
      } = draftHostFix(h.name, "auto-converge", h.config.files, h.release.info);
      changes.push(...planned);
      if (recipe) recipes.push(recipe);
      for (const w of plan.warnings) warnings.push(`${h.name}: ${w}`);
      lines.push(
        atLeast(h.release.info, "newton")
          ? `${h.name} (${h.release.info.name}): [libvirt] live_migration_permit_auto_converge = true`
          : `${h.name} (${h.release.info.name}): VIR_MIGRATE_AUTO_CONVERGE appended to [libvirt] live_migration_flag (oslo.config has no "+=", so the whole list is written)`,
      );
    } catch (err) {
      warnings.push(`${h.name}: no plan: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (changes.length === 0) return null;
  const restarts = [...new Set(changes.map((c) => c.host))];
  const vm = ev.server?.name;
  return {
    kind: "auto-converge",
    title: `Enable libvirt auto-converge on ${restarts.join(" and ")}`,
    reasoning: [
      `${vm ? `${vm}'s` : "A busy VM's"} memory can be dirtied faster than the migration link copies it, so iterative pre-copy never gets the remainder under the downtime limit.`,
      "Auto-converge lets QEMU throttle the guest's vCPUs step by step until pre-copy catches up; it costs the guest some CPU only while a migration runs.",
      ...lines,
      "nova-compute reads this at start, so it is restarted on each host; only migrations started after the restart use it.",
      ...(ctx.abortFirst
        ? ["The stuck migration is aborted first: nova-compute must not restart under it."]
        : []),
    ].join("\n"),
    warnings,
    changes,
    recipes,
    serviceRestarts: restarts,
    vmRestarts: [],
    blockers: blockersFor(ev, restarts, ctx),
    ...(ctx.abortFirst && { abortFirst: ctx.abortFirst }),
    ...(ctx.retry && { retry: ctx.retry }),
  };
}
