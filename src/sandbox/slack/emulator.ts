/**
 * A Slack workspace on loopback, for the sandbox, tests and benchmarks.
 *
 * It plays both sides Slack plays for an app: the Web API the bot calls (point Bolt's WebClient at
 * `apiUrl` through `clientOptions.slackApiUrl`), and the platform that delivers slash commands and
 * button clicks to the app as signed HTTP requests, measuring how fast the app acknowledges. It
 * refuses what Slack refuses (rate limits, Block Kit limits, response_url reuse) with Slack's error
 * names, so a bot that passes here behaves on a real workspace.
 */
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { type Logger, silentLogger } from "../../log";
import { buttonsIn, validateBlocks } from "./block-kit";
import { RateLimiter, resolveLimits, type SlackLimits } from "./limits";
import { signedHeaders } from "./signing";

export { DEFAULT_SLACK_LIMITS, type RateLimit, type SlackLimits } from "./limits";

/** Slack's deadline for acknowledging a slash command or an interaction. */
export const SLACK_ACK_DEADLINE_MS = 3000;
/** How long the emulator keeps waiting for a late ack, only to measure it (Slack has given up by then). */
export const DELIVERY_HARD_TIMEOUT_MS = 15_000;
/** Largest request body the emulator reads; Slack's own limits are far below this for chat methods. */
export const MAX_REQUEST_BODY_BYTES = 4 * 1024 * 1024;

export interface EmulatedUser {
  /** `U…` */
  id: string;
  name: string;
  realName?: string;
}

export interface EmulatedChannel {
  /** `C…` */
  id: string;
  name: string;
}

export interface EmulatedUsergroup {
  /** `S…` */
  id: string;
  handle: string;
  users: string[];
}

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
  log?: Logger;
}

/** One message event, as the console chat's `--json` mode prints it. */
export interface SlackMessageEvent {
  type: "post" | "update" | "ephemeral" | "delete";
  channel: string;
  ts: string;
  thread_ts?: string;
  /** For ephemeral messages: the only user who sees it. */
  user?: string;
  text: string;
  blocks?: unknown[];
}

/** A message as the workspace holds it now. */
export interface StoredMessage {
  channel: string;
  ts: string;
  /** Set on replies (the root's ts). */
  thread_ts?: string;
  /** Who posted it: the bot's user id, or a person's for an in_channel slash command's echo. */
  user: string;
  bot_id?: string;
  text: string;
  blocks?: unknown[];
  metadata?: unknown;
  /** How many times it was edited (chat.update or response_url replace_original). */
  edits: number;
  reply_broadcast?: boolean;
  /** A deleted root that still has replies stays as a tombstone, as in Slack. */
  deleted?: boolean;
  /** Replies, oldest first (roots only). */
  replies: StoredMessage[];
}

/** An ephemeral message: seen by one user only, gone when they reload; never in `messages()`. */
export interface EphemeralMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  user: string;
  text: string;
  blocks?: unknown[];
}

export interface FoundButtonInfo {
  channel: string;
  messageTs: string;
  threadTs?: string;
  actionId: string;
  label: string;
  value?: string;
  style?: string;
  confirm?: unknown;
  /** Set when the button sits in an ephemeral message: the only user who can press it. */
  ephemeralFor?: string;
}

export interface DeliveryResult {
  ackMs: number;
  /** HTTP status of the app's answer; 0 when it could not be reached or did not answer in time. */
  status: number;
}

export interface SlashCommandResult extends DeliveryResult {
  /** The text of the app's immediate response (Bolt's `ack("…")` or `ack({ text })`), if any. */
  responseText?: string;
  /** With `deliverTwice`: the second delivery of the same command. */
  duplicate?: DeliveryResult & { responseText?: string };
}

export interface SlackEmulatorStats {
  calls: Record<string, number>;
  rateLimited: Record<string, number>;
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
  /** Root messages of a channel with their replies, current text/blocks and edit counts. */
  messages(channel: string): StoredMessage[];
  /** Ephemeral messages a user has been shown, optionally in one channel. */
  ephemeralMessages(user: string, channel?: string): EphemeralMessage[];
  /** Emits `"message"` with a `SlackMessageEvent`, in the order things happened. */
  events: EventEmitter;
  stats(): SlackEmulatorStats;
  close(): Promise<void>;
}

