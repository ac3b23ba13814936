/** Slack text as the console shows it: mentions as @names, dates in local time, escapes undone. */
import { SANDBOX_USERS } from "../runtime/stack";

/** A sandbox user's name, from their id. */
export function userName(id: string | undefined): string {
  return SANDBOX_USERS.find((u) => u.id === id)?.name ?? id ?? "?";
}

/** What Slack's clients would show for a message text. */
export function readableText(text: string): string {
  return (
    text
      .replace(/<@([A-Z0-9]+)>/g, (_, id: string) => `@${userName(id)}`)
      // Slack shows <!date^…|fallback> in each reader's timezone; the console shows local time.
      .replace(/<!date\^(\d+)\^[^|>]*\|[^>]*>/g, (_, s: string) =>
        new Date(Number(s) * 1000).toLocaleTimeString(),
      )
      // What Slack's clients show for escaped text.
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&amp;/g, "&")
  );
}
