/**
 * What the emulated workspace holds: channels' root messages with their thread replies (edited in
 * place, deleted roots with replies kept as tombstones, as in Slack), ephemeral messages per user,
 * Slack's increasing `ts` values, and the `"message"` events a watcher (the console chat, tests)
 * sees in the order things happened. Also how Slack serialises a stored message and where the
 * buttons are.
 */
import type { EventEmitter } from "node:events";
import { buttonsIn } from "./block-kit";
import { API_APP_ID } from "./workspace";

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
  /** Files shared with the message (files.completeUploadExternal); their bytes are in the emulator's files. */
  files?: SharedFileRef[];
}

/** A file shared in a message, as the message lists it (the bytes stay with the file: `SlackEmulator.file`). */
export interface SharedFileRef {
  id: string;
  name: string;
  title: string;
  mimetype: string;
  size: number;
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
  /** Files shared with it (files.completeUploadExternal). */
  files?: SharedFileRef[];
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

const MICROS_PER_S = 1_000_000;

export class MessageStore {
  private readonly roots = new Map<string, StoredMessage[]>();
  private readonly byKey = new Map<string, StoredMessage>();
  private readonly ephemerals: EphemeralMessage[] = [];
  private lastTsMicros = 0;

  /** @param events receives `"message"` with a {@link SlackMessageEvent} for every change */
  constructor(private readonly events: EventEmitter) {}

  /** Slack's `1234567890.123456`: seconds and microseconds, unique and increasing per workspace. */
  nextTs(): string {
    this.lastTsMicros = Math.max(Date.now() * 1000, this.lastTsMicros + 1);
    const s = Math.floor(this.lastTsMicros / MICROS_PER_S);
    return `${s}.${String(this.lastTsMicros % MICROS_PER_S).padStart(6, "0")}`;
  }

  private emit(event: SlackMessageEvent): void {
    // Exactly these keys, in this order: the console chat prints the object as it is.
    const out: SlackMessageEvent = {
      type: event.type,
      channel: event.channel,
      ts: event.ts,
      thread_ts: event.thread_ts,
      user: event.user,
      text: event.text,
      blocks: event.blocks,
      files: event.files,
    };
    for (const k of ["thread_ts", "user", "blocks", "files"] as const)
      if (out[k] === undefined) delete out[k];
    this.events.emit("message", out);
  }

  /** The message (root or reply) at `ts` in a channel, deleted tombstones included. */
  get(channel: string, ts: string): StoredMessage | undefined {
    return this.byKey.get(`${channel}:${ts}`);
  }

  /** Posts a message (a reply when `thread_ts` is set). */
  post(m: Omit<StoredMessage, "ts" | "edits" | "replies">): StoredMessage {
    const stored: StoredMessage = { ...m, ts: this.nextTs(), edits: 0, replies: [] };
    if (stored.thread_ts) {
      this.get(stored.channel, stored.thread_ts)?.replies.push(stored);
    } else {
      const list = this.roots.get(stored.channel) ?? [];
      list.push(stored);
      this.roots.set(stored.channel, list);
    }
    this.byKey.set(`${stored.channel}:${stored.ts}`, stored);
    this.emit({
      type: "post",
      channel: stored.channel,
      ts: stored.ts,
      thread_ts: stored.thread_ts,
      text: stored.text,
      blocks: stored.blocks,
      files: stored.files,
    });
    return stored;
  }

  /** Shows a message to one user only. */
  postEphemeral(m: Omit<EphemeralMessage, "ts">): EphemeralMessage {
    const stored: EphemeralMessage = { ...m, ts: this.nextTs() };
    this.ephemerals.push(stored);
    this.emit({ type: "ephemeral", ...stored });
    return stored;
  }

  /** Edits a message; as in chat.update, blocks left out keep the old ones and an empty array removes them. */
  update(msg: StoredMessage, text: string | undefined, blocks: unknown[] | undefined): void {
    if (text !== undefined) msg.text = text;
    if (blocks !== undefined) msg.blocks = blocks.length > 0 ? blocks : undefined;
    msg.edits += 1;
    this.emit({
      type: "update",
      channel: msg.channel,
      ts: msg.ts,
      thread_ts: msg.thread_ts,
      text: msg.text,
      blocks: msg.blocks,
    });
  }

  /** Deletes a message; a root with replies stays as a tombstone. */
  remove(msg: StoredMessage): void {
    if (msg.thread_ts) {
      const root = this.get(msg.channel, msg.thread_ts);
      if (root) root.replies = root.replies.filter((r) => r.ts !== msg.ts);
      this.byKey.delete(`${msg.channel}:${msg.ts}`);
    } else if (msg.replies.length > 0) {
      msg.deleted = true;
      msg.text = "This message was deleted.";
      msg.blocks = undefined;
    } else {
      this.roots.set(
        msg.channel,
        (this.roots.get(msg.channel) ?? []).filter((r) => r.ts !== msg.ts),
      );
      this.byKey.delete(`${msg.channel}:${msg.ts}`);
    }
    this.emit({ type: "delete", channel: msg.channel, ts: msg.ts, thread_ts: msg.thread_ts, text: "" });
  }

  /** The ephemeral message at `ts` in a channel, optionally only if `user` is the one who sees it. */
  ephemeral(channel: string, ts: string, user?: string): EphemeralMessage | undefined {
    return this.ephemerals.find(
      (e) => e.channel === channel && e.ts === ts && (user === undefined || e.user === user),
    );
  }

  /** Replaces an ephemeral message's content. */
  updateEphemeral(eph: EphemeralMessage, text: string, blocks: unknown[] | undefined): void {
    eph.text = text;
    eph.blocks = blocks;
    this.emit({ type: "update", ...eph });
  }

  /** Removes an ephemeral message, if it is still there. */
  removeEphemeral(channel: string, ts: string): void {
    const i = this.ephemerals.findIndex((e) => e.channel === channel && e.ts === ts);
    if (i < 0) return;
    const [gone] = this.ephemerals.splice(i, 1);
    this.emit({ type: "delete", channel, ts, user: gone?.user, text: "" });
  }

  /** Root messages of a channel with their replies, as copies. */
  messages(channel: string): StoredMessage[] {
    return structuredClone(this.roots.get(channel) ?? []);
  }

  /** Ephemeral messages a user has been shown, optionally in one channel, as copies. */
  ephemeralMessages(user: string, channel?: string): EphemeralMessage[] {
    return structuredClone(
      this.ephemerals.filter((e) => e.user === user && (channel === undefined || e.channel === channel)),
    );
  }

  /** Every button in the channel's (or every channel's) messages, ephemeral ones included. */
  findButtons(channel?: string): FoundButtonInfo[] {
    const out: FoundButtonInfo[] = [];
    for (const [chan, list] of this.roots) {
      if (channel && chan !== channel) continue;
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
    for (const e of this.ephemerals) {
      if (channel && e.channel !== channel) continue;
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
  }
}

/** A stored message as Slack's API returns it (`message` in chat.postMessage, block_actions). */
export function messageJson(m: StoredMessage, teamId: string): Record<string, unknown> {
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
  if (m.files) out.files = m.files;
  return out;
}