/** A mistake in how the emulator itself was driven (not a Slack API error, which goes to the app). */
export class SlackEmulatorError extends Error {
  constructor(
    readonly code:
      | "EMU_NO_DELIVERY_URL"
      | "EMU_UNKNOWN_USER"
      | "EMU_UNKNOWN_CHANNEL"
      | "EMU_MESSAGE_NOT_FOUND"
      | "EMU_BUTTON_NOT_FOUND"
      | "EMU_BUTTON_AMBIGUOUS"
      | "EMU_BAD_COMMAND",
    message: string,
  ) {
    super(message);
    this.name = "SlackEmulatorError";
  }
}

type Params = Record<string, unknown>;
interface ApiAnswer {
  status?: number;
  headers?: Record<string, string>;
  body: Record<string, unknown>;
}

interface ResponseUrlState {
  kind: "command" | "action";
  channel: string;
  user: string;
  uses: number;
  createdMs: number;
  /** For interactions: the message holding the pressed button. */
  sourceTs?: string;
  sourceEphemeral?: boolean;
  /** For commands: the last message posted through this URL (what `replace_original` replaces). */
  lastTs?: string;
  lastEphemeral?: boolean;
}

const API_APP_ID = "A0MIGBOT01";
const BOT_ID = "B0MIGBOT01";
const BOT_USER_ID = "U0MIGBOT01";
const TEAM_DOMAIN = "migbot-sandbox";
const VERIFICATION_TOKEN = "emulated-verification-token";

