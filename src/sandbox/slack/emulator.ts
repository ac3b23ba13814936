/**
 * A Slack workspace on loopback, for the sandbox, tests and benchmarks.
 *
 * It plays both sides Slack plays for an app: the Web API the bot calls (point Bolt's WebClient at
 * `apiUrl` through `clientOptions.slackApiUrl`), and the platform that delivers slash commands and
 * button clicks to the app as signed HTTP requests, measuring how fast the app acknowledges. It
 * refuses what Slack refuses (rate limits, Block Kit limits, response_url reuse) with Slack's error
 * names, so a bot that passes here behaves on a real workspace.
 *
 * This file composes the pieces and holds the public API: `workspace.ts` (who is there),
 * `store.ts` (messages, threads, ephemerals, events), `web-api.ts` (the methods),
 * `response-urls.ts`, `delivery.ts` (signed deliveries and ack timing), `views.ts` (the App Home
 * tab: views.publish and each user's view), `events-api.ts` (Events API deliveries: app_home_opened),
 * `files.ts` (file uploads).
 */
import { EventEmitter } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type Logger, silentLogger } from "../../log";
import { Delivery, type DeliveryResult, SLACK_ACK_DEADLINE_MS, type SlashCommandResult } from "./delivery";
import { SlackEmulatorError } from "./errors";
import { appHomeOpenedEvent, deliverEvent, eventCallback } from "./events-api";
import { type EmulatedFile, FilesApi } from "./files";
import { RateLimiter, resolveLimits, type SlackLimits } from "./limits";
import { ResponseUrls } from "./response-urls";
import { type EphemeralMessage, type FoundButtonInfo, MessageStore, type StoredMessage } from "./store";
import { HomeViews, type PublishedHomeView } from "./views";
import { fail, type SlackFault, sendAnswer, WebApi } from "./web-api";
import {
  BOT_USER_ID,
  DEFAULT_TEAM_ID,
  type EmulatedChannel,
  type EmulatedUser,
  type EmulatedUsergroup,
  Workspace,
} from "./workspace";

export {
  DELIVERY_HARD_TIMEOUT_MS,
  type DeliveryResult,
  SLACK_ACK_DEADLINE_MS,
  type SlashCommandResult,
} from "./delivery";
export { SlackEmulatorError } from "./errors";
export type { EmulatedFile } from "./files";
export { DEFAULT_SLACK_LIMITS, type RateLimit, type SlackLimits } from "./limits";
export type {
  EphemeralMessage,
  FoundButtonInfo,
  SharedFileRef,
  SlackMessageEvent,
  StoredMessage,
} from "./store";
export { HOME_VIEW_MAX_BLOCKS, type HomeViewEvent, type PublishedHomeView } from "./views";
export { MAX_REQUEST_BODY_BYTES, type SlackFault } from "./web-api";
export type { EmulatedChannel, EmulatedUser, EmulatedUsergroup } from "./workspace";

export interface SlackEmulatorOptions {
  signingSecret: string;
  /** The bot token the app uses (`xoxb-…`), accepted as `Authorization: Bearer` or a `token` field. */
  botToken: string;
  /** @defaultValue "T0SANDBOX" */
  teamId?: string;
  users: EmulatedUser[];
  channels: EmulatedChannel[];
  usergroups?: EmulatedUsergroup[];
  /** Where slash commands and interactions are POSTed (Bolt: `http://127.0.0.1:PORT/slack/events`). */
  deliveryUrl?: string;
  /** Slack's documented numbers by default; tests may tighten them. */
  limits?: Partial<SlackLimits>;
  /** @defaultValue 3000 (Slack's) */
  ackDeadlineMs?: number;
  /**
   * Deliver every slash command twice at once (same trigger_id), as a retrying network might, so the
   * app's dedupe is exercised; `slashCommand({ deliverTwice })` overrides it per call. @defaultValue false
   */
  deliverTwice?: boolean;
  /** @defaultValue 0 (any free port) */
  port?: number;
  /** The manifest's `features.app_home.home_tab_enabled`; false makes views.publish answer `not_enabled`. @defaultValue true */
  homeTabEnabled?: boolean;
  log?: Logger;
}

