/**
 * Migration tracking end to end, on the sandbox: `db-1` (8 GiB, dirtying 300 MiB/s over 1 GiB) on
 * compute-1 cannot converge over its 1 GbE link to compute-2 without auto-converge. The thread must
 * say so by the third pre-copy iteration with the numbers and buttons; Abort and Force complete must
 * work from the buttons and from `/migrate abort|force-complete`; Nova's own timeouts must be
 * explained with nova-compute's log lines; and when `virsh domjobinfo` cannot be read the tracker
 * must fall back to the log, then to Nova's counters, and say which it used.
 *
 * The sandbox clock is driven by the test (time scale 0 + `advance`), so a scenario can run at
 * 10 model seconds per real second while the tracker watches iterations, and faster while waiting
 * for Nova's timeouts.
 */
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from "vitest";
import { PROGRESS_EDIT_MIN_INTERVAL_MS } from "../../src/migration/tracker";
import { SANDBOX_CHANNEL, type SandboxStack } from "../../src/runtime/stack";
import type { SandboxMigration } from "../../src/sandbox/cloud";
import type { SlackMessageEvent, StoredMessage } from "../../src/sandbox/slack/emulator";
import { settled, startTestStack } from "../support/sandbox-stack";
import { type SlackChannel, slackChannel } from "../support/slack-threads";

/** Model seconds per real second while the tracker watches pre-copy iterations (~9 model s each). */
const WATCH_SPEED = 10;
/** Model seconds per real second while waiting for Nova's own timeouts. */
const FAST_SPEED = 60;
const CLOCK_TICK_MS = 50;
/** 2 model seconds per poll at WATCH_SPEED: about four polls per iteration, as at 2 s in production. */
const POLL_INTERVAL_MS = 200;
/** The first pass runs fast until this much is left (the last seconds before the first sync run at WATCH_SPEED). */
const FIRST_PASS_SLOW_BELOW_BYTES = 2 * 1024 ** 3;
const WAIT_MS = 20_000;

const ALICE = "U0ALICE01";
const CAROL = "U0CAROL01";

interface Harness {
  stack: SandboxStack;
  ops: SlackChannel;
  speed: number;
  /**
   * Run most of the first pass over memory (~30 model s, nothing to judge yet) at FAST_SPEED once
   * the thread's pre-copy reply is up (before that the tracker is busy posting phase replies).
   */
  fastFirstPass: boolean;
  timer: NodeJS.Timeout;
  events: SlackMessageEvent[];
}

async function startHarness(): Promise<Harness> {
  const stack = await startTestStack("track", { timeScale: 0, pollIntervalMs: POLL_INTERVAL_MS });
  const h: Harness = {
    stack,
    ops: slackChannel(stack.slack, { timeoutMs: WAIT_MS, intervalMs: 50 }),
    speed: WATCH_SPEED,
    fastFirstPass: true,
    timer: undefined as unknown as NodeJS.Timeout,
    events: [],
  };
  const cloud = stack.sandbox.cloud;
  h.timer = setInterval(() => {
    const firstPass =
      h.fastFirstPass &&
      cloud.migrations.some(
        (m) =>
          m.record.status === "running" &&
          m.job !== null &&
          m.job.iteration === 1 &&
          m.job.remainingBytes > FIRST_PASS_SLOW_BELOW_BYTES,
      ) &&
      stack.slack
        .messages(SANDBOX_CHANNEL.id)
        .at(-1)
        ?.replies.some((r) => r.text.startsWith("Iterative pre-copy"));
    cloud.advance((CLOCK_TICK_MS / 1000) * (firstPass ? Math.max(h.speed, FAST_SPEED) : h.speed));
  }, CLOCK_TICK_MS);
  stack.slack.events.on("message", (e: SlackMessageEvent) => h.events.push(e));
  return h;
}

async function stopHarness(h: Harness | undefined): Promise<void> {
  if (!h) return;
  clearInterval(h.timer);
  await h.stack.stop();
}