function ok(body: Record<string, unknown> = {}): ApiAnswer {
  return { body: { ok: true, ...body } };
}
function fail(error: string, extra: Record<string, unknown> = {}, status = 200): ApiAnswer {
  return { status, body: { ok: false, error, ...extra } };
}
function str(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}
function truthy(value: unknown): boolean {
  return value === true || value === "true" || value === "1" || value === 1;
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseParams(body: string, contentType: string | undefined, query: URLSearchParams): Params {
  const params: Params = Object.fromEntries(query);
  if (body.length === 0) return params;
  if ((contentType ?? "").includes("application/json")) {
    const parsed = JSON.parse(body) as unknown;
    if (parsed !== null && typeof parsed === "object") Object.assign(params, parsed);
    return params;
  }
  Object.assign(params, Object.fromEntries(new URLSearchParams(body)));
  return params;
}

function send(res: ServerResponse, answer: ApiAnswer): void {
  res.writeHead(answer.status ?? 200, {
    "content-type": "application/json; charset=utf-8",
    ...answer.headers,
  });
  res.end(JSON.stringify(answer.body));
}

/** Starts an emulated Slack workspace on 127.0.0.1. */
export async function startSlackEmulator(opts: SlackEmulatorOptions): Promise<SlackEmulator> {
  const log = opts.log ?? silentLogger;
  const limits = resolveLimits(opts.limits);
  const teamId = opts.teamId ?? "T0SANDBOX";
  const ackDeadlineMs = opts.ackDeadlineMs ?? SLACK_ACK_DEADLINE_MS;
  const limiter = new RateLimiter(limits.rates);
  const events = new EventEmitter();
  let deliveryUrl = opts.deliveryUrl;

  const roots = new Map<string, StoredMessage[]>();
  const byKey = new Map<string, StoredMessage>();
  const ephemerals: EphemeralMessage[] = [];
  const responseUrls = new Map<string, ResponseUrlState>();
  const calls: Record<string, number> = {};
  const rateLimited: Record<string, number> = {};
  let ackViolations = 0;
  let slowestAckMs = 0;
  let lastTsMicros = 0;
  let triggerCounter = 0;
  let baseUrl = "";

  const key = (channel: string, ts: string) => `${channel}:${ts}`;

  /** Slack's `1234567890.123456`: seconds and microseconds, unique and increasing per workspace. */
  function nextTs(): string {
    lastTsMicros = Math.max(Date.now() * 1000, lastTsMicros + 1);
    const s = Math.floor(lastTsMicros / 1_000_000);
    return `${s}.${String(lastTsMicros % 1_000_000).padStart(6, "0")}`;
  }

  function findUser(idOrName: string): EmulatedUser | undefined {
    const wanted = idOrName.replace(/^@/, "");
    return opts.users.find((u) => u.id === wanted || u.name === wanted);
  }
  function findChannel(idOrName: string): EmulatedChannel | undefined {
    const wanted = idOrName.replace(/^#/, "");
    return opts.channels.find((c) => c.id === wanted || c.name === wanted);
  }

  function emit(event: SlackMessageEvent): void {
    // Exactly these keys, in this order: the console chat prints the object as it is.
    const out: SlackMessageEvent = {
      type: event.type,
      channel: event.channel,
      ts: event.ts,
      thread_ts: event.thread_ts,
      user: event.user,
      text: event.text,
      blocks: event.blocks,
    };
    for (const k of ["thread_ts", "user", "blocks"] as const) if (out[k] === undefined) delete out[k];
    events.emit("message", out);
  }

  function storePost(m: Omit<StoredMessage, "ts" | "edits" | "replies">): StoredMessage {
    const stored: StoredMessage = { ...m, ts: nextTs(), edits: 0, replies: [] };
    if (stored.thread_ts) {
      byKey.get(key(stored.channel, stored.thread_ts))?.replies.push(stored);
    } else {
      const list = roots.get(stored.channel) ?? [];
      list.push(stored);
      roots.set(stored.channel, list);
    }
    byKey.set(key(stored.channel, stored.ts), stored);
    emit({
      type: "post",
      channel: stored.channel,
      ts: stored.ts,
      thread_ts: stored.thread_ts,
      text: stored.text,
      blocks: stored.blocks,
    });
    return stored;
  }

  function storeEphemeral(m: Omit<EphemeralMessage, "ts">): EphemeralMessage {
    const stored: EphemeralMessage = { ...m, ts: nextTs() };
    ephemerals.push(stored);
    emit({ type: "ephemeral", ...stored });
    return stored;
  }

  function applyUpdate(msg: StoredMessage, text: string | undefined, blocks: unknown[] | undefined): void {
    if (text !== undefined) msg.text = text;
    // As in chat.update: blocks left out keep the old ones; an empty array removes them.
    if (blocks !== undefined) msg.blocks = blocks.length > 0 ? blocks : undefined;
    msg.edits += 1;
    emit({
      type: "update",
      channel: msg.channel,
      ts: msg.ts,
      thread_ts: msg.thread_ts,
      text: msg.text,
      blocks: msg.blocks,
    });
  }

  function removeMessage(msg: StoredMessage): void {
    if (msg.thread_ts) {
      const root = byKey.get(key(msg.channel, msg.thread_ts));
      if (root) root.replies = root.replies.filter((r) => r.ts !== msg.ts);
      byKey.delete(key(msg.channel, msg.ts));
    } else if (msg.replies.length > 0) {
      msg.deleted = true;
      msg.text = "This message was deleted.";
      msg.blocks = undefined;
    } else {
      roots.set(
        msg.channel,
        (roots.get(msg.channel) ?? []).filter((r) => r.ts !== msg.ts),
      );
      byKey.delete(key(msg.channel, msg.ts));
    }
    emit({ type: "delete", channel: msg.channel, ts: msg.ts, thread_ts: msg.thread_ts, text: "" });
  }

  /** Shared checks of a message body: `text`/`blocks` presence, Block Kit limits, text truncation. */
  function messageContent(
    params: Params,
    requireContent: boolean,
  ): { error: ApiAnswer } | { text: string | undefined; blocks: unknown[] | undefined } {
    let blocks: unknown;
    if (params.blocks !== undefined && params.blocks !== "") {
      if (typeof params.blocks === "string") {
        try {
          blocks = JSON.parse(params.blocks);
        } catch {
          return { error: fail("invalid_blocks_format") };
        }
      } else blocks = params.blocks;
      if (!Array.isArray(blocks)) return { error: fail("invalid_blocks_format") };
      const problems = validateBlocks(blocks, limits);
      if (problems.length > 0) {
        return {
          error: fail("invalid_blocks", {
            errors: problems,
            response_metadata: { messages: problems.map((p) => `[ERROR] ${p}`) },
          }),
        };
      }
    }
    let text = str(params.text);
    const blockList = blocks as unknown[] | undefined;
    if (requireContent && (text === undefined || text === "") && (blockList?.length ?? 0) === 0) {
      return { error: fail("no_text") };
    }
    if (text !== undefined && text.length > limits.messageTextMaxChars) {
      log.warn("slack emulator truncated a message's text, as Slack does", {
        length: text.length,
        max: limits.messageTextMaxChars,
      });
      text = text.slice(0, limits.messageTextMaxChars);
    }
    return { text, blocks: blockList };
  }

  function parseMetadata(value: unknown): unknown {
    if (typeof value !== "string") return value;
    try {
      return JSON.parse(value);
    } catch {
      return undefined;
    }
  }

  function botMessageJson(m: StoredMessage): Record<string, unknown> {
    const out: Record<string, unknown> = {
      type: "message",
      user: m.user,
      text: m.text,
      ts: m.ts,
      team: teamId,
    };
    if (m.bot_id) {
      out.bot_id = m.bot_id;
      out.app_id = API_APP_ID;
    }
    if (m.blocks) out.blocks = m.blocks;
    if (m.thread_ts) out.thread_ts = m.thread_ts;
    if (m.metadata !== undefined) out.metadata = m.metadata;
    return out;
  }

  const methods: Record<string, (p: Params) => ApiAnswer> = {
    "auth.test": () =>
      ok({
        url: `https://${TEAM_DOMAIN}.slack.com/`,
        team: "migbot sandbox",
        user: "migbot",
        team_id: teamId,
        user_id: BOT_USER_ID,
        bot_id: BOT_ID,
        is_enterprise_install: false,
      }),

    "chat.postMessage": (p) => {
      const channel = findChannel(str(p.channel) ?? "");
      if (!channel) return fail("channel_not_found");
      const content = messageContent(p, true);
      if ("error" in content) return content.error;
      const threadTs = str(p.thread_ts) || undefined;
      let rootTs: string | undefined;
      if (threadTs) {
        const parent = byKey.get(key(channel.id, threadTs));
        if (!parent) return fail("thread_not_found");
        // Replying to a reply lands in the same thread, as in Slack.
        rootTs = parent.thread_ts ?? parent.ts;
      }
      const stored = storePost({
        channel: channel.id,
        thread_ts: rootTs,
        user: BOT_USER_ID,
        bot_id: BOT_ID,
        text: content.text ?? "",
        blocks: content.blocks && content.blocks.length > 0 ? content.blocks : undefined,
        metadata: parseMetadata(p.metadata),
        reply_broadcast: rootTs && truthy(p.reply_broadcast) ? true : undefined,
      });
      return ok({ channel: channel.id, ts: stored.ts, message: botMessageJson(stored) });
    },

    "chat.update": (p) => {
      const channel = findChannel(str(p.channel) ?? "");
      if (!channel) return fail("channel_not_found");
      const msg = byKey.get(key(channel.id, str(p.ts) ?? ""));
      if (!msg || msg.deleted) return fail("message_not_found");
      if (msg.user !== BOT_USER_ID) return fail("cant_update_message");
      const content = messageContent(p, false);
      if ("error" in content) return content.error;
      if (content.text === undefined && content.blocks === undefined) return fail("no_text");
      applyUpdate(msg, content.text, content.blocks);
      return ok({ channel: channel.id, ts: msg.ts, text: msg.text, message: botMessageJson(msg) });
    },

    "chat.postEphemeral": (p) => {
      const channel = findChannel(str(p.channel) ?? "");
      if (!channel) return fail("channel_not_found");
      const user = findUser(str(p.user) ?? "");
      if (!user) return fail("user_not_found");
      const content = messageContent(p, true);
      if ("error" in content) return content.error;
      const stored = storeEphemeral({
        channel: channel.id,
        thread_ts: str(p.thread_ts) || undefined,
        user: user.id,
        text: content.text ?? "",
        blocks: content.blocks && content.blocks.length > 0 ? content.blocks : undefined,
      });
      return ok({ message_ts: stored.ts });
    },

    "chat.delete": (p) => {
      const channel = findChannel(str(p.channel) ?? "");
      if (!channel) return fail("channel_not_found");
      const msg = byKey.get(key(channel.id, str(p.ts) ?? ""));
      if (!msg || msg.deleted) return fail("message_not_found");
      if (msg.user !== BOT_USER_ID) return fail("cant_delete_message");
      removeMessage(msg);
      return ok({ channel: channel.id, ts: msg.ts });
    },

    "chat.getPermalink": (p) => {
      const channel = findChannel(str(p.channel) ?? "");
      if (!channel) return fail("channel_not_found");
      const msg = byKey.get(key(channel.id, str(p.message_ts) ?? ""));
      if (!msg) return fail("message_not_found");
      const tsDigits = msg.ts.replace(".", "");
      const thread = msg.thread_ts ? `?thread_ts=${msg.thread_ts}&cid=${channel.id}` : "";
      return ok({
        channel: channel.id,
        permalink: `https://${TEAM_DOMAIN}.slack.com/archives/${channel.id}/p${tsDigits}${thread}`,
      });
    },

    "conversations.info": (p) => {
      const channel = opts.channels.find((c) => c.id === str(p.channel));
      if (!channel) return fail("channel_not_found");
      return ok({
        channel: {
          id: channel.id,
          name: channel.name,
          is_channel: true,
          is_group: false,
          is_im: false,
          is_private: false,
          is_archived: false,
          is_member: true,
          context_team_id: teamId,
          num_members: opts.users.length,
        },
      });
    },

    "users.info": (p) => {
      const user = opts.users.find((u) => u.id === str(p.user));
      if (!user) return fail("user_not_found");
      const realName = user.realName ?? user.name;
      return ok({
        user: {
          id: user.id,
          team_id: teamId,
          name: user.name,
          real_name: realName,
          deleted: false,
          is_bot: false,
          is_admin: false,
          profile: { real_name: realName, display_name: user.name },
        },
      });
    },

    "usergroups.users.list": (p) => {
      const group = (opts.usergroups ?? []).find((g) => g.id === str(p.usergroup));
      if (!group) return fail("no_such_subteam");
      return ok({ users: [...group.users] });
    },
  };

  async function handleApi(req: IncomingMessage, res: ServerResponse, method: string, url: URL) {
    calls[method] = (calls[method] ?? 0) + 1;
    const raw = await readBody(req);
    if (raw === undefined) return send(res, fail("request_too_large", {}, 413));
    let params: Params;
    try {
      params = parseParams(raw, req.headers["content-type"], url.searchParams);
    } catch {
      return send(res, fail("invalid_json"));
    }
    const auth = req.headers.authorization;
    const token = auth?.startsWith("Bearer ") ? auth.slice("Bearer ".length) : str(params.token);
    if (!token) return send(res, fail("not_authed"));
    if (token !== opts.botToken) return send(res, fail("invalid_auth"));
    const handler = methods[method];
    if (!handler) return send(res, fail("unknown_method", {}, 404));
    const channelId = findChannel(str(params.channel) ?? "")?.id;
    const verdict = limiter.take(method, channelId);
    if (!verdict.allowed) {
      rateLimited[method] = (rateLimited[method] ?? 0) + 1;
      log.info("slack emulator rate-limited a call", { method, channel: channelId, ...verdict });
      return send(res, {
        status: 429,
        headers: { "retry-after": String(verdict.retryAfterS) },
        body: { ok: false, error: "ratelimited" },
      });
    }
    send(res, handler(params));
  }

  function handleResponseUrl(state: ResponseUrlState, body: Params): ApiAnswer {
    const content = messageContent(body, false);
    if ("error" in content) return { ...content.error, status: 400 };
    const { text, blocks } = content;
    const nonEmptyBlocks = blocks && blocks.length > 0 ? blocks : undefined;
    const channel = state.channel;

    const targetTs = state.kind === "action" ? state.sourceTs : state.lastTs;
    const targetEphemeral = state.kind === "action" ? state.sourceEphemeral : state.lastEphemeral;

    if (truthy(body.delete_original)) {
      if (!targetTs) return fail("message_not_found", {}, 404);
      if (targetEphemeral) {
        const i = ephemerals.findIndex((e) => e.channel === channel && e.ts === targetTs);
        if (i >= 0) {
          const [gone] = ephemerals.splice(i, 1);
          emit({ type: "delete", channel, ts: targetTs, user: gone?.user, text: "" });
        }
      } else {
        const msg = byKey.get(key(channel, targetTs));
        if (msg) removeMessage(msg);
      }
      return ok();
    }
    if ((text === undefined || text === "") && !nonEmptyBlocks) return fail("no_text", {}, 400);

    if (truthy(body.replace_original) && targetTs) {
      if (targetEphemeral) {
        const eph = ephemerals.find((e) => e.channel === channel && e.ts === targetTs);
        if (eph) {
          eph.text = text ?? "";
          eph.blocks = nonEmptyBlocks;
          emit({ type: "update", ...eph });
          return ok();
        }
      } else {
        const msg = byKey.get(key(channel, targetTs));
        if (msg && !msg.deleted) {
          applyUpdate(msg, text ?? "", blocks ?? []);
          return ok();
        }
      }
    }

    const threadTs = str(body.thread_ts) || undefined;
    if (body.response_type === "in_channel") {
      const stored = storePost({
        channel,
        thread_ts: threadTs && byKey.has(key(channel, threadTs)) ? threadTs : undefined,
        user: BOT_USER_ID,
        bot_id: BOT_ID,
        text: text ?? "",
        blocks: nonEmptyBlocks,
      });
      state.lastTs = stored.ts;
      state.lastEphemeral = false;
    } else {
      const stored = storeEphemeral({
        channel,
        thread_ts: threadTs,
        user: state.user,
        text: text ?? "",
        blocks: nonEmptyBlocks,
      });
      state.lastTs = stored.ts;
      state.lastEphemeral = true;
    }
    return ok();
  }

  async function handleResponse(req: IncomingMessage, res: ServerResponse, id: string) {
    const raw = await readBody(req);
    const state = responseUrls.get(id);
    if (!state) return send(res, fail("invalid_url", {}, 404));
    if (Date.now() - state.createdMs > limits.responseUrlTtlMs) {
      return send(res, fail("expired_url", {}, 404));
    }
    if (state.uses >= limits.responseUrlMaxUses) return send(res, fail("used_url", {}, 404));
    state.uses += 1;
    if (raw === undefined) return send(res, fail("request_too_large", {}, 413));
    let body: Params;
    try {
      body = JSON.parse(raw) as Params;
    } catch {
      return send(res, fail("invalid_payload", {}, 400));
    }
    send(res, handleResponseUrl(state, body));
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const api = /^\/api\/([A-Za-z.]+)$/.exec(url.pathname);
    const response = /^\/response\/([A-Za-z0-9]+)$/.exec(url.pathname);
    const work = api?.[1]
      ? handleApi(req, res, api[1], url)
      : response?.[1] && req.method === "POST"
        ? handleResponse(req, res, response[1])
        : Promise.resolve(send(res, fail("unknown_method", {}, 404)));
    work.catch((err: unknown) => {
      log.error("slack emulator failed to answer a request", { err, path: url.pathname });
      if (!res.headersSent) send(res, fail("internal_error", {}, 500));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;

  function newResponseUrl(state: Omit<ResponseUrlState, "uses" | "createdMs">): string {
    const id = randomBytes(12).toString("hex");
    responseUrls.set(id, { ...state, uses: 0, createdMs: Date.now() });
    return `${baseUrl}/response/${id}`;
  }

  function newTriggerId(): string {
    triggerCounter += 1;
    return `${triggerCounter}.${Date.now()}.${randomBytes(16).toString("hex")}`;
  }

  /**
   * POSTs a signed form body to the app and times the ack. At the deadline Slack gives up and tells
   * the user (`onTimeout`); the emulator keeps waiting a while longer only to measure the ack.
   */
  async function deliver(
    form: URLSearchParams,
    onTimeout: () => void,
  ): Promise<DeliveryResult & { body: string; contentType: string; late: boolean }> {
    if (!deliveryUrl) {
      throw new SlackEmulatorError(
        "EMU_NO_DELIVERY_URL",
        "the Slack emulator has no delivery URL: call setDeliveryUrl('http://127.0.0.1:PORT/slack/events') once the app listens",
      );
    }
    const body = form.toString();
    const started = performance.now();
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      ackViolations += 1;
      onTimeout();
    }, ackDeadlineMs);
    try {
      const res = await fetch(deliveryUrl, {
        method: "POST",
        headers: signedHeaders(opts.signingSecret, body),
        body,
        signal: AbortSignal.timeout(DELIVERY_HARD_TIMEOUT_MS),
      });
      const text = await res.text();
      const ackMs = performance.now() - started;
      slowestAckMs = Math.max(slowestAckMs, ackMs);
      return {
        ackMs,
        status: late ? 0 : res.status,
        body: text,
        contentType: res.headers.get("content-type") ?? "",
        late,
      };
    } catch (err) {
      const ackMs = performance.now() - started;
      log.warn("slack emulator could not deliver to the app", { err, deliveryUrl });
      return { ackMs, status: 0, body: "", contentType: "", late: late || ackMs >= ackDeadlineMs };
    } finally {
      clearTimeout(timer);
    }
  }

  function resolveUserAndChannel(userArg: string, channelArg: string) {
    const user = findUser(userArg);
    if (!user) {
      throw new SlackEmulatorError(
        "EMU_UNKNOWN_USER",
        `no user "${userArg}" in the emulated workspace; known: ${opts.users.map((u) => u.name).join(", ")}`,
      );
    }
    const channel = findChannel(channelArg);
    if (!channel) {
      throw new SlackEmulatorError(
        "EMU_UNKNOWN_CHANNEL",
        `no channel "${channelArg}" in the emulated workspace; known: ${opts.channels.map((c) => c.name).join(", ")}`,
      );
    }
    return { user, channel };
  }

  async function deliverCommandOnce(
    form: URLSearchParams,
    command: string,
    text: string,
    user: EmulatedUser,
    channel: EmulatedChannel,
    responseState: () => ResponseUrlState | undefined,
  ): Promise<DeliveryResult & { responseText?: string }> {
    const showError = (error: string) =>
      storeEphemeral({
        channel: channel.id,
        user: user.id,
        text: `${command} failed with the error "${error}"`,
      });
    const result = await deliver(form, () => showError("operation_timeout"));
    if (result.late) return { ackMs: result.ackMs, status: 0 };
    if (result.status !== 200) {
      showError("dispatch_failed");
      return { ackMs: result.ackMs, status: result.status };
    }
    // The immediate response: plain text is an ephemeral reply; JSON may ask for in_channel.
    let message: { text?: string; blocks?: unknown[]; response_type?: string } = {};
    if (result.body.length > 0) {
      if (result.contentType.includes("application/json")) {
        try {
          message = JSON.parse(result.body) as typeof message;
        } catch {
          message = { text: result.body };
        }
      } else message = { text: result.body };
    }
    const hasContent = (message.text ?? "") !== "" || (message.blocks?.length ?? 0) > 0;
    if (hasContent) {
      const problems = message.blocks ? validateBlocks(message.blocks, limits) : [];
      if (problems.length > 0) {
        showError("invalid_blocks");
      } else if (message.response_type === "in_channel") {
        // Slack shows the invocation itself in the channel, then the app's answer.
        storePost({ channel: channel.id, user: user.id, text: `${command} ${text}`.trim() });
        const stored = storePost({
          channel: channel.id,
          user: BOT_USER_ID,
          bot_id: BOT_ID,
          text: message.text ?? "",
          blocks: message.blocks,
        });
        const state = responseState();
        if (state) Object.assign(state, { lastTs: stored.ts, lastEphemeral: false });
      } else {
        const stored = storeEphemeral({
          channel: channel.id,
          user: user.id,
          text: message.text ?? "",
          blocks: message.blocks,
        });
        const state = responseState();
        if (state) Object.assign(state, { lastTs: stored.ts, lastEphemeral: true });
      }
    }
    return { ackMs: result.ackMs, status: result.status, responseText: message.text };
  }

  function findMessageForClick(channelId: string, ts: string, userId: string) {
    const msg = byKey.get(key(channelId, ts));
    if (msg && !msg.deleted) return { kind: "channel" as const, msg };
    const eph = ephemerals.find((e) => e.channel === channelId && e.ts === ts && e.user === userId);
    if (eph) return { kind: "ephemeral" as const, eph };
    return undefined;
  }

  const emulator: SlackEmulator = {
    apiUrl: `${baseUrl}/api/`,
    botUserId: BOT_USER_ID,
    events,

    setDeliveryUrl(url: string) {
      deliveryUrl = url;
    },

    async slashCommand({ user: userArg, channel: channelArg, command, text, deliverTwice }) {
      if (!command.startsWith("/")) {
        throw new SlackEmulatorError("EMU_BAD_COMMAND", `a slash command starts with "/": got "${command}"`);
      }
      const { user, channel } = resolveUserAndChannel(userArg, channelArg);
      const responseUrl = newResponseUrl({ kind: "command", channel: channel.id, user: user.id });
      const responseId = responseUrl.slice(responseUrl.lastIndexOf("/") + 1);
      const form = new URLSearchParams({
        token: VERIFICATION_TOKEN,
        team_id: teamId,
        team_domain: TEAM_DOMAIN,
        channel_id: channel.id,
        channel_name: channel.name,
        user_id: user.id,
        user_name: user.name,
        command,
        text,
        api_app_id: API_APP_ID,
        is_enterprise_install: "false",
        response_url: responseUrl,
        trigger_id: newTriggerId(),
      });
      const state = () => responseUrls.get(responseId);
      if (!(deliverTwice ?? opts.deliverTwice ?? false))
        return deliverCommandOnce(form, command, text, user, channel, state);
      const [first, second] = await Promise.all([
        deliverCommandOnce(form, command, text, user, channel, state),
        deliverCommandOnce(form, command, text, user, channel, state),
      ]);
      return { ...first, duplicate: second };
    },

    async clickButton({ user: userArg, channel: channelArg, messageTs, actionId, label }) {
      const { user, channel } = resolveUserAndChannel(userArg, channelArg);
      const found = findMessageForClick(channel.id, messageTs, user.id);
      if (!found) {
        throw new SlackEmulatorError(
          "EMU_MESSAGE_NOT_FOUND",
          `no message ${messageTs} in #${channel.name} that ${user.name} can see`,
        );
      }
      const blocks = found.kind === "channel" ? found.msg.blocks : found.eph.blocks;
      const buttons = buttonsIn(blocks).filter(
        (b) =>
          (actionId === undefined || b.actionId === actionId) && (label === undefined || b.label === label),
      );
      if (buttons.length === 0) {
        throw new SlackEmulatorError(
          "EMU_BUTTON_NOT_FOUND",
          `message ${messageTs} has no button matching ${JSON.stringify({ actionId, label })}; it has: ${buttonsIn(
            blocks,
          )
            .map((b) => `"${b.label}" (${b.actionId})`)
            .join(", ")}`,
        );
      }
      if (buttons.length > 1) {
        throw new SlackEmulatorError(
          "EMU_BUTTON_AMBIGUOUS",
          `message ${messageTs} has ${buttons.length} buttons matching; pass actionId to pick one`,
        );
      }
      const button = buttons[0]!;
      const threadTs = found.kind === "channel" ? found.msg.thread_ts : found.eph.thread_ts;
      const responseUrl = newResponseUrl({
        kind: "action",
        channel: channel.id,
        user: user.id,
        sourceTs: messageTs,
        sourceEphemeral: found.kind === "ephemeral",
      });
      const container: Record<string, unknown> = {
        type: "message",
        message_ts: messageTs,
        channel_id: channel.id,
        is_ephemeral: found.kind === "ephemeral",
      };
      if (threadTs) container.thread_ts = threadTs;
      const action: Record<string, unknown> = {
        action_id: button.actionId,
        block_id: button.blockId,
        text: { type: "plain_text", text: button.label, emoji: true },
        type: "button",
        action_ts: nextTs(),
      };
      if (button.value !== undefined) action.value = button.value;
      if (button.style !== undefined) action.style = button.style;
      const payload: Record<string, unknown> = {
        type: "block_actions",
        user: { id: user.id, username: user.name, name: user.name, team_id: teamId },
        api_app_id: API_APP_ID,
        token: VERIFICATION_TOKEN,
        container,
        trigger_id: newTriggerId(),
        team: { id: teamId, domain: TEAM_DOMAIN },
        enterprise: null,
        is_enterprise_install: false,
        channel: { id: channel.id, name: channel.name },
        // Slack leaves `message` out of payloads from ephemeral messages.
        ...(found.kind === "channel" ? { message: botMessageJson(found.msg) } : {}),
        state: { values: {} },
        response_url: responseUrl,
        actions: [action],
      };
      const result = await deliver(new URLSearchParams({ payload: JSON.stringify(payload) }), () =>
        // Slack marks the click with a warning icon; the emulator makes that visible to the clicker.
        storeEphemeral({
          channel: channel.id,
          user: user.id,
          text: `"${button.label}" failed with the error "operation_timeout" (the app did not acknowledge within ${ackDeadlineMs} ms)`,
        }),
      );
      return { ackMs: result.ackMs, status: result.status };
    },

    findButtons(channelArg?: string) {
      const channelId = channelArg === undefined ? undefined : findChannel(channelArg)?.id;
      if (channelArg !== undefined && !channelId) return [];
      const out: FoundButtonInfo[] = [];
      for (const [chan, list] of roots) {
        if (channelId && chan !== channelId) continue;
        for (const root of list) {
          for (const m of [root, ...root.replies]) {
            if (m.deleted) continue;
            for (const b of buttonsIn(m.blocks)) {
              out.push({
                channel: chan,
                messageTs: m.ts,
                threadTs: m.thread_ts,
                actionId: b.actionId,
                label: b.label,
                value: b.value,
                style: b.style,
                confirm: b.confirm,
              });
            }
          }
        }
      }
      for (const e of ephemerals) {
        if (channelId && e.channel !== channelId) continue;
        for (const b of buttonsIn(e.blocks)) {
          out.push({
            channel: e.channel,
            messageTs: e.ts,
            threadTs: e.thread_ts,
            actionId: b.actionId,
            label: b.label,
            value: b.value,
            style: b.style,
            confirm: b.confirm,
            ephemeralFor: e.user,
          });
        }
      }
      return out;
    },

    messages(channelArg: string) {
      const channelId = findChannel(channelArg)?.id ?? channelArg;
      return structuredClone(roots.get(channelId) ?? []);
    },

    ephemeralMessages(userArg: string, channelArg?: string) {
      const userId = findUser(userArg)?.id ?? userArg;
      const channelId = channelArg === undefined ? undefined : (findChannel(channelArg)?.id ?? channelArg);
      return structuredClone(
        ephemerals.filter((e) => e.user === userId && (channelId === undefined || e.channel === channelId)),
      );
    },

    stats() {
      return { calls: { ...calls }, rateLimited: { ...rateLimited }, ackViolations, slowestAckMs };
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
