/**
 * The emulator's App Home: app_home_opened delivered as a signed Events API request that a real Bolt
 * app verifies and dispatches, and views.publish called through the real @slack/web-api client,
 * refusing what Slack refuses with Slack's error names.
 */
import { App, LogLevel, webApi } from "@slack/bolt";
import { afterEach, describe, expect, it } from "vitest";
import {
  HOME_VIEW_MAX_BLOCKS,
  type HomeViewEvent,
  type SlackEmulator,
  startSlackEmulator,
} from "../../src/sandbox/slack/emulator";
import { freePort } from "../support/programs";
import { until } from "../support/until";

const SIGNING_SECRET = "test-signing-secret-app-home";
const BOT_TOKEN = "xoxb-app-home-test-token";
const USERS = [
  { id: "U0OPERATOR", name: "olivia" },
  { id: "U0NOBODY", name: "nemo" },
];

let emu: SlackEmulator | undefined;
let app: App | undefined;

afterEach(async () => {
  await app?.stop();
  await emu?.close();
  app = undefined;
  emu = undefined;
});

async function start(opts: { homeTabEnabled?: boolean; appSecret?: string } = {}) {
  emu = await startSlackEmulator({
    signingSecret: SIGNING_SECRET,
    botToken: BOT_TOKEN,
    users: USERS,
    channels: [{ id: "C0OPS", name: "ops" }],
    ...(opts.homeTabEnabled !== undefined && { homeTabEnabled: opts.homeTabEnabled }),
  });
  app = new App({
    token: BOT_TOKEN,
    signingSecret: opts.appSecret ?? SIGNING_SECRET,
    logLevel: LogLevel.ERROR,
    // No auth.test at construction: a test that ends early would leave it racing the emulator's close.
    tokenVerificationEnabled: false,
    clientOptions: { slackApiUrl: emu.apiUrl, retryConfig: { retries: 0 } },
  });
  const port = await freePort();
  const received: Record<string, unknown>[] = [];
  app.event("app_home_opened", async ({ event, body }) => {
    received.push({ ...event, envelopeType: (body as { type?: string }).type });
  });
  await app.start(port);
  emu.setDeliveryUrl(`http://127.0.0.1:${port}/slack/events`);
  const client = new webApi.WebClient(BOT_TOKEN, {
    slackApiUrl: emu.apiUrl,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
  });
  return { emu, client, received };
}

const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });

describe("app_home_opened", () => {
  it("reaches a real Bolt app as a signed event_callback with Slack's fields, carrying the view once published", async () => {
    const h = await start();
    const first = await h.emu.openAppHome({ user: "olivia" });
    expect(first.status).toBe(200);
    await until("the event", () => h.received.length === 1);
    expect(h.received[0]).toMatchObject({
      type: "app_home_opened",
      user: "U0OPERATOR",
      tab: "home",
      envelopeType: "event_callback",
    });
    expect(String(h.received[0]!.channel)).toMatch(/^D/);
    expect(String(h.received[0]!.event_ts)).toMatch(/^\d+\.\d{6}$/);
    expect(h.received[0]!.view).toBeUndefined();

    await h.client.views.publish({ user_id: "U0OPERATOR", view: { type: "home", blocks: [section("hi")] } });
    await h.emu.openAppHome({ user: "olivia" });
    await until("the second event", () => h.received.length === 2);
    const view = h.received[1]!.view as { type: string; blocks: unknown[]; id: string };
    expect(view.type).toBe("home");
    expect(view.blocks).toEqual([section("hi")]);
    expect(view.id).toMatch(/^V/);

    // The Messages tab is reported as such, without a view.
    await h.emu.openAppHome({ user: "olivia", tab: "messages" });
    await until("the third event", () => h.received.length === 3);
    expect(h.received[2]).toMatchObject({ tab: "messages" });
    expect(h.received[2]!.view).toBeUndefined();
  });

  it("is refused by an app holding another signing secret (the signature is real)", async () => {
    const h = await start({ appSecret: "some-other-secret" });
    const res = await h.emu.openAppHome({ user: "olivia" });
    expect(res.status).toBe(401);
    expect(h.received).toEqual([]);
  });

  it("names the users there are when asked to open Home as nobody", async () => {
    const h = await start();
    await expect(h.emu.openAppHome({ user: "mallory" })).rejects.toThrow(/olivia, nemo/);
  });
});

