/**
 * The console chat for `npm start` on the sandbox: the user types slash commands as they would in
 * Slack, sees the channel and its threads update live, presses buttons with `click <label>`, and
 * acts as another sandbox user with `as <user> <line>`. With stdin not a terminal it reads commands
 * line by line, prints the transcript, and exits once all the work it started has finished.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { SANDBOX_CHANNEL, SANDBOX_USERS, type SandboxStack } from "../runtime/stack";
import type { HomeViewEvent, SlackMessageEvent } from "../sandbox/slack/emulator";
import { CONSOLE_HELP } from "./console-help";
import { formatHome, HOME_WAIT_TIMEOUT_MS, homeSummary, openHome } from "./console-home";
import { readableText, userName } from "./console-text";

/** `click <label>` waits this long for such a button to appear. */
export const CLICK_WAIT_TIMEOUT_MS = 120_000;
const CLICK_POLL_MS = 100;
/** Work counts as finished once the queues have been empty this long. */
const IDLE_SETTLE_MS = 1500;
/** A scripted run gives up waiting for its work after this long. */
export const SCRIPT_MAX_WAIT_MS = 15 * 60_000;

export interface ConsoleOptions {
  json: boolean;
  user: string;
  out?: (line: string) => void;
  input?: NodeJS.ReadableStream;
  interactive?: boolean;
  /** Where files shared in the channel (charts) are written. @defaultValue `<tmpdir>/migbot-console-files` */
  filesDir?: string;
}

