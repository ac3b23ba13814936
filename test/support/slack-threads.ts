/**
 * Reading a channel of the Slack emulator as a person would: its root messages, a thread's
 * replies, the private answers someone got, and waiting for one of them to show up.
 */
import { expect } from "vitest";
import { SANDBOX_CHANNEL } from "../../src/runtime/stack";
import type { SlackEmulator, StoredMessage } from "../../src/sandbox/slack/emulator";
import { until } from "./until";

export interface ChannelOptions {
  /** @defaultValue the sandbox's #ops */
  channel?: string;
  /** How long {@link SlackChannel.waitFor} waits. @defaultValue 30 000 */
  timeoutMs?: number;
  /** How often {@link SlackChannel.waitFor} looks. @defaultValue 100 */
  intervalMs?: number;
}

export interface SlackChannel {
  /** The emulator this channel is in (for clicks and buttons). */
  slack: SlackEmulator;
  /** The channel's id. */
  id: string;
  /** Root messages, oldest first. */
  roots(): StoredMessage[];
  /** The root message with this ts; throws when there is none. */
  root(ts: string): StoredMessage;
  /** A thread's replies, oldest first (none for an unknown root). */
  thread(rootTs: string): StoredMessage[];
  /** The first reply in a thread whose text starts with `match` (a string) or matches it (a RegExp). */
  reply(rootTs: string, match: string | RegExp): StoredMessage | undefined;
  /** A root or a reply, by ts. */
  message(ts: string): StoredMessage | undefined;
  /** The texts of the private (ephemeral) answers `user` got in this channel. */
  ephemerals(user: string): string[];
  /** The last few threads as text, for failure messages. */
  transcript(threads?: number): string;
  /** Waits for `fn` to give a value; a timeout names what was awaited and shows the channel. */
  waitFor<T>(
    what: string,
    fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
    timeoutMs?: number,
  ): Promise<T>;
  /** Runs a slash command as `user` here; it must be acknowledged (HTTP 200). */
  command(user: string, command: string, text: string): ReturnType<SlackEmulator["slashCommand"]>;
  /**
   * Runs a slash command as `user` and waits for the root message it posts: the first root that
   * was not there before (and whose text contains `mentions`, when given).
   */
  commandRoot(user: string, command: string, text: string, mentions?: string): Promise<StoredMessage>;
}

/** A view of one emulated channel. */
export function slackChannel(slack: SlackEmulator, opts: ChannelOptions = {}): SlackChannel {
  const channel = opts.channel ?? SANDBOX_CHANNEL.id;
  const roots = () => slack.messages(channel);
  const view: SlackChannel = {
    slack,
    id: channel,
    roots,
    root(ts) {
      const root = roots().find((m) => m.ts === ts);
      if (!root) throw new Error(`no root message ${ts} in ${channel}`);
      return root;
    },
    thread: (rootTs) => roots().find((r) => r.ts === rootTs)?.replies ?? [],
    reply: (rootTs, match) =>
      view
        .thread(rootTs)
        .find((r) => (typeof match === "string" ? r.text.startsWith(match) : match.test(r.text))),
    message(ts) {
      for (const r of roots()) for (const m of [r, ...r.replies]) if (m.ts === ts) return m;
      return undefined;
    },
    ephemerals: (user) => slack.ephemeralMessages(user, channel).map((m) => m.text),
    transcript: (threads = 3) =>
      roots()
        .slice(-threads)
        .map((r) => [r, ...r.replies].map((m) => `${m.ts} ${m.text.slice(0, 300)}`).join("\n  "))
        .join("\n"),
    waitFor: (what, fn, timeoutMs = opts.timeoutMs ?? 30_000) =>
      until(what, fn, {
        timeoutMs,
        intervalMs: opts.intervalMs,
        explain: () => `the channel now:\n${view.transcript()}`,
      }),
    async command(user, command, text) {
      const res = await slack.slashCommand({ user, channel, command, text });
      expect(res.status, `${command} ${text}`).toBe(200);
      return res;
    },
    async commandRoot(user, command, text, mentions) {
      const before = new Set(roots().map((r) => r.ts));
      await view.command(user, command, text);
      return view.waitFor(`the root message of ${command} ${text}`, () =>
        roots().find((r) => !before.has(r.ts) && (mentions === undefined || r.text.includes(mentions))),
      );
    },
  };
  return view;
}
