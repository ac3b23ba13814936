/**
 * The Slack emulator against a real Bolt app: signed deliveries that Bolt verifies, ack timing,
 * response_url, buttons, and the Web API refusing what Slack refuses.
 */
import { App, LogLevel, type SlashCommand, webApi } from "@slack/bolt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type SlackEmulator,
  type SlackEmulatorOptions,
  type SlackMessageEvent,
  startSlackEmulator,
} from "../../src/sandbox/slack/emulator";
import { freePort } from "../support/programs";

const SIGNING_SECRET = "test-signing-secret-0123456789abcdef";
const BOT_TOKEN = "xoxb-emulator-test-token";

const WORKSPACE: Omit<SlackEmulatorOptions, "signingSecret" | "botToken"> = {
  users: [
    { id: "U0OPERATOR", name: "olivia", realName: "Olivia Operator" },
    { id: "U0APPROVER", name: "arthur" },
    { id: "U0NOBODY", name: "nemo" },
  ],
  channels: [
    { id: "C0MIGRATE", name: "migrations" },
    { id: "C0OTHER", name: "random" },
  ],
  usergroups: [{ id: "S0OPS", handle: "ops", users: ["U0OPERATOR", "U0APPROVER"] }],
};

interface Harness {
  emu: SlackEmulator;
  app: App;
  commands: SlashCommand[];
  events: SlackMessageEvent[];
}

/** Emulator + a real Bolt app (HTTPReceiver on a free loopback port, client pointed at the emulator). */
async function startHarness(
  register: (app: App, commands: SlashCommand[]) => void,
  opts: Partial<SlackEmulatorOptions> = {},
  appSigningSecret = SIGNING_SECRET,
): Promise<Harness> {
  const emu = await startSlackEmulator({
    signingSecret: SIGNING_SECRET,
    botToken: BOT_TOKEN,
    ...WORKSPACE,
    ...opts,
  });
  const events: SlackMessageEvent[] = [];
  emu.events.on("message", (e: SlackMessageEvent) => events.push(e));
  const app = new App({
    token: BOT_TOKEN,
    signingSecret: appSigningSecret,
    logLevel: LogLevel.ERROR,
    clientOptions: { slackApiUrl: emu.apiUrl, retryConfig: { retries: 0 } },
  });
  const commands: SlashCommand[] = [];
  register(app, commands);
  const port = await freePort();
  await app.start(port);
  emu.setDeliveryUrl(`http://127.0.0.1:${port}/slack/events`);
  return { emu, app, commands, events };
}

async function stopHarness(h: Harness | undefined): Promise<void> {
  if (!h) return;
  await h.app.stop();
  await h.emu.close();
}

const quietLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  setLevel() {},
  getLevel: () => webApi.LogLevel.ERROR,
  setName() {},
};

/** A WebClient that surfaces 429s instead of waiting them out, so tests can see them. */
function rawClient(emu: SlackEmulator, token = BOT_TOKEN) {
  return new webApi.WebClient(token, {
    slackApiUrl: emu.apiUrl,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    // WebClient logs each invalid_blocks message at ERROR; the tests assert on them instead.
    logger: quietLogger,
  });
}

async function expectSlackError(call: Promise<unknown>): Promise<Record<string, unknown>> {
  const err = (await call.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: unknown) => e,
  )) as { data?: Record<string, unknown>; code?: string; retryAfter?: number };
  return { ...err.data, code: err.code, retryAfter: err.retryAfter };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await sleep(20);
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

