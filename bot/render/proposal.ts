/**
 * Block Kit for a fix proposal: what changes where (the exact diff per host and file), what it
 * restarts, what blocks it, and — depending on its state — Approve/Reject, who decided and when,
 * the progress of applying it, and "Retry migration"; and the private answers about proposals
 * (refused clicks, apply jobs that did not apply). Pure: proposal in, message out. VM names (which
 * tenants choose), host names, paths, diffs, reasons and error details are all outside text and
 * escaped; people are mentioned only by their Slack user ids.
 */
import type { ApplyAnswer, ProposalNote } from "../../src/fixes/presenter";
import { INTEGRITY_PROBLEM_TEXT } from "../../src/fixes/presenter";
import type { ProgressEvent } from "../../src/fixes/progress";
import type { Proposal } from "../../src/fixes/proposal";
import type { ClaimRefusal } from "../../src/fixes/store";
import { bold, clip, codeSpan, escapeMrkdwn, mention, slackDate } from "./format";
import { ACTION_RETRY, type Block, type RenderedMessage } from "./migration";

export const ACTION_APPROVE = "proposal_approve";
/** "Retry apply" on a proposal whose apply failed (a host unreachable, say). */
export const ACTION_RETRY_APPLY = "proposal_retry_apply";
export const ACTION_REJECT = "proposal_reject";
export { ACTION_RETRY };

/** Block Kit limits (https://api.slack.com/reference/block-kit/blocks). */
const SECTION_TEXT_MAX = 3000;
const HEADER_TEXT_MAX = 150;
/** Files whose diff is shown; each takes two blocks and a message holds at most 50. */
export const MAX_DIFFS_SHOWN = 16;
/** VMs listed by name in a vm-restart proposal before "and N more". */
const MAX_VMS_LISTED = 40;
/** Progress lines shown (the newest). */
const MAX_PROGRESS_LINES = 25;

const KIND_LABEL: Record<Proposal["kind"], string> = {
  "auto-converge": "auto-converge",
  "cpu-model": "CPU model",
  "vm-restart": "VM restart",
};

function section(text: string): Block {
  return { type: "section", text: { type: "mrkdwn", text: clip(text, SECTION_TEXT_MAX) } };
}

function context(text: string): Block {
  return { type: "context", elements: [{ type: "mrkdwn", text: clip(text, SECTION_TEXT_MAX) }] };
}

function confirm(title: string, text: string, yes: string): Block {
  return {
    title: { type: "plain_text", text: title },
    text: { type: "mrkdwn", text: clip(text, 300) },
    confirm: { type: "plain_text", text: yes },
    deny: { type: "plain_text", text: "Cancel" },
  };
}

function button(text: string, actionId: string, value: string, style: string, dialog: Block): Block {
  return {
    type: "button",
    text: { type: "plain_text", text, emoji: true },
    action_id: actionId,
    value,
    style,
    confirm: dialog,
  };
}

