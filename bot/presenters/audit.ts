/** The audit port for Slack: `/migrate audit` answered privately through response_url. */
import type { AuditPresenter } from "../../src/audit/presenter";
import type { ReplyPort } from "../../src/notify/port";
import { renderAuditAnswer } from "../render/audit";

/** An {@link AuditPresenter} that answers in Slack. */
export function createAuditPresenter(deps: { reply: ReplyPort }): AuditPresenter {
  return {
    async entries(to, entries) {
      await deps.reply(to.responseUrl, to.user, to.channel, renderAuditAnswer(entries));
    },
  };
}
