/**
 * Block Kit for a fix proposal: what changes where (the exact diff per host and file), what it
 * restarts, what blocks it, and — depending on its state — Approve/Reject, who decided and when,
 * the progress of applying it, and "Retry migration". Pure: proposal in, message out.
 */
import type { Proposal } from "../../src/fixes/proposal";
import { clip, escapeMrkdwn, slackDate } from "./format";
import { ACTION_RETRY, type Block, type RenderedMessage, stripMrkdwn } from "./migration";

export const ACTION_APPROVE = "proposal_approve";
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
  const by = p.decidedBy ? `<@${p.decidedBy}>` : "someone";
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
  return keys.length > 0 ? ` — ${keys.map((k) => `\`${escapeMrkdwn(k)}\``).join(", ")}` : "";
}

/** The proposal message in any state. `now` decides whether it still takes a decision. */
export function renderProposal(p: Proposal, now: number = Date.now()): RenderedMessage {
  const blocks: Block[] = [];
  const title = `Fix proposal (${KIND_LABEL[p.kind]}): ${p.title}`;
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
        `:octagonal_sign: The running migration of *${escapeMrkdwn(p.abortFirst.vm)}* is aborted first: nova-compute must not restart under it, and the new setting only applies to migrations started afterwards.`,
      ),
    );
  }
  const shown = p.changes.slice(0, MAX_DIFFS_SHOWN);
  for (const c of shown) {
    blocks.push(
      section(`*\`${escapeMrkdwn(c.host)}\`* \`${escapeMrkdwn(c.path)}\`${changeKeys(c.changedKeys)}`),
    );
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
          ? `*Restarts:* nova-compute on ${p.serviceRestarts.map((h) => `\`${escapeMrkdwn(h)}\``).join(", ")}, one host at a time, after its file is written (rolled back if it does not come up).`
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
          .map((v) => `• *${escapeMrkdwn(v.name)}* on \`${escapeMrkdwn(v.host)}\``)
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
        `*Progress:*${skipped > 0 ? ` (${skipped} earlier lines not shown)` : ""}\n${recent.join("\n")}`,
      ),
    );
  }
  if (p.results.length > 0) {
    blocks.push(
      section(
        `*Result:*\n${p.results
          .map(
            (r) =>
              `${r.ok ? ":white_check_mark:" : ":x:"} \`${escapeMrkdwn(r.host)}\`: ${escapeMrkdwn(r.detail)}`,
          )
          .join("\n")}`,
      ),
    );
  }
  blocks.push(
    context(`Requested by <@${p.requestedBy}> · proposal ${p.id.slice(0, 8)} · ${slackDate(p.createdAt)}`),
  );

  const pending = p.status === "pending" && now < p.expiresAt;
  if (pending) {
    const what =
      p.kind === "vm-restart"
        ? `${p.vmRestarts.length} VM(s) will be hard-rebooted through Nova.`
        : `nova.conf changes on ${[...new Set(p.changes.map((c) => c.host))].join(", ")}, then nova-compute restarts there.`;
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
      context(`Retry requested by <@${p.retriedBy}>; follow the new migration message in the channel.`),
    );

  const text = stripMrkdwn(`${title} — ${statusLine(p, now).replace(/:[a-z_]+: /, "")}`);
  return { text: clip(text, SECTION_TEXT_MAX), blocks };
}
