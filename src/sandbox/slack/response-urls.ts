/**
 * Slack's response_url for the emulated workspace: one URL per slash command or button press,
 * good for Slack's number of uses within its lifetime (then `used_url` / `expired_url`), that
 * posts in the channel or ephemerally, replaces or deletes the original (the pressed button's
 * message, or the command's last answer), as Slack does.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../../log";
import type { SlackLimits } from "./limits";
import type { MessageStore } from "./store";
import {
  type ApiAnswer,
  fail,
  messageContent,
  ok,
  type Params,
  readBody,
  sendAnswer,
  str,
  truthy,
} from "./web-api";
import { BOT_ID, BOT_USER_ID } from "./workspace";

/** Random bytes in a response_url's id (hex in the URL). */
const RESPONSE_URL_ID_BYTES = 12;

export interface ResponseUrlState {
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

export class ResponseUrls {
  private readonly states = new Map<string, ResponseUrlState>();

  /** @param baseUrl `http://127.0.0.1:PORT`, known once the server listens */
  constructor(
    private readonly store: MessageStore,
    private readonly limits: SlackLimits,
    private readonly log: Logger,
    private readonly baseUrl: () => string,
  ) {}

  /** A fresh response_url and its id. */
  create(state: Omit<ResponseUrlState, "uses" | "createdMs">): { url: string; id: string } {
    const id = randomBytes(RESPONSE_URL_ID_BYTES).toString("hex");
    this.states.set(id, { ...state, uses: 0, createdMs: Date.now() });
    return { url: `${this.baseUrl()}/response/${id}`, id };
  }

  /** Records the command's immediate answer as the message a later `replace_original` replaces. */
  answered(id: string, ts: string, ephemeral: boolean): void {
    const state = this.states.get(id);
    if (state) Object.assign(state, { lastTs: ts, lastEphemeral: ephemeral });
  }

  /** `POST /response/<id>`: counts the use, then does what the body asks. */
  async handle(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const raw = await readBody(req);
    const state = this.states.get(id);
    if (!state) return sendAnswer(res, fail("invalid_url", {}, 404));
    if (Date.now() - state.createdMs > this.limits.responseUrlTtlMs) {
      return sendAnswer(res, fail("expired_url", {}, 404));
    }
    if (state.uses >= this.limits.responseUrlMaxUses) return sendAnswer(res, fail("used_url", {}, 404));
    state.uses += 1;
    if (raw === undefined) return sendAnswer(res, fail("request_too_large", {}, 413));
    let body: Params;
    try {
      body = JSON.parse(raw) as Params;
    } catch {
      return sendAnswer(res, fail("invalid_payload", {}, 400));
    }
    sendAnswer(res, this.apply(state, body));
  }

  private apply(state: ResponseUrlState, body: Params): ApiAnswer {
    const { store } = this;
    const content = messageContent(body, false, this.limits, this.log);
    if ("error" in content) return { ...content.error, status: 400 };
    const { text, blocks } = content;
    const nonEmptyBlocks = blocks && blocks.length > 0 ? blocks : undefined;
    const channel = state.channel;

    const targetTs = state.kind === "action" ? state.sourceTs : state.lastTs;
    const targetEphemeral = state.kind === "action" ? state.sourceEphemeral : state.lastEphemeral;

    if (truthy(body.delete_original)) {
      if (!targetTs) return fail("message_not_found", {}, 404);
      if (targetEphemeral) {
        store.removeEphemeral(channel, targetTs);
      } else {
        const msg = store.get(channel, targetTs);
        if (msg) store.remove(msg);
      }
      return ok();
    }
    if ((text === undefined || text === "") && !nonEmptyBlocks) return fail("no_text", {}, 400);

    if (truthy(body.replace_original) && targetTs) {
      if (targetEphemeral) {
        const eph = store.ephemeral(channel, targetTs);
        if (eph) {
          store.updateEphemeral(eph, text ?? "", nonEmptyBlocks);
          return ok();
        }
      } else {
        const msg = store.get(channel, targetTs);
        if (msg && !msg.deleted) {
          store.update(msg, text ?? "", blocks ?? []);
          return ok();
        }
      }
    }

    const threadTs = str(body.thread_ts) || undefined;
    if (body.response_type === "in_channel") {
      const stored = store.post({
        channel,
        thread_ts: threadTs && store.get(channel, threadTs) ? threadTs : undefined,
        user: BOT_USER_ID,
        bot_id: BOT_ID,
        text: text ?? "",
        blocks: nonEmptyBlocks,
      });
      state.lastTs = stored.ts;
      state.lastEphemeral = false;
    } else {
      const stored = store.postEphemeral({
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
}
