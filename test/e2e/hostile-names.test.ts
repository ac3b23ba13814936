/**
 * Tenant-chosen names end to end: VMs whose Nova names are Slack mrkdwn meant to ping the channel,
 * link elsewhere or break out of bold and code, migrated by their ids through the real Bolt app,
 * Redis, BullMQ and the sandbox. Every message of their threads (text and blocks, every edit), and
 * the private answers about them, must be inert: no `<!…>`, no link, no mention but migbot's own
 * of the people involved, while still showing the names (escaped).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SANDBOX_CHANNEL, type SandboxStack } from "../../src/runtime/stack";
import { DEFAULT_SEED, type SeedVm } from "../../src/sandbox/seed";
import type { SlackMessageEvent, StoredMessage } from "../../src/sandbox/slack/emulator";
import { expectInert } from "../support/hostile";
import { settled, startTestStack } from "../support/sandbox-stack";
import { type SlackChannel, slackChannel } from "../support/slack-threads";

const LINK_NAME = "<!channel> <https://evil.example|re-approve here>";
const MARKUP_NAME = "`*db*` <!here> ```x``` <@U0BOB0001>";
/** Ids clear of the default seed's (0x07…0x81). */
const LINK_VM: SeedVm = {
  name: LINK_NAME,
  uuid: "5a1dc0de-7e57-4b1d-9c1a-0000000000e1",
  instanceId: 0xe1,
  host: "compute-3",
  flavor: { name: "m1.small", ramMb: 2048, vcpus: 1, diskGb: 20 },
  dirtyRateMiBps: 1,
  workingSetMiB: 16,
  zeroPageFraction: 0.7,
};
/** 8 GiB over a slow link (below): minutes of pre-copy, time enough to press Abort. */
const MARKUP_VM: SeedVm = {
  name: MARKUP_NAME,
  uuid: "5a1dc0de-7e57-4b1d-9c1a-0000000000e2",
  instanceId: 0xe2,
  host: "compute-1",
  flavor: { name: "m1.large", ramMb: 8192, vcpus: 4, diskGb: 80 },
  dirtyRateMiBps: 8,
  workingSetMiB: 64,
  zeroPageFraction: 0.1,
};
/** compute-1 → compute-2 at 20 MiB/s: the 8 GiB guest's first pass alone takes ~7 model minutes. */
const SLOW_LINK = { a: "compute-1", b: "compute-2", bandwidthMiBps: 20 };
const ALICE = "U0ALICE01";
/** The people migbot itself names in these threads: the requester (who also pressed Abort). */
const OWN_MENTIONS = [ALICE];

/** Each wait is bounded; the sandbox runs 20 model seconds per real second. */
const STEP_TIMEOUT_MS = 20_000;

let stack: SandboxStack;
let ops: SlackChannel;
const events: SlackMessageEvent[] = [];

beforeAll(async () => {
  stack = await startTestStack("hostile", {
    timeScale: 20,
    seed: {
      ...DEFAULT_SEED,
      vms: [...DEFAULT_SEED.vms, LINK_VM, MARKUP_VM],
      links: [...DEFAULT_SEED.links, SLOW_LINK],
    },
  });
  ops = slackChannel(stack.slack, { timeoutMs: STEP_TIMEOUT_MS });
  stack.slack.events.on("message", (e: SlackMessageEvent) => events.push(e));
});
afterAll(async () => {
  await stack?.stop();
});

function roots(): StoredMessage[] {
  return ops.roots();
}

function waitFor<T>(what: string, fn: () => T | undefined | null | false): Promise<T> {
  return ops.waitFor(what, fn);
}

/** Every string in a message's text and blocks. */
function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(strings);
  return [];
}

async function migrate(text: string): Promise<StoredMessage> {
  await settled(stack);
  return ops.commandRoot("alice", "/migrate", text);
}

/** The thread as posted, and every version of its messages the channel saw (posts and edits). */
function everything(rootTs: string): string[] {
  const root = roots().find((r) => r.ts === rootTs)!;
  const now = [root, ...root.replies].flatMap((m) => [m.text, ...strings(m.blocks)]);
  const ts = new Set([root.ts, ...root.replies.map((r) => r.ts)]);
  const seen = events
    .filter((e) => ts.has(e.ts) || e.thread_ts === rootTs)
    .flatMap((e) => [e.text, ...strings(e.blocks)]);
  expect(seen.length).toBeGreaterThan(now.length);
  return [...now, ...seen];
}

