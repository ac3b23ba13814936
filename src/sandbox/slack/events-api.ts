/**
 * Slack's Events API, as the emulator delivers it: an `event_callback` envelope POSTed as JSON to
 * the app's request URL with Slack's v0 signature, timed against the 3 s acknowledgement deadline.
 * Only the event migbot subscribes to is built here: `app_home_opened`, sent each time a user
 * enters the app's Home (docs.slack.dev "app_home_opened": `user`, `channel` (the app's DM with
 * the user), `tab` "home" or "messages", `event_ts`, and `view`, the Home tab's current view,
 * once one was published).
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Logger } from "../../log";
import type { DeliveryResult } from "./delivery";
import { DELIVERY_HARD_TIMEOUT_MS } from "./delivery";
import { SlackEmulatorError } from "./errors";
import { slackSignature } from "./signing";
import { API_APP_ID, BOT_USER_ID, type EmulatedUser, VERIFICATION_TOKEN } from "./workspace";

/** Random bytes in an event id (`Ev…`). */
const EVENT_ID_RANDOM_BYTES = 6;

/** The app's direct-message channel with a user: `D` and the user id's tail, stable per user. */
export function appDmChannel(user: EmulatedUser): string {
  return `D${user.id.slice(1)}`;
}

/** The `app_home_opened` event (the envelope's `event`). */
export function appHomeOpenedEvent(
  user: EmulatedUser,
  tab: "home" | "messages",
  eventTs: string,
  view: Record<string, unknown> | undefined,
): Record<string, unknown> {
  return {
    type: "app_home_opened",
    user: user.id,
    channel: appDmChannel(user),
    tab,
    event_ts: eventTs,
    ...(view !== undefined && tab === "home" && { view }),
  };
}

/** The `event_callback` envelope Slack wraps every event in. */
export function eventCallback(teamId: string, event: Record<string, unknown>): Record<string, unknown> {
  const nowS = Math.floor(Date.now() / 1000);
  return {
    token: VERIFICATION_TOKEN,
    team_id: teamId,
    api_app_id: API_APP_ID,
    event,
    type: "event_callback",
    event_id: `Ev${randomBytes(EVENT_ID_RANDOM_BYTES).toString("hex").toUpperCase()}`,
    event_time: nowS,
    authorizations: [
      {
        enterprise_id: null,
        team_id: teamId,
        user_id: BOT_USER_ID,
        is_bot: true,
        is_enterprise_install: false,
      },
    ],
    is_ext_shared_channel: false,
    event_context: `4-${randomBytes(EVENT_ID_RANDOM_BYTES).toString("hex")}`,
  };
}

/** POSTs an event envelope to the app, signed, and times the ack. */
export async function deliverEvent(args: {
  url: string | undefined;
  signingSecret: string;
  ackDeadlineMs: number;
  envelope: Record<string, unknown>;
  log: Logger;
}): Promise<DeliveryResult> {
  if (!args.url) {
    throw new SlackEmulatorError(
      "EMU_NO_DELIVERY_URL",
      "the Slack emulator has no delivery URL: call setDeliveryUrl('http://127.0.0.1:PORT/slack/events') once the app listens",
    );
  }
  const body = JSON.stringify(args.envelope);
  const timestampS = Math.floor(Date.now() / 1000);
  const started = performance.now();
  try {
    const res = await fetch(args.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-slack-request-timestamp": String(timestampS),
        "x-slack-signature": slackSignature(args.signingSecret, timestampS, body),
        "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
      },
      body,
      signal: AbortSignal.timeout(DELIVERY_HARD_TIMEOUT_MS),
    });
    await res.text();
    const ackMs = performance.now() - started;
    // Slack counts an event not acknowledged in time as failed (and would retry it).
    return { ackMs, status: ackMs > args.ackDeadlineMs ? 0 : res.status };
  } catch (err) {
    args.log.warn("slack emulator could not deliver an event to the app", { err, url: args.url });
    return { ackMs: performance.now() - started, status: 0 };
  }
}
