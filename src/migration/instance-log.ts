/**
 * What a nova-compute log says about one instance's latest live migration: its progress samples
 * (Nova's periodic progress line), the lines that explain how it ended, and that explanation as a
 * code with a plain sentence (no Slack syntax: the failure renderer quotes and escapes it).
 */
import {
  type NovaLogEvent,
  type NovaLogEventKind,
  parseNovaComputeLog,
  parseNovaProgressLine,
} from "./samples/nova-log";
import type { MigrationSample } from "./samples/sample";

/** Log event kinds that explain how a migration ended (progress lines excluded). */
const EXPLAINING_KINDS = new Set<NovaLogEventKind>([
  "stuck",
  "completion-timeout",
  "abort-failed",
  "aborted",
  "cancelled",
  "failure",
  "pre-check-error",
  "pre-migration-failed",
  "post-migration-failed",
  "low-watermark",
  "downtime-increase",
]);
/** Kinds that end a migration in the log: progress lines before them belong to an earlier one. */
const ENDING_KINDS = new Set<NovaLogEventKind>([
  "stuck",
  "completion-timeout",
  "completed",
  "aborted",
  "cancelled",
  "failure",
  "finished",
]);

const PRECHECK_RE = /Migration pre-check error: (.*)$/i;

/** A notable log line: the parsed event and the line as printed. */
export interface ExplainingLine {
  event: NovaLogEvent;
  text: string;
}

/** What the nova-compute log says about this instance's latest migration. */
export interface LogReading {
  /** Progress samples after the last line that ended an earlier migration. */
  samples: MigrationSample[];
  /** The notable lines of the latest migration (by its request id), as printed. */
  explaining: ExplainingLine[];
}

/**
 * The index of the last line that ended the migration before the latest one: the latest ending
 * lines come in a run ("not completed after", "was cancelled", "Live Migration failure"), and the
 * ending line before that run closed the previous migration. -1 when there is none.
 */
function previousEndingIndex(events: NovaLogEvent[]): number {
  let i = events.length - 1;
  while (i >= 0 && !ENDING_KINDS.has(events[i]!.kind)) i--; // to the latest ending line
  while (i >= 0 && ENDING_KINDS.has(events[i]!.kind)) i--; // over the latest migration's ending run
  while (i >= 0 && !ENDING_KINDS.has(events[i]!.kind)) i--; // over its running lines
  return i;
}

/** Reads one nova-compute log for one instance (see {@link LogReading}). */
export function readInstanceLog(text: string, instanceUuid: string): LogReading {
  const uuid = instanceUuid.toLowerCase();
  const lines = text.split(/\r?\n/);
  const events = parseNovaComputeLog(text, { instanceUuid: uuid }).events.filter(
    (e) => e.instanceUuid === uuid,
  );
  let lastEnd = -1;
  for (const [i, e] of events.entries()) if (ENDING_KINDS.has(e.kind)) lastEnd = i;
  const samples = events
    .slice(lastEnd + 1)
    .filter((e) => e.kind === "progress")
    .map((e) => parseNovaProgressLine(e.message))
    .filter((s): s is MigrationSample => s !== null);
  // The monitor's lines of one migration share the live-migration request's id where the release
  // logs one; real Zed's monitor logs `[-]` (no request context), so there the latest migration's
  // lines are those after the previous migration's ending lines.
  const latestMigration = events.slice(previousEndingIndex(events) + 1);
  const notable = latestMigration.filter((e) => EXPLAINING_KINDS.has(e.kind));
  const latest = notable.at(-1)?.requestId;
  const explaining = notable
    .filter((e) => latest === undefined || e.requestId === latest)
    .map((event) => ({ event, text: (lines[event.line - 1] ?? event.message).trim() }));
  if (explaining.length === 0) {
    // A destination's pre-check failure is logged by oslo.messaging without an instance tag; the
    // newest one is the one that just failed this migration.
    let i = lines.length - 1;
    while (
      i >= 0 &&
      !(PRECHECK_RE.test(lines[i]!) && (!lines[i]!.includes("[instance: ") || lines[i]!.includes(uuid)))
    )
      i--;
    if (i >= 0) {
      const text = lines[i]!.trim();
      const reason = PRECHECK_RE.exec(text)![1]!.trim();
      explaining.push({ event: { kind: "pre-check-error", line: i + 1, message: text, reason }, text });
    }
  }
  return { samples, explaining };
}

/** The codes of the reasons migbot can read from the log for Nova ending a migration. */
export type NovaEndCode =
  | "MIGRATION_PROGRESS_TIMEOUT"
  | "MIGRATION_COMPLETION_TIMEOUT"
  | "MIGRATION_PRECHECK_FAILED"
  | "MIGRATION_FAILED";

/** Why Nova ended a migration: a code, and a plain sentence with what to do next (may quote Nova's text). */
export interface NovaEndExplanation {
  code: NovaEndCode;
  message: string;
}

/** `CODE: sentence`, as a failure message quotes an explanation. */
export function explanationText(why: NovaEndExplanation): string {
  return `${why.code}: ${why.message}`;
}

/** Why Nova ended the migration, from the lines that explain it; null when they give no reason. */
export function explainNovaEnd(
  explaining: { event: NovaLogEvent }[],
  source: string | null,
): NovaEndExplanation | null {
  const find = (kind: NovaLogEventKind) =>
    [...explaining].reverse().find((x) => x.event.kind === kind)?.event;
  const host = source ? ` on ${source}` : "";
  const stuck = find("stuck");
  if (stuck) {
    return {
      code: "MIGRATION_PROGRESS_TIMEOUT",
      message: `Nova aborted the live migration after ${stuck.seconds ?? "?"} s without a new low in the memory still to copy (live_migration_progress_timeout${host}). The guest dirties memory faster than the link sends it: enable auto-converge${host}, or use Force complete next time.`,
    };
  }
  const timeout = find("completion-timeout");
  if (timeout) {
    return {
      code: "MIGRATION_COMPLETION_TIMEOUT",
      message: `Nova aborted the live migration because it had not completed after ${timeout.seconds ?? "?"} s (live_migration_completion_timeout × GiB of RAM${host}). Enable auto-converge${host}, or use Force complete next time.`,
    };
  }
  const precheck = find("pre-check-error");
  if (precheck?.reason) return { code: "MIGRATION_PRECHECK_FAILED", message: precheck.reason };
  const failure = find("failure") ?? find("pre-migration-failed") ?? find("post-migration-failed");
  if (failure) return { code: "MIGRATION_FAILED", message: failure.reason ?? failure.message };
  return null;
}
