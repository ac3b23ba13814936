/**
 * The emulated Slack Web API (`POST /api/<method>`): the methods the bot calls (auth.test,
 * chat.postMessage / update / postEphemeral / delete / getPermalink, conversations.info,
 * users.info, usergroups.users.list, views.publish), bot-token auth, Slack's per-method rate limits with 429 and
 * Retry-After, and the checks Slack makes of a message body (Block Kit limits, text length), each
 * refusal with Slack's error name. Also the small helpers the response_url endpoint shares.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../../log";
import { validateBlocks } from "./block-kit";
import type { RateLimiter, SlackLimits } from "./limits";
import { type MessageStore, messageJson, type StoredMessage } from "./store";
import type { HomeViews } from "./views";
import { BOT_ID, BOT_USER_ID, type EmulatedChannel, TEAM_DOMAIN, type Workspace } from "./workspace";

/** Largest request body the emulator reads; Slack's own limits are far below this for chat methods. */
export const MAX_REQUEST_BODY_BYTES = 4 * 1024 * 1024;

/** A request's parameters: query, form fields or JSON body, merged. */
export type Params = Record<string, unknown>;

/** What the emulator answers: Slack's `{ ok, … }` body, and a status and headers when not 200. */
export interface ApiAnswer {
  status?: number;
  headers?: Record<string, string>;
  body: Record<string, unknown>;
}

export function ok(body: Record<string, unknown> = {}): ApiAnswer {
  return { body: { ok: true, ...body } };
}

export function fail(error: string, extra: Record<string, unknown> = {}, status = 200): ApiAnswer {
  return { status, body: { ok: false, error, ...extra } };
}

