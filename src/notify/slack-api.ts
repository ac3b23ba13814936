/**
 * The narrow interface between migbot and Slack's Web API. The notifier depends on this interface
 * only; production wraps Bolt's WebClient with its own 429 handling switched off so that the shared
 * Redis limiter, not each client, decides when to call again.
 */
import type { webApi } from "@slack/bolt";
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
