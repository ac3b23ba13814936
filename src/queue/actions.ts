/**
 * Short jobs that act on a running migration or answer a question: abort, force-complete, status,
 * audit. Answers go privately to the person who asked, as typed answers (see answers.ts).
 */
import { isFinished } from "../migration/view";
import type { Answer } from "./answers";
import type { ActionJob } from "./jobs";
import type { WorkerDeps } from "./worker";

/** Migrations listed by `/migrate status`. */
export const STATUS_LIST_MAX = 15;

export async function handleAction(job: ActionJob, deps: WorkerDeps): Promise<void> {
  const answer = (a: Answer) => deps.answer(job, a);
  switch (job.type) {
    case "abort":
    case "force-complete": {
      const action = job.type;
      const record = await deps.store.load(job.jobId);
      // The migration the button (or command) was bound to, in its own channel, and no other.
      if (record === null || record.view.vm !== job.vm || record.view.channel !== job.channel) {
        return answer({ kind: "control-unknown", vm: job.vm });
      }
      if (isFinished(record.view.status)) {
        return answer({ kind: "control-ended", vm: job.vm, action, status: record.view.status });
      }
      const { serverId, novaMigrationId } = record.view;
      if (serverId === null || novaMigrationId === null) {
        return answer({ kind: "control-too-early", vm: job.vm });
      }
      const first = await deps.store.setControl(record.view.jobId, {
        action,
        by: job.user,
        at: Date.now(),
      });
      if (!first) {
        const control = await deps.store.getControl(record.view.jobId);
        return answer({
          kind: "control-already-asked",
          by: control?.by ?? null,
          action: control?.action ?? null,
        });
      }
      const what = `${action} the live migration of ${job.vm} (Nova migration ${novaMigrationId}, migbot job ${job.jobId})`;
      try {
        if (action === "abort") await deps.nova.abortMigration(serverId, novaMigrationId);
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
      deps.log.info("migration control sent to Nova", { action, vm: job.vm, by: job.user });
      return answer({
        kind: "control-sent",
        vm: job.vm,
        action,
        ...(record.view.forceComplete != null && { effect: record.view.forceComplete }),
      });
    }
    case "fix-first":
    case "go-anyway": {
      const choice = job.type;
      const record = await deps.store.load(job.jobId);
      if (record === null || record.view.vm !== job.vm || record.view.channel !== job.channel) {
        return answer({ kind: "control-unknown", vm: job.vm });
      }
      if (record.view.decision?.state !== "waiting" || isFinished(record.view.status)) {
        return answer({ kind: "decision", vm: job.vm, choice, result: "not-waiting" });
      }
      // The first choice counts; the waiting migration job reads it on its next poll.
      const first = await deps.store.setDecision(job.jobId, { choice, by: job.user, at: Date.now() });
      if (!first) {
        const chosen = await deps.store.getDecision(job.jobId);
        return answer({
          kind: "decision",
          vm: job.vm,
          choice,
          result: "already-chosen",
          ...(chosen !== null && { by: chosen.by }),
        });
      }
      await deps.audit.write({
        actor: job.user,
        action: "migration-control",
        what: `${choice} after a will-not-converge prediction for ${job.vm} (migbot job ${job.jobId})`,
        result: "ok",
      });
      return answer({ kind: "decision", vm: job.vm, choice, result: "recorded" });
    }
    case "status": {
      const records = (await deps.store.recent(100)).filter(
        (r) => job.vm === null || r.view.vm.toLowerCase() === job.vm.toLowerCase(),
      );
      const running = records.filter((r) => !isFinished(r.view.status));
      const shown = (job.vm === null ? running : records).slice(0, STATUS_LIST_MAX);
      return answer({ kind: "status", vm: job.vm, migrations: shown.map((r) => r.view) });
    }
    case "audit":
    case "diagnose":
    case "apply-proposal":
      // Handled by src/fixes and src/diagnose through extraActions (src/runtime/worker-side.ts); a
      // worker wired without them fails the job loudly rather than pretending.
      throw new Error(
        `NO_HANDLER: this worker was started without a handler for ${job.type} jobs; start workers with 'migbot start' (src/runtime/worker-side.ts wires them)`,
      );
  }
}
