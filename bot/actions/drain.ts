/**
 * The `/drain` command and the drain's buttons: Approve / Reject on the plan (approvers; the first
 * click wins, decided by the claim fix proposals use), Pause / Resume / Cancel on the running drain
 * and Re-enable host once it ended (approvers). Each acks at once; the buttons carry only the
 * drain's id and act only in the channel the drain was posted in.
 */
import type { App } from "@slack/bolt";
import type { AuditLog } from "../../src/audit/stream";
import { planView } from "../../src/drain/run";
import { DRAIN_ID_RE, type DrainStore } from "../../src/drain/store";
import { idempotencyKey } from "../../src/queue/jobs";
import { refusal } from "../access";
import { handleDrain } from "../commands/drain";
import type { CommandDeps } from "../commands/migrate";
import {
  ACTION_DRAIN_APPROVE,
  ACTION_DRAIN_CANCEL_ABORT,
  ACTION_DRAIN_CANCEL_FINISH,
  ACTION_DRAIN_PAUSE,
  ACTION_DRAIN_REENABLE,
  ACTION_DRAIN_REJECT,
  ACTION_DRAIN_RESUME,
  renderDrainRoot,
} from "../render/drain";
import { escapeMrkdwn, mention } from "../render/format";
import { type Click, clickHandler, privately, type Respond } from "./click";

export interface DrainButtonDeps extends CommandDeps {
  drains: DrainStore;
  /** Decisions and controls are written to the audit stream (`/migrate audit` lists them). */
  audit: AuditLog;
}

type DrainControl = "pause" | "resume" | "cancel-finish" | "cancel-abort" | "reenable";

/** Approve or Reject a drain plan. Exported for direct tests. */
export async function handleDrainDecision(
  decision: "approve" | "reject",
  click: Click,
  respond: Respond,
  deps: DrainButtonDeps,
): Promise<void> {
  const now = (deps.now ?? Date.now)();
  const isApprover = await deps.access.has(click.user, "approver");
  const plan = DRAIN_ID_RE.test(click.value) ? await deps.drains.plan(click.value) : null;
  const id = plan && plan.channel === click.channel ? plan.id : "";
  const result = await deps.drains.claim(id, click.user, decision, {
    isApprover,
    allowSelfApproval: deps.access.allowSelfApproval,
    now,
  });
  if (!result.ok || plan === null) {
    const why = !result.ok ? result : { reason: "unknown" as const };
    const text =
      why.reason === "not-approver"
        ? refusal("approver", `${decision} drains`)
        : why.reason === "own-proposal"
          ? "You asked for this drain, so another approver has to approve it."
          : why.reason === "expired"
            ? "This drain plan expired; run /drain again for a fresh one. Nothing was changed."
            : why.reason === "already-decided"
              ? `This drain was already ${escapeMrkdwn(why.status)} by ${mention(why.by)}.`
              : "That button belongs to no drain migbot knows in this channel; nothing was changed.";
    await privately(respond, text);
    return;
  }
  await deps.audit.write({
    actor: click.user,
    action: decision === "approve" ? "approved" : "rejected",
    host: plan.host,
    what: `drain of ${plan.host}: ${plan.vms.filter((v) => v.action === "migrate").length} of ${plan.vms.length} VMs, ${plan.concurrency} at a time (drain ${plan.id})`,
    result: "ok",
  });
  if (decision === "reject") {
    await deps.drains.releaseHost(plan.host, plan.id);
    await respond({
      replace_original: true,
      ...renderDrainRoot(planView(plan, "rejected", click.user, now)),
    });
    deps.log.info("drain rejected", { drain: plan.id, by: click.user });
    return;
  }
  const digest = await deps.drains.digest(plan.id);
  if (digest === null) {
    await privately(respond, "The drain plan is gone from Redis; run /drain again. Nothing was changed.");
    return;
  }
  await deps.enqueue.add("migrations", idempotencyKey("drain", undefined, plan.id), {
    type: "drain",
    drainId: plan.id,
    planDigest: digest,
    channel: click.channel,
    user: click.user,
    requestedAt: now,
    ...(click.responseUrl !== undefined && { responseUrl: click.responseUrl }),
  });
  await respond({ replace_original: true, ...renderDrainRoot(planView(plan, "approved", click.user, now)) });
  deps.log.info("drain approved", { drain: plan.id, by: click.user });
}