describe("slash commands and buttons through a real Bolt app", () => {
  let h: Harness;
  const seenActions: Record<string, unknown>[] = [];
  const triggerIds: string[] = [];

  beforeAll(async () => {
    h = await startHarness((app, commands) => {
      app.command("/migrate", async ({ command, ack, client, respond }) => {
        commands.push(command);
        triggerIds.push(command.trigger_id);
        if (command.text === "in channel") {
          await ack({ response_type: "in_channel", text: "migrating in the open" });
          return;
        }
        if (command.text.startsWith("vm-")) {
          await ack();
          const root = await client.chat.postMessage({
            channel: command.channel_id,
            text: `Migration of ${command.text}`,
          });
          await client.chat.postMessage({
            channel: command.channel_id,
            thread_ts: root.ts,
            text: "Approve the fix?",
            blocks: [
              { type: "section", text: { type: "mrkdwn", text: "Enable auto-converge on compute-1?" } },
              {
                type: "actions",
                block_id: "proposal",
                elements: [
                  {
                    type: "button",
                    action_id: "approve",
                    text: { type: "plain_text", text: "Approve" },
                    value: "prop-123",
                    style: "primary",
                  },
                  {
                    type: "button",
                    action_id: "reject",
                    text: { type: "plain_text", text: "Reject" },
                    value: "prop-123",
                    style: "danger",
                  },
                ],
              },
            ],
          });
          return;
        }
        if (command.text === "later") {
          await ack("checking…");
          await respond({ text: "vm-404 is not a known VM", replace_original: true });
          return;
        }
        await ack(`usage: /migrate <vm> to <host> (got "${command.text}")`);
      });
      app.action("approve", async ({ ack, body, respond }) => {
        await ack();
        seenActions.push(body as unknown as Record<string, unknown>);
        await respond({ replace_original: true, text: "Approved by <@U0APPROVER>", blocks: [] });
      });
    });
  });
  afterAll(async () => stopHarness(h));

  it("delivers a signed slash command that Bolt verifies, and shows the ack text only to the caller", async () => {
    const result = await h.emu.slashCommand({
      user: "olivia",
      channel: "#migrations",
      command: "/migrate",
      text: "bogus ; rm -rf /",
    });
    expect(result.status).toBe(200);
    expect(result.ackMs).toBeGreaterThan(0);
    expect(result.ackMs).toBeLessThan(1000);
    expect(result.responseText).toBe('usage: /migrate <vm> to <host> (got "bogus ; rm -rf /")');

    const cmd = h.commands.at(-1)!;
    expect(cmd).toMatchObject({
      command: "/migrate",
      text: "bogus ; rm -rf /",
      user_id: "U0OPERATOR",
      user_name: "olivia",
      channel_id: "C0MIGRATE",
      channel_name: "migrations",
      team_id: "T0SANDBOX",
      is_enterprise_install: "false",
    });
    expect(cmd.response_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/response\//);
    expect(cmd.trigger_id).toMatch(/^\d+\.\d+\.[0-9a-f]+$/);

    // Ephemeral: the caller sees it, nobody else, and it is not in the channel history.
    expect(h.emu.messages("C0MIGRATE")).toEqual([]);
    expect(h.emu.ephemeralMessages("olivia", "migrations").map((m) => m.text)).toContain(result.responseText);
    expect(h.emu.ephemeralMessages("arthur")).toEqual([]);
    const event = h.events.at(-1)!;
    expect(event).toEqual({
      type: "ephemeral",
      channel: "C0MIGRATE",
      ts: expect.stringMatching(/^\d{10}\.\d{6}$/),
      user: "U0OPERATOR",
      text: result.responseText,
    });
    expect(h.emu.stats().slowestAckMs).toBeGreaterThanOrEqual(result.ackMs);
  });

  it("shows an in_channel ack to everyone, after the user's invocation", async () => {
    const result = await h.emu.slashCommand({
      user: "U0OPERATOR",
      channel: "C0OTHER",
      command: "/migrate",
      text: "in channel",
    });
    expect(result.status).toBe(200);
    const texts = h.emu.messages("random").map((m) => [m.user, m.text]);
    expect(texts).toEqual([
      ["U0OPERATOR", "/migrate in channel"],
      [h.emu.botUserId, "migrating in the open"],
    ]);
  });

  it("lets the app answer later through response_url, replacing its first answer", async () => {
    await h.emu.slashCommand({ user: "arthur", channel: "migrations", command: "/migrate", text: "later" });
    const mine = await waitFor(() => {
      const list = h.emu.ephemeralMessages("arthur", "migrations");
      return list.some((m) => m.text.includes("not a known VM")) ? list : undefined;
    });
    // One ephemeral, edited in place: "checking…" became the answer.
    expect(mine.map((m) => m.text)).toEqual(["vm-404 is not a known VM"]);
    expect(h.events.filter((e) => e.user === "U0APPROVER").map((e) => e.type)).toEqual([
      "ephemeral",
      "update",
    ]);
  });

  it("delivers a button click as a real block_actions payload and lets the app replace the message", async () => {
    await h.emu.slashCommand({ user: "olivia", channel: "migrations", command: "/migrate", text: "vm-42" });
    const button = await waitFor(() => h.emu.findButtons("migrations").find((b) => b.label === "Approve"));
    expect(button).toMatchObject({ actionId: "approve", value: "prop-123", style: "primary" });
    expect(button.threadTs).toBeDefined();
    expect(h.emu.findButtons("migrations").map((b) => b.label)).toEqual(["Approve", "Reject"]);

    const click = await h.emu.clickButton({
      user: "arthur",
      channel: "migrations",
      messageTs: button.messageTs,
      label: "Approve",
    });
    expect(click.status).toBe(200);
    expect(click.ackMs).toBeLessThan(1000);

    const payload = await waitFor(() => seenActions[0]);
    expect(payload).toMatchObject({
      type: "block_actions",
      user: { id: "U0APPROVER", name: "arthur" },
      team: { id: "T0SANDBOX" },
      channel: { id: "C0MIGRATE", name: "migrations" },
      container: {
        type: "message",
        message_ts: button.messageTs,
        channel_id: "C0MIGRATE",
        is_ephemeral: false,
        thread_ts: button.threadTs,
      },
      message: { ts: button.messageTs, text: "Approve the fix?", thread_ts: button.threadTs },
      actions: [
        {
          action_id: "approve",
          block_id: "proposal",
          value: "prop-123",
          type: "button",
          text: { type: "plain_text", text: "Approve" },
        },
      ],
    });
    expect(payload.trigger_id).toEqual(expect.any(String));
    expect(payload.response_url).toEqual(expect.stringContaining("/response/"));

    // The app's respond({ replace_original }) edited the message in the thread and removed its buttons.
    const reply = await waitFor(() => {
      const root = h.emu.messages("migrations").find((m) => m.ts === button.threadTs);
      const r = root?.replies.find((x) => x.ts === button.messageTs);
      return r && r.edits > 0 ? r : undefined;
    });
    expect(reply.text).toBe("Approved by <@U0APPROVER>");
    expect(reply.blocks).toBeUndefined();
    expect(h.emu.findButtons("migrations")).toEqual([]);
  });

  it("sends the very same slash command twice when asked, so the app's dedupe can be tested", async () => {
    const before = triggerIds.length;
    const result = await h.emu.slashCommand({
      user: "olivia",
      channel: "migrations",
      command: "/migrate",
      text: "dup",
      deliverTwice: true,
    });
    expect(result.status).toBe(200);
    expect(result.duplicate?.status).toBe(200);
    const seen = triggerIds.slice(before);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBe(seen[1]);
  });

  it("refuses to click a button that is not there, naming what is there", async () => {
    const root = h.emu.messages("migrations")[0]!;
    await expect(
      h.emu.clickButton({ user: "arthur", channel: "migrations", messageTs: root.ts, label: "Nope" }),
    ).rejects.toMatchObject({ code: "EMU_BUTTON_NOT_FOUND" });
  });
});

describe("delivery failures Slack shows to the user", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await stopHarness(h);
    h = undefined;
  });

  it("a request signed with another secret is rejected by Bolt with 401; the user sees dispatch_failed", async () => {
    let reached = false;
    h = await startHarness(
      (app) => {
        app.command("/migrate", async ({ ack }) => {
          reached = true;
          await ack("should not happen");
        });
      },
      {},
      "a-different-signing-secret-000000",
    );
    const result = await h.emu.slashCommand({
      user: "olivia",
      channel: "migrations",
      command: "/migrate",
      text: "",
    });
    expect(result.status).toBe(401);
    expect(reached).toBe(false);
    expect(h.emu.ephemeralMessages("olivia").map((m) => m.text)).toEqual([
      '/migrate failed with the error "dispatch_failed"',
    ]);
  });

  it("an ack later than the deadline counts as a violation and shows operation_timeout", async () => {
    const ACK_DEADLINE_MS = 150;
    h = await startHarness(
      (app) => {
        app.command("/migrate", async ({ ack }) => {
          await sleep(ACK_DEADLINE_MS * 3);
          await ack("too late");
        });
      },
      { ackDeadlineMs: ACK_DEADLINE_MS },
    );
    const result = await h.emu.slashCommand({
      user: "olivia",
      channel: "migrations",
      command: "/migrate",
      text: "x",
    });
    expect(result.status).toBe(0);
    expect(result.ackMs).toBeGreaterThanOrEqual(ACK_DEADLINE_MS * 3 - 5);
    expect(h.emu.stats().ackViolations).toBe(1);
    // Slack dropped the late answer; the user sees only the timeout.
    expect(h.emu.ephemeralMessages("olivia").map((m) => m.text)).toEqual([
      '/migrate failed with the error "operation_timeout"',
    ]);
  });

  it("without a delivery URL, says how to set one", async () => {
    const emu = await startSlackEmulator({
      signingSecret: SIGNING_SECRET,
      botToken: BOT_TOKEN,
      ...WORKSPACE,
    });
    try {
      await expect(
        emu.slashCommand({ user: "olivia", channel: "migrations", command: "/migrate", text: "" }),
      ).rejects.toMatchObject({
        code: "EMU_NO_DELIVERY_URL",
        message: expect.stringContaining("setDeliveryUrl"),
      });
    } finally {
      await emu.close();
    }
  });
});