describe("views.publish", () => {
  it("keeps the latest view per user and answers with Slack's view object", async () => {
    const h = await start();
    const seen: HomeViewEvent[] = [];
    h.emu.events.on("home", (e: HomeViewEvent) => seen.push(e));
    const a = await h.client.views.publish({
      user_id: "U0OPERATOR",
      view: { type: "home", blocks: [section("one")] },
    });
    expect(a.ok).toBe(true);
    expect(a.view?.type).toBe("home");
    const b = await h.client.views.publish({
      user_id: "U0OPERATOR",
      view: { type: "home", blocks: [section("two")] },
    });
    expect(b.view?.id).toBe(a.view?.id);
    expect(b.view?.hash).not.toBe(a.view?.hash);
    const home = h.emu.homeView("olivia");
    expect(home?.blocks).toEqual([section("two")]);
    expect(home?.publishes).toBe(2);
    expect(h.emu.homeView("nemo")).toBeUndefined();
    expect(seen.map((e) => e.user)).toEqual(["U0OPERATOR", "U0OPERATOR"]);
    // A publish naming a stale hash loses the race, as in Slack.
    await expect(
      h.client.views.publish({
        user_id: "U0OPERATOR",
        hash: a.view!.hash!,
        view: { type: "home", blocks: [section("stale")] },
      }),
    ).rejects.toMatchObject({ data: { error: "hash_conflict" } });
    expect(h.emu.homeView("olivia")?.blocks).toEqual([section("two")]);
  });

  it("refuses what Slack refuses: unknown user, not a home view, over 100 blocks, long text, too large", async () => {
    const h = await start();
    const refused = async (args: Record<string, unknown>) => {
      try {
        await h.client.views.publish(args as unknown as webApi.ViewsPublishArguments);
      } catch (err) {
        return (err as { data: { error: string; response_metadata?: { messages?: string[] } } }).data;
      }
      throw new Error("views.publish was accepted");
    };
    expect(await refused({ user_id: "U0MALLORY", view: { type: "home", blocks: [] } })).toMatchObject({
      error: "invalid_arguments",
      response_metadata: { messages: ["[ERROR] invalid `user_id`"] },
    });
    expect((await refused({ user_id: "U0OPERATOR", view: { type: "modal", blocks: [] } })).error).toBe(
      "invalid_arguments",
    );
    const many = Array.from({ length: HOME_VIEW_MAX_BLOCKS + 1 }, (_, i) => section(`b${i}`));
    const tooMany = await refused({ user_id: "U0OPERATOR", view: { type: "home", blocks: many } });
    expect(tooMany.response_metadata?.messages).toContain(
      "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]",
    );
    // Exactly 100 blocks is fine.
    await h.client.views.publish({ user_id: "U0OPERATOR", view: { type: "home", blocks: many.slice(1) } });
    const long = await refused({
      user_id: "U0OPERATOR",
      view: { type: "home", blocks: [section("x".repeat(3001))] },
    });
    expect(long.response_metadata?.messages).toContain(
      "[ERROR] must be less than 3001 characters [json-pointer:/view/blocks/0/text/text]",
    );
    const huge = Array.from({ length: 100 }, () => section("é".repeat(1400)));
    expect((await refused({ user_id: "U0OPERATOR", view: { type: "home", blocks: huge } })).error).toBe(
      "view_too_large",
    );
    expect(h.emu.stats().calls["views.publish"]).toBe(6);
  });

  it("answers not_enabled when the manifest leaves the Home tab off", async () => {
    const h = await start({ homeTabEnabled: false });
    await expect(
      h.client.views.publish({ user_id: "U0OPERATOR", view: { type: "home", blocks: [section("x")] } }),
    ).rejects.toMatchObject({ data: { error: "not_enabled" } });
  });

  it("is rate limited at Tier 4 like Slack, with Retry-After", async () => {
    emu = await startSlackEmulator({
      signingSecret: SIGNING_SECRET,
      botToken: BOT_TOKEN,
      users: USERS,
      channels: [],
      limits: { rates: { "views.publish": { perMinute: 100, burst: 3, scope: "workspace" } } },
    });
    const client = new webApi.WebClient(BOT_TOKEN, {
      slackApiUrl: emu.apiUrl,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
    });
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () =>
        client.views.publish({ user_id: "U0NOBODY", view: { type: "home", blocks: [section("x")] } }),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(3);
    const limited = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(limited.reason).toMatchObject({ code: "slack_webapi_rate_limited_error" });
    expect(emu.stats().rateLimited["views.publish"]).toBe(2);
  });
});
