/**
 * The App Home tab end to end: people open it in the Slack emulator (a signed app_home_opened into
 * the real Bolt app), the worker migrates a VM through the sandbox, proposals are stored and posted,
 * and each person's tab, as views.publish left it, shows what they may see and follows the changes
 * at a bounded pace.
 */
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runConsole } from "../../src/cli/console-chat";
import type { ProposalDraft } from "../../src/fixes/proposal";
import { PUBLISH_VIEW_PER_WORKSPACE_PER_MINUTE } from "../../src/notify/limiter";
import { SANDBOX_CHANNEL, type SandboxStack } from "../../src/runtime/stack";
import { DEFAULT_SEED, type SeedVm } from "../../src/sandbox/seed";
import type { HomeViewEvent } from "../../src/sandbox/slack/emulator";
import { expectInert, HOSTILE_VM } from "../support/hostile";
import { startTestStack } from "../support/sandbox-stack";
import { until } from "../support/until";

const ALICE = "U0ALICE01";
const BOB = "U0BOB0001";
const CAROL = "U0CAROL01";
/** Home publishes per user at most this often in this test (3 s by default). */
const HOME_INTERVAL_MS = 300;
const STEP_TIMEOUT_MS = 30_000;

/** A tenant-named VM, 2 GiB over a 20 MiB/s link: pre-copy lasts long enough to be seen running. */
const HOSTILE: SeedVm = {
  name: HOSTILE_VM,
  uuid: "5a1dc0de-7e57-4b1d-9c1a-0000000000f1",
  instanceId: 0xf1,
  host: "compute-1",
  flavor: { name: "m1.small", ramMb: 2048, vcpus: 1, diskGb: 20 },
  dirtyRateMiBps: 1,
  workingSetMiB: 16,
  zeroPageFraction: 0.1,
};
const SLOW_LINK = { a: "compute-1", b: "compute-2", bandwidthMiBps: 20 };

let stack: SandboxStack;
const published: HomeViewEvent[] = [];

beforeAll(async () => {
  stack = await startTestStack("home", {
    timeScale: 20,
    homeIntervalMs: HOME_INTERVAL_MS,
    seed: { ...DEFAULT_SEED, vms: [...DEFAULT_SEED.vms, HOSTILE], links: [...DEFAULT_SEED.links, SLOW_LINK] },
  });
  stack.slack.events.on("home", (e: HomeViewEvent) => published.push(e));
});

afterAll(async () => {
  await stack?.stop();
});

/** The text of a person's Home tab now ("" before the app published one). */
function homeText(user: string): string {
  return JSON.stringify(stack.slack.homeView(user)?.blocks ?? []);
}

function waitForHome(what: string, user: string, test: (text: string) => boolean): Promise<string> {
  return until(what, () => (test(homeText(user)) ? homeText(user) : undefined), {
    timeoutMs: STEP_TIMEOUT_MS,
    intervalMs: 50,
    explain: () => `${user}'s Home tab: ${homeText(user)}`,
  });
}

/** When the state a person's tab shows was read, in seconds (its "updated <date>" line). */
function updatedAtS(user: string): number {
  const m = /updated <!date\^(\d+)\^/.exec(homeText(user));
  return m ? Number(m[1]) : 0;
}

function draft(title: string): ProposalDraft {
  return {
    kind: "auto-converge",
    title,
    reasoning: "Pre-copy is not converging: the guest dirties memory faster than the link sends it.",
    warnings: [],
    changes: [],
    recipes: [],
    serviceRestarts: [],
    vmRestarts: [],
    blockers: [],
  };
}

const origin = { requestedBy: ALICE, channel: SANDBOX_CHANNEL.id, threadTs: null };

