/**
 * Renders a drain: the root message (the plan with Approve / Reject, then the live table with
 * Pause / Resume / Cancel, then the final state with Re-enable host), the plan's checks and the
 * report in its thread, and the private answers. Pure: view in, `{text, blocks}` out. Every name
 * (VM names are the tenants') and every sentence from outside is escaped.
 */

import type { DrainAnswer } from "../../src/drain/presenter";
import type { DrainRow, DrainView, DrainVmPlan } from "../../src/drain/types";
import type { RenderedChart } from "./chart";
import { bold, clip, codeSpan, escapeMrkdwn, formatBytes, formatDuration, mention } from "./format";
import type { Block, RenderedMessage } from "./migration";
import { predictionSentence } from "./prediction";

export const ACTION_DRAIN_APPROVE = "drain_approve";
export const ACTION_DRAIN_REJECT = "drain_reject";
export const ACTION_DRAIN_PAUSE = "drain_pause";
export const ACTION_DRAIN_RESUME = "drain_resume";
export const ACTION_DRAIN_CANCEL_FINISH = "drain_cancel_finish";
export const ACTION_DRAIN_CANCEL_ABORT = "drain_cancel_abort";
export const ACTION_DRAIN_REENABLE = "drain_reenable";

/** Block Kit's limit for a section's text (3,000), with room to spare. */
const SECTION_TEXT_MAX = 2900;
/** Sections the table may use (Block Kit allows 50 blocks a message). */
const TABLE_SECTIONS_MAX = 40;
/** Width of the VM and destination columns. */
const NAME_COLUMN_CHARS = 22;
const DEST_COLUMN_CHARS = 14;

const STATE_WORDS: Record<DrainRow["state"], string> = {
  waiting: "waiting",
  running: "migrating",
  completed: "moved",
  failed: "failed",
  aborted: "aborted",
  skipped: "not moved",
};

const STATUS_WORDS: Record<DrainView["status"], string> = {
  pending: "waiting for approval",
  approved: "approved, starting",
  rejected: "rejected",
  expired: "expired (not approved in time)",
  running: "running",
  paused: "paused",
  cancelling: "cancelling",
  finished: "finished",
};

/** Text for a code block: escaped, its fence unbreakable, one line. */
function cell(text: string, width: number): string {
  const t = escapeMrkdwn(text.replace(/[\r\n\t]/g, " ")).replace(/`/g, "ˋ");
  const clipped = t.length > width ? `${t.slice(0, width - 1)}…` : t;
  return clipped.padEnd(width);
}

function progressCell(r: DrainRow): string {
  if (r.progress === null) return r.state === "running" ? "…" : "";
  const filled = Math.round(r.progress * 8);
  return `${"▓".repeat(filled)}${"░".repeat(8 - filled)} ${String(Math.floor(r.progress * 100)).padStart(3)}%`;
}

/** The table's lines: one per VM. */
export function tableLines(rows: readonly DrainRow[]): string[] {
  const head = `${"VM".padEnd(NAME_COLUMN_CHARS)} ${"to".padEnd(DEST_COLUMN_CHARS)} ${"state".padEnd(9)} ${"progress".padEnd(13)} ${"ETA".padEnd(8)} downtime`;
  const lines = rows.map((r) => {
    const dest = r.destination ?? "(scheduler)";
    const eta = r.etaSeconds !== null ? formatDuration(r.etaSeconds * 1000) : "";
    const down = r.downtimeMs !== null ? formatDuration(r.downtimeMs) : "";
    return `${cell(`${r.addedDuringDrain ? "+" : ""}${r.name}`, NAME_COLUMN_CHARS)} ${cell(dest, DEST_COLUMN_CHARS)} ${STATE_WORDS[r.state].padEnd(9)} ${progressCell(r).padEnd(13)} ${eta.padEnd(8)} ${down}`;
  });
  return [head, ...lines];
}

/** Lines in as few code-block sections as fit. */
function codeSections(lines: string[]): Block[] {
  const out: Block[] = [];
  let chunk: string[] = [];
  const flush = () => {
    if (chunk.length > 0) out.push(section(`\`\`\`${chunk.join("\n")}\`\`\``));
    chunk = [];
  };
  for (const line of lines) {
    if ([...chunk, line].join("\n").length + 6 > SECTION_TEXT_MAX) flush();
    chunk.push(line);
  }
  flush();
  if (out.length > TABLE_SECTIONS_MAX) {
    const dropped = out.length - TABLE_SECTIONS_MAX;
    return [
      ...out.slice(0, TABLE_SECTIONS_MAX),
      context(`(${dropped} more parts of the table in the report)`),
    ];
  }
  return out;
}

