/**
 * Block Kit for a migration's thread: its root message, phase replies, the not-converging warning,
 * the failure reply and the retry notice. Pure: typed message in, message out. Every text that came
 * from outside (VM and host names, Nova's and the hosts' text, the analyzer's and the sampler's
 * sentences) goes through escapeMrkdwn, codeSpan or bold; people are named only through mention.
 */
import type { MigrationMessage, RetryNotice } from "../../src/migration/presenter";
import {
  isFinished,
  type MigrationFailure,
  type MigrationView,
  type NotConvergingFacts,
  PHASE_TITLES,
  PHASES,
  type PhaseName,
  type RetryNote,
  vmLabel,
} from "../../src/migration/view";
import {
  bold,
  clip,
  codeSpan,
  escapeMrkdwn,
  formatBytes,
  formatDuration,
  formatRate,
  mention,
  progressBar,
} from "./format";
import { renderPrediction } from "./prediction";

export interface RenderedMessage {
  text: string;
  blocks: Block[];
}
// Block Kit is open-ended JSON; the emulator and Slack validate it.
export type Block = Record<string, unknown>;

export const ACTION_ABORT = "migration_abort";
export const ACTION_FORCE_COMPLETE = "migration_force_complete";
export const ACTION_RETRY = "migration_retry";

/** Block Kit's section text limit. */
const SECTION_TEXT_MAX = 3000;

/** The icon that stands for a migration's status wherever it is shown (thread, Home tab). */
export const STATUS_ICON: Record<MigrationView["status"], string> = {
  starting: ":hourglass_flowing_sand:",
  running: ":arrows_counterclockwise:",
  "not-converging": ":warning:",
  completed: ":white_check_mark:",
  failed: ":x:",
  aborted: ":octagonal_sign:",
  cancelled: ":octagonal_sign:",
};

function section(text: string): Block {
  return { type: "section", text: { type: "mrkdwn", text: clip(text, SECTION_TEXT_MAX) } };
}

function context(text: string): Block {
  return { type: "context", elements: [{ type: "mrkdwn", text: clip(text, SECTION_TEXT_MAX) }] };
}

function button(
  text: string,
  actionId: string,
  value: string,
  style?: "primary" | "danger",
  confirm?: Block,
): Block {
  return {
    type: "button",
    text: { type: "plain_text", text, emoji: true },
    action_id: actionId,
    value,
    ...(style && { style }),
    ...(confirm && { confirm }),
  };
}

function confirmDialog(title: string, text: string, confirm: string): Block {
  return {
    title: { type: "plain_text", text: title },
    text: { type: "mrkdwn", text: clip(text, 300) },
    confirm: { type: "plain_text", text: confirm },
    deny: { type: "plain_text", text: "Cancel" },
  };
}

/**
 * Outside text in a code block: escaped, with the fence (which would end the block and let the rest
 * be read as mrkdwn) replaced by look-alikes.
 */
function codeBlock(text: string): string {
  return `\`\`\`${escapeMrkdwn(text).replace(/```/g, "ˋˋˋ")}\`\`\``;
}

function route(v: MigrationView): string {
  const vm = bold(vmLabel(v));
  const from = v.source ? codeSpan(v.source) : "its host";
  const to = v.destination
    ? codeSpan(v.destination)
    : v.requestedDestination
      ? codeSpan(v.requestedDestination)
      : "a host Nova's scheduler chooses";
  return `${vm} ${from} → ${to}`;
}

function statusLine(v: MigrationView, now: number): string {
  const elapsed = formatDuration((v.endedAt ?? now) - v.startedAt);
  switch (v.status) {
    case "starting":
      return "Starting…";
    case "running":
      return `${PHASE_TITLES[v.phase]} — running for ${elapsed}`;
    case "not-converging":
      return `Not converging in pre-copy — running for ${elapsed}. See the thread.`;
    case "completed":
      return `Completed in ${elapsed}${v.downtimeMs !== null ? ` (downtime ${formatDuration(v.downtimeMs)})` : ""}`;
    case "failed":
      return `Failed during ${v.failure ? PHASE_TITLES[v.failure.phase].toLowerCase() : "the migration"} after ${elapsed}`;
    case "aborted":
    case "cancelled":
      return `Aborted after ${elapsed}; the VM keeps running on ${codeSpan(v.source ?? "its source")}`;
  }
}

