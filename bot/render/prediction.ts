/**
 * Block Kit for a convergence prediction (src/predict): one sentence an operator acts on — "db-1
 * dirties ~180 MiB/s against a 112 MiB/s link: will not converge without auto-converge (enabled on
 * neither host)" — and the figures behind it. Optionally with the /migrate decision buttons (Fix
 * first / Go anyway). Pure; VM, host and interface names and measurement details are escaped.
 */
import type { CannotMeasure, Prediction } from "../../src/predict/rule";
import { bold, codeSpan, escapeMrkdwn, formatBytes, formatDuration, mention } from "./format";
import type { Block, RenderedMessage } from "./migration";
import { stripMrkdwn } from "./migration";

export const ACTION_PREDICT_FIX_FIRST = "predict_fix_first";
export const ACTION_PREDICT_GO_ANYWAY = "predict_go_anyway";

const ICON: Record<Prediction["outcome"], string> = {
  "will-converge": ":large_green_circle:",
  "converges-only-with-auto-converge": ":large_yellow_circle:",
  "will-not-converge": ":red_circle:",
  "cannot-measure": ":grey_question:",
};

function mibps(n: number): string {
  return `${n >= 100 ? Math.round(n) : Math.round(n * 10) / 10} MiB/s`;
}

/** Where auto-converge is on, as "on both hosts", "on neither host", "on compute-1 only", … (escaped). */
function autoConvergeWhere(p: Prediction): string {
  const { source, destination } = p.autoConverge;
  if (p.destination === null || destination === null) {
    return `${source ? "enabled" : "not enabled"} on ${codeSpan(p.source)}`;
  }
  if (source && destination) return "enabled on both hosts";
  if (!source && !destination) return "enabled on neither host";
  return `enabled on ${codeSpan(source ? p.source : p.destination)} only`;
}

function cannotText(c: CannotMeasure): string {
  switch (c.reason) {
    case "libvirt-too-old":
      return `libvirt ${escapeMrkdwn(c.version)} on ${codeSpan(c.host)} cannot measure a dirty rate (\`virsh domdirtyrate-calc\` needs libvirt 7.2 or later)`;
    case "not-running":
      return `the VM is not running on ${codeSpan(c.host)}`;
    case "no-host-access":
      return `migbot has no SSH access to ${codeSpan(c.host)} (add it to the inventory)`;
    case "link-unknown":
      return `the link from ${codeSpan(c.host)} is unknown: ${escapeMrkdwn(c.detail)} (set \`live_migration_bandwidth\` or name a destination)`;
    case "measurement-failed":
      return `measuring on ${codeSpan(c.host)} failed: ${escapeMrkdwn(c.detail)}`;
  }
}

/** The one sentence, in mrkdwn (every outside name escaped). */
export function predictionSentence(p: Prediction): string {
  const vm = bold(p.vm);
  if (p.outcome === "cannot-measure") {
    return `${ICON[p.outcome]} ${vm}: convergence cannot be predicted — ${cannotText(p.cannot!)}.`;
  }
  const w = p.writes!;
  const link = p.link!;
  const dirties =
    w.rateMiBps === null
      ? `rewrites ~${formatBytes(w.writtenMiB * 1024 ** 2)} faster than once a second`
      : `dirties ~${mibps(w.rateMiBps)}`;
  const against = `against a ${mibps(link.mibPerS)} link`;
  // Bold only migbot's own words; the hosts' names (escaped code spans) follow in brackets.
  const verdict = (() => {
    switch (p.outcome) {
      case "will-converge":
        return "*will converge*";
      case "converges-only-with-auto-converge":
        return `*converges only with auto-converge* (${autoConvergeWhere(p)})`;
      default:
        return p.fix === "auto-converge"
          ? `*will not converge without auto-converge* (${autoConvergeWhere(p)})`
          : `*will not converge, even with auto-converge* (${autoConvergeWhere(p)})`;
    }
  })();
  return `${ICON[p.outcome]} ${vm} ${dirties} ${against}: ${verdict}`;
}

/** The figures behind the sentence, one context line. */
function figures(p: Prediction): string {
  if (p.outcome === "cannot-measure" || !p.writes || !p.link) return "";
  const w = p.writes;
  const link =
    p.link.from === "live_migration_bandwidth"
      ? "`live_migration_bandwidth`"
      : `NIC ${codeSpan(p.link.nic?.name ?? "?")} at ${p.link.nic?.mbps ?? "?"} Mbit/s`;
  const parts = [
    `measured ${w.shownMiBps} MiB/s over ${w.periodS} s (\`virsh domdirtyrate-calc\` on ${codeSpan(p.source)})`,
    w.hotSetMiB !== null ? `hot set ~${formatBytes(w.hotSetMiB * 1024 ** 2)}` : "",
    `link from ${link}`,
    p.allowedDowntimeMs !== undefined
      ? `Nova allows ${formatDuration(p.allowedDowntimeMs)} of downtime before it gives up = ${formatBytes(p.downtimeBytes)} at the link's rate`
      : "",
    p.throttleNeededPercent !== undefined ? `needs a ${p.throttleNeededPercent} % throttle` : "",
  ].filter((s) => s !== "");
  return parts.join(" · ");
}

export interface PredictionRenderOptions {
  /** The /migrate job waiting for its requester's choice: adds Fix first / Go anyway. */
  decision?: { jobId: string };
  /** Said once the choice was made. */
  decided?: { choice: "fix-first" | "go-anyway"; by: string };
  /** Nobody chose in time: the migration was not started. */
  expired?: boolean;
}

/** A prediction as a message (the /migrate thread, /diagnose's thread). */
export function renderPrediction(p: Prediction, opts: PredictionRenderOptions = {}): RenderedMessage {
  const head = predictionSentence(p);
  const blocks: Block[] = [{ type: "section", text: { type: "mrkdwn", text: head } }];
  const more = figures(p);
  if (more !== "") blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: more }] });
  let text = head;
  if (opts.expired) {
    blocks.push({
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: "Nobody chose Fix first or Go anyway in time: the migration was not started.",
        },
      ],
    });
  } else if (opts.decided) {
    const line =
      opts.decided.choice === "fix-first"
        ? `Fix first chosen by ${mention(opts.decided.by)}: the auto-converge fix is proposed below; the migration waits for it.`
        : `Go anyway chosen by ${mention(opts.decided.by)}: migrating now.`;
    blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: line }] });
  } else if (opts.decision && p.fix === "auto-converge") {
    const ask =
      "Fix first proposes turning auto-converge on (approvers approve; the migration starts after the fix). Go anyway migrates now.";
    blocks.push({ type: "section", text: { type: "mrkdwn", text: ask } });
    blocks.push({
      type: "actions",
      block_id: `predict:${opts.decision.jobId}`,
      elements: [
        {
          type: "button",
          text: { type: "plain_text", text: "Fix first", emoji: true },
          action_id: ACTION_PREDICT_FIX_FIRST,
          value: opts.decision.jobId,
          style: "primary",
        },
        {
          type: "button",
          text: { type: "plain_text", text: "Go anyway", emoji: true },
          action_id: ACTION_PREDICT_GO_ANYWAY,
          value: opts.decision.jobId,
        },
      ],
    });
    text = `${head} — Fix first or Go anyway?`;
  }
  return { text: stripMrkdwn(text), blocks };
}