/** Pause, Resume, Cancel (finish or abort running) and Re-enable host. Exported for direct tests. */
export async function handleDrainControl(
  control: DrainControl,
  click: Click,
  respond: Respond,
  deps: DrainButtonDeps,
): Promise<void> {
  const now = (deps.now ?? Date.now)();
  if (!(await deps.access.has(click.user, "approver"))) {
    await privately(
      respond,
      refusal("approver", control === "reenable" ? "re-enable hosts" : `${control.split("-")[0]} drains`),
    );
    return;
  }
  const plan = DRAIN_ID_RE.test(click.value) ? await deps.drains.plan(click.value) : null;
  if (plan === null || plan.channel !== click.channel) {
    await privately(
      respond,
      "That button belongs to no drain migbot knows in this channel; nothing was changed.",
    );
    return;
  }
  const status = await deps.drains.status(plan.id, now);
  const host = escapeMrkdwn(plan.host);
  if (control === "reenable") {
    await deps.enqueue.add(
      "actions",
      idempotencyKey("drain-reenable", undefined, `${plan.id}:${click.user}:${now}`),
      {
        type: "drain-reenable",
        drainId: plan.id,
        channel: click.channel,
        user: click.user,
        requestedAt: now,
        ...(click.responseUrl !== undefined && { responseUrl: click.responseUrl }),
      },
    );
    return;
  }
  if (status === "finished" || status === "rejected" || status === "expired" || status === "pending") {
    await privately(
      respond,
      `The drain of ${host} is ${escapeMrkdwn(status)}; there is nothing to ${control.split("-")[0]}.`,
    );
    return;
  }
  await deps.audit.write({
    actor: click.user,
    action: "migration-control",
    host: plan.host,
    what: `${control} the drain of ${plan.host} (drain ${plan.id})`,
    result: "ok",
  });
  switch (control) {
    case "pause":
      await deps.drains.setPaused(plan.id, click.user);
      await privately(
        respond,
        `Pausing the drain of ${host}: migrations under way finish, no new one starts until Resume.`,
      );
      return;
    case "resume":
      await deps.drains.setPaused(plan.id, null);
      await privately(respond, `Resuming the drain of ${host}.`);
      return;
    case "cancel-finish":
    case "cancel-abort": {
      const mode = control === "cancel-abort" ? "abort" : "finish";
      if (!(await deps.drains.setCancel(plan.id, { mode, by: click.user, at: now }))) {
        const earlier = await deps.drains.cancel(plan.id);
        await privately(
          respond,
          `${earlier ? mention(earlier.by) : "Someone"} already cancelled this drain.`,
        );
        return;
      }
      await privately(
        respond,
        mode === "abort"
          ? `Cancelling the drain of ${host}: migrations under way are aborted, no new one starts.`
          : `Cancelling the drain of ${host}: migrations under way finish, no new one starts.`,
      );
      return;
    }
  }
}

/** Registers `/drain` and the drain's buttons on the Bolt app (a `registerExtra` hook). */
export function registerDrainActions(
  drains: DrainStore,
  audit: AuditLog,
): (app: App, deps: CommandDeps) => void {
  return (app, commandDeps) => {
    const deps: DrainButtonDeps = { ...commandDeps, drains, audit };
    app.command("/drain", async ({ command, ack }) => {
      await handleDrain(command, (r) => ack(r), deps);
    });
    const wrap = (fn: (click: Click, respond: Respond) => Promise<void>) =>
      clickHandler(deps.log, "DRAIN_BUTTON_FAILED", fn);
    app.action(
      ACTION_DRAIN_APPROVE,
      wrap((c, r) => handleDrainDecision("approve", c, r, deps)),
    );
    app.action(
      ACTION_DRAIN_REJECT,
      wrap((c, r) => handleDrainDecision("reject", c, r, deps)),
    );
    app.action(
      ACTION_DRAIN_PAUSE,
      wrap((c, r) => handleDrainControl("pause", c, r, deps)),
    );
    app.action(
      ACTION_DRAIN_RESUME,
      wrap((c, r) => handleDrainControl("resume", c, r, deps)),
    );
    app.action(
      ACTION_DRAIN_CANCEL_FINISH,
      wrap((c, r) => handleDrainControl("cancel-finish", c, r, deps)),
    );
    app.action(
      ACTION_DRAIN_CANCEL_ABORT,
      wrap((c, r) => handleDrainControl("cancel-abort", c, r, deps)),
    );
    app.action(
      ACTION_DRAIN_REENABLE,
      wrap((c, r) => handleDrainControl("reenable", c, r, deps)),
    );
  };
}
