/**
 * The proposal port for Slack: renders a proposal (bot/render/proposal) and posts it in its thread
 * once (de-duplicated by proposal id), edits it as its state changes, and answers privately
 * through response_url.
 */

import type { ProposalPresenter } from "../../src/fixes/presenter";
import type { NotifierPort, ReplyPort } from "../../src/notify/port";
import { renderApplyAnswer, renderProposal, renderProposalNote } from "../render/proposal";

export interface ProposalPresenterDeps {
  notifier: NotifierPort;
  reply: ReplyPort;
}

/** A {@link ProposalPresenter} that posts to Slack. */
export function createProposalPresenter(deps: ProposalPresenterDeps): ProposalPresenter {
  const inThread = (threadTs: string | null) => (threadTs !== null ? { thread_ts: threadTs } : {});
  return {
    posted: (p, now) =>
      deps.notifier.post(
        p.channel,
        { ...renderProposal(p, now), ...inThread(p.threadTs) },
        { dedupeKey: `proposal:${p.id}` },
      ),
    async changed(p, now, opts) {
      if (p.messageTs === null) return;
      await deps.notifier.update(p.channel, p.messageTs, renderProposal(p, now), opts);
    },
    async note(p, note) {
      await deps.notifier.post(
        p.channel,
        { ...renderProposalNote(note), ...inThread(p.threadTs) },
        { dedupeKey: `proposal:${p.id}:${note.kind}` },
      );
    },
    async answer(to, answer) {
      await deps.reply(to.responseUrl, to.user, to.channel, renderApplyAnswer(answer));
    },
  };
}
