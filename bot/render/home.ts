/**
 * Block Kit for a person's App Home tab: what is migrating now (VM, source → destination, phase,
 * a button to its thread), drains, the fix proposals waiting for their approval (approvers only),
 * and the last outcomes. Pure: the view in, a `home` view's blocks out. Every text from outside
 * (VM and host names, proposal titles, failure messages) is escaped; people are named only
 * through mention; the view stays within Slack's 100 blocks and says what it left out.
 */
import type { HomeDrain, HomeMigration, HomeProposal, HomeSnapshot } from "../../src/home/index";
import { PHASE_TITLES } from "../../src/migration/view";
import { bold, clip, codeSpan, escapeMrkdwn, formatDuration, mention, slackDate } from "./format";
import { type Block, STATUS_ICON } from "./migration";

/** Slack's limit on blocks in a Home tab view. */
export const HOME_MAX_BLOCKS = 100;
/** Block Kit's section text limit. */
const SECTION_TEXT_MAX = 3000;
/** A failure message is cut to this on the Home tab; the thread has it in full. */
const FAILURE_MAX_CHARS = 200;
const TITLE_MAX_CHARS = 300;
/** Action ids of the link buttons start with this (Bolt acknowledges them; Slack opens the URL). */
export const ACTION_HOME_OPEN = "home_open";

/** What one person's Home tab shows. */
export interface HomeTabView {
  user: string;
  snapshot: HomeSnapshot;
  /** Whether they may approve fixes: only then are proposals shown. */
  canApprove: boolean;
  /** The proposals waiting for their decision (the snapshot's, less their own when they may not approve those). */
  waiting: HomeProposal[];
  /** Waiting proposals beyond `waiting` (counted, not listed). */
  waitingMore: number;
  /** The workspace's URL (`https://<team>.slack.com/`, from auth.test), for links to threads; null when unknown. */
  workspaceUrl: string | null;
}

const WORKSPACE_URL_RE = /^https:\/\/[A-Za-z0-9][A-Za-z0-9.-]*\.slack\.com\/$/;
const CHANNEL_RE = /^[CGD][A-Z0-9]{2,30}$/;
const TS_RE = /^\d{1,12}\.\d{1,8}$/;

/**
 * A message's permalink, in the form chat.getPermalink answers
 * (`https://<team>.slack.com/archives/<channel>/p<ts without the dot>`, with `thread_ts` and `cid`
 * for a reply), built without a call. Null when any part is not what Slack's ids look like.
 */
export function messageLink(
  workspaceUrl: string | null,
  channel: string,
  ts: string | null,
  threadTs: string | null = null,
): string | null {
  if (workspaceUrl === null || !WORKSPACE_URL_RE.test(workspaceUrl)) return null;
  if (!CHANNEL_RE.test(channel) || ts === null || !TS_RE.test(ts)) return null;
  const reply = threadTs !== null && TS_RE.test(threadTs) && threadTs !== ts;
  return `${workspaceUrl}archives/${channel}/p${ts.replace(".", "")}${reply ? `?thread_ts=${threadTs}&cid=${channel}` : ""}`;
}

function section(text: string, accessory?: Block): Block {
  return {
    type: "section",
    text: { type: "mrkdwn", text: clip(text, SECTION_TEXT_MAX) },
    ...(accessory && { accessory }),
  };
}

function context(text: string): Block {
  return { type: "context", elements: [{ type: "mrkdwn", text: clip(text, SECTION_TEXT_MAX) }] };
}

/** Numbers the link buttons: action ids must be unique within a view. */
class Links {
  private n = 0;
  constructor(private readonly workspaceUrl: string | null) {}
  button(
    label: string,
    channel: string,
    ts: string | null,
    threadTs: string | null = null,
  ): Block | undefined {
    const url = messageLink(this.workspaceUrl, channel, ts, threadTs);
    if (url === null) return undefined;
    this.n += 1;
    return {
      type: "button",
      text: { type: "plain_text", text: label, emoji: true },
      url,
      action_id: `${ACTION_HOME_OPEN}_${this.n}`,
    };
  }
}

function route(m: HomeMigration): string {
  const to = m.destination !== null ? codeSpan(m.destination) : "a host Nova's scheduler chooses";
  return `${bold(m.vm)} ${m.source !== null ? codeSpan(m.source) : "its host"} → ${to}`;
}

function runningLine(m: HomeMigration, now: number): string {
  const state =
    m.status === "not-converging"
      ? "not converging in pre-copy"
      : m.status === "starting"
        ? "starting"
        : PHASE_TITLES[m.phase];
  return `${STATUS_ICON[m.status]} ${route(m)}\n${state} · running for ${formatDuration(now - m.startedAt)} · asked by ${mention(m.requestedBy)}`;
}