function rootOf(h: Harness, ts: string): StoredMessage {
  return h.ops.root(ts);
}

function replyStarting(h: Harness, rootTs: string, prefix: string | RegExp): StoredMessage | undefined {
  return h.ops.reply(rootTs, prefix);
}

function latestMigration(h: Harness, vm: string): SandboxMigration {
  const m = [...h.stack.sandbox.cloud.migrations].reverse().find((x) => x.vm.name === vm);
  if (!m) throw new Error(`no sandbox migration of ${vm}`);
  return m;
}

/** db-1 runs on compute-1 or compute-2 (the only Mitaka pair); migrate it to the other one. */
async function migrateDb(h: Harness): Promise<{ rootTs: string; source: string; dest: string }> {
  await settled(h.stack);
  const server = await h.stack.nova.findServer("db-1");
  const source = server!.host!;
  const dest = source === "compute-1" ? "compute-2" : "compute-1";
  const root = await h.ops.commandRoot("alice", "/migrate", `db-1 to ${dest}`);
  return { rootTs: root.ts, source, dest };
}

const notConvergingRe = /is not converging/;

describe("db-1 on the sandbox: verdict, buttons and commands", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await stopHarness(h);
  });

  test("is flagged not converging by its third iteration, with the numbers and buttons; Abort from the warning leaves it on its source", async () => {
    h.speed = WATCH_SPEED;
    let sandboxIterationAtWarning: number | null = null;
    const onMessage = (e: SlackMessageEvent) => {
      if (e.type === "post" && notConvergingRe.test(e.text) && sandboxIterationAtWarning === null) {
        sandboxIterationAtWarning = latestMigration(h, "db-1").job?.iteration ?? null;
      }
    };
    h.stack.slack.events.on("message", onMessage);
    const { rootTs, source } = await migrateDb(h);
    expect(source).toBe("compute-1");

    const warning = await h.ops.waitFor("the not-converging warning", () =>
      replyStarting(h, rootTs, notConvergingRe),
    );
    h.stack.slack.events.off("message", onMessage);
    const shown = Number(/judged in pre-copy iteration (\d+)/.exec(warning.text)?.[1]);
    expect(shown).toBeGreaterThanOrEqual(3);
    expect(shown).toBeLessThanOrEqual(3);
    // The sandbox's own counter when the warning was posted: still the third iteration.
    expect(sandboxIterationAtWarning).not.toBeNull();
    expect(sandboxIterationAtWarning!).toBeLessThanOrEqual(3);
    // The numbers: per-iteration minima, dirty vs transfer rate, expected vs final allowed downtime
    // (compute-1 runs Mitaka with nova's defaults: 500 ms final, 150 s progress timeout).
    expect(warning.text).toMatch(
      /min remaining per iteration: #1 [\d.]+ (GiB|MiB) · #2 [\d.]+ (GiB|MiB) · #3/,
    );
    expect(warning.text).toMatch(/dirty rate ≥ \d+(\.\d)? MiB\/s against transfer rate 112 MiB\/s/);
    expect(warning.text).toMatch(/expected downtime [\d.]+ s against a final allowed downtime of 500 ms/);
    expect(warning.text).toMatch(/no new low for 150 s \(live_migration_progress_timeout on mitaka\)/);
    const buttons = h.stack.slack.findButtons(SANDBOX_CHANNEL.id).filter((b) => b.messageTs === warning.ts);
    expect(buttons.map((b) => b.label).sort()).toEqual(["Abort", "Force complete"]);
    // The root says so too (its edit may trail the warning on a loaded machine), and still offers Abort.
    await h.ops.waitFor("the root's not-converging status", () =>
      /Not converging in pre-copy/.test(rootOf(h, rootTs).text),
    );
    expect(JSON.stringify(rootOf(h, rootTs).blocks)).toContain("migration_abort");

    // Carol has no role: refused privately; Alice (operator) may not force-complete.
    await h.stack.slack.clickButton({ user: "carol", channel: "ops", messageTs: warning.ts, label: "Abort" });
    await h.ops.waitFor("carol's refusal", () =>
      h.stack.slack.ephemeralMessages(CAROL).find((m) => /Only migbot operators may abort/.test(m.text)),
    );
    await h.stack.slack.clickButton({
      user: "alice",
      channel: "ops",
      messageTs: warning.ts,
      label: "Force complete",
    });
    await h.ops.waitFor("alice's refusal", () =>
      h.stack.slack
        .ephemeralMessages(ALICE)
        .find((m) => /Only migbot approvers may force-complete/.test(m.text)),
    );
    expect(latestMigration(h, "db-1").job?.paused).toBe(false);

    await h.stack.slack.clickButton({ user: "alice", channel: "ops", messageTs: warning.ts, label: "Abort" });
    const root = await h.ops.waitFor("the aborted root", () => {
      const r = rootOf(h, rootTs);
      return /Aborted after/.test(r.text) ? r : undefined;
    });
    expect(root.text).toMatch(/the VM keeps running on `compute-1`/);
    expect(JSON.stringify(root.blocks)).not.toContain("migration_abort");
    const failure = replyStarting(h, rootTs, /db-1 was aborted during iterative pre-copy/)!;
    expect(failure.text).toMatch(/abort requested by <@U0ALICE01>/);
    expect(JSON.stringify(failure.blocks)).toMatch(/Migration operation was cancelled/);
    const edited = replyStarting(h, rootTs, notConvergingRe)!;
    expect(edited.text).toMatch(/Aborted by <@U0ALICE01>; the VM keeps running on compute-1/);
    expect(JSON.stringify(edited.blocks)).not.toContain("migration_force_complete");
    expect((await h.stack.nova.findServer("db-1"))?.host).toBe("compute-1");
    expect(latestMigration(h, "db-1").record.status).toBe("cancelled");
  });

  // Nova's 150 s progress timeout, driven by the test's clock: slower when the machine is busy.
  test("Nova's progress timeout (Mitaka) is reported with the nova-compute line that explains it", {
    timeout: 120_000,
  }, async () => {
    const { rootTs } = await migrateDb(h);
    await h.ops.waitFor("the warning", () => replyStarting(h, rootTs, notConvergingRe));
    h.speed = FAST_SPEED;
    try {
      const failure = await h.ops.waitFor("the failure reply", () =>
        replyStarting(h, rootTs, /db-1 failed during iterative pre-copy/),
      );
      expect(failure.text).toMatch(/MIGRATION_PROGRESS_TIMEOUT: Nova aborted the live migration after \d+ s/);
      const quoted = JSON.stringify(failure.blocks);
      expect(quoted).toMatch(
        /compute-1: \d{4}-\d\d-\d\d [\d:.]+ \d+ WARNING nova\.virt\.libvirt\.driver .*Live migration stuck for \d+ sec/,
      );
      expect(quoted).toContain("[instance: 5a1dc0de-7e57-4b1d-9c1a-000000000031]");
      // Only db-1's lines are quoted, and only its latest migration's (not the earlier abort).
      expect(quoted).not.toMatch(/Migration operation was cancelled/);
      await h.ops.waitFor("the final root", () =>
        /Failed during iterative pre-copy/.test(rootOf(h, rootTs).text),
      );
      const warning = replyStarting(h, rootTs, notConvergingRe)!;
      expect(warning.text).toMatch(/Nova ended it: .*MIGRATION_PROGRESS_TIMEOUT/);
      expect(JSON.stringify(warning.blocks)).not.toContain("migration_abort");
      expect((await h.stack.nova.findServer("db-1"))?.host).toBe("compute-1");
    } finally {
      h.speed = WATCH_SPEED;
    }
  });

  test("the root message's Abort works at any time, before any verdict", async () => {
    h.fastFirstPass = false;
    onTestFinished(() => {
      h.fastFirstPass = true;
    });
    const { rootTs, source } = await migrateDb(h);
    await h.ops.waitFor("the root's Abort button", () =>
      h.stack.slack
        .findButtons(SANDBOX_CHANNEL.id)
        .find((b) => b.messageTs === rootTs && b.label === "Abort"),
    );
    await h.ops.waitFor("the pre-copy reply", () => replyStarting(h, rootTs, "Iterative pre-copy"));
    expect(latestMigration(h, "db-1").job?.iteration).toBe(1);
    await h.stack.slack.clickButton({ user: "alice", channel: "ops", messageTs: rootTs, label: "Abort" });
    await h.ops.waitFor("the aborted root", () => /Aborted after/.test(rootOf(h, rootTs).text));
    expect(replyStarting(h, rootTs, notConvergingRe)).toBeUndefined();
    expect((await h.stack.nova.findServer("db-1"))?.host).toBe(source);
  });

  test("/migrate abort db-1 and /migrate force-complete db-1 (approvers only)", async () => {
    const first = await migrateDb(h);
    await h.ops.waitFor("the warning", () => replyStarting(h, first.rootTs, notConvergingRe));
    const abort = await h.stack.slack.slashCommand({
      user: "alice",
      channel: "ops",
      command: "/migrate",
      text: "abort db-1",
    });
    expect(abort.status).toBe(200);
    await h.ops.waitFor("the aborted root", () => /Aborted after/.test(rootOf(h, first.rootTs).text));
    expect((await h.stack.nova.findServer("db-1"))?.host).toBe(first.source);

    const second = await migrateDb(h);
    await h.ops.waitFor("the pre-copy reply", () => replyStarting(h, second.rootTs, "Iterative pre-copy"));
    await h.ops.waitFor("Nova running the job", () => latestMigration(h, "db-1").record.status === "running");
    const refused = await h.stack.slack.slashCommand({
      user: "alice",
      channel: "ops",
      command: "/migrate",
      text: "force-complete db-1",
    });
    expect(refused.responseText).toMatch(/Only migbot approvers may force-complete/);
    const forced = await h.stack.slack.slashCommand({
      user: "bob",
      channel: "ops",
      command: "/migrate",
      text: "force-complete db-1",
    });
    expect(forced.status).toBe(200);
    await h.ops.waitFor("completion", () => /Completed in/.test(rootOf(h, second.rootTs).text));
    expect(replyStarting(h, second.rootTs, "Stop-and-copy")!.text).toMatch(/downtime \d+ (s|ms)/);
    expect((await h.stack.nova.findServer("db-1"))?.host).toBe(second.dest);
  });
});

