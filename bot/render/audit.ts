/**
 * The answer to `/migrate audit [n]`: one line per entry, newest first, diffs summarised. Pure:
 * entries in, text out. Everything in an entry was read back from Redis (actors, hosts, what was
 * done, error details) and is escaped; actors are mentioned only when they are Slack user ids.
 */
import type { AuditEntry, AuditResult } from "../../src/audit/stream";
import { bold, codeSpan, escapeMrkdwn, mention, slackDate } from "./format";

/** The answer is clipped to this many characters (one Slack message). */
export const AUDIT_ANSWER_MAX_CHARS = 12_000;
/** Characters of an entry's detail shown (its first line). */
const DETAIL_MAX_CHARS = 300;

const RESULT_ICON: Record<AuditResult, string> = {
  ok: ":white_check_mark:",
  failed: ":x:",
  refused: ":no_entry:",
  info: ":memo:",
};

function line(e: AuditEntry): string {
  const icon = RESULT_ICON[e.result] ?? ":grey_question:";
  const when = Number.isFinite(e.at) ? slackDate(e.at) : "(unknown time)";
  const who = e.actor ? mention(e.actor) : "migbot";
  const where = e.host ? ` on ${codeSpan(e.host)}` : "";
  const diff = e.diff ? ` (diff: ${e.diff.split("\n").length} lines)` : "";
  const detail = e.detail ? ` — ${escapeMrkdwn(e.detail.split("\n")[0]!.slice(0, DETAIL_MAX_CHARS))}` : "";
  const proposal = e.proposalId ? ` [proposal ${escapeMrkdwn(e.proposalId.slice(0, 8))}]` : "";
  return `${icon} ${when} ${who} ${bold(e.action)}${where}: ${escapeMrkdwn(e.what)}${diff}${detail}${proposal}`;
}

/** The private answer to `/migrate audit [n]`. */
export function renderAuditAnswer(entries: readonly AuditEntry[]): { text: string } {
  if (entries.length === 0) {
    return {
      text: "The audit log is empty: nothing has been proposed, approved, rejected or changed on a host yet.",
    };
  }
  const text = `Last ${entries.length} audit entr${entries.length === 1 ? "y" : "ies"}, newest first:\n${entries.map(line).join("\n")}`;
  return {
    text:
      text.length <= AUDIT_ANSWER_MAX_CHARS
        ? text
        : `${text.slice(0, AUDIT_ANSWER_MAX_CHARS - 40)}\n… (clipped; ask for fewer entries)`,
  };
}
