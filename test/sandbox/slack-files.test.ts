/**
 * The emulator's file upload (files.getUploadURLExternal, the upload URL, files.completeUploadExternal)
 * driven by the real @slack/web-api client, whose files.uploadV2 makes exactly those calls, and the
 * refusals Slack documents for bad arguments and sizes.
 */
import { webApi } from "@slack/bolt";
import { afterEach, describe, expect, it } from "vitest";
import {
  type SlackEmulator,
  type SlackEmulatorOptions,
  startSlackEmulator,
} from "../../src/sandbox/slack/emulator";

const BOT_TOKEN = "xoxb-files-test-token";
const PNG_HEADER = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The client logs Slack's own error messages; the test reads the errors it gets instead. */
const quietLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  setLevel() {},
  getLevel: () => webApi.LogLevel.ERROR,
  setName() {},
};

let emu: SlackEmulator | undefined;

afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function start(opts: Partial<SlackEmulatorOptions> = {}) {
  emu = await startSlackEmulator({
    signingSecret: "files-test-signing-secret-0123456789",
    botToken: BOT_TOKEN,
    users: [{ id: "U0OPERATOR", name: "olivia" }],
    channels: [{ id: "C0MIGRATE", name: "migrations" }],
    ...opts,
  });
  const client = new webApi.WebClient(BOT_TOKEN, {
    slackApiUrl: emu.apiUrl,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    logger: quietLogger,
  });
  return { emu, client };
}

/** The Slack error name a rejected WebClient call carries. */
async function slackError(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (err) {
    const e = err as { data?: { error?: string }; code?: string; statusCode?: number };
    return e.data?.error ?? (e.statusCode ? `http_${e.statusCode}` : (e.code ?? String(err)));
  }
  throw new Error("the call succeeded");
}

