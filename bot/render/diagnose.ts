/**
 * Block Kit for a diagnosis: the root message, the checklist posted in its thread, and the private
 * answer for a target that cannot be diagnosed. Pure: views in, message out. Every name and line of
 * evidence comes from Nova, the hosts or the person asking and is escaped. Stays inside Slack's
 * limits (50 blocks a message, 3000 characters a section) and says so when it had to leave evidence out.
 */
import type { ChecklistView, DiagnosisHeader, UnknownTarget } from "../../src/diagnose/presenter";
import type { Finding, FindingStatus } from "../../src/diagnose/rules";
import { bold, codeSpan, escapeMrkdwn } from "./format";
import type { Block, RenderedMessage } from "./migration";

/** Block Kit's limits for one message and one section's text. */
export const MAX_BLOCKS = 50;
export const SECTION_TEXT_MAX = 3000;
/** The top-level `text` (notification and fallback) is kept short; the blocks carry the detail. */
const FALLBACK_TEXT_MAX = 3000;

export const STATUS_MARK: Record<FindingStatus, string> = { pass: "✅", warn: "⚠️", fail: "❌" };

const TROUBLE_TEXT: Record<NonNullable<DiagnosisHeader["trouble"]>, string> = {
  "not-converging": "the migration is not converging",
  failed: "the migration failed",
  "predicted-not-converging": "the migration is predicted not to converge",
};

/** What is diagnosed, unescaped: callers escape it for where it goes. */
function subject(h: DiagnosisHeader): string {
  return `${h.target}${h.destination ? ` → ${h.destination}` : ""}`;
}

function counts(findings: readonly Finding[]): string {
  const n = (s: FindingStatus) => findings.filter((f) => f.status === s).length;
  const parts = [
    n("fail") ? `${STATUS_MARK.fail} ${n("fail")} failing` : "",
    n("warn") ? `${STATUS_MARK.warn} ${n("warn")} warning${n("warn") > 1 ? "s" : ""}` : "",
    n("pass") ? `${STATUS_MARK.pass} ${n("pass")} passed` : "",
  ].filter((p) => p !== "");
  return parts.join(", ");
}

/** The root message: while running (no findings yet) and once the checklist is in the thread. */
export function renderDiagnosisRoot(h: DiagnosisHeader, findings?: readonly Finding[]): RenderedMessage {
  const head = `Diagnosis of ${escapeMrkdwn(subject(h))}`;
  const text = findings
    ? `${head}: ${counts(findings) || "no checks ran"}. The checklist is in the thread.`
    : `${head}: checking…`;
  const body = `${bold(`Diagnosis of ${subject(h)}`)}${h.trouble ? ` — ${TROUBLE_TEXT[h.trouble]}` : ""}\n${
    findings
      ? `${counts(findings) || "no checks ran"}. The checklist is in the thread.`
      : "Checking Nova and the hosts…"
  }`;
  return { text, blocks: [section(body)] };
}

function section(text: string): Block {
  return { type: "section", text: { type: "mrkdwn", text } };
}

function context(text: string): Block {
  return { type: "context", elements: [{ type: "mrkdwn", text }] };
}

/**
 * One finding as a section: mark, title, then its evidence as bullets. Evidence that does not fit
 * the section is dropped line by line (a single overlong line is cut) and the section says how much.
 */
export function findingSection(f: Finding, max = SECTION_TEXT_MAX): Block {
  const head = `${STATUS_MARK[f.status]} ${bold(f.title)}`;
  const lines = f.evidence.map((e) => `• ${escapeMrkdwn(e)}`);
  let text = head;
  let shown = 0;
  const note = (left: number) =>
    `\n_(${left} more evidence line${left > 1 ? "s" : ""} clipped to fit Slack)_`;
  for (const line of lines) {
    const reserve = shown < lines.length - 1 ? note(lines.length - shown).length : 0;
    if (text.length + 1 + line.length + reserve <= max) {
      text += `\n${line}`;
      shown++;
      continue;
    }
    // Cut this line to what is left, so that at least part of the evidence shows.
    const room = max - text.length - 1 - note(lines.length - shown).length - " … (clipped)".length;
    if (room > 40) text += `\n${line.slice(0, room)} … (clipped)`;
    const left = lines.length - shown - (room > 40 ? 1 : 0);
    if (left > 0) text += note(left);
    return section(text);
  }
  return section(text);
}

/** The checklist for the thread: a summary, one section per finding, and the fixes that follow. */
export function renderChecklist(view: ChecklistView): RenderedMessage {
  const { header: h, findings, fixes } = view;
  const blocks: Block[] = [
    section(`${bold(`Checklist for ${subject(h)}`)}: ${counts(findings) || "no checks ran"}`),
  ];
  // Room for the summary and a closing note about findings that did not fit.
  const room = MAX_BLOCKS - 2;
  const shown = findings.slice(0, room);
  for (const f of shown) blocks.push(findingSection(f));
  if (findings.length > shown.length) {
    blocks.push(
      context(
        `_${findings.length - shown.length} more checks not shown (Slack allows ${MAX_BLOCKS} blocks a message)._`,
      ),
    );
  }
  if (fixes.length > 0 && blocks.length < MAX_BLOCKS) {
    blocks.push(
      context(
        `Proposed fix${fixes.length > 1 ? "es" : ""}, each in its own message for approval: ${fixes.map((t) => escapeMrkdwn(t)).join("; ")}`.slice(
          0,
          SECTION_TEXT_MAX,
        ),
      ),
    );
  }
  const lines = findings.map(
    (f) =>
      `${STATUS_MARK[f.status]} ${escapeMrkdwn(f.title)}${f.status !== "pass" && f.evidence[0] ? ` — ${escapeMrkdwn(f.evidence[0])}` : ""}`,
  );
  let text = `Checklist for ${escapeMrkdwn(subject(h))}:\n${lines.join("\n")}`;
  if (text.length > FALLBACK_TEXT_MAX) text = `${text.slice(0, FALLBACK_TEXT_MAX - 12)}… (clipped)`;
  return { text, blocks };
}

/** The private answer when the target cannot be diagnosed, with what to check next. */
export function renderUnknownTarget(why: UnknownTarget): { text: string } {
  switch (why.reason) {
    case "no-such-target":
      return {
        text: `I can't find a VM or compute host named ${codeSpan(why.target)}. Check the name (${codeSpan(`openstack server list --all-projects --name ${why.target}`)}, \`openstack compute service list\`), then try again.`,
      };
    case "no-such-destination":
      return {
        text: `I can't find a compute host named ${codeSpan(why.destination)} in Nova or in migbot's host inventory. Check the name with \`openstack compute service list --service nova-compute\`.`,
      };
    case "host-with-destination":
      return {
        text: `${codeSpan(why.host)} is a compute host; ${codeSpan("to <host>")} goes with a VM (${codeSpan("/diagnose <vm> to <host>")}).`,
      };
    case "ambiguous-name":
      return { text: escapeMrkdwn(why.detail) };
  }
}
