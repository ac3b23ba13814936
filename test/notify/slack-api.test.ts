import { webApi } from "@slack/bolt";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  httpSlackApi,
  type SlackApi,
  SlackApiError,
  type SlackCallOutcome,
  SlackRateLimitedError,
  slackWebClientOptions,
  webClientSlackApi,
} from "../../src/notify/slack-api";
import { startTestSlack, type TestSlack } from "./harness";

const BOT_TOKEN = "xoxb-test-token";

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected the call to fail");
}

let slack: TestSlack;
let limited: TestSlack;
beforeAll(async () => {
  slack = await startTestSlack();
  // One post per channel, then 429s with Retry-After for a minute.
  limited = await startTestSlack({ postMessage: { perMinute: 1, burst: 1 } });
});
afterAll(async () => {
  await slack.close();
  await limited.close();
});

// The notifier's client (httpSlackApi) must say what the WebClient-based one says, for the same answers.
const clients: [string, (apiUrl: string, token?: string) => SlackApi & { close?(): Promise<void> }][] = [
  ["httpSlackApi", (apiUrl, token = BOT_TOKEN) => httpSlackApi({ token, apiUrl })],
  [
    "webClientSlackApi",
    (apiUrl, token = BOT_TOKEN) =>
      webClientSlackApi(new webApi.WebClient(token, slackWebClientOptions(apiUrl))),
  ],
];

describe.each(clients)("%s against the Slack emulator", (_name, make) => {
  test("posts in a thread and edits: Slack shows the message, the reply and the edit", async () => {
    const api = make(slack.apiUrl);
    const root = await api.postMessage("C1", {
      text: "root <b>",
      blocks: [{ type: "section", text: { type: "mrkdwn", text: "root" } }],
    });
    const reply = await api.postMessage("C1", { text: "reply", thread_ts: root.ts });
    await api.update("C1", root.ts, { text: "root edited" });
    const shown = slack.messages("C1").find((m) => m.ts === root.ts);
    expect(shown?.text).toBe("root edited");
    expect(shown?.replies.map((r) => [r.ts, r.text])).toEqual([[reply.ts, "reply"]]);
    await api.close?.();
  });

  test("an unknown channel is a SlackApiError naming Slack's error, not to be retried", async () => {
    const api = make(slack.apiUrl);
    const err = await caught(api.postMessage("C404", { text: "x" }));
    expect(err).toBeInstanceOf(SlackApiError);
    expect((err as SlackApiError).slackError).toBe("channel_not_found");
    expect((err as SlackApiError).retryable).toBe(false);
    await api.close?.();
  });

  test("a wrong token is refused (invalid_auth), not retried", async () => {
    const api = make(slack.apiUrl, "xoxb-wrong");
    const err = await caught(api.postMessage("C1", { text: "x" }));
    expect((err as SlackApiError).slackError).toBe("invalid_auth");
    expect((err as SlackApiError).retryable).toBe(false);
    await api.close?.();
  });

  test("a 429 is a SlackRateLimitedError carrying Slack's Retry-After", async () => {
    const api = make(limited.apiUrl);
    const channel = _name === "httpSlackApi" ? "C1" : "C2";
    await api.postMessage(channel, { text: "first" });
    const err = await caught(api.postMessage(channel, { text: "second" }));
    expect(err).toBeInstanceOf(SlackRateLimitedError);
    expect((err as SlackRateLimitedError).retryAfterMs).toBeGreaterThanOrEqual(1000);
    await api.close?.();
  });
});

test("httpSlackApi tells its observer each call's outcome (the worker's metrics count them)", async () => {
  const seen: [string, SlackCallOutcome][] = [];
  const api = httpSlackApi({ token: BOT_TOKEN, apiUrl: slack.apiUrl, observe: (m, o) => seen.push([m, o]) });
  await api.postMessage("C2", { text: "counted" });
  await caught(api.update("C404", "1.2", { text: "x" }));
  await api.close();
  expect(seen).toEqual([
    ["chat.postMessage", "ok"],
    ["chat.update", { error: "channel_not_found" }],
  ]);
});