export interface SlackEmulatorStats {
  /** Web API calls per method, refused ones included. */
  calls: Record<string, number>;
  /** 429s per method, injected ones included. */
  rateLimited: Record<string, number>;
  /** Calls answered with a fault from {@link SlackEmulator.failNext}, per method. */
  faulted: Record<string, number>;
  ackViolations: number;
  slowestAckMs: number;
}

export interface SlackEmulator {
  /** e.g. `http://127.0.0.1:PORT/api/` (trailing slash, as WebClient expects). */
  apiUrl: string;
  /** The bot user the token belongs to (`auth.test`'s `user_id`). */
  botUserId: string;
  setDeliveryUrl(url: string): void;
  slashCommand(args: {
    /** id or name */
    user: string;
    /** id or name */
    channel: string;
    command: string;
    text: string;
    /** Send the identical request twice at once (same trigger_id), to test the app's dedupe. */
    deliverTwice?: boolean;
  }): Promise<SlashCommandResult>;
  /** Presses a button found in the message's blocks and delivers a real `block_actions` payload. */
  clickButton(args: {
    user: string;
    channel: string;
    messageTs: string;
    actionId?: string;
    /** The button's text. */
    label?: string;
  }): Promise<DeliveryResult>;
  findButtons(channel?: string): FoundButtonInfo[];
  /**
   * A user opens the app's Home (the Home tab by default): delivers a signed `app_home_opened` event
   * to the app, carrying the tab's current view once one was published.
   */
  openAppHome(args: { user: string; tab?: "home" | "messages" }): Promise<DeliveryResult>;
  /** The Home tab a user (id or name) sees now, or undefined before the app published one. */
  homeView(user: string): PublishedHomeView | undefined;
  /**
   * Answers the next `times` (default 1) calls of a Web API method, in one channel (id or name)
   * or any, with a failure instead of serving them, as Slack does when it has trouble.
   */
  failNext(args: { method: string; channel?: string; fault: SlackFault; times?: number }): void;
  /** Root messages of a channel with their replies, current text/blocks and edit counts. */
  messages(channel: string): StoredMessage[];
  /** Ephemeral messages a user has been shown, optionally in one channel. */
  ephemeralMessages(user: string, channel?: string): EphemeralMessage[];
  /** Files whose upload was completed (files.completeUploadExternal), oldest first, with their bytes. */
  files(): EmulatedFile[];
  /** One file by id (a message's `files[].id`), completed or not. */
  file(id: string): EmulatedFile | undefined;
  /** Emits `"message"` with a `SlackMessageEvent`, in the order things happened, and `"home"` with a `HomeViewEvent` per views.publish. */
  events: EventEmitter;
  stats(): SlackEmulatorStats;
  close(): Promise<void>;
}