function section(text: string): Block {
  return { type: "section", text: { type: "mrkdwn", text: clip(text, SECTION_TEXT_MAX) } };
}

function context(text: string): Block {
  return { type: "context", elements: [{ type: "mrkdwn", text: clip(text, SECTION_TEXT_MAX) }] };
}

function button(text: string, actionId: string, value: string, style?: string, dialog?: Block): Block {
  return {
    type: "button",
    text: { type: "plain_text", text, emoji: true },
    action_id: actionId,
    value,
    ...(style && { style }),
    ...(dialog && { confirm: dialog }),
  };
}

function confirm(title: string, text: string, yes: string): Block {
  return {
    title: { type: "plain_text", text: title },
    text: { type: "mrkdwn", text: clip(text, 300) },
    confirm: { type: "plain_text", text: yes },
    deny: { type: "plain_text", text: "Back" },
  };
}

function counts(v: DrainView): Record<DrainRow["state"], number> {
  const c = { waiting: 0, running: 0, completed: 0, failed: 0, aborted: 0, skipped: 0 };
  for (const r of v.rows) c[r.state]++;
  return c;
}

/** The header line: host, state, counts. */
function headline(v: DrainView): string {
  const c = counts(v);
  const host = bold(v.plan.host);
  const status = STATUS_WORDS[v.status] ?? "unknown";
  if (v.status === "pending" || v.status === "rejected" || v.status === "expired") {
    const moving = v.plan.vms.filter((x) => x.action === "migrate").length;
    return `Drain ${host} — ${status}: ${moving} of ${v.plan.vms.length} VM${v.plan.vms.length === 1 ? "" : "s"} to live-migrate, ${v.plan.concurrency} at a time`;
  }
  return `Drain ${host} — ${status}: ${c.completed} moved, ${c.running} migrating, ${c.waiting} waiting, ${c.failed + c.aborted + c.skipped} not moved (of ${v.rows.length})`;
}

function whereTo(v: DrainView): string {
  return v.plan.destinations === null
    ? "to hosts Nova's scheduler picks"
    : `to ${v.plan.destinations.map(codeSpan).join(", ")}`;
}

/** The root message. */
export function renderDrainRoot(v: DrainView): RenderedMessage {
  const blocks: Block[] = [section(headline(v))];
  const lines: string[] = [];
  lines.push(
    `Requested by ${mention(v.plan.requestedBy)}${v.decidedBy && v.status !== "pending" ? ` · ${v.status === "rejected" ? "rejected" : "approved"} by ${mention(v.decidedBy)}` : ""} · ${whereTo(v)} · ${v.plan.concurrency} at a time`,
  );
  if (v.plan.concurrencyNote) lines.push(escapeMrkdwn(v.plan.concurrencyNote));
  if (v.status === "pending") {
    lines.push(
      `On approval ${codeSpan(v.plan.host)}'s nova-compute is disabled (reason ${codeSpan(v.plan.disableReason)}) so that nothing new lands there, then its VMs are live-migrated. The checks per VM are in the thread.`,
    );
  } else if (v.hostReenabled) {
    lines.push(
      `${codeSpan(v.plan.host)}'s nova-compute was enabled again by ${mention(v.hostReenabled.by)}.`,
    );
  } else if (v.hostDisabled) {
    lines.push(`${codeSpan(v.plan.host)}'s nova-compute is disabled: Nova places nothing new there.`);
  }
  if (v.pausedBy && v.status !== "finished")
    lines.push(`Paused by ${mention(v.pausedBy)}: running migrations go on, none start.`);
  if (v.cancel) {
    lines.push(
      `Cancelled by ${mention(v.cancel.by)}: ${v.cancel.mode === "abort" ? "running migrations were aborted" : "running migrations finish, none start"}.`,
    );
  }
  blocks.push(context(lines.join("\n")));
  const rows =
    v.status === "pending" || v.status === "rejected" || v.status === "expired" ? planRows(v) : v.rows;
  if (rows.length > 0) blocks.push(...codeSections(tableLines(rows)));
  else blocks.push(context("No VMs on the host."));
  blocks.push(...buttonsFor(v));
  // The fallback text (notifications, the console) carries the counts too.
  return { text: headline(v), blocks };
}

/** Before approval the table shows the plan: skipped VMs as not moved. */
function planRows(v: DrainView): DrainRow[] {
  return v.plan.vms.map((p) => ({
    name: p.name,
    destination: p.destination,
    state: p.action === "skip" ? "skipped" : "waiting",
    progress: null,
    etaSeconds: null,
    downtimeMs: null,
    reason: p.reason,
    addedDuringDrain: false,
  }));
}