/** What Slack's clients show for escaped text. */
function unescapeSlack(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/**
 * Writes the files shared with a message (a chart's PNG) where the user can open them; their paths.
 * The name is the file's id and its name reduced to safe characters (the name is migbot's, the
 * title may carry a tenant's VM name, so it never goes into a path).
 */
export function saveSharedFiles(
  stack: SandboxStack,
  e: SlackMessageEvent,
  dir: string,
): { id: string; title: string; path: string }[] {
  const saved: { id: string; title: string; path: string }[] = [];
  for (const ref of e.files ?? []) {
    const bytes = stack.slack.file(ref.id)?.bytes;
    if (bytes === undefined) continue;
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${ref.id}-${ref.name.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 80)}`);
    writeFileSync(path, bytes);
    saved.push({ id: ref.id, title: unescapeSlack(ref.title), path });
  }
  return saved;
}

export { CONSOLE_HELP };

/** One human-readable line (or a few) per message event. */
export function formatEvent(e: SlackMessageEvent, rootOrder: Map<string, number>): string {
  const text = readableText(e.text);
  const buttons = (e.blocks ?? [])
    .flatMap(
      (b) =>
        ((b as { elements?: unknown[] }).elements ?? []) as { type?: string; text?: { text?: string } }[],
    )
    .filter((el) => el.type === "button")
    .map((el) => `[${el.text?.text ?? "?"}]`);
  const suffix = buttons.length > 0 ? `  ${buttons.join(" ")}` : "";
  if (e.type === "ephemeral") return `  (only @${userName(e.user)} sees this) ${text}${suffix}`;
  if (e.type === "delete") return `  (message ${e.ts} deleted)`;
  const isReply = e.thread_ts !== undefined && e.thread_ts !== e.ts;
  if (!isReply && e.type === "post") rootOrder.set(e.ts, rootOrder.size + 1);
  const rootNo = rootOrder.get(isReply ? e.thread_ts! : e.ts);
  const tag = rootNo !== undefined ? `#${rootNo}` : "";
  const edited = e.type === "update" ? " (edited)" : "";
  const body = text.split("\n").join(isReply ? "\n      │ " : "\n    ");
  return isReply
    ? `      └ thread ${tag}${edited}: ${body}${suffix}`
    : `[#ops ${tag}]${edited} migbot: ${body}${suffix}`;
}

/** Runs the console until stdin ends (script) or the user quits. Resolves to an exit code. */
export async function runConsole(stack: SandboxStack, opts: ConsoleOptions): Promise<number> {
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const rootOrder = new Map<string, number>();
  const filesDir = opts.filesDir ?? join(tmpdir(), "migbot-console-files");
  stack.slack.events.on("message", (e: SlackMessageEvent) => {
    if (e.channel !== SANDBOX_CHANNEL.id) return;
    const files = saveSharedFiles(stack, e, filesDir);
    if (opts.json) {
      out(
        JSON.stringify({
          type: e.type,
          channel: e.channel,
          ts: e.ts,
          thread_ts: e.thread_ts ?? null,
          ...(e.user !== undefined && { user: e.user }),
          text: e.text,
          blocks: e.blocks ?? [],
          ...(files.length > 0 && { files }),
        }),
      );
    } else {
      out(formatEvent(e, rootOrder));
      const indent = e.thread_ts !== undefined && e.thread_ts !== e.ts ? "      │ " : "    ";
      for (const f of files) out(`${indent}file "${f.title}" saved to ${f.path}`);
    }
  });
  const say = (line: string) => {
    if (!opts.json) out(line);
  };
  // After someone's /home, their tab's updates are told in one line each (when what it counts changes).
  const homeWatched = new Map<string, string>();
  stack.slack.events.on("home", (e: HomeViewEvent) => {
    const last = homeWatched.get(e.user);
    if (last === undefined || opts.json) return;
    const summary = homeSummary(e);
    if (summary === last) return;
    homeWatched.set(e.user, summary);
    out(`  (@${userName(e.user)}'s Home tab updated: ${summary})`);
  });
  let failures = 0;
  // Buttons this console already pressed: the message losing its buttons can lag the click's ack.
  const clicked = new Set<string>();

  const handle = async (raw: string): Promise<boolean> => {
    let line = raw.trim();
    if (line === "" || line.startsWith("#")) return true;
    let user = opts.user;
    const as = /^as\s+(\S+)\s+(.*)$/.exec(line);
    if (as) {
      const who = SANDBOX_USERS.find((u) => u.name === as[1] || u.id === as[1]);
      if (!who) {
        say(`! unknown user '${as[1]}': the sandbox has ${SANDBOX_USERS.map((u) => u.name).join(", ")}`);
        failures++;
        return true;
      }
      user = who.name;
      line = as[2]!.trim();
    }
    if (line === "quit" || line === "exit") return false;
    if (line === "help") {
      say(CONSOLE_HELP);
      return true;
    }
    if (line === "/home") {
      // Not a slash command: what a person sees on clicking migbot in Slack's sidebar.
      say(`@${user}> /home`);
      const view = await openHome(stack, user);
      if (view === null) {
        say(`! the bot did not publish @${user}'s Home tab within ${HOME_WAIT_TIMEOUT_MS / 1000} s`);
        failures++;
      } else if (opts.json) {
        out(JSON.stringify({ type: "home", user: view.user, blocks: view.blocks }));
      } else {
        for (const l of formatHome(view)) out(`  ${l}`);
        homeWatched.set(view.user, homeSummary(view));
      }
      return true;
    }
    if (line.startsWith("/")) {
      const [command, ...rest] = line.split(/\s+/);
      say(`@${user}> ${line}`);
      const res = await stack.slack.slashCommand({
        user,
        channel: SANDBOX_CHANNEL.id,
        command: command!,
        text: rest.join(" "),
      });
      if (res.status !== 200) {
        say(`! the bot answered HTTP ${res.status} after ${res.ackMs} ms`);
        failures++;
      }
      return true;
    }
    const click = /^click\s+(.+?)(?:\s+in\s+(.+))?$/.exec(line);
    if (click) {
      const label = click[1]!
        .trim()
        .replace(/^\[|\]$/g, "")
        .toLowerCase();
      const within = click[2]?.trim().toLowerCase();
      say(`@${user}> click [${click[1]!.trim()}]${within ? ` in "${click[2]!.trim()}"` : ""}`);
      const deadline = Date.now() + CLICK_WAIT_TIMEOUT_MS;
      for (;;) {
        const found = stack.slack
          .findButtons(SANDBOX_CHANNEL.id)
          .filter(
            (b) =>
              b.label.toLowerCase() === label &&
              !clicked.has(`${b.messageTs}:${b.actionId}`) &&
              (b.ephemeralFor === undefined || userName(b.ephemeralFor) === user) &&
              (within === undefined || messageText(stack, b.messageTs).toLowerCase().includes(within)),
          );
        // The oldest matching button not pressed yet: repeated clicks walk through proposals in
        // the order they were posted (the preferred fix first).
        const target = found[0];
        if (target) {
          clicked.add(`${target.messageTs}:${target.actionId}`);
          const res = await stack.slack.clickButton({
            user,
            channel: SANDBOX_CHANNEL.id,
            messageTs: target.messageTs,
            actionId: target.actionId,
          });
          if (res.status !== 200) {
            say(`! the bot answered HTTP ${res.status}`);
            failures++;
          }
          return true;
        }
        if (Date.now() > deadline) {
          say(`! no [${click[1]!.trim()}] button appeared within ${CLICK_WAIT_TIMEOUT_MS / 1000} s`);
          failures++;
          return true;
        }
        await new Promise((r) => setTimeout(r, CLICK_POLL_MS));
      }
    }
    say(`! '${line}' is not something I understand. Type help.`);
    failures++;
    return true;
  };

  const input = opts.input ?? process.stdin;
  const rl = createInterface({ input, terminal: false });
  if (opts.interactive) {
    say(CONSOLE_HELP);
    say(`You are @${opts.user} in #ops.`);
  }
  // Lines are handled one after another: a `click` waits for its button before the next line runs.
  for await (const line of rl) {
    if (!(await handle(line))) break;
  }
  rl.close();
  const finished = await waitForIdle(stack);
  if (!finished) {
    say(`! work was still running after ${SCRIPT_MAX_WAIT_MS / 60_000} min; stopping`);
    failures++;
  }
  return failures > 0 ? 1 : 0;
}

/** The text of a channel message or thread reply, for `click <label> in <text>`. */
function messageText(stack: SandboxStack, ts: string): string {
  for (const root of stack.slack.messages(SANDBOX_CHANNEL.id)) {
    if (root.ts === ts) return root.text;
    const reply = root.replies.find((r) => r.ts === ts);
    if (reply) return reply.text;
  }
  return "";
}

/** Waits until no job is waiting, active or delayed and every Slack call has gone out. */
export async function waitForIdle(stack: SandboxStack, maxWaitMs = SCRIPT_MAX_WAIT_MS): Promise<boolean> {
  const deadline = Date.now() + maxWaitMs;
  let idleSince: number | null = null;
  while (Date.now() < deadline) {
    const busy = await stack.queueCounts();
    if (busy === 0) {
      await stack.notifier.flush();
      idleSince ??= Date.now();
      if (Date.now() - idleSince >= IDLE_SETTLE_MS) return true;
    } else {
      idleSince = null;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