describe("the App Home tab", () => {
  test("shows each person what they may see: proposals only to approvers", async () => {
    for (const user of ["bob", "carol", "alice"]) {
      const res = await stack.slack.openAppHome({ user });
      expect(res.status).toBe(200);
      expect(res.ackMs).toBeLessThan(3000);
    }
    const bob = await waitForHome("bob's Home tab", BOB, (t) => t.includes("Running now"));
    expect(bob).toContain("Nothing is migrating right now");
    expect(bob).toContain("Waiting for your approval* (0)");
    const carol = await waitForHome("carol's Home tab", CAROL, (t) => t.includes("Running now"));
    expect(carol).not.toContain("Waiting for your approval");

    const p = await stack.proposals.propose(draft("Enable libvirt auto-converge on compute-1"), origin);
    const withProposal = await waitForHome("the proposal on bob's tab", BOB, (t) =>
      t.includes("Enable libvirt auto-converge on compute-1"),
    );
    expect(withProposal).toContain("Waiting for your approval* (1)");
    // The Review button goes to the proposal's own message.
    const stored = await stack.proposals.get(p.id);
    expect(withProposal).toContain(`/archives/${SANDBOX_CHANNEL.id}/p${stored!.messageTs!.replace(".", "")}`);
    await stack.home.idle();
    // Carol and Alice (an operator, not an approver) were shown the state after the proposal too
    // ("updated" no earlier than it), without it.
    for (const user of [CAROL, ALICE]) {
      expect(updatedAtS(user)).toBeGreaterThanOrEqual(Math.floor(stored!.createdAt / 1000));
      expect(homeText(user)).not.toContain("auto-converge");
      expect(homeText(user)).not.toContain("Waiting for your approval");
    }

    // Bob rejects it in the channel: it leaves his tab.
    await stack.slack.clickButton({
      user: "bob",
      channel: "ops",
      messageTs: stored!.messageTs!,
      label: "Reject",
    });
    await waitForHome("the proposal gone from bob's tab", BOB, (t) =>
      t.includes("Waiting for your approval* (0)"),
    );
  });

  test("follows a migration of a hostile-named VM from running to its outcome, inert throughout", async () => {
    const views: unknown[] = [];
    const collect = (e: HomeViewEvent) => views.push(e.blocks);
    stack.slack.events.on("home", collect);
    const res = await stack.slack.slashCommand({
      user: "alice",
      channel: "ops",
      command: "/migrate",
      text: `${HOSTILE.uuid} to compute-2`,
    });
    expect(res.status).toBe(200);
    const running = await waitForHome(
      "the migration running on bob's tab",
      BOB,
      (t) => /Running now\* \(1\)/.test(t) && t.includes("&lt;!channel&gt;"),
    );
    expect(running).toContain("`compute-1` → `compute-2`");
    expect(running).toMatch(/Pre-migration|Reservation|Iterative pre-copy|Stop-and-copy|Commitment|starting/);
    const root = stack.slack.messages("ops").find((m) => m.text.includes("evil.example"));
    expect(root).toBeDefined();
    expect(running).toContain(`/archives/${SANDBOX_CHANNEL.id}/p${root!.ts.replace(".", "")}`);

    const done = await waitForHome(
      "the outcome on bob's tab",
      BOB,
      (t) => /Running now\* \(0\)/.test(t) && t.includes("Completed in"),
    );
    expect(done).toContain("Last outcomes* (1)");
    expect(done).toContain("&lt;!channel&gt;");
    stack.slack.events.off("home", collect);
    // Every view anyone was shown on the way was inert.
    expect(views.length).toBeGreaterThanOrEqual(2);
    expectInert(views, [ALICE, BOB, CAROL]);
  });

  test("a burst of changes costs a bounded number of publishes, and the latest state is shown", async () => {
    await stack.home.idle();
    const before = published.filter((e) => e.user === BOB).length;
    const allBefore = published.length;
    const started = Date.now();
    // 100 changes over ~2 s, then a proposal: the last state bob must end up seeing.
    for (let i = 0; i < 100; i++) {
      stack.home.changed();
      await new Promise((r) => setTimeout(r, 20));
    }
    await stack.proposals.propose(draft("Enable libvirt auto-converge on compute-2 (last)"), origin);
    await waitForHome("the last proposal on bob's tab", BOB, (t) => t.includes("compute-2 (last)"));
    await stack.home.idle();
    const elapsedMs = Date.now() - started;
    const bobPublishes = published.filter((e) => e.user === BOB).length - before;
    const allPublishes = published.length - allBefore;
    // Per person: one per interval at most, plus the one that may start each end of the window.
    expect(bobPublishes).toBeGreaterThanOrEqual(1);
    expect(bobPublishes).toBeLessThanOrEqual(Math.ceil(elapsedMs / HOME_INTERVAL_MS) + 2);
    // For everyone: within the notifier's views.publish pace (90 a minute), however many changes.
    expect(allPublishes).toBeLessThanOrEqual(
      Math.ceil((elapsedMs * PUBLISH_VIEW_PER_WORKSPACE_PER_MINUTE) / 60_000) + 3,
    );
    expect(allPublishes).toBeLessThan(100 / 4);
    expect(stack.slack.stats().rateLimited["views.publish"] ?? 0).toBe(0);
  });

  test("the console's /home prints the tab as the person sees it", async () => {
    const run = async (user: string, more: string[] = []) => {
      const lines: string[] = [];
      const code = await runConsole(stack, {
        json: false,
        user,
        out: (l) => lines.push(l),
        input: Readable.from(["/home\n", ...more]),
      });
      return { code, text: lines.join("\n") };
    };
    await stack.proposals.propose(draft(`Restart ${HOSTILE_VM}`), origin);
    const bob = await run("bob");
    expect(bob.code).toBe(0);
    expect(bob.text).toContain("══ migbot: live migrations ══");
    expect(bob.text).toMatch(/For @bob · updated/);
    expect(bob.text).toContain("*Running now* (");
    // Text reads as Slack's client shows it: the tenant's text as typed (escaped in the view).
    expect(bob.text).toMatch(/Restart <!channel> <https:\/\/evil\.example\|re-approve here>.*\[Review\]/);
    expect(bob.text).toContain("*Last outcomes* (");
    const carol = await run("carol", ["as alice /migrate vm-42 to compute-3\n"]);
    expect(carol.code).toBe(0);
    // Her tab then updates itself as the migration runs and ends: the console says so.
    const before = Number(/\*Last outcomes\* \((\d+)\)/.exec(carol.text)?.[1]);
    expect(carol.text).toContain(
      `@carol's Home tab updated: running now 0 · drains 0 · last outcomes ${before + 1}`,
    );
    // The drains the tab lists come from the drain store (none here: the section says so).
    expect(carol.text).toContain("No host is being drained.");
    expect(carol.text).toContain("Last outcomes");
    expect(carol.text).not.toContain("Waiting for your approval");
  });
});
