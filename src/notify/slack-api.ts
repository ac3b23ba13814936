/**
 * The narrow interface between migbot and Slack's Web API. The notifier depends on this interface
 * only; the worker gives it {@link httpSlackApi} (direct JSON POSTs, no retries of its own), and
 * {@link webClientSlackApi} wraps Bolt's WebClient with its 429 handling switched off, so that the
 * shared Redis limiter, not each client, decides when to call again.
 */
import type { webApi } from "@slack/bolt";
import { Agent, type Dispatcher, request } from "undici";
import { CodedError } from "../errors";
import type { FileUpload } from "./port";

type WebClient = webApi.WebClient;
type WebClientOptions = webApi.WebClientOptions;

export interface SlackMessage {
  text: string;
  blocks?: unknown[];
}

export interface SlackApi {
  postMessage(channel: string, msg: SlackMessage & { thread_ts?: string }): Promise<{ ts: string }>;
  update(channel: string, ts: string, msg: SlackMessage): Promise<void>;
  postEphemeral(channel: string, user: string, msg: SlackMessage & { thread_ts?: string }): Promise<void>;
  /** Uploads and shares one file (files.getUploadURLExternal, the bytes, files.completeUploadExternal); Slack's file id. */
  uploadFile(channel: string, file: FileUpload): Promise<{ fileId: string }>;
  /** views.publish: replaces the user's App Home tab with a `home` view of these blocks. */
  publishHome(user: string, view: { blocks: unknown[] }): Promise<void>;
}

/** Slack answered HTTP 429: wait `retryAfterMs` before calling this method in this channel again. */
export class SlackRateLimitedError extends CodedError<"SLACK_RATE_LIMITED"> {
  constructor(readonly retryAfterMs: number) {
    // Retryable by definition: Slack says when.
    super("SLACK_RATE_LIMITED", `Slack rate limited the call; retry after ${retryAfterMs} ms`, {
      retryable: true,
    });
  }
}

/**
 * Slack refused the call (`ok: false`, or an HTTP status other than 200/429). `slackError` is Slack's
 * own error name (`invalid_blocks`, `channel_not_found`, …) or `http_<status>`. `transient` (kept as
 * `retryable`) says whether the same call may succeed later: Slack's own trouble (5xx, 408,
 * `internal_error`, …) may pass; a bad request will not.
 */
export class SlackApiError extends CodedError<"SLACK_API_ERROR"> {
  constructor(
    readonly slackError: string,
    transient: boolean,
  ) {
    super("SLACK_API_ERROR", `Slack refused the call: ${slackError}`, { retryable: transient });
  }
}

/** Slack error names that describe Slack's own trouble rather than a bad request. */
const TRANSIENT_SLACK_ERRORS = new Set([
  "internal_error",
  "fatal_error",
  "service_unavailable",
  "request_timeout",
  "ratelimited",
]);

/**
 * A Web API call that has not answered in this long is given up (and retried by the notifier): the
 * WebClient's default is no timeout at all, and one call Slack never answers would hold its
 * channel's lane, and every thread queued behind it, for good. Slack answers in well under a second.
 */
export const SLACK_REQUEST_TIMEOUT_MS = 10_000;

/** Options for the production WebClient: no retries and 429s rejected, so the notifier decides. */
export function slackWebClientOptions(slackApiUrl?: string): WebClientOptions {
  return {
    ...(slackApiUrl ? { slackApiUrl } : {}),
    timeout: SLACK_REQUEST_TIMEOUT_MS,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
  };
}

