/**
 * What every button handler shares: the click as plain data (who, the button's value, where), a
 * private answer, and the wrapper that acknowledges at once and turns a handler's failure into a
 * private message with a code, so a click never goes unanswered.
 */
import type { App } from "@slack/bolt";
import type { Logger } from "../../src/log";
import { escapeMrkdwn } from "../render/format";

export interface Click {
  user: string;
  /** The button's value: the id of what it acts on, and nothing else. */
  value: string;
  /** The channel the button was pressed in. */
  channel: string;
  responseUrl?: string;
}

export type Respond = (msg: {
  response_type?: "ephemeral";
  replace_original: boolean;
  text: string;
  blocks?: unknown[];
}) => Promise<unknown>;

type ActionArgs = Parameters<Parameters<App["action"]>[1]>[0];

/** Answers the person who clicked, privately, leaving the message as it is. */
export const privately = (respond: Respond, text: string) =>
  respond({ response_type: "ephemeral", replace_original: false, text });

function clickOf(args: ActionArgs): Click {
  const body = args.body as { user: { id: string }; channel?: { id?: string }; response_url?: string };
  return {
    user: body.user.id,
    value: (args.action as { value?: string }).value ?? "",
    channel: body.channel?.id ?? "",
    ...(body.response_url !== undefined && { responseUrl: body.response_url }),
  };
}

/**
 * A Bolt action handler: acks at once, runs `fn` on the click, and on a failure logs it and tells the
 * person privately (`<code>: … Nothing was changed; try again in a minute.`).
 */
export function clickHandler(
  log: Logger,
  code: string,
  fn: (click: Click, respond: Respond) => Promise<void>,
) {
  return async (args: ActionArgs): Promise<void> => {
    await args.ack();
    const respond = args.respond as unknown as Respond;
    try {
      await fn(clickOf(args), respond);
    } catch (err) {
      log.error("button handler failed", { code, err });
      await privately(
        respond,
        `${code}: migbot could not handle that click (${escapeMrkdwn(err instanceof Error ? err.message : String(err))}). Nothing was changed; try again in a minute.`,
      ).catch(() => {});
    }
  };
}
