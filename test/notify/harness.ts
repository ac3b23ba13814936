import { randomUUID } from "node:crypto";
import { webApi } from "@slack/bolt";
import { Redis } from "ioredis";
import { inject } from "vitest";
import { createNotifier, type Notifier, type NotifierOptions } from "../../src/notify/notifier";
import { httpSlackApi, slackWebClientOptions, webClientSlackApi } from "../../src/notify/slack-api";
import {
  type RateLimit,
  type SlackEmulator,
  type SlackMessageEvent,
  startSlackEmulator,
} from "../../src/sandbox/slack/emulator";

/** Fast retries for tests; real defaults are seconds. */
export const TEST_RETRY_BASE_MS = 20;
export const TEST_RETRY_MAX_MS = 200;

const BOT_TOKEN = "xoxb-test-token";
/** Limits so generous they never apply: for tests about something else than Slack's limits. */
const UNLIMITED: RateLimit = { perMinute: 6_000_000, burst: 100_000, scope: "workspace" };

export function uniquePrefix(): string {
  return `test-notify-${randomUUID()}`;
}

export function connectRedis(): Redis {
  return new Redis(inject("redisUrl"));
}

/** The two channels the notifier tests post in. */
export const TEST_CHANNELS = ["C1", "C2"] as const;

export interface TestSlack extends SlackEmulator {
  /** Every post and edit, in the order Slack took them. */
  received: SlackMessageEvent[];
  /** The texts of the edits Slack took, in order. */
  editTexts(): string[];
}

/**
 * The Slack emulator with channels C1 and C2 and the given limits on chat.postMessage and
 * chat.update (unlimited when not given): the same Web API, 429s and Retry-After as the app meets.
 */
export async function startTestSlack(
  rates: { postMessage?: Omit<RateLimit, "scope">; update?: Omit<RateLimit, "scope"> } = {},
): Promise<TestSlack> {
  const slack = await startSlackEmulator({
    signingSecret: "test-signing-secret",
    botToken: BOT_TOKEN,
    users: [{ id: "U0ALICE01", name: "alice" }],
    channels: TEST_CHANNELS.map((id) => ({ id, name: id.toLowerCase() })),
    limits: {
      rates: {
        "chat.postMessage": { ...(rates.postMessage ?? UNLIMITED), scope: "channel" },
        "chat.update": { ...(rates.update ?? UNLIMITED), scope: "workspace" },
      },
    },
  });
  const received: SlackMessageEvent[] = [];
  slack.events.on("message", (e: SlackMessageEvent) => received.push(e));
  return Object.assign(slack, {
    received,
    editTexts: () => received.filter((e) => e.type === "update").map((e) => e.text),
  });
}

/** A notifier as a worker would build it: its own Slack client (no own retries) pointed at the emulator. */
export function workerNotifier(
  redis: Redis,
  slack: Pick<SlackEmulator, "apiUrl">,
  prefix: string,
  overrides: Partial<NotifierOptions> = {},
): Notifier {
  // As the composition root does: uploads go through the WebClient's files.uploadV2.
  const web = new webApi.WebClient(BOT_TOKEN, slackWebClientOptions(slack.apiUrl));
  const api = httpSlackApi({ token: BOT_TOKEN, apiUrl: slack.apiUrl, uploads: webClientSlackApi(web) });
  const notifier = createNotifier({
    redis,
    api,
    prefix,
    retryBaseMs: TEST_RETRY_BASE_MS,
    retryMaxMs: TEST_RETRY_MAX_MS,
    ...overrides,
  });
  const closeNotifier = notifier.close.bind(notifier);
  return Object.assign(notifier, {
    close: async () => {
      await closeNotifier();
      await api.close();
    },
  });
}
