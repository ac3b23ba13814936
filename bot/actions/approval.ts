/**
 * Approve, Reject and "Retry migration" buttons on fix proposals. Each handler acks at once, then
 * authorizes, decides atomically in Redis, and either replaces the proposal message (who decided,
 * when, no buttons) and enqueues the work, or tells the clicker privately why not.
 */

import type { App } from "@slack/bolt";
import type { ProposalService } from "../../src/fixes/service";
import { idempotencyKey, type MigrateJob, RETRY_FIX_TITLE_MAX_CHARS } from "../../src/queue/jobs";
import { refusal } from "../access";
import type { CommandDeps } from "../commands/migrate";
import { escapeMrkdwn, mention } from "../render/format";
import {
  ACTION_APPROVE,
  ACTION_REJECT,
  ACTION_RETRY,
  ACTION_RETRY_APPLY,
  renderProposal,
  renderRefusal,
} from "../render/proposal";
import { type Click, clickHandler, privately, type Respond } from "./click";

/** A button press, as the handlers need it. */
export type { Click, Respond } from "./click";

export interface ApprovalDeps extends CommandDeps {
  proposals: ProposalService;
}

/** Approve or Reject. Exported for direct tests; registered through {@link registerApprovalActions}. */
export async function handleDecision(
  decision: "approve" | "reject",
  click: Click,
  respond: Respond,
  deps: ApprovalDeps,
): Promise<void> {
  const now = (deps.now ?? Date.now)();
  const isApprover = await deps.access.has(click.user, "approver");
  const known = await deps.proposals.get(click.value);
  // A proposal is only decided in the channel it was posted in; elsewhere it does not exist.
  const id = known && known.channel === click.channel ? click.value : "";
  const result = await deps.proposals.claim(id, click.user, decision, {
    isApprover,
    allowSelfApproval: deps.access.allowSelfApproval,
  });
  if (!result.ok) {
    deps.log.info("proposal decision refused", { user: click.user, decision, code: result.code });
    await privately(
      respond,
      isApprover
        ? renderRefusal(result.refusal, decision).text
        : refusal("approver", `${decision} fix proposals`),
    );
    return;
  }
  const p = result.proposal;
  await respond({ replace_original: true, ...renderProposal(p, now) });
  if (decision === "approve") {
    await deps.enqueue.add("actions", idempotencyKey("apply-proposal", undefined, p.id), {
      type: "apply-proposal",
      proposalId: p.id,
      planDigest: p.planDigest,
      channel: click.channel,
      user: click.user,
      requestedAt: now,
      ...(click.responseUrl !== undefined && { responseUrl: click.responseUrl }),
    });
  }
  deps.log.info("proposal decided", { proposalId: p.id, decision, by: click.user });
}

/**
 * "Retry apply" after an apply failed (a host unreachable mid-way, say): the proposal is approved
 * again, once per failure, and a new apply job re-reads every file before it changes anything.
 */
export async function handleRetryApply(click: Click, respond: Respond, deps: ApprovalDeps): Promise<void> {
  const now = (deps.now ?? Date.now)();
  const isApprover = await deps.access.has(click.user, "approver");
  const known = await deps.proposals.get(click.value);
  if (!known || known.channel !== click.channel) {
    await privately(respond, "That button belongs to no proposal migbot knows; nothing was changed.");
    return;
  }
  const r = await deps.proposals.store.reopenFailed(known.id, click.user, { isApprover, now });
  if (!r.ok) {
    const why =
      r.reason === "not-approver"
        ? refusal("approver", "retry fix proposals")
        : r.reason === "expired"
          ? "This proposal has expired; run /diagnose again for a fresh one. Nothing was changed."
          : r.reason === "not-failed"
            ? `The fix is ${escapeMrkdwn(r.status ?? "not failed")} now (someone pressed Retry apply already, or it changed); nothing more was started.`
            : "That button belongs to no proposal migbot knows; nothing was changed.";
    await privately(respond, why);
    return;
  }
  await deps.proposals.audit.write({
    actor: click.user,
    action: "approved",
    proposalId: known.id,
    what: `retry apply (${r.retry}) of ${known.title}`,
    result: "ok",
  });
  await deps.enqueue.add(
    "actions",
    idempotencyKey("apply-proposal", undefined, `${known.id}:retry-${r.retry}`),
    {
      type: "apply-proposal",
      proposalId: known.id,
      planDigest: known.planDigest,
      channel: click.channel,
      user: click.user,
      requestedAt: now,
      ...(click.responseUrl !== undefined && { responseUrl: click.responseUrl }),
    },
  );
  const updated = await deps.proposals.get(known.id);
  if (updated) await respond({ replace_original: true, ...renderProposal(updated, now) });
  deps.log.info("proposal apply retried", { proposalId: known.id, retry: r.retry, by: click.user });
}

