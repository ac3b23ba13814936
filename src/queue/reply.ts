/**
 * Private answers to the person who asked, after the ack: through Slack's response_url (valid 30
 * minutes, 5 uses), falling back to chat.postEphemeral when there is none or it has run out.
 */
import type { Logger } from "../log";
import type { ReplyPort, SlackText } from "../notify/port";

/** A response_url call that takes longer is abandoned for the fallback. */
export const RESPONSE_URL_TIMEOUT_MS = 5000;
/** Where Slack's response_urls point; a job naming anything else is not followed there. */
export const SLACK_RESPONSE_URL_ORIGIN = "https://hooks.slack.com";

/** The origins a worker may POST a response_url reply to: Slack's, and the emulator's when one is configured. */
export function responseUrlOrigins(slackApiUrl: string | undefined): string[] {
  return slackApiUrl ? [SLACK_RESPONSE_URL_ORIGIN, new URL(slackApiUrl).origin] : [SLACK_RESPONSE_URL_ORIGIN];
}

function allowed(url: string, origins: readonly string[]): boolean {
  try {
    return origins.includes(new URL(url).origin);
  } catch {
    return false;
  }
}

export function createReply(opts: {
  ephemeral: (channel: string, user: string, msg: SlackText) => Promise<void>;
  log: Logger;
  /** @defaultValue [SLACK_RESPONSE_URL_ORIGIN] */
  origins?: readonly string[];
  fetchImpl?: typeof fetch;
}): ReplyPort {
  const doFetch = opts.fetchImpl ?? fetch;
  const origins = opts.origins ?? [SLACK_RESPONSE_URL_ORIGIN];
  return async (responseUrl, user, channel, msg) => {
    if (responseUrl && !allowed(responseUrl, origins)) {
      // Never POST a person's answer (or anything) to a URL that is not Slack's.
      opts.log.warn("response_url is not Slack's; using chat.postEphemeral", {});
    } else if (responseUrl) {
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
