/**
 * The diagnosis port for Slack: renders each view (bot/render/diagnose) and posts it through the
 * notifier with a de-duplication key per diagnosis, or answers privately through response_url.
 */
import type { DiagnosisPresenter } from "../../src/diagnose/presenter";
import type { NotifierPort, ReplyPort } from "../../src/notify/port";
import { renderChecklist, renderDiagnosisRoot, renderUnknownTarget } from "../render/diagnose";
import { renderPrediction } from "../render/prediction";

export interface DiagnosisPresenterDeps {
  notifier: NotifierPort;
  reply: ReplyPort;
}

/** A {@link DiagnosisPresenter} that posts to Slack. */
export function createDiagnosisPresenter(deps: DiagnosisPresenterDeps): DiagnosisPresenter {
  return {
    async unknownTarget(to, why) {
      await deps.reply(to.responseUrl, to.user, to.channel, renderUnknownTarget(why));
    },
    async started(d) {
      const root = renderDiagnosisRoot(d.header);
      if (d.threadTs !== null) {
        return deps.notifier.post(
          d.channel,
          { ...root, thread_ts: d.threadTs },
          { dedupeKey: `${d.id}:start` },
        );
      }
      return deps.notifier.post(d.channel, root, { dedupeKey: `${d.id}:root` });
    },
    async checklist(d, threadTs, view) {
      await deps.notifier.post(
        d.channel,
        { ...renderChecklist(view), thread_ts: threadTs },
        { dedupeKey: `${d.id}:checklist` },
      );
    },
    async prediction(d, threadTs, prediction) {
      await deps.notifier.post(
        d.channel,
        { ...renderPrediction(prediction), thread_ts: threadTs },
        { dedupeKey: `${d.id}:prediction` },
      );
    },
    async finished(d, rootTs, view) {
      await deps.notifier.update(d.channel, rootTs, renderDiagnosisRoot(d.header, view.findings));
    },
  };
}
