/**
 * The words around a migration's chart: the heading and subheading drawn in the picture (plain text:
 * src/chart draws them as text), and the file's name, title, alt text and the message that comes
 * with it in the thread (escaped: the VM name is tenant-chosen, the hosts operator-chosen).
 */
import type { ChartMessage } from "../../src/migration/presenter";
import { type MigrationView, PHASE_TITLES, vmLabel } from "../../src/migration/view";
import { bold, codeSpan, escapeMrkdwn, formatBytes, formatDuration } from "./format";

export interface RenderedChart {
  /** Drawn at the top of the picture (plain text). */
  heading: string;
  /** Drawn under it (plain text). */
  subheading: string;
  filename: string;
  /** The title Slack shows above the file (escaped). */
  title: string;
  /** For screen readers (escaped). */
  altText: string;
  /** The message in the thread that carries the file (mrkdwn, escaped). */
  initialComment: string;
}

/** What the chart says happened, in plain words. */
function outcome(v: MigrationView, moment: ChartMessage["moment"]): string {
  const elapsed = formatDuration((v.endedAt ?? Date.now()) - v.startedAt);
  if (moment === "not-converging") {
    const iteration = v.stuck?.sinceIteration;
    return `not converging${iteration !== undefined ? ` at iteration ${iteration}` : ""}, ${elapsed} in`;
  }
  switch (v.status) {
    case "completed":
      return `completed in ${elapsed}${v.downtimeMs !== null ? `, downtime ${formatDuration(v.downtimeMs)}` : ""}`;
    case "aborted":
    case "cancelled":
      return `aborted after ${elapsed}`;
    default:
      return `failed during ${v.failure ? PHASE_TITLES[v.failure.phase].toLowerCase() : "the migration"} after ${elapsed}`;
  }
}

/** Renders the words of a chart message. */
export function renderChartMessage(m: ChartMessage): RenderedChart {
  const v = m.view;
  const name = vmLabel(v);
  const said = outcome(v, m.moment);
  const route = `${v.source ?? "?"} → ${v.destination ?? v.requestedDestination ?? "?"}`;
  const total = m.history.memoryTotalBytes;
  const subheading = `${route}${total !== null ? ` · ${formatBytes(total)} of memory` : ""}`;
  const what =
    "memory remaining with each dirty sync, the stop-and-copy threshold (allowed downtime × transfer rate), dirty vs transfer rate and the auto-converge throttle";
  const initialComment =
    m.moment === "not-converging"
      ? `Chart so far of ${bold(name)} ${codeSpan(v.source ?? "?")} → ${codeSpan(v.destination ?? "?")}: remaining memory has not fallen under the stop-and-copy threshold. It shows ${what}.`
      : `Chart of ${bold(name)}'s migration, ${escapeMrkdwn(said)}: ${what}.`;
  return {
    heading: `${name}: ${said}`,
    subheading,
    // Only safe characters: the job id is migbot's, but stays out of any path a client builds.
    filename: `migration-${v.jobId.replace(/[^A-Za-z0-9-]/g, "").slice(0, 40) || "chart"}-${m.moment}.png`,
    title: escapeMrkdwn(`${name}: ${said}`),
    altText: escapeMrkdwn(`Chart of ${name}'s migration (${said}): ${what}.`).slice(0, 1000),
    initialComment,
  };
}
