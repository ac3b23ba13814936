/**
 * The console chat's `/home`: opens the App Home tab as the console's user (a signed
 * app_home_opened, as Slack sends when someone clicks the app), waits for the bot to publish it and
 * prints it as text: the header, each section, link buttons as `[label]`, dividers as rules.
 */
import type { SandboxStack } from "../runtime/stack";
import type { PublishedHomeView } from "../sandbox/slack/emulator";
import { readableText } from "./console-text";

/** `/home` waits this long for the bot to publish the tab. */
export const HOME_WAIT_TIMEOUT_MS = 15_000;
const HOME_POLL_MS = 50;

type Json = Record<string, unknown>;

function textOf(value: unknown): string {
  return typeof (value as Json | undefined)?.text === "string" ? String((value as Json).text) : "";
}

/** A Home view as lines of text, the way the console shows channel messages. */
export function formatHome(view: Pick<PublishedHomeView, "blocks">): string[] {
  const lines: string[] = [];
  for (const raw of view.blocks) {
    const b = raw as Json;
    switch (b.type) {
      case "header":
        lines.push(`══ ${textOf(b.text)} ══`);
        break;
      case "divider":
        lines.push("────────────────────────────────────────");
        break;
      case "context":
        for (const el of (b.elements as unknown[] | undefined) ?? [])
          lines.push(`  ${readableText(textOf(el))}`);
        break;
      case "section": {
        const button =
          (b.accessory as Json | undefined)?.type === "button"
            ? `  [${textOf((b.accessory as Json).text)}]`
            : "";
        const [first, ...rest] = readableText(textOf(b.text)).split("\n");
        lines.push(`${first ?? ""}${button}`, ...rest.map((l) => `    ${l}`));
        break;
      }
      default:
        break;
    }
  }
  return lines;
}

/**
 * One line saying what a Home view counts ("running 1 · waiting for approval 0 · last outcomes 2"),
 * read from its section titles: the console prints it when a tab someone opened updates itself.
 */
export function homeSummary(view: Pick<PublishedHomeView, "blocks">): string {
  const counts: string[] = [];
  for (const raw of view.blocks) {
    const m = /^\*(Running now|Drains|Waiting for your approval|Last outcomes)\* \((\d+)\)$/.exec(
      textOf((raw as Json).text),
    );
    if (m) counts.push(`${m[1]!.toLowerCase()} ${m[2]}`);
  }
  return counts.join(" · ");
}

/** Opens the Home tab as `user` and returns it once the bot has published it (null if it did not in time). */
export async function openHome(stack: SandboxStack, user: string): Promise<PublishedHomeView | null> {
  const before = stack.slack.homeView(user)?.publishes ?? 0;
  const res = await stack.slack.openAppHome({ user });
  if (res.status !== 200) return null;
  const deadline = Date.now() + HOME_WAIT_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const view = stack.slack.homeView(user);
    if (view && view.publishes > before) return view;
    await new Promise((r) => setTimeout(r, HOME_POLL_MS));
  }
  return null;
}
