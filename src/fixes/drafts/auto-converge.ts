/**
 * The auto-converge fix: libvirt's auto-converge on each host that lacks it, by release
 * (`live_migration_permit_auto_converge` from Newton on; before, VIR_MIGRATE_AUTO_CONVERGE in both
 * `live_migration_flag` and `block_migration_flag`), then a nova-compute restart there.
 */
import type { Evidence, HostEvidence } from "../../diagnose/evidence";
import { flagOptions } from "../../nova-facts";
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
        changeLine(
          h,
          plan.files.flatMap((f) => f.changedKeys),
        ),
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

/** What changes on one host, in the release's own option names. */
function changeLine(h: HostEvidence, changedKeys: string[]): string {
  const release = h.release!.info;
  const flags = flagOptions(release);
  const where = `${h.name} (${release.name})`;
  if (flags.permitAutoConverge) return `${where}: [libvirt] ${flags.permitAutoConverge.option} = true`;
  const lists = [flags.liveMigrationFlag!.option, flags.blockMigrationFlag!.option].filter((o) =>
    changedKeys.includes(`[libvirt] ${o}`),
  );
  if (lists.length === 0) return `${where}: VIR_MIGRATE_AUTO_CONVERGE is already in both flag lists`;
  const both = lists.length === 2;
  return `${where}: VIR_MIGRATE_AUTO_CONVERGE appended to [libvirt] ${lists.join(" and ")} (Mitaka takes live migrations' flags from live_migration_flag and block migrations' — every VM on a local disk — from block_migration_flag${both ? "" : "; the other list already has it"}; oslo.config has no "+=", so ${both ? "each" : "the"} whole list is written)`;
}