describe("db-1 on a fresh sandbox: Slack's budget", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await stopHarness(h);
  });

  test("keeps Slack's budget: one root, one reply per phase, few edits", async () => {
    const rootsBefore = h.stack.slack.messages(SANDBOX_CHANNEL.id).length;
    /** When each message was posted and each of its edits arrived, by message ts. */
    const postedAt = new Map<string, number>();
    const editedAt = new Map<string, number[]>();
    const onMessage = (e: SlackMessageEvent) => {
      if (e.type === "post") postedAt.set(e.ts, Date.now());
      if (e.type === "update") editedAt.set(e.ts, [...(editedAt.get(e.ts) ?? []), Date.now()]);
    };
    h.stack.slack.events.on("message", onMessage);
    onTestFinished(() => {
      h.stack.slack.events.off("message", onMessage);
    });
    const { rootTs } = await migrateDb(h);
    const precopy = await h.ops.waitFor("the pre-copy reply", () =>
      replyStarting(h, rootTs, "Iterative pre-copy"),
    );
    await h.ops.waitFor("the warning", () => replyStarting(h, rootTs, notConvergingRe));
    // Let the tracker poll (every 200 ms) long enough to want many progress edits.
    await h.ops.waitFor("two progress edits", () => (editedAt.get(precopy.ts)?.length ?? 0) >= 2, 30_000);
    const abort = await h.stack.slack.slashCommand({
      user: "alice",
      channel: "ops",
      command: "/migrate",
      text: "abort db-1",
    });
    expect(abort.status).toBe(200);
    await h.ops.waitFor("the aborted root", () => /Aborted after/.test(rootOf(h, rootTs).text));
    await settled(h.stack);

    // One root for the request.
    expect(h.stack.slack.messages(SANDBOX_CHANNEL.id).length).toBe(rootsBefore + 1);
    // One reply per phase (and one warning, one end), never a second copy.
    const titles = rootOf(h, rootTs).replies.map(
      (r) =>
        /^(Pre-migration|Reservation|Iterative pre-copy|Stop-and-copy|Commitment)\b/.exec(r.text)?.[1] ??
        (notConvergingRe.test(r.text)
          ? "warning"
          : /was aborted|failed during/.test(r.text)
            ? "end"
            : r.text),
    );
    expect(titles).toEqual(expect.arrayContaining(["Pre-migration", "Iterative pre-copy", "warning", "end"]));
    expect(new Set(titles).size).toBe(titles.length);
    // Progress edits are paced: at most one per PROGRESS_EDIT_MIN_INTERVAL_MS over the reply's life,
    // however often the tracker polled, plus the one urgent edit that shows the end.
    const edits = editedAt.get(precopy.ts) ?? [];
    const lifeMs = Math.max(...edits) - postedAt.get(precopy.ts)!;
    expect(rootOf(h, rootTs).replies.find((r) => r.ts === precopy.ts)!.edits).toBe(edits.length);
    expect(edits.length).toBeLessThanOrEqual(Math.floor(lifeMs / PROGRESS_EDIT_MIN_INTERVAL_MS) + 1);
    expect(h.stack.slack.stats().rateLimited).toEqual({});
  });
});