const OUTCOME_WORD: Record<HomeMigration["status"], string> = {
  starting: "Starting",
  running: "Running",
  "not-converging": "Not converging",
  completed: "Completed",
  failed: "Failed",
  aborted: "Aborted",
  cancelled: "Cancelled",
};

function outcomeLine(m: HomeMigration): string {
  const took = m.endedAt !== null ? ` in ${formatDuration(m.endedAt - m.startedAt)}` : "";
  const when = m.endedAt !== null ? ` · ended ${slackDate(m.endedAt)}` : "";
  const why =
    m.failure !== null && m.status !== "completed"
      ? `\n${escapeMrkdwn(clip(m.failure.replace(/\s+/g, " "), FAILURE_MAX_CHARS))}`
      : "";
  return `${STATUS_ICON[m.status]} ${route(m)}\n${OUTCOME_WORD[m.status]}${took}${when}${why}`;
}

function proposalLine(p: HomeProposal): string {
  return `:wrench: ${bold(clip(p.title, TITLE_MAX_CHARS))}\nasked by ${mention(p.requestedBy)} · expires ${slackDate(p.expiresAt)}`;
}

function drainLine(d: HomeDrain): string {
  return `:construction: Draining ${codeSpan(d.host)} · ${escapeMrkdwn(clip(d.state, 60))} · ${d.moved} of ${d.total} VMs moved · asked by ${mention(d.requestedBy)}`;
}

/** The Home tab's blocks for one person. */
export function renderHome(view: HomeTabView): { blocks: Block[] } {
  const { snapshot: s } = view;
  const links = new Links(view.workspaceUrl);
  const blocks: Block[] = [
    { type: "header", text: { type: "plain_text", text: "migbot: live migrations", emoji: true } },
    context(
      `For ${mention(view.user)} · updated ${slackDate(s.at)} · this tab updates itself while you look at it`,
    ),
    { type: "divider" },
  ];

  blocks.push(section(`*Running now* (${s.runningTotal})`));
  if (s.running.length === 0)
    blocks.push(context("Nothing is migrating right now. Start one with /migrate."));
  for (const m of s.running)
    blocks.push(section(runningLine(m, s.at), links.button("Open thread", m.channel, m.threadTs)));
  if (s.stale > 0) {
    blocks.push(
      context(
        `:grey_question: ${s.stale} more recorded as running but held by no worker (one may have died): /migrate status shows their last state.`,
      ),
    );
  }
  if (s.runningTotal > s.running.length) {
    blocks.push(
      context(
        `…and ${s.runningTotal - s.running.length} more running, not listed here: /migrate status lists them all.`,
      ),
    );
  }

  if (s.drains !== null) {
    blocks.push({ type: "divider" }, section(`*Drains* (${s.drains.length})`));
    if (s.drains.length === 0) blocks.push(context("No host is being drained."));
    for (const d of s.drains)
      blocks.push(section(drainLine(d), links.button("Open thread", d.channel, d.threadTs)));
  }

  if (view.canApprove) {
    const total = view.waiting.length + view.waitingMore;
    blocks.push({ type: "divider" }, section(`*Waiting for your approval* (${total})`));
    if (total === 0) blocks.push(context("No fix proposal is waiting for you."));
    for (const p of view.waiting) {
      blocks.push(
        section(proposalLine(p), links.button("Review", p.channel, p.messageTs ?? p.threadTs, p.threadTs)),
      );
    }
    if (view.waitingMore > 0) {
      blocks.push(
        context(`…and ${view.waitingMore} more waiting, not listed here: see the threads in your channels.`),
      );
    }
  }

  blocks.push({ type: "divider" }, section(`*Last outcomes* (${s.outcomes.length})`));
  if (s.outcomes.length === 0) blocks.push(context("No migration has finished in the last 7 days."));
  for (const m of s.outcomes)
    blocks.push(section(outcomeLine(m), links.button("Open thread", m.channel, m.threadTs)));

  if (s.unreadable > 0) {
    blocks.push(
      context(
        `:warning: ${s.unreadable} record${s.unreadable === 1 ? "" : "s"} in Redis could not be read and ${s.unreadable === 1 ? "is" : "are"} left out; the worker's log says which.`,
      ),
    );
  }
  return { blocks: withinLimit(blocks) };
}

/** Keeps a view within Slack's block limit, saying so in its last block. */
function withinLimit(blocks: Block[]): Block[] {
  if (blocks.length <= HOME_MAX_BLOCKS) return blocks;
  const kept = blocks.slice(0, HOME_MAX_BLOCKS - 1);
  kept.push(
    context(
      `…${blocks.length - kept.length} more lines left out: Slack shows at most ${HOME_MAX_BLOCKS} blocks here.`,
    ),
  );
  return kept;
}