describe("Web API", () => {
  let emu: SlackEmulator;
  beforeAll(async () => {
    emu = await startSlackEmulator({
      signingSecret: SIGNING_SECRET,
      botToken: BOT_TOKEN,
      ...WORKSPACE,
      // These tests post many messages to one channel to check other things; the "rate limits"
      // suite below uses Slack's own numbers.
      limits: { rates: { "chat.postMessage": { perMinute: 6000, burst: 1000, scope: "channel" } } },
    });
  });
  afterAll(async () => emu.close());

  it("answers auth errors, unknown channels and messages with Slack's error names", async () => {
    expect((await expectSlackError(rawClient(emu, "xoxb-wrong").auth.test())).error).toBe("invalid_auth");
    const noAuth = await fetch(`${emu.apiUrl}auth.test`, { method: "POST" });
    expect(await noAuth.json()).toEqual({ ok: false, error: "not_authed" });

    const c = rawClient(emu);
    expect(await c.auth.test()).toMatchObject({ ok: true, user_id: emu.botUserId, team_id: "T0SANDBOX" });
    expect((await expectSlackError(c.chat.postMessage({ channel: "C0NOPE", text: "x" }))).error).toBe(
      "channel_not_found",
    );
    expect(
      (await expectSlackError(c.chat.update({ channel: "C0OTHER", ts: "1.000001", text: "x" }))).error,
    ).toBe("message_not_found");
    expect((await expectSlackError(c.chat.postMessage({ channel: "C0OTHER", text: "" }))).error).toBe(
      "no_text",
    );
    expect((await expectSlackError(c.users.info({ user: "U0GHOST" }))).error).toBe("user_not_found");
    expect((await expectSlackError(c.usergroups.users.list({ usergroup: "S0NONE" }))).error).toBe(
      "no_such_subteam",
    );
    expect(await c.usergroups.users.list({ usergroup: "S0OPS" })).toMatchObject({
      users: ["U0OPERATOR", "U0APPROVER"],
    });
    expect(await c.users.info({ user: "U0OPERATOR" })).toMatchObject({
      user: { name: "olivia", real_name: "Olivia Operator" },
    });
    expect(await c.conversations.info({ channel: "C0OTHER" })).toMatchObject({
      channel: { id: "C0OTHER", name: "random", is_member: true },
    });
  });

  it("accepts JSON bodies with a Bearer token as well as WebClient's form bodies", async () => {
    const res = await fetch(`${emu.apiUrl}chat.postMessage`, {
      method: "POST",
      headers: { authorization: `Bearer ${BOT_TOKEN}`, "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify({
        channel: "C0OTHER",
        text: "json body",
        metadata: { event_type: "m", event_payload: {} },
      }),
    });
    const body = (await res.json()) as { ok: boolean; ts: string; message: Record<string, unknown> };
    expect(body.ok).toBe(true);
    expect(body.message).toMatchObject({ text: "json body", metadata: { event_type: "m" } });
  });

  it("keeps threads: replies under their root, a reply to a reply lands in the same thread", async () => {
    const c = rawClient(emu);
    const root = await c.chat.postMessage({ channel: "C0OTHER", text: "root" });
    const r1 = await c.chat.postMessage({ channel: "C0OTHER", thread_ts: root.ts, text: "phase 1" });
    const r2 = await c.chat.postMessage({
      channel: "C0OTHER",
      thread_ts: r1.ts!,
      text: "phase 2",
      reply_broadcast: true,
    });
    expect(r1.ts! > root.ts!).toBe(true);
    expect(r2.ts! > r1.ts!).toBe(true);
    expect(r2.message).toMatchObject({ thread_ts: root.ts });
    const stored = emu.messages("C0OTHER").find((m) => m.ts === root.ts)!;
    expect(stored.replies.map((r) => [r.text, r.thread_ts, r.reply_broadcast])).toEqual([
      ["phase 1", root.ts, undefined],
      ["phase 2", root.ts, true],
    ]);
    expect(
      (await expectSlackError(c.chat.postMessage({ channel: "C0OTHER", thread_ts: "1.000001", text: "x" })))
        .error,
    ).toBe("thread_not_found");

    await c.chat.update({ channel: "C0OTHER", ts: r1.ts!, text: "phase 1 (42%)" });
    await c.chat.update({ channel: "C0OTHER", ts: r1.ts!, text: "phase 1 (97%)" });
    const edited = emu.messages("C0OTHER").find((m) => m.ts === root.ts)!.replies[0]!;
    expect([edited.text, edited.edits]).toEqual(["phase 1 (97%)", 2]);

    const link = await c.chat.getPermalink({ channel: "C0OTHER", message_ts: r1.ts! });
    expect(link.permalink).toBe(
      `https://migbot-sandbox.slack.com/archives/C0OTHER/p${r1.ts!.replace(".", "")}?thread_ts=${root.ts}&cid=C0OTHER`,
    );

    await c.chat.delete({ channel: "C0OTHER", ts: root.ts! });
    const tomb = emu.messages("C0OTHER").find((m) => m.ts === root.ts)!;
    expect([tomb.deleted, tomb.replies.length]).toEqual([true, 2]);
  });

  it("keeps ephemeral messages to their one user", async () => {
    const c = rawClient(emu);
    const events: SlackMessageEvent[] = [];
    const listener = (e: SlackMessageEvent) => events.push(e);
    emu.events.on("message", listener);
    const res = await c.chat.postEphemeral({
      channel: "C0MIGRATE",
      user: "U0NOBODY",
      text: "you may not migrate",
    });
    emu.events.off("message", listener);
    expect(res.message_ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(emu.ephemeralMessages("nemo").map((m) => m.text)).toEqual(["you may not migrate"]);
    expect(emu.ephemeralMessages("olivia", "C0MIGRATE").map((m) => m.text)).not.toContain(
      "you may not migrate",
    );
    expect(emu.messages("C0MIGRATE").map((m) => m.text)).not.toContain("you may not migrate");
    expect(events).toEqual([
      {
        type: "ephemeral",
        channel: "C0MIGRATE",
        ts: res.message_ts,
        user: "U0NOBODY",
        text: "you may not migrate",
      },
    ]);
    expect(
      (await expectSlackError(c.chat.postEphemeral({ channel: "C0MIGRATE", user: "U0GHOST", text: "x" })))
        .error,
    ).toBe("user_not_found");
  });

  it("answers Block Kit over Slack's limits with invalid_blocks and Slack's wording", async () => {
    const c = rawClient(emu);
    const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });
    const button = (over: Record<string, unknown>) => ({
      type: "button",
      action_id: "a",
      text: { type: "plain_text", text: "Go" },
      ...over,
    });
    const cases: [unknown[], string][] = [
      [
        Array.from({ length: 51 }, () => ({ type: "divider" })),
        "no more than 50 items allowed [json-pointer:/blocks]",
      ],
      [[section("x".repeat(3001))], "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"],
      [
        [{ type: "header", text: { type: "plain_text", text: "h".repeat(151) } }],
        "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
      ],
      [
        [{ type: "actions", elements: [button({ text: { type: "plain_text", text: "b".repeat(76) } })] }],
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
      ],
      [
        [{ type: "actions", elements: [button({ value: "v".repeat(2001) })] }],
        "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
      ],
      [
        [{ type: "actions", elements: [button({ action_id: "i".repeat(256) })] }],
        "must be less than 256 characters [json-pointer:/blocks/0/elements/0/action_id]",
      ],
      [
        [{ type: "divider", block_id: "b".repeat(256) }],
        "must be less than 256 characters [json-pointer:/blocks/0/block_id]",
      ],
      [
        [{ type: "actions", elements: Array.from({ length: 26 }, (_, i) => button({ action_id: `a${i}` })) }],
        "no more than 25 items allowed [json-pointer:/blocks/0/elements]",
      ],
      [
        [
          {
            type: "actions",
            elements: [
              button({
                confirm: {
                  title: { type: "plain_text", text: "t".repeat(101) },
                  text: { type: "plain_text", text: "sure?" },
                  confirm: { type: "plain_text", text: "Yes" },
                  deny: { type: "plain_text", text: "No" },
                },
              }),
            ],
          },
        ],
        "must be less than 101 characters [json-pointer:/blocks/0/elements/0/confirm/title/text]",
      ],
    ];
    for (const [blocks, message] of cases) {
      const data = await expectSlackError(
        c.chat.postMessage({ channel: "C0OTHER", text: "t", blocks } as never),
      );
      expect(data.error).toBe("invalid_blocks");
      expect(data.errors).toContain(message);
      expect((data.response_metadata as { messages: string[] }).messages).toContain(`[ERROR] ${message}`);
    }
    // At the limits exactly, Slack accepts.
    const okRes = await c.chat.postMessage({
      channel: "C0OTHER",
      text: "t",
      blocks: [
        section("x".repeat(3000)),
        {
          type: "actions",
          block_id: "b".repeat(255),
          elements: Array.from({ length: 25 }, (_, i) =>
            button({
              action_id: `${i}`.padEnd(255, "i"),
              value: "v".repeat(2000),
              text: { type: "plain_text", text: "b".repeat(75) },
            }),
          ),
        },
        ...Array.from({ length: 48 }, () => ({ type: "divider" })),
      ],
    } as never);
    expect(okRes.ok).toBe(true);
    expect(
      (
        await expectSlackError(
          c.chat.postMessage({ channel: "C0OTHER", text: "t", blocks: "not json" } as never),
        )
      ).error,
    ).toBe("invalid_blocks_format");
  });

  it("truncates top-level text past 40,000 characters, as Slack does", async () => {
    const c = rawClient(emu);
    const res = await c.chat.postMessage({ channel: "C0OTHER", text: "y".repeat(40_005) });
    expect((res.message as { text: string }).text).toHaveLength(40_000);
  });
});

