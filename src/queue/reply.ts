/**
 * Private answers to the person who asked, after the ack: through Slack's response_url (valid 30
 * minutes, 5 uses), falling back to chat.postEphemeral when there is none or it has run out.
 */
import type { Logger } from "../log";
import type { ReplyPort, SlackText } from "../migration/ports";

/** A response_url call that takes longer is abandoned for the fallback. */
export const RESPONSE_URL_TIMEOUT_MS = 5000;

export function createReply(opts: {
  ephemeral: (channel: string, user: string, msg: SlackText) => Promise<void>;
  log: Logger;
  fetchImpl?: typeof fetch;
}): ReplyPort {
  const doFetch = opts.fetchImpl ?? fetch;
  return async (responseUrl, user, channel, msg) => {
    if (responseUrl) {
      try {
        const res = await doFetch(responseUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ response_type: "ephemeral", replace_original: false, ...msg }),
          signal: AbortSignal.timeout(RESPONSE_URL_TIMEOUT_MS),
        });
        if (res.ok) return;
        opts.log.warn("response_url refused the reply; using chat.postEphemeral", { status: res.status });
      } catch (err) {
        opts.log.warn("response_url unreachable; using chat.postEphemeral", { err });
      }
    }
    await opts.ephemeral(channel, user, msg);
  };
}
