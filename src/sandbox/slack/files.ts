/**
 * Slack's external file upload, emulated: `files.getUploadURLExternal` (a file id and a URL to send
 * the bytes to), the POST of the bytes to that URL (raw or multipart, as Slack takes both), and
 * `files.completeUploadExternal`, which shares the files in a channel or a thread as one message.
 * Arguments, errors and limits follow Slack's reference pages for the two methods (docs.slack.dev,
 * 2025): `filename` and `length` required, `length` 0 answered `missing_argument`, `alt_txt` at most
 * 1,000 characters (`alt_txt_too_large`), files above the size limit refused
 * (`file_upload_size_restricted`), `files` a required JSON array of `{id, title}`, `thread_ts` a
 * root's ts, completion callable once per file, and an upload never completed discarded.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../../log";
import type { SlackLimits } from "./limits";
import type { MessageStore, SharedFileRef } from "./store";
import { type ApiAnswer, fail, ok, type Params, str } from "./web-api";
import { BOT_ID, BOT_USER_ID, type Workspace } from "./workspace";

/** Room for multipart boundaries and headers around the bytes of an upload. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
/** Uploads started and never completed that are kept (Slack discards them; the oldest go first). */
const PENDING_UPLOADS_MAX = 1_000;

/** A file the emulated workspace holds, with its bytes once they were sent. */
export interface EmulatedFile extends SharedFileRef {
  /** The length declared to files.getUploadURLExternal, bytes. */
  declaredLength: number;
  altText?: string;
  bytes?: Buffer;
  /** Where it was shared, once completed (no channel: completed as a private file). */
  channel?: string;
  threadTs?: string;
  messageTs?: string;
  completed: boolean;
}

/** Slack's file types by extension (what `filetype` and `mimetype` say), for the few the emulator meets. */
const TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  svg: "image/svg+xml",
  txt: "text/plain",
  json: "application/json",
};

function mimetypeOf(filename: string): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(filename)?.[1]?.toLowerCase() ?? "";
  return TYPES[ext] ?? "application/octet-stream";
}

/** Slack's answer to missing or malformed arguments: the error and what was wrong, as Slack words it. */
function invalidArguments(problem: string): ApiAnswer {
  return fail("invalid_arguments", { response_metadata: { messages: [`[ERROR] ${problem}`] } });
}

export interface FilesApiOptions {
  workspace: Workspace;
  store: MessageStore;
  limits: SlackLimits;
  /** The emulator's base URL (`http://127.0.0.1:PORT`), for the upload URLs it hands out. */
  baseUrl: () => string;
  log: Logger;
}

/** The two upload methods, the upload URL, and the files they made. */
export class FilesApi {
  private readonly files = new Map<string, EmulatedFile>();
  /** Upload URL token → file id. */
  private readonly uploadTokens = new Map<string, string>();

  constructor(private readonly opts: FilesApiOptions) {}

  /** The Web API methods this adds, for {@link WebApi}'s table. */
  methods(): Record<string, (p: Params) => ApiAnswer> {
    return {
      "files.getUploadURLExternal": (p) => this.getUploadUrl(p),
      "files.completeUploadExternal": (p) => this.complete(p),
    };
  }

  /** Completed files, shared or private, oldest first (copies of their metadata; the bytes shared). */
  completed(): EmulatedFile[] {
    return [...this.files.values()].filter((f) => f.completed).map((f) => ({ ...f }));
  }

  /** One file by id, whatever its state. */
  get(id: string): EmulatedFile | undefined {
    const f = this.files.get(id);
    return f ? { ...f } : undefined;
  }

  private getUploadUrl(p: Params): ApiAnswer {
    const filename = str(p.filename);
    if (filename === undefined || filename === "")
      return invalidArguments("missing required field: filename");
    const lengthText = str(p.length);
    if (lengthText === undefined) return invalidArguments("missing required field: length");
    if (!/^\d+$/.test(lengthText.trim())) {
      return invalidArguments("invalid type for field: length (expected integer)");
    }
    const length = Number(lengthText.trim());
    if (length === 0) return fail("missing_argument");
    if (length > this.opts.limits.fileMaxBytes) return fail("file_upload_size_restricted");
    const altText = str(p.alt_txt) ?? str(p.alt_text);
    if (altText !== undefined && altText.length > this.opts.limits.fileAltTextMaxChars) {
      return fail("alt_txt_too_large");
    }
    const id = `F${randomBytes(5).toString("hex").toUpperCase()}`;
    const token = randomBytes(16).toString("hex");
    this.files.set(id, {
      id,
      name: filename,
      title: filename,
      mimetype: mimetypeOf(filename),
      size: 0,
      declaredLength: length,
      ...(altText !== undefined && { altText }),
      completed: false,
    });
    this.uploadTokens.set(token, id);
    this.forgetOldPending();
    return ok({ upload_url: `${this.opts.baseUrl()}/upload/v1/${token}`, file_id: id });
  }

