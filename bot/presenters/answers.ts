/**
 * Implements the workers' {@link AnswerPort}: each typed answer rendered by bot/render/answers.ts
 * and sent privately through the reply transport (response_url, else chat.postEphemeral; see
 * src/queue/reply.ts).
 */
import type { ReplyPort } from "../../src/notify/port";
import type { AnswerPort } from "../../src/queue/answers";
import { renderAnswer } from "../render/answers";

/** The answer port on a reply transport. */
export function createAnswerPresenter(reply: ReplyPort): AnswerPort {
  return (to, answer) => reply(to.responseUrl, to.user, to.channel, renderAnswer(answer));
}