/** Starts an emulated Slack workspace on 127.0.0.1. */
export async function startSlackEmulator(opts: SlackEmulatorOptions): Promise<SlackEmulator> {
  const log = opts.log ?? silentLogger;
  const limits = resolveLimits(opts.limits);
  const events = new EventEmitter();
  const workspace = new Workspace(
    opts.teamId ?? DEFAULT_TEAM_ID,
    opts.users,
    opts.channels,
    opts.usergroups ?? [],
  );
  const store = new MessageStore(events);
  let baseUrl = "";
  const filesApi = new FilesApi({ workspace, store, limits, baseUrl: () => baseUrl, log });
  const views = new HomeViews(workspace, limits, events, opts.homeTabEnabled ?? true);
  const webApi = new WebApi({
    views,
    workspace,
    store,
    botToken: opts.botToken,
    limits,
    limiter: new RateLimiter(limits.rates),
    log,
    extraMethods: filesApi.methods(),
  });
  let deliveryUrl = opts.deliveryUrl;
  const responseUrls = new ResponseUrls(store, limits, log, () => baseUrl);
  const delivery = new Delivery({
    signingSecret: opts.signingSecret,
    ackDeadlineMs: opts.ackDeadlineMs ?? SLACK_ACK_DEADLINE_MS,
    deliveryUrl: () => deliveryUrl,
    workspace,
    store,
    responseUrls,
    limits,
    log,
  });

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const api = /^\/api\/([A-Za-z.]+)$/.exec(url.pathname);
    const response = /^\/response\/([A-Za-z0-9]+)$/.exec(url.pathname);
    const upload = /^\/upload\/v1\/([a-f0-9]+)$/.exec(url.pathname);
    const work = api?.[1]
      ? webApi.handle(req, res, api[1], url)
      : response?.[1] && req.method === "POST"
        ? responseUrls.handle(req, res, response[1])
        : upload?.[1] && req.method === "POST"
          ? filesApi.handleUpload(req, res, upload[1])
          : Promise.resolve(sendAnswer(res, fail("unknown_method", {}, 404)));
    work.catch((err: unknown) => {
      log.error("slack emulator failed to answer a request", { err, path: url.pathname });
      if (!res.headersSent) sendAnswer(res, fail("internal_error", {}, 500));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;

  const emulator: SlackEmulator = {
    apiUrl: `${baseUrl}/api/`,
    botUserId: BOT_USER_ID,
    events,

    setDeliveryUrl(url: string) {
      deliveryUrl = url;
    },

    slashCommand({ user, channel, command, text, deliverTwice }) {
      return delivery.slashCommand({
        user,
        channel,
        command,
        text,
        deliverTwice: deliverTwice ?? opts.deliverTwice ?? false,
      });
    },

    clickButton(args) {
      return delivery.clickButton(args);
    },

    async openAppHome({ user: userArg, tab = "home" }) {
      const user = workspace.findUser(userArg);
      if (!user) {
        throw new SlackEmulatorError(
          "EMU_UNKNOWN_USER",
          `no user "${userArg}" in the emulated workspace; known: ${workspace.users.map((u) => u.name).join(", ")}`,
        );
      }
      const current = views.get(user.id);
      const event = appHomeOpenedEvent(
        user,
        tab,
        store.nextTs(),
        current === undefined ? undefined : views.viewJson(current),
      );
      return deliverEvent({
        url: deliveryUrl,
        signingSecret: opts.signingSecret,
        ackDeadlineMs: opts.ackDeadlineMs ?? SLACK_ACK_DEADLINE_MS,
        envelope: eventCallback(workspace.teamId, event),
        log,
      });
    },

    homeView(userArg: string) {
      return views.get(workspace.findUser(userArg)?.id ?? userArg);
    },

    findButtons(channelArg?: string) {
      const channelId = channelArg === undefined ? undefined : workspace.findChannel(channelArg)?.id;
      if (channelArg !== undefined && !channelId) return [];
      return store.findButtons(channelId);
    },

    failNext({ method, channel, fault, times = 1 }) {
      const channelId = channel === undefined ? undefined : (workspace.findChannel(channel)?.id ?? channel);
      webApi.failNext(method, fault, times, channelId);
    },

    messages(channelArg: string) {
      return store.messages(workspace.findChannel(channelArg)?.id ?? channelArg);
    },

    ephemeralMessages(userArg: string, channelArg?: string) {
      const userId = workspace.findUser(userArg)?.id ?? userArg;
      const channelId =
        channelArg === undefined ? undefined : (workspace.findChannel(channelArg)?.id ?? channelArg);
      return store.ephemeralMessages(userId, channelId);
    },

    files() {
      return filesApi.completed();
    },

    file(id: string) {
      return filesApi.get(id);
    },

    stats() {
      return {
        calls: { ...webApi.calls },
        rateLimited: { ...webApi.rateLimited },
        faulted: { ...webApi.faulted },
        ackViolations: delivery.ackViolations,
        slowestAckMs: delivery.slowestAckMs,
      };
    },

    async close() {
      events.removeAllListeners();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  log.info("slack emulator listening", { apiUrl: emulator.apiUrl });
  return emulator;
}