describe("rate limits", () => {
  let emu: SlackEmulator;
  beforeAll(async () => {
    emu = await startSlackEmulator({ signingSecret: SIGNING_SECRET, botToken: BOT_TOKEN, ...WORKSPACE });
  });
  afterAll(async () => emu.close());

  it("chat.postMessage: a short burst per channel, then 429 with Retry-After; other channels unaffected", async () => {
    const c = rawClient(emu);
    const results: string[] = [];
    for (let i = 0; i < 6; i++) {
      try {
        await c.chat.postMessage({ channel: "C0MIGRATE", text: `m${i}` });
        results.push("ok");
      } catch (e) {
        results.push((e as { code: string }).code);
      }
    }
    expect(results).toEqual(["ok", "ok", "ok", "ok", "ok", "slack_webapi_rate_limited_error"]);
    const raw = await fetch(`${emu.apiUrl}chat.postMessage`, {
      method: "POST",
      headers: { authorization: `Bearer ${BOT_TOKEN}`, "content-type": "application/x-www-form-urlencoded" },
      body: "channel=C0MIGRATE&text=again",
    });
    expect(raw.status).toBe(429);
    expect(raw.headers.get("retry-after")).toBe("1");
    expect(await raw.json()).toEqual({ ok: false, error: "ratelimited" });
    expect((await c.chat.postMessage({ channel: "C0OTHER", text: "elsewhere" })).ok).toBe(true);
    // One message a second refills the bucket.
    await sleep(1050);
    expect((await c.chat.postMessage({ channel: "C0MIGRATE", text: "after a second" })).ok).toBe(true);
    expect(emu.stats().rateLimited["chat.postMessage"]).toBe(2);
  });

  it("chat.update: Tier 3, about 50 a minute for the workspace, then 429 with Retry-After", async () => {
    const c = rawClient(emu);
    const msg = await c.chat.postMessage({ channel: "C0OTHER", text: "progress 0%" });
    let okCount = 0;
    let retryAfter: number | undefined;
    for (let i = 1; i <= 60 && retryAfter === undefined; i++) {
      try {
        await c.chat.update({ channel: "C0OTHER", ts: msg.ts!, text: `progress ${i}%` });
        okCount += 1;
      } catch (e) {
        retryAfter = (e as { retryAfter: number }).retryAfter;
      }
    }
    expect(okCount).toBe(50);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(emu.messages("C0OTHER").find((m) => m.ts === msg.ts)!.edits).toBe(50);
  });
});

