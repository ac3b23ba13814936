/**
 * The private answers the workers give the person who asked (src/queue/answers.ts): a rejected or
 * busy migration request, Abort and Force complete, `/migrate status`, a stale request, a failed
 * action. Pure: typed answer in, `{text}` out; every name and error text in it is escaped, people are
 * named only through mention.
 */
import { isFinished, PHASE_TITLES, vmLabel } from "../../src/migration/view";
import type { Answer, ControlAction } from "../../src/queue/answers";
import { codeSpan, escapeMrkdwn, mention } from "./format";

function verb(action: ControlAction | null): string {
  return action === "abort" ? "abort" : "force-complete";
}

/** One migration in the `/migrate status` list. */
function statusLine(v: Extract<Answer, { kind: "status" }>["migrations"][number]): string {
  const pct =
    v.precopy?.memoryTotalBytes && v.precopy.memoryRemainingBytes !== null
      ? ` ${Math.floor((1 - v.precopy.memoryRemainingBytes / v.precopy.memoryTotalBytes) * 100)}%`
      : "";
  const where = `${escapeMrkdwn(v.source ?? "?")} → ${escapeMrkdwn(v.destination ?? "scheduler")}`;
  const state = `${v.status}${isFinished(v.status) ? "" : `, ${PHASE_TITLES[v.phase]}${pct}`}`;
  return `• ${escapeMrkdwn(vmLabel(v))}: ${where} — ${state} (requested by ${mention(v.requestedBy)})`;
}

/** The words of an answer (mrkdwn, outside text escaped). */
export function renderAnswer(a: Answer): { text: string } {
  return { text: answerText(a) };
}

function answerText(a: Answer): string {
  switch (a.kind) {
    case "unknown-vm":
      return `I can't find a VM named ${codeSpan(a.vm)} in Nova. Check the name (${codeSpan(`openstack server list --all-projects --name ${a.vm}`)}), then try again.`;
    case "unknown-host":
      return `${codeSpan(a.host)} is not a compute host Nova knows. Known hosts: ${a.known.map(codeSpan).join(", ") || "none"}.`;
    case "already-there":
      return `${codeSpan(a.vm)} already runs on ${codeSpan(a.host)}. Pick another host, or leave it out to let Nova's scheduler choose.`;
    case "not-active":
      return `${codeSpan(a.vm)} is ${escapeMrkdwn(a.status)}${a.taskState ? ` (${escapeMrkdwn(a.taskState)})` : ""}; Nova live-migrates only ACTIVE or PAUSED VMs with no task in progress. Try again once it is.`;
    case "vm-busy":
      return `${escapeMrkdwn(a.vm)} is already being migrated by another request; follow its thread, or use ${codeSpan(`/migrate status ${a.vm}`)}.`;
    case "request-stale":
      return `Your request to migrate ${escapeMrkdwn(a.vm)} waited over ${a.waitedMinutes} minutes for a worker, so it was not started. Ask again if it is still wanted.`;
    case "action-failed":
      return `That did not work: ${escapeMrkdwn(a.error)}`;
    case "decision":
      if (a.result === "recorded")
        return a.choice === "go-anyway"
          ? `Go anyway: the migration of ${escapeMrkdwn(a.vm)} starts now; follow its thread.`
          : `Fix first: the auto-converge fix for ${escapeMrkdwn(a.vm)} is proposed in its thread; the migration is not started.`;
      if (a.result === "already-chosen")
        return `${a.by ? mention(a.by) : "Someone"} already chose for this migration of ${escapeMrkdwn(a.vm)}.`;
      return `The migration of ${escapeMrkdwn(a.vm)} is not waiting for a choice (any more); its thread shows where it is.`;
    case "control-unknown":
      return `That migration of ${escapeMrkdwn(a.vm)} is unknown in this channel; nothing was sent to Nova.`;
    case "control-ended":
      return `That migration of ${escapeMrkdwn(a.vm)} has already ended (${a.status}), so there is nothing to ${verb(a.action)}. A newer one, if any, has its own thread and buttons.`;
    case "control-too-early":
      return `The migration of ${escapeMrkdwn(a.vm)} has not reached Nova yet; try again in a few seconds.`;
    case "control-already-asked":
      return `${a.by === null ? "Someone" : mention(a.by)} already asked to ${verb(a.action)} this migration.`;
    case "control-sent":
      return a.action === "abort"
        ? `Asked Nova to abort the live migration of ${escapeMrkdwn(a.vm)}; the thread will show when it stops.`
        : a.effect === "switch-to-post-copy"
          ? `Asked Nova to force-complete ${escapeMrkdwn(a.vm)}: it switches to post-copy, so the VM runs on the destination at once and pulls the rest of its memory. The thread will show the outcome.`
          : `Asked Nova to force-complete ${escapeMrkdwn(a.vm)}: the VM pauses while the last memory is copied. The thread will show the outcome.`;
    case "status":
      if (a.migrations.length === 0) {
        return a.vm === null
          ? "No live migrations are running."
          : `migbot has no migration of ${escapeMrkdwn(a.vm)} on record.`;
      }
      return a.migrations.map(statusLine).join("\n");
  }
}
