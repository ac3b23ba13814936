/**
 * Short jobs that act on a running migration or answer a question: abort, force-complete, status,
 * audit. Answers go privately to the person who asked.
 */
import { isFinished, PHASE_TITLES } from "../migration/view";
import type { ActionJob } from "./jobs";
import type { WorkerDeps } from "./worker";

/** Migrations listed by `/migrate status`. */
export const STATUS_LIST_MAX = 15;

export async function handleAction(job: ActionJob, deps: WorkerDeps): Promise<void> {
  const answer = (text: string) => deps.reply(job.responseUrl, job.user, job.channel, { text });
  switch (job.type) {
    case "abort":
    case "force-complete": {
      const verb = job.type === "abort" ? "abort" : "force-complete";
      const record = await deps.store.load(job.jobId);
      // The migration the button (or command) was bound to, in its own channel, and no other.
      if (record === null || record.view.vm !== job.vm || record.view.channel !== job.channel) {
        return answer(`That migration of ${job.vm} is unknown in this channel; nothing was sent to Nova.`);
      }
      if (isFinished(record.view.status)) {
        return answer(
          `That migration of ${job.vm} has already ended (${record.view.status}), so there is nothing to ${verb}. A newer one, if any, has its own thread and buttons.`,
        );
      }
      const { serverId, novaMigrationId } = record.view;
      if (serverId === null || novaMigrationId === null) {
        return answer(`The migration of ${job.vm} has not reached Nova yet; try again in a few seconds.`);
      }
      const first = await deps.store.setControl(record.view.jobId, {
        action: job.type,
        by: job.user,
        at: Date.now(),
      });
      if (!first) {
        const control = await deps.store.getControl(record.view.jobId);
        return answer(
          `<@${control?.by ?? "someone"}> already asked to ${control?.action === "abort" ? "abort" : "force-complete"} this migration.`,
        );
      }
      const what = `${verb} the live migration of ${job.vm} (Nova migration ${novaMigrationId}, migbot job ${job.jobId})`;
      try {
        if (job.type === "abort") await deps.nova.abortMigration(serverId, novaMigrationId);
        else await deps.nova.forceComplete(serverId, novaMigrationId);
      } catch (err) {
        await deps.audit.write({
          actor: job.user,
          action: "migration-control",
          what,
          result: "failed",
          detail: err instanceof Error ? err.message : String(err),
        });
        throw err;
      }
      await deps.audit.write({ actor: job.user, action: "migration-control", what, result: "ok" });
      deps.log.info("migration control sent to Nova", { action: job.type, vm: job.vm, by: job.user });
      return answer(
        job.type === "abort"
          ? `Asked Nova to abort the live migration of ${job.vm}; the thread will show when it stops.`
          : `Asked Nova to force-complete ${job.vm}: the VM pauses while the last memory is copied. The thread will show the outcome.`,
      );
    }
    case "status": {
      const records = (await deps.store.recent(100)).filter(
        (r) => job.vm === null || r.view.vm.toLowerCase() === job.vm.toLowerCase(),
      );
      const running = records.filter((r) => !isFinished(r.view.status));
      const shown = (job.vm === null ? running : records).slice(0, STATUS_LIST_MAX);
      if (shown.length === 0) {
        return answer(
          job.vm === null
            ? "No live migrations are running."
            : `migbot has no migration of ${job.vm} on record.`,
        );
      }
      const lines = shown.map((r) => {
        const v = r.view;
        const pct =
          v.precopy?.memoryTotalBytes && v.precopy.memoryRemainingBytes !== null
            ? ` ${Math.floor((1 - v.precopy.memoryRemainingBytes / v.precopy.memoryTotalBytes) * 100)}%`
            : "";
        return `• ${v.vm}: ${v.source ?? "?"} → ${v.destination ?? "scheduler"} — ${v.status}${isFinished(v.status) ? "" : `, ${PHASE_TITLES[v.phase]}${pct}`} (requested by <@${v.requestedBy}>)`;
      });
      return answer(lines.join("\n"));
    }
    case "audit":
    case "diagnose":
    case "apply-proposal":
      // Handled by src/fixes and src/diagnose through extraActions (src/runtime/worker-side.ts); a
      // worker wired without them fails the job loudly rather than pretending.
      throw new Error(
        `NO_HANDLER: this worker was started without a handler for ${job.type} jobs; start workers with \`migbot start\` (src/runtime/worker-side.ts wires them)`,
      );
  }
}
