import { randomUUID } from "node:crypto";
import { webApi } from "@slack/bolt";
import { Redis } from "ioredis";
import { inject } from "vitest";
import { createNotifier, type Notifier, type NotifierOptions } from "../../src/notify/notifier";
import { slackWebClientOptions, webClientSlackApi } from "../../src/notify/slack-api";
import type { SlackStub } from "./slack-stub";

/** Fast retries for tests; real defaults are seconds. */
export const TEST_RETRY_BASE_MS = 20;
export const TEST_RETRY_MAX_MS = 200;

export function uniquePrefix(): string {
  return `test-notify-${randomUUID()}`;
}

export function connectRedis(): Redis {
  return new Redis(inject("redisUrl"));
}

/** A notifier as a worker would build it: the real WebClient (no own retries) pointed at the stub. */
export function workerNotifier(
  redis: Redis,
  stub: SlackStub,
  prefix: string,
  overrides: Partial<NotifierOptions> = {},
): Notifier {
  const client = new webApi.WebClient("xoxb-test-token", slackWebClientOptions(stub.apiUrl));
  return createNotifier({
    redis,
    api: webClientSlackApi(client),
    prefix,
    retryBaseMs: TEST_RETRY_BASE_MS,
    retryMaxMs: TEST_RETRY_MAX_MS,
    ...overrides,
  });
}
