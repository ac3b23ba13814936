/**
 * Names and texts an outsider controls (a tenant names VMs; hosts, libvirt and Nova write the
 * rest), each trying to break out of mrkdwn into a mention or a link, and the check that what
 * migbot posted stayed inert.
 */
import { expect } from "vitest";

/** The VM name the review found pinging the channel with a link through migbot's own messages. */
export const HOSTILE_VM = "<!channel> <https://evil.example|re-approve here>";

/** More of the same: through a code span, through bold, doubly escaped, a user mention, a bare link. */
export const HOSTILE_TEXTS = [
  HOSTILE_VM,
  "`<!here>` *<!everyone>* _x_ ~y~",
  "<@U0EVIL001> &lt;!channel&gt; <#C0OPS0001>",
  "<http://evil.example> <mailto:x@evil.example|mail>",
] as const;

// Slack's date token as bot/render/format.ts slackDate writes it: the only `<!…>` migbot posts.
const DATE_TOKEN = /^<!date\^\d+\^\{date_short_pretty\} \{time_secs\}\|[^<>]*>$/;

/** Every Slack control sequence (`<…>`) in a message, its text and its blocks. */
export function controlSequences(posted: unknown): string[] {
  const text = typeof posted === "string" ? posted : JSON.stringify(posted);
  return text.match(/<[^<>]*>/g) ?? [];
}

/**
 * Asserts that `posted` (a message, a list of them, or text) pings nobody and links nowhere: no
 * `<!channel>`, `<!here>`, `<!everyone>`, no `<http…>`, and no control sequence but Slack dates
 * and mentions of `people` (the user ids of the people involved, whom migbot names itself).
 */
export function expectInert(posted: unknown, people: readonly string[] = []): void {
  const text = typeof posted === "string" ? posted : JSON.stringify(posted);
  for (const bad of ["<!channel", "<!here", "<!everyone", "<http", "<mailto", "<#"]) {
    expect(text, `posted text contains ${bad}`).not.toContain(bad);
  }
  const allowed = new Set(people.map((p) => `<@${p}>`));
  expect(controlSequences(text).filter((s) => !allowed.has(s) && !DATE_TOKEN.test(s))).toEqual([]);
}