describe("response_url", () => {
  let h: Harness;
  const urls: string[] = [];
  beforeAll(async () => {
    h = await startHarness(
      (app) => {
        app.command("/migrate", async ({ command, ack }) => {
          urls.push(command.response_url);
          await ack();
        });
      },
      { limits: { responseUrlTtlMs: 400 } },
    );
  });
  afterAll(async () => stopHarness(h));

  const post = (url: string, body: unknown) =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("works five times, then answers 404 used_url", async () => {
    await h.emu.slashCommand({ user: "olivia", channel: "migrations", command: "/migrate", text: "" });
    const url = urls.at(-1)!;
    const statuses: number[] = [];
    for (let i = 1; i <= 5; i++) statuses.push((await post(url, { text: `update ${i}` })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const sixth = await post(url, { text: "update 6" });
    expect(sixth.status).toBe(404);
    expect(await sixth.json()).toMatchObject({ error: "used_url" });
    expect(h.emu.ephemeralMessages("olivia").map((m) => m.text)).toEqual([
      "update 1",
      "update 2",
      "update 3",
      "update 4",
      "update 5",
    ]);
  });

  it("posts in channel when asked, and expires after its lifetime", async () => {
    await h.emu.slashCommand({ user: "arthur", channel: "random", command: "/migrate", text: "" });
    const url = urls.at(-1)!;
    expect((await post(url, { response_type: "in_channel", text: "for all" })).status).toBe(200);
    expect(h.emu.messages("random").map((m) => m.text)).toEqual(["for all"]);
    const bad = await post(url, {
      blocks: [{ type: "header", text: { type: "plain_text", text: "h".repeat(151) } }],
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: "invalid_blocks" });
    await sleep(450);
    const late = await post(url, { text: "too late" });
    expect(late.status).toBe(404);
    expect(await late.json()).toMatchObject({ error: "expired_url" });
  });
});