describe("db-1 on a fresh sandbox: Force complete from the warning", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await stopHarness(h);
  });

  test("Force complete from the warning: refused for carol, done for bob (approver), downtime shown", async () => {
    const { rootTs, dest } = await migrateDb(h);
    const warning = await h.ops.waitFor("the warning", () => replyStarting(h, rootTs, notConvergingRe));
    await h.stack.slack.clickButton({
      user: "carol",
      channel: "ops",
      messageTs: warning.ts,
      label: "Force complete",
    });
    await h.ops.waitFor("carol's refusal", () =>
      h.stack.slack
        .ephemeralMessages(CAROL)
        .find((m) => /Only migbot approvers may force-complete/.test(m.text)),
    );
    await h.stack.slack.clickButton({
      user: "bob",
      channel: "ops",
      messageTs: warning.ts,
      label: "Force complete",
    });
    const root = await h.ops.waitFor("completion", () => {
      const r = rootOf(h, rootTs);
      return /Completed in/.test(r.text) ? r : undefined;
    });
    expect(root.text).toMatch(/downtime \d+(\.\d+)? ?(s|ms)/);
    expect(replyStarting(h, rootTs, "Stop-and-copy")!.text).toMatch(/downtime \d+ (s|ms)/);
    expect(replyStarting(h, rootTs, "Commitment")!.text).toMatch(new RegExp(`db-1 now runs on ${dest}`));
    expect(replyStarting(h, rootTs, notConvergingRe)!.text).toMatch(
      /Force-completed by <@U0BOB0001>: the VM was paused for \d+ (s|ms)/,
    );
    expect((await h.stack.nova.findServer("db-1"))?.host).toBe(dest);
    // Nova paused the guest (force_complete) rather than anything else finishing it.
    const novaLog = h.stack.sandbox.cloud.hosts
      .get(latestMigration(h, "db-1").record.sourceCompute)!
      .fs.get("/var/log/nova/nova-compute.log")!.content;
    // Nova logs no line of its own for force-complete; the pause shows as a lifecycle event (real Zed).
    expect(novaLog).toContain("VM Paused (Lifecycle Event)");
  });
});