/** A parameter as text, as Slack reads form fields. */
export function str(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

/** Slack's boolean parameters: `true`, `"true"`, `"1"` or `1`. */
export function truthy(value: unknown): boolean {
  return value === true || value === "true" || value === "1" || value === 1;
}

/** The request body as text, or undefined when it is over {@link MAX_REQUEST_BODY_BYTES}. */
export async function readBody(req: IncomingMessage): Promise<string | undefined> {
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

export function sendAnswer(res: ServerResponse, answer: ApiAnswer): void {
  res.writeHead(answer.status ?? 200, {
    "content-type": "application/json; charset=utf-8",
    ...answer.headers,
  });
  res.end(JSON.stringify(answer.body));
}

function parseMetadata(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/**
 * Slack's checks of a message body, shared by the Web API and response_url: `text`/`blocks`
 * presence, Block Kit limits, and text past the limit truncated (as Slack does, with a warning).
 */
export function messageContent(
  params: Params,
  requireContent: boolean,
  limits: SlackLimits,
  log: Logger,
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

/**
 * A failure Slack answers with when it has trouble, for tests of how the app copes: an HTTP status
 * (`{ ok: false }`, e.g. 500 or 503), Slack's error name with HTTP 200 (e.g. `internal_error`), or a
 * 429 with Retry-After.
 */
export type SlackFault =
  | { kind: "http"; status: number }
  | { kind: "error"; error: string }
  | { kind: "ratelimited"; retryAfterS: number };

export interface WebApiOptions {
  workspace: Workspace;
  store: MessageStore;
  /** The bot token the app uses (`xoxb-…`), accepted as `Authorization: Bearer` or a `token` field. */
  botToken: string;
  limits: SlackLimits;
  limiter: RateLimiter;
  log: Logger;
  /** The App Home tabs (`views.publish`). */
  views: HomeViews;
  /** More methods, served like the built-in ones (e.g. files.ts's upload methods). */
  extraMethods?: Record<string, (p: Params) => ApiAnswer>;
}

/** The Web API: its methods, and the calls and refusals it counted. */
export class WebApi {
  /** Calls per method, rate-limited ones included. */
  readonly calls: Record<string, number> = {};
  /** 429s per method (injected ones included). */
  readonly rateLimited: Record<string, number> = {};
  /** Calls answered with an injected {@link SlackFault}, per method. */
  readonly faulted: Record<string, number> = {};
  /** Faults still to serve, by `method` or `method\0channel`. */
  private readonly faults = new Map<string, { fault: SlackFault; times: number }>();
  private readonly methods: Record<string, (p: Params) => ApiAnswer>;

  constructor(private readonly opts: WebApiOptions) {
    const { workspace, store } = opts;
    const teamId = workspace.teamId;
    const content = (p: Params, requireContent: boolean) =>
      messageContent(p, requireContent, opts.limits, opts.log);
    /** The bot's own live message at `channel`/`ts`, or Slack's refusal (`refusal` when it is someone else's). */
    const botMessage = (
      p: Params,
      refusal: string,
    ): { error: ApiAnswer } | { channel: EmulatedChannel; msg: StoredMessage } => {
      const channel = workspace.findChannel(str(p.channel) ?? "");
      if (!channel) return { error: fail("channel_not_found") };
      const msg = store.get(channel.id, str(p.ts) ?? "");
      if (!msg || msg.deleted) return { error: fail("message_not_found") };
      if (msg.user !== BOT_USER_ID) return { error: fail(refusal) };
      return { channel, msg };
    };
    this.methods = {
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
        const channel = workspace.findChannel(str(p.channel) ?? "");
        if (!channel) return fail("channel_not_found");
        const body = content(p, true);
        if ("error" in body) return body.error;
        const threadTs = str(p.thread_ts) || undefined;
        let rootTs: string | undefined;
        if (threadTs) {
          const parent = store.get(channel.id, threadTs);
          if (!parent) return fail("thread_not_found");
          // Replying to a reply lands in the same thread, as in Slack.
          rootTs = parent.thread_ts ?? parent.ts;
        }
        const stored = store.post({
          channel: channel.id,
          thread_ts: rootTs,
          user: BOT_USER_ID,
          bot_id: BOT_ID,
          text: body.text ?? "",
          blocks: body.blocks && body.blocks.length > 0 ? body.blocks : undefined,
          metadata: parseMetadata(p.metadata),
          reply_broadcast: rootTs && truthy(p.reply_broadcast) ? true : undefined,
        });
        return ok({ channel: channel.id, ts: stored.ts, message: messageJson(stored, teamId) });
      },

      "chat.update": (p) => {
        const found = botMessage(p, "cant_update_message");
        if ("error" in found) return found.error;
        const { channel, msg } = found;
        const body = content(p, false);
        if ("error" in body) return body.error;
        if (body.text === undefined && body.blocks === undefined) return fail("no_text");
        store.update(msg, body.text, body.blocks);
        return ok({ channel: channel.id, ts: msg.ts, text: msg.text, message: messageJson(msg, teamId) });
      },

      "chat.postEphemeral": (p) => {
        const channel = workspace.findChannel(str(p.channel) ?? "");
        if (!channel) return fail("channel_not_found");
        const user = workspace.findUser(str(p.user) ?? "");
        if (!user) return fail("user_not_found");
        const body = content(p, true);
        if ("error" in body) return body.error;
        const stored = store.postEphemeral({
          channel: channel.id,
          thread_ts: str(p.thread_ts) || undefined,
          user: user.id,
          text: body.text ?? "",
          blocks: body.blocks && body.blocks.length > 0 ? body.blocks : undefined,
        });
        return ok({ message_ts: stored.ts });
      },

      "chat.delete": (p) => {
        const found = botMessage(p, "cant_delete_message");
        if ("error" in found) return found.error;
        const { channel, msg } = found;
        store.remove(msg);
        return ok({ channel: channel.id, ts: msg.ts });
      },

      "chat.getPermalink": (p) => {
        const channel = workspace.findChannel(str(p.channel) ?? "");
        if (!channel) return fail("channel_not_found");
        const msg = store.get(channel.id, str(p.message_ts) ?? "");
        if (!msg) return fail("message_not_found");
        const tsDigits = msg.ts.replace(".", "");
        const thread = msg.thread_ts ? `?thread_ts=${msg.thread_ts}&cid=${channel.id}` : "";
        return ok({
          channel: channel.id,
          permalink: `https://${TEAM_DOMAIN}.slack.com/archives/${channel.id}/p${tsDigits}${thread}`,
        });
      },

      "conversations.info": (p) => {
        const channel = workspace.channels.find((c) => c.id === str(p.channel));
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
            num_members: workspace.users.length,
          },
        });
      },

      "users.info": (p) => {
        const user = workspace.users.find((u) => u.id === str(p.user));
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
        const group = workspace.usergroups.find((g) => g.id === str(p.usergroup));
        if (!group) return fail("no_such_subteam");
        return ok({ users: [...group.users] });
      },
      ...opts.extraMethods,

      "views.publish": (p) => opts.views.publish(p),
    };
  }

  /** Answers the next `times` calls of `method` (in `channelId` only, when given) with `fault`. */
  failNext(method: string, fault: SlackFault, times: number, channelId?: string): void {
    this.faults.set(channelId === undefined ? method : `${method}\u0000${channelId}`, { fault, times });
  }

  /** The injected fault for this call, if one is due (a channel's own before the method's). */
  private takeFault(method: string, channelId: string | undefined): SlackFault | undefined {
    for (const key of [`${method}\u0000${channelId ?? ""}`, method]) {
      const f = this.faults.get(key);
      if (!f || f.times <= 0) continue;
      f.times -= 1;
      if (f.times === 0) this.faults.delete(key);
      return f.fault;
    }
    return undefined;
  }

  /** One call: read, authenticate, rate-limit, answer. */
  async handle(req: IncomingMessage, res: ServerResponse, method: string, url: URL): Promise<void> {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
    const raw = await readBody(req);
    if (raw === undefined) return sendAnswer(res, fail("request_too_large", {}, 413));
    let params: Params;
    try {
      params = parseParams(raw, req.headers["content-type"], url.searchParams);
    } catch {
      return sendAnswer(res, fail("invalid_json"));
    }
    const auth = req.headers.authorization;
    const token = auth?.startsWith("Bearer ") ? auth.slice("Bearer ".length) : str(params.token);
    if (!token) return sendAnswer(res, fail("not_authed"));
    if (token !== this.opts.botToken) return sendAnswer(res, fail("invalid_auth"));
    const handler = this.methods[method];
    if (!handler) return sendAnswer(res, fail("unknown_method", {}, 404));
    const channelId = this.opts.workspace.findChannel(str(params.channel) ?? "")?.id;
    const fault = this.takeFault(method, channelId);
    if (fault) {
      this.faulted[method] = (this.faulted[method] ?? 0) + 1;
      if (fault.kind === "http") return sendAnswer(res, fail("http_error", {}, fault.status));
      if (fault.kind === "error") return sendAnswer(res, fail(fault.error));
      this.rateLimited[method] = (this.rateLimited[method] ?? 0) + 1;
      return sendAnswer(res, {
        status: 429,
        headers: { "retry-after": String(fault.retryAfterS) },
        body: { ok: false, error: "ratelimited" },
      });
    }
    const verdict = this.opts.limiter.take(method, channelId);
    if (!verdict.allowed) {
      this.rateLimited[method] = (this.rateLimited[method] ?? 0) + 1;
      this.opts.log.info("slack emulator rate-limited a call", { method, channel: channelId, ...verdict });
      return sendAnswer(res, {
        status: 429,
        headers: { "retry-after": String(verdict.retryAfterS) },
        body: { ok: false, error: "ratelimited" },
      });
    }
    sendAnswer(res, handler(params));
  }
}