describe("file uploads on the emulated Slack", () => {
  it("files.uploadV2 shares a PNG in a thread: one reply with the file, the bytes as sent", async () => {
    const { emu, client } = await start();
    const root = await client.chat.postMessage({ channel: "C0MIGRATE", text: "migration of vm-42" });
    const bytes = Buffer.concat([PNG_HEADER, Buffer.alloc(5000, 7)]);
    const res = await client.files.uploadV2({
      channel_id: "C0MIGRATE",
      thread_ts: root.ts!,
      file: bytes,
      filename: "vm-42-chart.png",
      title: "vm-42: completed",
      initial_comment: "Chart of the migration",
    });
    const completed = (
      res as unknown as { files: { files: { id: string; title: string; size: number }[] }[] }
    ).files[0]!.files;
    expect(completed).toHaveLength(1);
    expect(completed[0]).toMatchObject({ title: "vm-42: completed", size: bytes.length });

    const thread = emu.messages("C0MIGRATE")[0]!.replies;
    expect(thread).toHaveLength(1);
    expect(thread[0]!.text).toBe("Chart of the migration");
    expect(thread[0]!.files).toEqual([
      {
        id: completed[0]!.id,
        name: "vm-42-chart.png",
        title: "vm-42: completed",
        mimetype: "image/png",
        size: 5008,
      },
    ]);
    const stored = emu.file(completed[0]!.id)!;
    expect(stored.bytes?.equals(bytes)).toBe(true);
    expect([stored.channel, stored.threadTs]).toEqual(["C0MIGRATE", root.ts]);
    expect(emu.files().map((f) => f.id)).toEqual([completed[0]!.id]);
  });

  it("takes raw bytes at the upload URL too, and completion shares them once only", async () => {
    const { emu, client } = await start();
    const bytes = Buffer.from("hello, file");
    const url = await client.files.getUploadURLExternal({ filename: "a.txt", length: bytes.length });
    const put = await fetch(url.upload_url!, { method: "POST", body: bytes });
    expect([put.status, await put.text()]).toEqual([200, `OK - ${bytes.length}`]);
    const files: [{ id: string; title: string }] = [{ id: url.file_id!, title: "a" }];
    await client.files.completeUploadExternal({ files, channel_id: "C0MIGRATE" });
    expect(emu.messages("C0MIGRATE")).toHaveLength(1);
    expect(await slackError(client.files.completeUploadExternal({ files }))).toBe("file_not_found");
    // The URL is spent once the file is shared.
    expect((await fetch(url.upload_url!, { method: "POST", body: bytes })).status).toBe(404);
  });

  it("refuses what Slack refuses: missing arguments, empty and oversized files, unknown ids, channels and threads", async () => {
    const { emu, client } = await start({ limits: { fileMaxBytes: 1000 } });
    const call = (method: string, args: Record<string, unknown>) => slackError(client.apiCall(method, args));
    expect(await call("files.getUploadURLExternal", { length: 10 })).toBe("invalid_arguments");
    expect(await call("files.getUploadURLExternal", { filename: "a.png" })).toBe("invalid_arguments");
    expect(await call("files.getUploadURLExternal", { filename: "a.png", length: "ten" })).toBe(
      "invalid_arguments",
    );
    expect(await call("files.getUploadURLExternal", { filename: "a.png", length: 0 })).toBe(
      "missing_argument",
    );
    expect(await call("files.getUploadURLExternal", { filename: "a.png", length: 1001 })).toBe(
      "file_upload_size_restricted",
    );
    expect(
      await call("files.getUploadURLExternal", { filename: "a.png", length: 10, alt_txt: "x".repeat(1001) }),
    ).toBe("alt_txt_too_large");
    // uploadV2 itself stops at the first step for a file past the limit.
    expect(
      await slackError(
        client.files.uploadV2({ channel_id: "C0MIGRATE", file: Buffer.alloc(2000), filename: "big.png" }),
      ),
    ).toBe("file_upload_size_restricted");

    expect(await call("files.completeUploadExternal", {})).toBe("invalid_arguments");
    expect(await call("files.completeUploadExternal", { files: "not json" })).toBe("invalid_arguments");
    expect(await call("files.completeUploadExternal", { files: [{ title: "no id" }] })).toBe(
      "invalid_arguments",
    );
    expect(await call("files.completeUploadExternal", { files: [{ id: "F0NOPE" }] })).toBe("file_not_found");

    const url = await client.files.getUploadURLExternal({ filename: "a.png", length: 4 });
    // Not sent yet: nothing to complete.
    expect(await call("files.completeUploadExternal", { files: [{ id: url.file_id }] })).toBe(
      "file_not_found",
    );
    // More or fewer bytes than declared are refused at the upload URL.
    expect((await fetch(url.upload_url!, { method: "POST", body: Buffer.alloc(3) })).status).toBe(400);
    expect((await fetch(url.upload_url!, { method: "POST", body: Buffer.alloc(5) })).status).toBe(400);
    expect((await fetch(url.upload_url!, { method: "POST", body: Buffer.alloc(4) })).status).toBe(200);
    expect(
      await call("files.completeUploadExternal", { files: [{ id: url.file_id }], channel_id: "C0NOWHERE" }),
    ).toBe("channel_not_found");
    expect(
      await call("files.completeUploadExternal", {
        files: [{ id: url.file_id }],
        channel_id: "C0MIGRATE",
        thread_ts: "1.000001",
      }),
    ).toBe("thread_not_found");
    expect(
      await call("files.completeUploadExternal", { files: [{ id: url.file_id }], thread_ts: "1.000001" }),
    ).toBe("invalid_arguments");
    // None of the refusals shared anything.
    expect(emu.messages("C0MIGRATE")).toEqual([]);
    expect(emu.files()).toEqual([]);
  });

  it("rate-limits both methods per workspace (Tier 4 by default), with Retry-After", async () => {
    const { emu, client } = await start({
      limits: { rates: { "files.getUploadURLExternal": { perMinute: 2, burst: 2, scope: "workspace" } } },
    });
    await client.files.getUploadURLExternal({ filename: "a.png", length: 1 });
    await client.files.getUploadURLExternal({ filename: "b.png", length: 1 });
    const third = client.files.getUploadURLExternal({ filename: "c.png", length: 1 });
    await expect(third).rejects.toMatchObject({ code: "slack_webapi_rate_limited_error" });
    expect(emu.stats().rateLimited["files.getUploadURLExternal"]).toBe(1);
  });
});