function buttonsFor(v: DrainView): Block[] {
  const id = v.plan.id;
  const host = escapeMrkdwn(v.plan.host);
  const elements: Block[] = [];
  if (v.status === "pending") {
    elements.push(
      button(
        "Approve",
        ACTION_DRAIN_APPROVE,
        id,
        "primary",
        confirm("Approve this drain?", `Disable ${host}'s nova-compute and live-migrate its VMs.`, "Approve"),
      ),
      button("Reject", ACTION_DRAIN_REJECT, id, "danger"),
    );
  } else if (v.status === "running" || v.status === "paused" || v.status === "approved") {
    elements.push(
      v.pausedBy
        ? button("Resume", ACTION_DRAIN_RESUME, id, "primary")
        : button("Pause", ACTION_DRAIN_PAUSE, id),
      button(
        "Cancel, let running finish",
        ACTION_DRAIN_CANCEL_FINISH,
        id,
        undefined,
        confirm("Cancel the drain?", "Migrations under way finish; no more start.", "Cancel drain"),
      ),
      button(
        "Cancel, abort running",
        ACTION_DRAIN_CANCEL_ABORT,
        id,
        "danger",
        confirm(
          "Cancel and abort?",
          "Migrations under way are aborted; their VMs stay where they are.",
          "Abort them",
        ),
      ),
    );
  } else if (v.status === "finished" && v.hostDisabled && !v.hostReenabled) {
    elements.push(
      button(
        "Re-enable host",
        ACTION_DRAIN_REENABLE,
        id,
        undefined,
        confirm("Re-enable the host?", `Nova may place VMs on ${host} again.`, "Re-enable"),
      ),
    );
  }
  return elements.length > 0 ? [{ type: "actions", elements }] : [];
}

const CHECK_MARK: Record<string, string> = { pass: "✓", warn: "!", fail: "✗" };

/** The plan's thread reply: each VM's checks, expected outcome and what to do about it. */
export function renderPlanDetails(v: DrainView): RenderedMessage {
  const parts: string[] = [];
  parts.push(`*Plan for ${escapeMrkdwn(v.plan.host)}* — pre-flight checks of /diagnose per VM`);
  for (const p of v.plan.problems) parts.push(`• ${escapeMrkdwn(p)}`);
  for (const vm of v.plan.vms) parts.push(vmPlanLine(vm));
  const blocks: Block[] = [];
  let chunk = "";
  for (const part of parts) {
    if (chunk.length + part.length + 1 > SECTION_TEXT_MAX && chunk !== "") {
      blocks.push(section(chunk));
      chunk = "";
    }
    chunk = chunk === "" ? part : `${chunk}\n${part}`;
  }
  if (chunk !== "") blocks.push(section(chunk));
  return { text: `Plan for ${escapeMrkdwn(v.plan.host)}`, blocks: blocks.slice(0, 45) };
}

function vmPlanLine(vm: DrainVmPlan): string {
  const checks = vm.checks.map((c) => `${CHECK_MARK[c.status] ?? "?"} ${escapeMrkdwn(c.title)}`).join(" · ");
  const to = vm.destination ? codeSpan(vm.destination) : "Nova's scheduler";
  const head =
    vm.action === "skip"
      ? `• ${codeSpan(vm.name)} stays: ${escapeMrkdwn(vm.reason ?? "")}`
      : `• ${codeSpan(vm.name)} → ${to}`;
  const more = [
    checks,
    vm.prediction.measured
      ? `expected: ${predictionSentence(vm.prediction.measured)}`
      : `expected: ${escapeMrkdwn(vm.prediction.verdict.replace(/-/g, " "))} (${escapeMrkdwn(vm.prediction.reason)})`,
    vm.advice ? `what to do: ${escapeMrkdwn(vm.advice)}` : "",
  ].filter(Boolean);
  return clip(`${head}\n    ${more.join("\n    ")}`, 900);
}