/** `2026-11-25 22:40 UTC`: names the earlier thread (the emulator gives no permalinks). */
function utcMinute(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** One line: "Retry after <fix> (approved by <@U>) of the migration of vm started <time> (a → b)". */
export function retryLine(r: RetryNote): string {
  const why = r.fix
    ? `Retry after ${bold(clip(r.fix, 200))}${r.approvedBy ? ` (approved by ${mention(r.approvedBy)})` : ""}`
    : "Retry";
  if (r.earlier === null) return `:repeat: ${why} of an earlier migration.`;
  const e = r.earlier;
  const where =
    e.source !== null
      ? ` (${codeSpan(e.source)} → ${e.destination ? codeSpan(e.destination) : "scheduler's choice"})`
      : "";
  return `:repeat: ${why} of the migration of ${bold(e.vm)} started ${utcMinute(e.startedAt)}${where}; its thread has the earlier attempt.`;
}

/** The root message: the request and its overall status, with Abort while it runs. */
export function renderRoot(
  v: MigrationView,
  now: number = Date.now(),
  notes: { retry?: RetryNote | null } = {},
): RenderedMessage {
  const line = statusLine(v, now);
  // The notification text only marks the retry; the blocks name the earlier attempt.
  const text = `${STATUS_ICON[v.status]} Live migration ${route(v)} — ${line}${notes.retry ? " (retry)" : ""}`;
  const blocks: Block[] = [
    section(`${STATUS_ICON[v.status]} *Live migration* ${route(v)}\n${line}`),
    ...(notes.retry ? [context(retryLine(notes.retry))] : []),
    context(
      `Requested by ${mention(v.requestedBy)} · phases: ${PHASES.map((p) => (isPhaseDone(v, p) ? `~${PHASE_TITLES[p]}~` : PHASE_TITLES[p])).join(" → ")}`,
    ),
  ];
  if (!isFinished(v.status) && v.novaMigrationId !== null && v.control === null) {
    blocks.push({
      type: "actions",
      block_id: `root:${v.jobId}`,
      elements: [
        button(
          "Abort",
          ACTION_ABORT,
          v.jobId,
          "danger",
          confirmDialog(
            "Abort this migration?",
            `Nova will cancel the live migration of ${escapeMrkdwn(vmLabel(v))}; the VM keeps running on its source host.`,
            "Abort",
          ),
        ),
      ],
    });
  }
  if (v.control !== null && !isFinished(v.status)) {
    blocks.push(
      context(
        `${v.control.action === "abort" ? "Abort" : "Force complete"} requested by ${mention(v.control.by)}…`,
      ),
    );
  }
  return { text, blocks };
}

function isPhaseDone(v: MigrationView, phase: PhaseName): boolean {
  if (v.status === "completed") return true;
  return PHASES.indexOf(phase) < PHASES.indexOf(v.phase);
}

/** Extra facts for the pre-copy reply that are not part of the shared view. */
export interface PhaseNotes {
  /** Why the figures do not come from domjobinfo (e.g. the source host cannot be reached over SSH). */
  sourceDetail?: string | null;
}

const SOURCE_NAMES: Record<string, string> = {
  domjobinfo: "virsh domjobinfo",
  "nova-log": "nova-compute's progress log line",
  "nova-api": "Nova's API memory counters",
  qmp: "QEMU's query-migrate",
};

/** Where the pre-copy figures came from, as an operator reads it. */
export function describeSource(source: string | null, host: string | null, detail?: string | null): string {
  if (source === null) return "no source yet";
  const name = SOURCE_NAMES[source] ?? source;
  const where = source === "nova-api" || host === null ? "" : ` on ${codeSpan(host)}`;
  return `${name}${where}${detail ? ` (${escapeMrkdwn(detail)})` : ""}`;
}

/** A phase reply in the thread. The pre-copy reply is edited in place as progress comes in. */
export function renderPhase(
  v: MigrationView,
  phase: PhaseName,
  now: number = Date.now(),
  notes: PhaseNotes = {},
): RenderedMessage {
  const title = `*${PHASE_TITLES[phase]}*`;
  switch (phase) {
    case "pre-migration": {
      const flavor =
        v.flavor && (v.flavor.ramMb !== null || v.flavor.vcpus !== null)
          ? ` (${v.flavor.ramMb !== null ? formatBytes(v.flavor.ramMb * 1024 * 1024) : "?"} RAM, ${v.flavor.vcpus ?? "?"} vCPUs)`
          : "";
      const dest = v.requestedDestination
        ? v.hostForced
          ? `destination ${codeSpan(v.requestedDestination)} (requested; below API microversion 2.30 Nova sends it there without its scheduler: no filters or capacity check by the scheduler, only the hosts' own pre-checks)`
          : `destination ${codeSpan(v.requestedDestination)} (requested; Nova's scheduler checks it)`
        : v.destination
          ? `destination ${codeSpan(v.destination)} (chosen by Nova's scheduler)`
          : "destination: Nova's scheduler chooses";
      const text = `${title}: ${bold(vmLabel(v))}${flavor} on ${codeSpan(v.source ?? "?")}, ${dest}. Nova accepted the live migration.`;
      return { text: stripMrkdwn(text), blocks: [section(text)] };
    }
    case "reservation": {
      const r = v.reservation;
      const dest = codeSpan(v.destination ?? "?");
      const facts = r
        ? `free RAM ${r.freeRamMb !== null ? formatBytes(r.freeRamMb * 1024 * 1024) : "not reported"}, ${r.freeVcpus === null ? "free vCPUs not reported" : r.freeVcpus < 0 ? `vCPUs overcommitted by ${-r.freeVcpus} (more in use than physical; Nova allows it up to cpu_allocation_ratio)` : `free vCPUs ${r.freeVcpus}`}${r.hypervisorState ? `, hypervisor ${escapeMrkdwn(r.hypervisorState)}` : ""}`
        : "capacity not reported";
      const need = v.flavor?.ramMb ? ` — the VM needs ${formatBytes(v.flavor.ramMb * 1024 * 1024)}` : "";
      const text = `${title}: ${dest} reserved resources for the VM (${facts}${need}).`;
      return { text: stripMrkdwn(text), blocks: [section(text)] };
    }
    case "precopy":
      return renderPrecopy(v, now, notes);
    case "stop-and-copy": {
      const dt = v.downtimeMs !== null ? `downtime ${formatDuration(v.downtimeMs)}` : "downtime not reported";
      const text = v.postCopy
        ? `${title}, as post-copy: the VM was paused only to hand its CPU state over (${dt}); it now runs on ${codeSpan(v.destination ?? "the destination")} and pulls the memory still on ${codeSpan(v.source ?? "the source")} as it touches it.`
        : `${title}: the VM was paused for the last pages and CPU state — ${dt}.`;
      return { text: stripMrkdwn(text), blocks: [section(text)] };
    }
    case "commitment": {
      const total = formatDuration((v.endedAt ?? now) - v.startedAt);
      const text = `${title}: ${bold(vmLabel(v))} now runs on ${codeSpan(v.destination ?? "?")}. Total time ${total}.`;
      return { text: stripMrkdwn(text), blocks: [section(text)] };
    }
  }
}

/**
 * The pre-copy reply. What it shows, and what each figure means (said in the reply's footnote):
 * - the bar and its percentage are the share of the guest's memory NOT still to copy, i.e. Nova's
 *   own "memory N% remaining" turned around (1 − remaining / RAM). It can fall again: at each dirty
 *   sync the pages the guest wrote meanwhile are to copy once more;
 * - "sent" counts every byte sent so far, re-sent pages included, so it grows past the RAM size;
 * - a figure nothing has measured yet says so in words, never "?".
 * Once pre-copy is over (stop-and-copy reached, or the migration ended) the reply becomes a summary
 * of what pre-copy did and never goes back to an iteration's live figures or a stale verdict.
 */
function renderPrecopy(v: MigrationView, now: number, notes: PhaseNotes): RenderedMessage {
  const p = v.precopy;
  const title = `*${PHASE_TITLES.precopy}*`;
  const over = isFinished(v.status) || PHASES.indexOf(v.phase) > PHASES.indexOf("precopy");
  if (p === null) {
    const text = over
      ? `${title}: over before migbot's first figures (it passed between two polls).`
      : `${title}: copying memory…`;
    return { text: stripMrkdwn(text), blocks: [section(text)] };
  }
  const total = p.memoryTotalBytes;
  const remaining = p.memoryRemainingBytes;
  const sent = p.memoryProcessedBytes;
  const notYet = "not measured yet";
  const lines: string[] = [];
  if (over) {
    const iterations =
      p.iteration !== null ? `${p.iteration} iteration${p.iteration === 1 ? "" : "s"}` : null;
    // Done: completed, or still running past pre-copy (stop-and-copy, commitment). Else it stopped.
    const done = v.status === "completed" || !isFinished(v.status);
    lines.push(
      `${title} — ${done ? "done" : `stopped (${v.status})`}${iterations ? ` after ${iterations}` : ""}`,
    );
    if (v.status === "completed") lines.push(`\`${progressBar(1)}\` of memory copied`);
    else if (done) {
      lines.push(
        remaining !== null
          ? `the last ${formatBytes(remaining)} are copied with the VM paused (stop-and-copy)`
          : "the rest is copied with the VM paused (stop-and-copy)",
      );
    } else if (total && remaining !== null) {
      lines.push(
        `\`${progressBar(1 - remaining / total)}\` of memory copied when it stopped — ${formatBytes(remaining)} of ${formatBytes(total)} still to copy`,
      );
    }
    const rate =
      p.transferRateBytesPerS !== null ? ` at a bandwidth of ${formatRate(p.transferRateBytesPerS)}` : "";
    lines.push(
      sent !== null
        ? `sent ${formatBytes(sent)} in all (re-sent pages included)${rate}`
        : `bytes sent not reported${rate}`,
    );
    if (p.throttlePercent)
      lines.push(`auto-converge had throttled the guest's vCPUs to ${p.throttlePercent}%`);
    if (!done && p.verdict) lines.push(`last verdict before the end: ${bold(p.verdict)}`);
  } else {
    lines.push(`${title} — ${p.iteration !== null ? `iteration ${p.iteration}` : "first pass over memory"}`);
    if (total && remaining !== null) {
      lines.push(
        `\`${progressBar(1 - remaining / total)}\` of memory copied — ${formatBytes(remaining)} of ${formatBytes(total)} still to copy`,
      );
    } else if (total && sent !== null && (p.iteration ?? 1) <= 1) {
      lines.push(`\`${progressBar(sent / total)}\` of memory copied in the first pass`);
    } else {
      lines.push(`memory still to copy: ${notYet}`);
    }
    lines.push(
      `sent ${sent !== null ? `${formatBytes(sent)} so far (re-sent pages included)` : notYet} · dirty rate ${p.dirtyRateBytesPerS !== null ? formatRate(p.dirtyRateBytesPerS) : `${notYet} (QEMU measures it from the first dirty sync)`} against bandwidth ${p.transferRateBytesPerS !== null ? formatRate(p.transferRateBytesPerS) : notYet}`,
    );
    if (p.expectedDowntimeMs !== null) {
      lines.push(
        `expected downtime ${formatDuration(p.expectedDowntimeMs)}${p.downtimeLimitMs !== null ? ` (allowed now ${formatDuration(p.downtimeLimitMs)})` : ""}`,
      );
    }
    if (p.throttlePercent) lines.push(`auto-converge throttling the guest's vCPUs at ${p.throttlePercent}%`);
    if (p.verdict) {
      lines.push(
        `verdict: ${bold(p.verdict)}${p.etaSeconds !== null && p.verdict === "converging" ? ` — about ${formatDuration(p.etaSeconds * 1000)} to go` : ""}`,
      );
    }
    if (p.reason && (p.verdict === "not-converging" || p.verdict === "stalled")) {
      lines.push(`> ${escapeMrkdwn(p.reason)}`);
    }
  }
  const from =
    p.source === null
      ? "figures: none measured (pre-copy ran between two polls)"
      : `figures from ${describeSource(p.source, v.source, notes.sourceDetail)}`;
  const blocks: Block[] = [section(lines.join("\n"))];
  blocks.push(
    context(
      `${over ? "final" : `updated ${formatDuration(now - v.startedAt)} after start`} · ${from}${v.novaStatus ? ` · Nova: ${escapeMrkdwn(v.novaStatus)}` : ""} · the bar is the share of RAM not still to copy (it drops when the guest re-dirties pages)`,
    ),
  );
  return { text: stripMrkdwn([...lines, from].join(" · ")), blocks };
}

function iterationList(values: number[], iterations: number[]): string {
  const shown = values.slice(-6).map((v, i) => {
    const n = iterations[iterations.length - Math.min(values.length, 6) + i];
    return `${n !== undefined ? `#${n} ` : ""}${formatBytes(v)}`;
  });
  return shown.join(" · ");
}

function convergenceNumbers(f: NotConvergingFacts): string[] {
  const syncIterations = f.sampledIterations.filter((n) => n >= 2);
  const lines = [
    `• min remaining per iteration: ${iterationList(f.minRemainingPerIteration, f.sampledIterations) || "?"}`,
  ];
  if (f.remainingAtSyncPerIteration.length > 0) {
    lines.push(
      `• remaining at each dirty sync: ${iterationList(f.remainingAtSyncPerIteration, syncIterations)}`,
    );
  }
  lines.push(
    `• dirty rate ≥ ${formatRate(f.dirtyRateBytesPerS)} against transfer rate ${formatRate(f.transferRateBytesPerS)}${f.throttlePercent ? ` (auto-converge throttle ${f.throttlePercent}%)` : ""}`,
    `• expected downtime ${formatDuration(f.expectedDowntimeMs)} against a final allowed downtime of ${formatDuration(f.finalDowntimeMs)}${f.downtimeLimitMs !== null && f.downtimeLimitMs !== f.finalDowntimeMs ? ` (allowed now ${formatDuration(f.downtimeLimitMs)})` : ""}`,
  );
  return lines;
}

/** A failure's message, escaped, and the command that shows more as code. */
function failureText(f: MigrationFailure): string {
  return `${escapeMrkdwn(f.message)}${f.command ? ` Check it with ${codeSpan(f.command)}.` : ""}`;
}

/** What Force complete does to this migration, as the warning says it (src/nova-facts forceCompleteEffect). */
function forceCompleteWords(v: MigrationView): string {
  return v.forceComplete === "switch-to-post-copy"
    ? "switches it to post-copy: the VM runs on the destination at once and pulls the rest of its memory over the network"
    : "pauses the VM while the rest is copied (the guest stops for about the expected downtime)";
}

function warningOutcome(v: MigrationView): string | null {
  switch (v.status) {
    case "completed":
      return v.control?.action === "force-complete"
        ? v.postCopy
          ? `:white_check_mark: Force-completed by ${mention(v.control.by)} through post-copy: the VM now runs on ${codeSpan(v.destination ?? "?")}.`
          : `:white_check_mark: Force-completed by ${mention(v.control.by)}: the VM was paused for ${formatDuration(v.downtimeMs)} and now runs on ${codeSpan(v.destination ?? "?")}.`
        : `:white_check_mark: It completed after all${v.downtimeMs !== null ? ` (downtime ${formatDuration(v.downtimeMs)})` : ""}.`;
    case "aborted":
    case "cancelled":
      return `:octagonal_sign: Aborted${v.control?.action === "abort" ? ` by ${mention(v.control.by)}` : ""}; the VM keeps running on ${codeSpan(v.source ?? "its source")}.`;
    case "failed":
      return `:x: Nova ended it: ${v.failure ? failureText(v.failure) : "the migration failed"}`;
    default:
      return null;
  }
}

/**
 * The warning posted when pre-copy is judged not converging: the numbers, what Nova will do, and
 * Force complete (approvers) / Abort (operators) while it runs. Edited when the verdict changes or
 * the migration ends, and then loses its buttons.
 */
export function renderNotConverging(v: MigrationView, facts?: NotConvergingFacts): RenderedMessage {
  const reason =
    facts?.reason ?? v.stuck?.reason ?? v.precopy?.reason ?? "memory is dirtied as fast as it is sent";
  const iteration = facts?.iteration ?? v.stuck?.sinceIteration ?? v.precopy?.iteration ?? "?";
  const head = `:warning: ${bold(`${vmLabel(v)} is not converging`)} (judged in pre-copy iteration ${iteration}).`;
  const lines = [head, `> ${escapeMrkdwn(reason)}`];
  if (facts) lines.push(...convergenceNumbers(facts));
  const outcome = warningOutcome(v);
  if (outcome !== null) {
    lines.push(outcome);
  } else if (facts?.later) {
    lines.push(
      `:arrows_counterclockwise: *Update: now ${facts.later.state}* — ${escapeMrkdwn(facts.later.reason)}`,
    );
  } else if (v.control !== null) {
    lines.push(
      `${v.control.action === "abort" ? "Abort" : "Force complete"} requested by ${mention(v.control.by)}; waiting for Nova.`,
    );
  } else {
    lines.push(
      `${facts?.novaWillDo ? `If nobody acts, ${escapeMrkdwn(facts.novaWillDo)}. ` : "Nova keeps copying until one of its timeouts, then aborts. "}` +
        `*Force complete* ${forceCompleteWords(v)} (approvers only). *Abort* cancels the migration; the VM keeps running on its source (operators).`,
    );
  }
  const text = lines.join("\n");
  const blocks: Block[] = [section(text)];
  if (!isFinished(v.status) && v.control === null) {
    blocks.push({
      type: "actions",
      block_id: `stuck:${v.jobId}`,
      elements: [
        button(
          "Force complete",
          ACTION_FORCE_COMPLETE,
          v.jobId,
          "primary",
          confirmDialog(
            "Force complete?",
            v.forceComplete === "switch-to-post-copy"
              ? `Nova switches ${escapeMrkdwn(vmLabel(v))} to post-copy: it runs on the destination at once and pulls the rest of its memory over the network (slower memory access until done; a network failure then loses the VM's state).`
              : `Nova pauses ${escapeMrkdwn(vmLabel(v))} until the remaining memory is copied: the guest stops for that long${facts?.expectedDowntimeMs ? ` (about ${formatDuration(facts.expectedDowntimeMs)})` : ""}.`,
            v.forceComplete === "switch-to-post-copy" ? "Switch to post-copy" : "Pause and finish",
          ),
        ),
        button(
          "Abort",
          ACTION_ABORT,
          v.jobId,
          "danger",
          confirmDialog("Abort this migration?", "The VM keeps running on its source host.", "Abort"),
        ),
      ],
    });
  }
  return { text: stripMrkdwn(text), blocks };
}

/**
 * The failure reply: which phase (and who asked for an abort), the cloud's own error, and the log
 * lines that explain it.
 */
export function renderFailure(v: MigrationView): RenderedMessage {
  const f = v.failure;
  const phase = f ? PHASE_TITLES[f.phase] : "the migration";
  const aborted = v.status === "aborted" || v.status === "cancelled";
  const what = `${vmLabel(v)} ${aborted ? "was aborted" : "failed"} during ${phase.toLowerCase()}`;
  const head =
    aborted && v.control?.action === "abort"
      ? `${bold(what)} (abort requested by ${mention(v.control.by)}).`
      : bold(`${what}.`);
  const lines = [
    `${STATUS_ICON[v.status]} ${head}`,
    f?.message ? `> ${failureText(f).split("\n").join("\n> ")}` : "",
  ].filter(Boolean);
  const blocks: Block[] = [section(lines.join("\n"))];
  if (f && f.logLines.length > 0) {
    blocks.push(section(`nova-compute log:\n${codeBlock(f.logLines.slice(-8).join("\n"))}`));
  }
  return { text: stripMrkdwn(lines.join(" ")), blocks };
}

/** The line an earlier attempt's thread gets when a retry starts. */
export function renderRetryNotice(n: RetryNotice): { text: string } {
  return { text: `:repeat: Retrying: follow the new message (requested by ${mention(n.requestedBy)}).` };
}

/** Any message of a migration's thread (the presenter's one entry point). */
export function renderMigrationMessage(m: MigrationMessage): RenderedMessage {
  switch (m.kind) {
    case "root":
      return renderRoot(m.view, m.at, { retry: m.retry });
    case "phase":
      return renderPhase(m.view, m.phase, m.at, { sourceDetail: m.sourceDetail });
    case "not-converging":
      return renderNotConverging(m.view, m.facts);
    case "failure":
      return renderFailure(m.view);
    case "prediction": {
      const d = m.view.decision;
      return renderPrediction(m.prediction, {
        ...(d?.state === "waiting" && { decision: { jobId: m.view.jobId } }),
        ...((d?.state === "fix-first" || d?.state === "go-anyway") && {
          decided: { choice: d.state, by: d.by },
        }),
        ...(d?.state === "expired" && { expired: true }),
      });
    }
  }
}

/**
 * The message's `text` (Slack shows it in notifications and where blocks cannot be shown): the
 * blocks' words without the markers of bold, code and strike. Escaped outside text stays escaped,
 * because Slack reads this text as mrkdwn too: unescaped, a VM named `<!channel>` would notify the
 * channel from here.
 */
export function stripMrkdwn(text: string): string {
  return text.replace(/[*`~]/g, "");
}