/** Wraps a WebClient built with `slackWebClientOptions()` as a `SlackApi`. */
export function webClientSlackApi(client: WebClient): SlackApi {
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw toSlackError(err);
    }
  };
  return {
    postMessage: (channel, msg) =>
      call(async () => {
        const res = await client.chat.postMessage({
          channel,
          text: msg.text,
          ...(msg.blocks ? { blocks: msg.blocks } : {}),
          ...(msg.thread_ts ? { thread_ts: msg.thread_ts } : {}),
        } as webApi.ChatPostMessageArguments);
        if (typeof res.ts !== "string") throw new SlackApiError("missing_ts", true);
        return { ts: res.ts };
      }),
    update: (channel, ts, msg) =>
      call(async () => {
        await client.chat.update({
          channel,
          ts,
          text: msg.text,
          ...(msg.blocks ? { blocks: msg.blocks } : {}),
        } as webApi.ChatUpdateArguments);
      }),
    postEphemeral: (channel, user, msg) =>
      call(async () => {
        await client.chat.postEphemeral({
          channel,
          user,
          text: msg.text,
          ...(msg.blocks ? { blocks: msg.blocks } : {}),
          ...(msg.thread_ts ? { thread_ts: msg.thread_ts } : {}),
        } as webApi.ChatPostEphemeralArguments);
      }),
    uploadFile: (channel, file) =>
      call(async () => {
        // uploadV2 makes Slack's three calls: getUploadURLExternal, the POST of the bytes, completeUploadExternal.
        const res = await client.files.uploadV2({
          channel_id: channel,
          file: Buffer.from(file.bytes),
          filename: file.filename,
          title: file.title,
          ...(file.altText !== undefined ? { alt_text: file.altText } : {}),
          ...(file.threadTs !== undefined ? { thread_ts: file.threadTs } : {}),
          ...(file.initialComment !== undefined ? { initial_comment: file.initialComment } : {}),
        } as webApi.FilesUploadV2Arguments);
        const completions = (res as { files?: { files?: { id?: string }[] }[] }).files ?? [];
        const fileId = completions[0]?.files?.[0]?.id;
        if (typeof fileId !== "string") throw new SlackApiError("missing_file_id", true);
        return { fileId };
      }),
    publishHome: (user, view) =>
      call(async () => {
        await client.views.publish({
          user_id: user,
          view: { type: "home", blocks: view.blocks },
        } as webApi.ViewsPublishArguments);
      }),
  };
}

/** Slack's Web API root when the config names none. */
export const SLACK_API_URL = "https://slack.com/api/";
/**
 * Connections the notifier keeps open to Slack at most. Its lanes make one call at a time each (one
 * lane per method and channel), so a few suffice; calls beyond wait their turn.
 */
export const SLACK_MAX_CONNECTIONS = 16;
/** How long an idle kept-alive connection to Slack stays open (Slack's own idle timeout is longer). */
export const SLACK_KEEPALIVE_MS = 30_000;

/** What one Web API call came to, for metrics: `ok`, `rate-limited`, or Slack's error name (`network` for no answer). */
export type SlackCallOutcome = "ok" | "rate-limited" | { error: string };

export interface HttpSlackApiOptions {
  /** The bot token (`xoxb-…`); sent only in the Authorization header, never logged. None: Slack answers `not_authed`. */
  token: string | undefined;
  /** @defaultValue {@link SLACK_API_URL} */
  apiUrl?: string;
  /** @defaultValue {@link SLACK_REQUEST_TIMEOUT_MS} */
  timeoutMs?: number;
  /** Told the outcome of every call (the composition root counts them). */
  observe?: (method: string, outcome: SlackCallOutcome) => void;
  /**
   * Where file uploads go: Slack's external upload is three calls, one of them a raw POST of the
   * bytes to a URL Slack gives, which the WebClient's files.uploadV2 already makes; uploads are rare
   * (a chart at a migration's end), so they gain nothing from the lean path. None: uploads refused.
   */
  uploads?: Pick<SlackApi, "uploadFile">;
}

/**
 * The notifier's Slack API as direct JSON POSTs over a kept-alive connection pool
 * (`undici.request`), without the WebClient: its request queue, retry wrapper, body URL-encoding,
 * debug-log serialization (evaluated even when debug is off) and fetch's stream-backed Request and
 * Response were about a fifth of a worker's busy time at 1,000 followed migrations
 * (src/bench/track.ts), for calls the notifier queues, paces and retries itself anyway. Slack takes
 * JSON bodies for these methods with the token as a Bearer header. Errors are those of
 * {@link webClientSlackApi}: 429 → {@link SlackRateLimitedError}, `ok: false` or another status →
 * {@link SlackApiError}, no answer → the network error as is (transient).
 */