  /** `POST /upload/v1/<token>`: the bytes of a file, raw or as the one file of a multipart form. */
  async handleUpload(req: IncomingMessage, res: ServerResponse, token: string): Promise<void> {
    const answer = (status: number, text: string) => {
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
      res.end(text);
    };
    const id = this.uploadTokens.get(token);
    const file = id === undefined ? undefined : this.files.get(id);
    if (!file || file.completed) return answer(404, "upload URL not found or already used");
    const maxRead = file.declaredLength + MULTIPART_OVERHEAD_BYTES;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > maxRead) return answer(413, `more than the ${file.declaredLength} bytes declared`);
      chunks.push(chunk as Buffer);
    }
    let bytes = Buffer.concat(chunks);
    const contentType = req.headers["content-type"] ?? "";
    if (contentType.startsWith("multipart/form-data")) {
      const form = await new Response(bytes, { headers: { "content-type": contentType } })
        .formData()
        .catch(() => null);
      const part = form ? [...form.values()].find((v): v is File => typeof v !== "string") : undefined;
      if (!part) return answer(400, "no file in the multipart form");
      bytes = Buffer.from(await part.arrayBuffer());
    }
    if (bytes.length !== file.declaredLength) {
      return answer(400, `sent ${bytes.length} bytes, declared ${file.declaredLength}`);
    }
    file.bytes = bytes;
    file.size = bytes.length;
    answer(200, `OK - ${bytes.length}`);
  }

  private complete(p: Params): ApiAnswer {
    let list: unknown = p.files;
    if (typeof list === "string") {
      try {
        list = JSON.parse(list);
      } catch {
        return invalidArguments("invalid JSON for field: files");
      }
    }
    if (list === undefined) return invalidArguments("missing required field: files");
    if (!Array.isArray(list) || list.length === 0) return invalidArguments("files must be a non-empty array");
    const entries: { id: string; title?: string }[] = [];
    for (const entry of list as unknown[]) {
      const id = str((entry as { id?: unknown } | null)?.id);
      if (!id) return invalidArguments("each item of files needs an id");
      const title = str((entry as { title?: unknown }).title);
      entries.push({ id, ...(title !== undefined && { title }) });
    }
    // Every file must have been started and sent, and not completed before (once per file).
    for (const { id } of entries) {
      const f = this.files.get(id);
      if (!f || f.completed || f.bytes === undefined) return fail("file_not_found");
    }
    const channelArg = str(p.channel_id) ?? str(p.channels)?.split(",")[0];
    const threadTs = str(p.thread_ts) || undefined;
    if (threadTs && !channelArg) return invalidArguments("thread_ts needs channel_id");
    let channelId: string | undefined;
    let rootTs: string | undefined;
    if (channelArg) {
      const channel = this.opts.workspace.findChannel(channelArg);
      if (!channel) return fail("channel_not_found");
      channelId = channel.id;
      if (threadTs) {
        const parent = this.opts.store.get(channel.id, threadTs);
        if (!parent) return fail("thread_not_found");
        rootTs = parent.thread_ts ?? parent.ts;
      }
    }
    const shared: EmulatedFile[] = entries.map(({ id, title }) => {
      const f = this.files.get(id)!;
      f.completed = true;
      if (title !== undefined && title !== "") f.title = title;
      return f;
    });
    for (const [token, id] of this.uploadTokens)
      if (shared.some((f) => f.id === id)) this.uploadTokens.delete(token);
    if (channelId) {
      const refs: SharedFileRef[] = shared.map(({ id, name, title, mimetype, size }) => ({
        id,
        name,
        title,
        mimetype,
        size,
      }));
      const message = this.opts.store.post({
        channel: channelId,
        thread_ts: rootTs,
        user: BOT_USER_ID,
        bot_id: BOT_ID,
        text: str(p.initial_comment) ?? "",
        files: refs,
      });
      for (const f of shared) {
        f.channel = channelId;
        f.messageTs = message.ts;
        if (rootTs) f.threadTs = rootTs;
      }
    }
    this.opts.log.info("slack emulator shared files", { files: shared.map((f) => f.id), channel: channelId });
    return ok({
      files: shared.map((f) => ({
        id: f.id,
        title: f.title,
        name: f.name,
        mimetype: f.mimetype,
        filetype: f.name.split(".").pop()?.toLowerCase() ?? "",
        size: f.size,
        user: BOT_USER_ID,
        ...(f.altText !== undefined && { alt_txt: f.altText }),
      })),
    });
  }

  /** Slack discards uploads never completed; the emulator keeps a bounded number of them. */
  private forgetOldPending(): void {
    if (this.uploadTokens.size <= PENDING_UPLOADS_MAX) return;
    for (const [token, id] of this.uploadTokens) {
      this.uploadTokens.delete(token);
      this.files.delete(id);
      if (this.uploadTokens.size <= PENDING_UPLOADS_MAX) return;
    }
  }
}