describe("VMs with hostile names, migrated by id", () => {
  test("a completed migration's thread shows the name, escaped, and nothing in it pings or links", async () => {
    const root = await migrate(`${LINK_VM.uuid} to compute-4`);
    const done = await waitFor("completion", () => {
      const r = roots().find((m) => m.ts === root.ts);
      return r && /Completed/.test(r.text) ? r : undefined;
    });
    expect((await stack.nova.getServer(LINK_VM.uuid)).host).toBe("compute-4");
    // The chart shared at the end is a file share of its own (test/e2e/charts.test.ts); the phases are the replies.
    const phases = done.replies.filter((r) => r.files === undefined);
    expect(phases.map((r) => /^[A-Z][a-z-]+( pre-copy)?/.exec(r.text)?.[0])).toEqual([
      "Pre-migration",
      "Reservation",
      "Iterative pre-copy",
      "Stop-and-copy",
      "Commitment",
    ]);
    // The name is shown (escaped), in the root's text and blocks and in the replies that name the VM.
    expect(done.text).toContain("&lt;!channel&gt; &lt;https://evil.example|re-approve here&gt;");
    expect(JSON.stringify(done.blocks)).toContain("&lt;!channel&gt;");
    expect(done.replies.find((r) => r.text.startsWith("Commitment"))!.text).toContain("&lt;!channel&gt;");
    expectInert(everything(root.ts), OWN_MENTIONS);
    // The chart's message, title and alt text name the VM too: escaped, inert.
    const chart = await waitFor("the chart", () =>
      roots()
        .find((m) => m.ts === root.ts)
        ?.replies.find((r) => r.files !== undefined),
    );
    expect(chart.text).toContain("&lt;!channel&gt;");
    const file = stack.slack.file(chart.files![0]!.id)!;
    expectInert([chart.text, file.title, file.altText ?? ""], OWN_MENTIONS);

    await stack.slack.slashCommand({
      user: "alice",
      channel: "ops",
      command: "/migrate",
      text: `status ${LINK_VM.uuid}`,
    });
    const status = await waitFor("the status answer", () =>
      stack.slack.ephemeralMessages(ALICE).find((m) => m.text.includes("evil.example")),
    );
    expect(status.text).toMatch(/compute-3 → compute-4 — completed/);
    expectInert(status.text, OWN_MENTIONS);
  });

  test("an aborted migration: the failure reply and the warning-free thread stay inert, Abort named by mention", async () => {
    const root = await migrate(`${MARKUP_VM.uuid} to compute-2`);
    await waitFor("the root's Abort button", () =>
      stack.slack.findButtons(SANDBOX_CHANNEL.id).find((b) => b.messageTs === root.ts && b.label === "Abort"),
    );
    // The pre-copy reply means the record in Redis has Nova's migration id (what Abort acts on).
    await waitFor("the pre-copy reply", () =>
      roots()
        .find((m) => m.ts === root.ts)
        ?.replies.find((r) => r.text.startsWith("Iterative pre-copy")),
    );
    await stack.slack.clickButton({ user: "alice", channel: "ops", messageTs: root.ts, label: "Abort" });
    const aborted = await waitFor("the aborted root", () => {
      const r = roots().find((m) => m.ts === root.ts);
      return r && /Aborted after/.test(r.text) ? r : undefined;
    });
    expect((await stack.nova.getServer(MARKUP_VM.uuid)).host).toBe("compute-1");
    const failure = aborted.replies.find((r) => /was aborted during/.test(r.text))!;
    expect(failure.text).toContain(`(abort requested by <@${ALICE}>)`);
    // The bold cannot be ended early or turned into code: the name's `*` and backticks are shown as look-alikes, its `<` escaped.
    expect(JSON.stringify(failure.blocks)).toContain(
      "*ˋ∗db∗ˋ &lt;!here&gt; ˋˋˋxˋˋˋ &lt;@U0BOB0001&gt; was aborted during iterative pre-copy*",
    );
    expectInert(everything(root.ts), OWN_MENTIONS);
    const answers = stack.slack.ephemeralMessages(ALICE).map((m) => m.text);
    expect(answers.some((t) => /Asked Nova to abort/.test(t))).toBe(true);
    expectInert(answers, OWN_MENTIONS);
  });
});