export function httpSlackApi(opts: HttpSlackApiOptions): SlackApi & { close(): Promise<void> } {
  const base = (opts.apiUrl ?? SLACK_API_URL).replace(/\/*$/, "/");
  const timeoutMs = opts.timeoutMs ?? SLACK_REQUEST_TIMEOUT_MS;
  const dispatcher = new Agent({ connections: SLACK_MAX_CONNECTIONS, keepAliveTimeout: SLACK_KEEPALIVE_MS });
  const headers: Record<string, string> = {
    ...(opts.token !== undefined && { authorization: `Bearer ${opts.token}` }),
    "content-type": "application/json; charset=utf-8",
    "user-agent": "migbot",
  };
  const observe = opts.observe ?? (() => undefined);
  let closing: Promise<void> | null = null;
  const call = async (method: string, args: Record<string, unknown>): Promise<Record<string, unknown>> => {
    let res: Dispatcher.ResponseData;
    let text: string;
    try {
      res = await request(`${base}${method}`, {
        dispatcher,
        method: "POST",
        headers,
        body: JSON.stringify(args),
        // Until the answer starts, and between its chunks: Slack answers in well under a second.
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      text = await res.body.text();
    } catch (err) {
      observe(method, { error: "network" });
      throw err;
    }
    if (res.statusCode === 429) {
      observe(method, "rate-limited");
      const header = res.headers["retry-after"];
      const seconds = Number(Array.isArray(header) ? header[0] : header);
      throw new SlackRateLimitedError((Number.isFinite(seconds) && seconds >= 0 ? seconds : 1) * 1000);
    }
    if (res.statusCode !== 200) {
      observe(method, { error: `http_${res.statusCode}` });
      throw new SlackApiError(`http_${res.statusCode}`, res.statusCode >= 500 || res.statusCode === 408);
    }
    let body: { ok?: unknown; error?: unknown } | null = null;
    try {
      body = JSON.parse(text) as { ok?: unknown; error?: unknown } | null;
    } catch {
      body = null;
    }
    if (body === null || typeof body !== "object") {
      observe(method, { error: "invalid_response" });
      throw new SlackApiError("invalid_response", true);
    }
    if (body.ok !== true) {
      const name = typeof body.error === "string" ? body.error : "unknown_error";
      observe(method, { error: name });
      throw new SlackApiError(name, TRANSIENT_SLACK_ERRORS.has(name));
    }
    observe(method, "ok");
    return body as Record<string, unknown>;
  };
  const content = (msg: SlackMessage) => ({ text: msg.text, ...(msg.blocks ? { blocks: msg.blocks } : {}) });
  return {
    async postMessage(channel, msg) {
      const res = await call("chat.postMessage", {
        channel,
        ...content(msg),
        ...(msg.thread_ts ? { thread_ts: msg.thread_ts } : {}),
      });
      if (typeof res.ts !== "string") throw new SlackApiError("missing_ts", true);
      return { ts: res.ts };
    },
    async update(channel, ts, msg) {
      await call("chat.update", { channel, ts, ...content(msg) });
    },
    async postEphemeral(channel, user, msg) {
      await call("chat.postEphemeral", {
        channel,
        user,
        ...content(msg),
        ...(msg.thread_ts ? { thread_ts: msg.thread_ts } : {}),
      });
    },
    async uploadFile(channel, file) {
      if (opts.uploads === undefined) throw new SlackApiError("uploads_not_configured", false);
      return opts.uploads.uploadFile(channel, file);
    },
    async publishHome(user, view) {
      await call("views.publish", { user_id: user, view: { type: "home", blocks: view.blocks } });
    },
    // Safe to call again: the second call waits on the first.
    close: () => {
      closing ??= dispatcher.close();
      return closing;
    },
  };
}

/**
 * Maps @slack/web-api's errors (matched by their `code`, so this module needs no runtime import of the
 * client) onto the two errors the notifier understands; anything else (network) passes through and
 * is treated as transient.
 */
export function toSlackError(err: unknown): unknown {
  if (err instanceof SlackRateLimitedError || err instanceof SlackApiError) return err;
  const e = err as { code?: unknown; retryAfter?: unknown; data?: { error?: unknown }; statusCode?: unknown };
  switch (e?.code) {
    case "slack_webapi_rate_limited_error": {
      const seconds = typeof e.retryAfter === "number" && e.retryAfter >= 0 ? e.retryAfter : 1;
      return new SlackRateLimitedError(seconds * 1000);
    }
    case "slack_webapi_platform_error": {
      const name = typeof e.data?.error === "string" ? e.data.error : "unknown_error";
      return new SlackApiError(name, TRANSIENT_SLACK_ERRORS.has(name));
    }
    case "slack_webapi_http_error": {
      const status = typeof e.statusCode === "number" ? e.statusCode : 0;
      return new SlackApiError(`http_${status}`, status >= 500 || status === 408);
    }
    default:
      return err;
  }
}
