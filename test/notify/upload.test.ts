/**
 * The notifier's file upload against the emulated Slack through the real WebClient: once per dedupe
 * key across workers, within the channel's post budget, 429s honoured, refusals passed back.
 */
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { type Notifier, NotifyError } from "../../src/notify/notifier";
import type { FileUpload } from "../../src/notify/port";
import { type SlackEmulator, startSlackEmulator } from "../../src/sandbox/slack/emulator";
import { connectRedis, startTestSlack, type TestSlack, uniquePrefix, workerNotifier } from "./harness";

const POST_RULE = { perWindow: 1, windowMs: 550 };

let redisA: Redis;
let redisB: Redis;
const notifiers: Notifier[] = [];
const emulators: SlackEmulator[] = [];

beforeAll(() => {
  redisA = connectRedis();
  redisB = connectRedis();
});
afterAll(() => {
  redisA.disconnect();
  redisB.disconnect();
});
afterEach(async () => {
  await Promise.all(notifiers.splice(0).map((n) => n.close()));
  await Promise.all(emulators.splice(0).map((e) => e.close()));
});

function worker(redis: Redis, slack: Pick<SlackEmulator, "apiUrl">, prefix: string): Notifier {
  const n = workerNotifier(redis, slack, prefix, { rules: { postMessagePerChannel: POST_RULE } });
  notifiers.push(n);
  return n;
}

async function testSlack(): Promise<TestSlack> {
  const s = await startTestSlack();
  emulators.push(s);
  return s;
}

function chartFile(threadTs?: string, size = 3000): FileUpload {
  return {
    bytes: Buffer.alloc(size, 1),
    filename: "vm-42-migration.png",
    title: "vm-42: completed",
    ...(threadTs !== undefined && { threadTs }),
    initialComment: "Chart of vm-42's migration",
  };
}

describe("uploading a file through the notifier", () => {
  test("two workers uploading under one dedupe key share one file into the thread", async () => {
    const slack = await testSlack();
    const prefix = uniquePrefix();
    const a = worker(redisA, slack, prefix);
    const b = worker(redisB, slack, prefix);
    const root = await a.post("C1", { text: "migration of vm-42" }, { dedupeKey: "job-1:root" });
    const [idA, idB] = await Promise.all([
      a.upload("C1", chartFile(root), { dedupeKey: "job-1:chart:ended", urgent: true }),
      b.upload("C1", chartFile(root), { dedupeKey: "job-1:chart:ended", urgent: true }),
    ]);
    expect(idA).toBe(idB);
    // A worker restarted later asks again: the file id comes back, nothing is uploaded twice.
    const c = worker(redisA, slack, prefix);
    expect(await c.upload("C1", chartFile(root), { dedupeKey: "job-1:chart:ended" })).toBe(idA);
    expect(slack.files().map((f) => f.id)).toEqual([idA]);
    const thread = slack.messages("C1")[0]!.replies;
    expect(thread.map((r) => [r.text, r.files?.map((f) => f.id)])).toEqual([
      ["Chart of vm-42's migration", [idA]],
    ]);
    expect(slack.file(idA)!.bytes!.length).toBe(3000);
    expect(a.stats().uploads + b.stats().uploads).toBe(1);
  });

  test("a share waits for the channel's post budget: it posts a message too", async () => {
    const slack = await testSlack();
    const n = worker(redisA, slack, uniquePrefix());
    const t0 = Date.now();
    await n.post("C1", { text: "one" }, { dedupeKey: "k1" });
    await n.upload("C1", chartFile(), { dedupeKey: "k2" });
    await n.post("C1", { text: "three" }, { dedupeKey: "k3" });
    // Three messages in one channel at one per 550 ms (burst 1): the last no sooner than 1.1 s in.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2 * POST_RULE.windowMs - 50);
    expect(slack.messages("C1").map((m) => m.files?.length ?? 0)).toEqual([0, 1, 0]);
  });

  test("a 429 on completing the upload is waited out and the file is shared once", async () => {
    const slack = await testSlack();
    const n = worker(redisA, slack, uniquePrefix());
    slack.failNext({
      method: "files.completeUploadExternal",
      fault: { kind: "ratelimited", retryAfterS: 1 },
    });
    const t0 = Date.now();
    const id = await n.upload("C1", chartFile(), { dedupeKey: "k" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(n.stats().rateLimited).toBe(1);
    expect(slack.files().map((f) => f.id)).toEqual([id]);
    expect(slack.messages("C1")).toHaveLength(1);
  });

  test("a file Slack refuses fails at once with Slack's reason, and a later try may upload", async () => {
    const slack = await startSlackEmulator({
      signingSecret: "upload-test-signing-secret",
      botToken: "xoxb-test-token",
      users: [{ id: "U0ALICE01", name: "alice" }],
      channels: [{ id: "C1", name: "c1" }],
      limits: { fileMaxBytes: 1000 },
    });
    emulators.push(slack);
    const n = worker(redisA, slack, uniquePrefix());
    const err = await n
      .upload("C1", chartFile(undefined, 5000), { dedupeKey: "big" })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotifyError);
    expect(err).toMatchObject({ code: "NOTIFY_SLACK_REFUSED", slackError: "file_upload_size_restricted" });
    // Nothing reached Slack, so the key is free again.
    expect(await n.upload("C1", chartFile(undefined, 500), { dedupeKey: "big" })).toMatch(/^F/);
    expect(slack.files()).toHaveLength(1);
  });
});