/** "Retry migration" after a fix: a new /migrate request, posted as its own root message. */
export async function handleRetry(click: Click, respond: Respond, deps: ApprovalDeps): Promise<void> {
  const now = (deps.now ?? Date.now)();
  if (!(await deps.access.has(click.user, "operator"))) {
    await privately(respond, refusal("operator", "start live migrations"));
    return;
  }
  const p = await deps.proposals.get(click.value);
  if (!p || p.channel !== click.channel || !p.retry) {
    await privately(respond, "That retry button belongs to no proposal migbot knows; nothing was started.");
    return;
  }
  if (p.status !== "applied") {
    await privately(
      respond,
      `The fix is ${escapeMrkdwn(p.status)}, not applied, so a retry would meet the same problem. Nothing was started.`,
    );
    return;
  }
  const holder = await deps.enqueue.vmHolder(p.retry.vm);
  if (holder !== null) {
    await privately(
      respond,
      `${escapeMrkdwn(p.retry.vm)} is already being migrated; follow that thread. No second migration was started.`,
    );
    return;
  }
  if (!(await deps.proposals.store.markRetried(p.id, click.user))) {
    const again = await deps.proposals.get(p.id);
    await privately(
      respond,
      `${again?.retriedBy ? mention(again.retriedBy) : "Someone"} already pressed Retry; follow the new migration message.`,
    );
    return;
  }
  const retryOf = p.retry.jobId ?? p.abortFirst?.jobId;
  const job: MigrateJob = {
    type: "migrate",
    vm: p.retry.vm,
    destination: p.retry.destination,
    channel: click.channel,
    user: click.user,
    requestedAt: now,
    ...(retryOf !== undefined && { retryOf }),
    retryContext: { fix: p.title.slice(0, RETRY_FIX_TITLE_MAX_CHARS), approvedBy: p.decidedBy },
    ...(click.responseUrl !== undefined && { responseUrl: click.responseUrl }),
  };
  await deps.enqueue.add("migrations", idempotencyKey("migrate", undefined, `retry:${p.id}`), job);
  await deps.proposals.audit.write({
    actor: click.user,
    action: "retry-requested",
    proposalId: p.id,
    what: `retry the live migration of ${p.retry.vm}${p.retry.destination ? ` to ${p.retry.destination}` : ""}`,
    result: "info",
  });
  const updated = await deps.proposals.get(p.id);
  if (updated) await respond({ replace_original: true, ...renderProposal(updated, now) });
}

/** The `registerExtra` hook for startBot: Approve, Reject and Retry. */
export function registerApprovalActions(proposals: ProposalService): (app: App, deps: CommandDeps) => void {
  return (app, commandDeps) => {
    const deps: ApprovalDeps = { ...commandDeps, proposals };
    const wrap = (fn: (click: Click, respond: Respond) => Promise<void>) =>
      clickHandler(deps.log, "FIX_BUTTON_FAILED", fn);
    app.action(
      ACTION_APPROVE,
      wrap((c, r) => handleDecision("approve", c, r, deps)),
    );
    app.action(
      ACTION_REJECT,
      wrap((c, r) => handleDecision("reject", c, r, deps)),
    );
    app.action(
      ACTION_RETRY,
      wrap((c, r) => handleRetry(c, r, deps)),
    );
    app.action(
      ACTION_RETRY_APPLY,
      wrap((c, r) => handleRetryApply(c, r, deps)),
    );
  };
}