/** A diff inside a code block, clipped by whole lines to fit one section, saying so when clipped. */
export function diffBlockText(diff: string): string {
  // A ``` inside the text would close the code block early.
  const body = escapeMrkdwn(diff.replace(/```/g, "`\u200b``")).replace(/\n$/, "");
  const fence = (s: string) => `\`\`\`${s}\`\`\``;
  if (fence(body).length <= SECTION_TEXT_MAX) return fence(body);
  const lines = body.split("\n");
  const note = (shown: number) =>
    `\n_Diff clipped to fit Slack: ${shown} of ${lines.length} lines shown. The full diff is in the audit log (\`/migrate audit\`)._`;
  // Longest prefix of whole lines that fits with the fence and the note (one pass over the lengths).
  const budget = SECTION_TEXT_MAX - fence("").length - note(lines.length).length;
  let shown = 0;
  let used = 0;
  while (shown < lines.length && used + lines[shown]!.length + (shown > 0 ? 1 : 0) <= budget) {
    used += lines[shown]!.length + (shown > 0 ? 1 : 0);
    shown++;
  }
  return fence(lines.slice(0, shown).join("\n")) + note(shown);
}

function statusLine(p: Proposal, now: number): string {
  const by = p.decidedBy ? mention(p.decidedBy) : "someone";
  const when = p.decidedAt ? slackDate(p.decidedAt) : "";
  const expired = p.status === "expired" || (p.status === "pending" && now >= p.expiresAt);
  if (expired)
    return `:hourglass: *Expired* at ${slackDate(p.expiresAt)} without a decision. Run /diagnose again for a fresh plan.`;
  switch (p.status) {
    case "pending":
      return `:raised_hand: *Waiting for an approver.* Expires ${slackDate(p.expiresAt)}.`;
    case "approved":
      return `:white_check_mark: *Approved* by ${by} at ${when}. Applying shortly…`;
    case "rejected":
      return `:no_entry_sign: *Rejected* by ${by} at ${when}. Nothing was changed.`;
    case "applying":
      return `:gear: *Approved* by ${by} at ${when} — *applying…*`;
    case "applied":
      return `:white_check_mark: *Approved* by ${by} at ${when} — *applied.*`;
    case "failed":
      return `:x: *Approved* by ${by} at ${when} — *not applied in full.* See below.`;
    case "superseded":
      return `:fast_forward: *Superseded* at ${when}: another fix of the same kind was applied in this thread. Nothing was changed by this one.`;
    default:
      return "";
  }
}

function changeKeys(keys: string[]): string {
  return keys.length > 0 ? ` — ${keys.map(codeSpan).join(", ")}` : "";
}

const OK_MARK = ":white_check_mark:";
const FAILED_MARK = ":x:";

/** One progress event as a line under the proposal. */
export function progressLine(e: ProgressEvent): string {
  switch (e.kind) {
    case "taken-over":
      return ":recycle: The worker applying this stopped mid-way; another one continues. Hosts whose files already have the planned content count as done, the rest are applied; a file changed by anyone else stops it.";
    case "abort-refused":
      return `:no_entry: ${escapeMrkdwn(e.detail)}`;
    case "abort-not-needed":
      return `The migration of ${bold(e.vm)} is no longer running; nothing to abort.`;
    case "aborting":
      return `:octagonal_sign: Aborting the live migration of ${bold(e.vm)} (Nova migration ${e.migrationId})…`;
    case "aborted":
      return `The migration of ${bold(e.vm)} was aborted; the VM stays on its source host.`;
    case "file-written":
      return `${codeSpan(e.host)}: wrote ${codeSpan(e.path)} (backup ${codeSpan(e.backup)}, owner ${escapeMrkdwn(`${e.owner}:${e.group}`)} and mode ${escapeMrkdwn(e.mode)} kept, read back as planned)`;
    case "service-restarting":
      return `${codeSpan(e.host)}: restarting ${escapeMrkdwn(e.service)}…`;
    case "service-not-up":
      return `:warning: ${codeSpan(e.host)}: ${escapeMrkdwn(e.service)} did not come up (${escapeMrkdwn(e.detail)}); restoring the backup…`;
    case "host-done":
      return `${e.ok ? OK_MARK : FAILED_MARK} ${codeSpan(e.host)}: ${escapeMrkdwn(e.detail)}`;
    case "vm-batch":
      return `Batch ${e.batch} of ${e.batches}: hard-rebooting ${e.vms.map(bold).join(", ")}…`;
    case "vm-done":
      return `${e.ok ? OK_MARK : FAILED_MARK} ${bold(e.vm)}: ${escapeMrkdwn(e.detail)}`;
    case "legacy":
      return escapeMrkdwn(e.text);
  }
}

/** The proposal message in any state. `now` decides whether it still takes a decision. */
export function renderProposal(p: Proposal, now: number = Date.now()): RenderedMessage {
  const blocks: Block[] = [];
  // Escaped in plain_text too: Slack treats &, < and > as control characters in every text object
  // (api.slack.com/reference/surfaces/formatting#escaping), and no field may carry a raw <!channel>.
  const title = escapeMrkdwn(`Fix proposal (${KIND_LABEL[p.kind]}): ${p.title}`);
  blocks.push({
    type: "header",
    text: { type: "plain_text", text: clip(title, HEADER_TEXT_MAX), emoji: true },
  });
  blocks.push(section(statusLine(p, now)));
  if (p.reasoning) blocks.push(section(`*Why:* ${escapeMrkdwn(p.reasoning)}`));
  if (p.warnings.length > 0) {
    blocks.push(section(`*Warnings:*\n${p.warnings.map((w) => `:warning: ${escapeMrkdwn(w)}`).join("\n")}`));
  }
  if (p.blockers.length > 0) {
    blocks.push(
      section(`*Blocked by:*\n${p.blockers.map((b) => `:no_entry: ${escapeMrkdwn(b)}`).join("\n")}`),
    );
  }
  if (p.abortFirst) {
    blocks.push(
      section(
        `:octagonal_sign: The running migration of ${bold(p.abortFirst.vm)} is aborted first: nova-compute must not restart under it, and the new setting only applies to migrations started afterwards.`,
      ),
    );
  }
  const shown = p.changes.slice(0, MAX_DIFFS_SHOWN);
  for (const c of shown) {
    blocks.push(section(`*${codeSpan(c.host)}* ${codeSpan(c.path)}${changeKeys(c.changedKeys)}`));
    blocks.push(section(diffBlockText(c.diff)));
  }
  if (p.changes.length > shown.length) {
    blocks.push(
      context(
        `${p.changes.length - shown.length} more file change(s) not shown here (Slack's message limit); every diff is in the audit log (\`/migrate audit\`).`,
      ),
    );
  }
  if (p.kind !== "vm-restart") {
    blocks.push(
      section(
        p.serviceRestarts.length > 0
          ? `*Restarts:* nova-compute on ${p.serviceRestarts.map(codeSpan).join(", ")}, one host at a time, after its file is written (rolled back if it does not come up).`
          : "*Restarts:* none.",
      ),
    );
  }
  if (p.vmRestarts.length > 0) {
    const listed = p.vmRestarts.slice(0, MAX_VMS_LISTED);
    const more = p.vmRestarts.length - listed.length;
    blocks.push(
      section(
        `${p.kind === "vm-restart" ? "*VMs hard-rebooted* (through Nova, in batches; each is down while it reboots)" : "*VMs to hard-reboot afterwards* (a second proposal, approved on its own)"}:\n${listed
          .map((v) => `• ${bold(v.name)} on ${codeSpan(v.host)}`)
          .join("\n")}${more > 0 ? `\n…and ${more} more` : ""}`,
      ),
    );
  }
  const progress = p.progress ?? [];
  if (progress.length > 0) {
    const recent = progress.slice(-MAX_PROGRESS_LINES);
    const skipped = progress.length - recent.length;
    blocks.push(
      section(
        `*Progress:*${skipped > 0 ? ` (${skipped} earlier lines not shown)` : ""}\n${recent.map(progressLine).join("\n")}`,
      ),
    );
  }
  if (p.results.length > 0) {
    blocks.push(
      section(
        `*Result:*\n${p.results
          .map((r) => `${r.ok ? OK_MARK : FAILED_MARK} ${codeSpan(r.host)}: ${escapeMrkdwn(r.detail)}`)
          .join("\n")}`,
      ),
    );
  }
  blocks.push(
    context(
      `Requested by ${mention(p.requestedBy)} · proposal ${escapeMrkdwn(p.id.slice(0, 8))} · ${slackDate(p.createdAt)}`,
    ),
  );

  const pending = p.status === "pending" && now < p.expiresAt;
  if (pending) {
    const what =
      p.kind === "vm-restart"
        ? `${p.vmRestarts.length} VM(s) will be hard-rebooted through Nova.`
        : `nova.conf changes on ${escapeMrkdwn([...new Set(p.changes.map((c) => c.host))].join(", "))}, then nova-compute restarts there.`;
    blocks.push({
      type: "actions",
      block_id: `proposal:${p.id}`,
      elements: [
        button("Approve", ACTION_APPROVE, p.id, "primary", confirm("Approve this change?", what, "Approve")),
        button(
          "Reject",
          ACTION_REJECT,
          p.id,
          "danger",
          confirm("Reject this proposal?", "Nothing is changed; the buttons go away.", "Reject"),
        ),
      ],
    });
  }
  if (p.status === "failed" && now < p.expiresAt && p.kind !== "vm-restart") {
    blocks.push({
      type: "actions",
      block_id: `retry-apply:${p.id}`,
      elements: [
        button(
          "Retry apply",
          ACTION_RETRY_APPLY,
          p.id,
          "primary",
          confirm(
            "Apply this change again?",
            "migbot re-reads each file: hosts that already have the planned content count as done, a file someone else changed stops it, the rest are applied as approved.",
            "Retry apply",
          ),
        ),
      ],
    });
  }
  if ((p.applyRetries ?? 0) > 0 && p.applyRetriedBy)
    blocks.push(context(`Apply retried (${p.applyRetries}) by ${mention(p.applyRetriedBy)}.`));
  if (p.status === "applied" && p.retry && !p.retriedBy && p.next === undefined) {
    blocks.push({
      type: "actions",
      block_id: `retry:${p.id}`,
      elements: [
        button(
          "Retry migration",
          ACTION_RETRY,
          p.id,
          "primary",
          confirm(
            "Retry the migration?",
            `migbot live-migrates ${escapeMrkdwn(p.retry.vm)}${p.retry.destination ? ` to ${escapeMrkdwn(p.retry.destination)}` : ""} again, as a new request with its own message.`,
            "Retry",
          ),
        ),
      ],
    });
  }
  if (p.retriedBy)
    blocks.push(
      context(`Retry requested by ${mention(p.retriedBy)}; follow the new migration message in the channel.`),
    );

  // The notification text: the same escaped words without emoji codes or bold markers.
  const text = `${title} — ${statusLine(p, now)
    .replace(/^:[a-z_]+: /, "")
    .replace(/\*/g, "")}`;
  return { text: clip(text, SECTION_TEXT_MAX), blocks };
}

/** The sentence a refused clicker reads privately, saying what to do next. */
export function renderRefusal(r: ClaimRefusal, decision: "approve" | "reject"): { text: string } {
  switch (r.reason) {
    case "unknown":
      return {
        text: "migbot does not know this proposal (it may be older than its retention, or the button was altered). Nothing was changed; run /diagnose again for a fresh plan.",
      };
    case "expired":
      return {
        text: `This proposal expired at ${slackDate(r.expiresAt)}; nothing was changed. Run /diagnose again: the hosts may have changed since it was planned.`,
      };
    case "not-approver":
      return {
        text: `Only migbot approvers may ${decision} fix proposals. Ask an approver, or to be added to MIGBOT_APPROVERS.`,
      };
    case "own-proposal":
      return {
        text: "You asked for this proposal, so someone else must approve it (four eyes). Ask another approver to press Approve.",
      };
    case "already-decided": {
      if (r.status === "superseded") {
        return {
          text: "Another fix of the same kind was applied in this thread, so this alternative is no longer needed. Run /diagnose again if something still fails.",
        };
      }
      const verb = r.status === "rejected" ? "rejected" : "approved";
      return {
        text: `${mention(r.by)} already ${verb} this proposal at ${slackDate(r.at)}. Nothing more to do here.`,
      };
    }
  }
}

/** The private answer when an approved proposal's apply job does not apply it. */
export function renderApplyAnswer(a: ApplyAnswer): { text: string } {
  switch (a.kind) {
    case "unknown-proposal":
      return { text: "That proposal is unknown to migbot; nothing was applied." };
    case "integrity-refused":
      return {
        text: `FIX_INTEGRITY: that proposal failed migbot's integrity check (${escapeMrkdwn(INTEGRITY_PROBLEM_TEXT[a.problem])}), so nothing was applied on any host. This is recorded in the audit log; tell whoever runs migbot's Redis.`,
      };
    case "not-applicable":
      return { text: `That proposal is ${escapeMrkdwn(a.status)}, so it was not applied (again).` };
  }
}

/** A note in a proposal's thread. */
export function renderProposalNote(n: ProposalNote): { text: string } {
  switch (n.kind) {
    case "no-vm-restart":
      return {
        text: "The CPU model is in place; no running VM was named for a restart, so none is proposed. Hard-reboot the VMs that must move before retrying.",
      };
  }
}