/** The report in the thread: what moved, what did not and why. */
export function renderDrainReport(v: DrainView): RenderedMessage {
  const moved = v.rows.filter((r) => r.state === "completed");
  const notMoved = v.rows.filter((r) => r.state !== "completed");
  const took = v.startedAt !== null && v.endedAt !== null ? formatDuration(v.endedAt - v.startedAt) : "?";
  const parts: string[] = [
    `*Drain of ${escapeMrkdwn(v.plan.host)} ${v.cancel ? "cancelled" : "finished"}* in ${took}: ${moved.length} of ${v.rows.length} VMs moved${v.bytesSent !== null ? `, ${formatBytes(v.bytesSent)} of memory sent` : ""}.`,
  ];
  if (moved.length > 0) {
    parts.push("*Moved*");
    for (const r of moved) {
      parts.push(
        `• ${codeSpan(r.name)} → ${r.destination ? codeSpan(r.destination) : "?"}${r.downtimeMs !== null ? ` (downtime ${formatDuration(r.downtimeMs)})` : ""}`,
      );
    }
  }
  if (notMoved.length > 0) {
    parts.push("*Not moved*");
    for (const r of notMoved) {
      parts.push(
        `• ${codeSpan(r.name)} — ${STATE_WORDS[r.state]}: ${escapeMrkdwn(r.reason ?? "no reason recorded")}`,
      );
    }
  }
  parts.push(
    v.hostReenabled
      ? `${codeSpan(v.plan.host)} was enabled again.`
      : v.hostDisabled
        ? `${codeSpan(v.plan.host)}'s nova-compute stays disabled for the maintenance; press *Re-enable host* on the drain's message when it is done.`
        : `${codeSpan(v.plan.host)} was not disabled.`,
  );
  const blocks: Block[] = [];
  let chunk = "";
  for (const part of parts) {
    const line = clip(part, 600);
    if (chunk.length + line.length + 1 > SECTION_TEXT_MAX && chunk !== "") {
      blocks.push(section(chunk));
      chunk = "";
    }
    chunk = chunk === "" ? line : `${chunk}\n${line}`;
  }
  if (chunk !== "") blocks.push(section(chunk));
  return {
    text: `Drain of ${escapeMrkdwn(v.plan.host)}: ${moved.length} of ${v.rows.length} VMs moved`,
    blocks: blocks.slice(0, 45),
  };
}

/** Private answers about drains. */
export function renderDrainAnswer(a: DrainAnswer): RenderedMessage {
  const text = answerText(a);
  return { text, blocks: [section(text)] };
}

function answerText(a: DrainAnswer): string {
  switch (a.kind) {
    case "drain-unknown-host":
      return `${codeSpan(a.host)} is not a compute host Nova knows; check the name with \`openstack compute service list\`. Nothing was changed.`;
    case "drain-unknown-destination":
      return `${codeSpan(a.host)} (after \`to\`) is not a compute host Nova knows. Nothing was changed.`;
    case "drain-destination-is-source":
      return `${codeSpan(a.host)} is the host being drained; give other hosts after \`to\`. Nothing was changed.`;
    case "drain-destination-unavailable":
      return `${codeSpan(a.host)}'s nova-compute is ${escapeMrkdwn(a.state)} and ${escapeMrkdwn(a.status)}, so Nova would place nothing there: enable it (\`openstack compute service set --enable\`) or give other hosts. Nothing was changed.`;
    case "drain-busy":
      return `${codeSpan(a.host)} is already being drained (drain ${codeSpan(a.holder)}); follow its thread, or cancel it there first. No second drain was started.`;
    case "drain-plan-refused":
      return `DRAIN_PLAN_REFUSED: the approved drain${a.host ? ` of ${codeSpan(a.host)}` : ""} was not run: ${escapeMrkdwn(a.reason)}. Run /drain again for a fresh plan.`;
    case "drain-disable-failed":
      return `DRAIN_DISABLE_FAILED: ${codeSpan(a.host)}'s nova-compute could not be disabled (${escapeMrkdwn(a.error)}), so no VM was moved. Check migbot's OpenStack user has the admin role, then run /drain again.`;
    case "drain-reenable-refused":
      return a.why === "running"
        ? `The drain of ${codeSpan(a.host)} is still running; cancel it or let it finish before enabling the host again.`
        : a.why === "not-disabled"
          ? `${codeSpan(a.host)} was not left disabled by this drain (or was enabled again already); nothing was changed.`
          : "That button belongs to no drain migbot knows; nothing was changed.";
    case "drain-reenabled":
      return `${codeSpan(a.host)}'s nova-compute is enabled again: Nova may place VMs there.`;
  }
}

/** The words around a drain's chart: drawn heading (plain), file title, alt text and comment (escaped). */
export function renderDrainChartMessage(v: DrainView): RenderedChart {
  const moved = v.rows.filter((r) => r.state === "completed").length;
  const heading = `Drain of ${v.plan.host}: ${moved} of ${v.rows.length} VMs moved`;
  const what = "each VM's memory remaining over the drain, on one time axis from its first migration";
  return {
    heading,
    subheading: what,
    filename: `drain-${v.plan.id.replace(/[^A-Za-z0-9-]/g, "").slice(0, 40) || "chart"}.png`,
    title: escapeMrkdwn(heading),
    altText: escapeMrkdwn(`Chart of the drain of ${v.plan.host}: ${what}.`).slice(0, 1000),
    initialComment: `Chart of the drain of ${codeSpan(v.plan.host)}: ${what}.`,
  };
}
