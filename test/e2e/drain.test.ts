/**
 * /drain end to end: the signed slash command from the Slack emulator into the real Bolt app, the
 * plan built by a worker (Nova over HTTP, the hosts over SSH, /diagnose's checks per VM), approval
 * by an approver, the host disabled in Nova, every VM live-migrated through the migration tracker
 * into the drain's thread, the root's table edited to the end, and the report. A VM named to ping
 * the channel stays inert everywhere; a second drain of the same host is refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  ACTION_DRAIN_APPROVE,
  ACTION_DRAIN_CANCEL_ABORT,
  ACTION_DRAIN_PAUSE,
  ACTION_DRAIN_REENABLE,
  ACTION_DRAIN_RESUME,
} from "../../bot/render/drain";
import type { SandboxStack } from "../../src/runtime/stack";
import { DEFAULT_SEED, type SeedVm } from "../../src/sandbox/seed";
import type { StoredMessage } from "../../src/sandbox/slack/emulator";
import { expectInert, HOSTILE_VM } from "../support/hostile";
import { decodePng } from "../support/png";
import { settled, startTestStack } from "../support/sandbox-stack";
import { type SlackChannel, slackChannel } from "../support/slack-threads";

const ALICE = "U0ALICE01";
const BOB = "U0BOB0001";
/** A tenant's VM on the drained host, named to ping the channel through migbot's messages. */
const HOSTILE: SeedVm = {
  name: HOSTILE_VM,
  uuid: "5a1dc0de-7e57-4b1d-9c1a-0000000000d1",
  instanceId: 0xd1,
  host: "compute-3",
  flavor: { name: "m1.small", ramMb: 2048, vcpus: 1, diskGb: 20 },
  dirtyRateMiBps: 1,
  workingSetMiB: 16,
  zeroPageFraction: 0.7,
};

let stack: SandboxStack;
let ops: SlackChannel;

beforeAll(async () => {
  stack = await startTestStack("drain", {
    timeScale: 20,
    seed: {
      ...DEFAULT_SEED,
      vms: [...DEFAULT_SEED.vms, HOSTILE],
      // batch-1's way off compute-5 is slow (~4 model minutes), time enough to cancel it.
      links: [...DEFAULT_SEED.links, { a: "compute-5", b: "compute-1", bandwidthMiBps: 5 }],
    },
  });
  ops = slackChannel(stack.slack, { timeoutMs: 90_000 });
});

afterAll(async () => {
  await stack?.stop();
});

const blocksText = (m: StoredMessage | undefined) => (m ? `${m.text}\n${JSON.stringify(m.blocks)}` : "");

describe("/drain compute-3", () => {
  test("plans, waits for an approver, disables the host, moves every VM with a live table, reports", async () => {
    const before = ops.roots().length;
    const onHost = (await stack.nova.listServers({ host: "compute-3" })).map((s) => s.name).sort();
    expect(onHost.length).toBe(5);
    const res = await ops.command("alice", "/drain", "compute-3 concurrency 2");
    expect(res.responseText).toMatch(/Planning the drain of `compute-3`/);

    const root = await ops.waitFor("the plan", () => {
      const r = ops.roots()[before];
      return r && /waiting for approval/.test(blocksText(r)) ? r : undefined;
    });
    // Zed's default max_concurrent_live_migrations is 1: the drain says it runs 1, not 2.
    expect(blocksText(root)).toMatch(
      /runs at most 1 live migration at once \(max_concurrent_live_migrations = 1\)/,
    );
    const details = await ops.waitFor("the plan's checks in the thread", () =>
      ops.reply(root.ts, /^Plan for compute-3/),
    );
    expect(blocksText(details)).toMatch(/web-7/);
    // Nothing changed before approval.
    const service = async () => (await stack.nova.computeServices()).find((s) => s.host === "compute-3")!;
    expect((await service()).status).toBe("enabled");

    // An operator cannot approve; an approver can.
    await ops.slack.clickButton({
      user: "alice",
      channel: ops.id,
      messageTs: root.ts,
      actionId: ACTION_DRAIN_APPROVE,
    });
    await ops.waitFor("alice refused", () =>
      ops.ephemerals(ALICE).find((t) => /Only migbot approvers/.test(t)),
    );
    await ops.slack.clickButton({
      user: "bob",
      channel: ops.id,
      messageTs: root.ts,
      actionId: ACTION_DRAIN_APPROVE,
    });

    // A second drain of the same host while this one runs is refused.
    const second = await ops.command("alice", "/drain", "compute-3");
    expect(second.responseText).toMatch(/`compute-3` is already being drained/);

    const done = await ops.waitFor(
      "the drain finished",
      () => {
        const r = ops.root(root.ts);
        return /— finished/.test(blocksText(r)) ? r : undefined;
      },
      120_000,
    );
    const report = await ops.waitFor("the report", () => ops.reply(root.ts, /^Drain of compute-3: /));
    expect(report.text).toMatch(/5 of 5 VMs moved/);
    expect(blocksText(done)).toMatch(/5 moved, 0 migrating, 0 waiting, 0 not moved/);
    // The table was edited as it went, not only posted and finished.
    expect(done.edits).toBeGreaterThan(3);
    // One chart for the whole drain, after the report; no per-VM charts in the drain's thread.
    const charts = await ops.waitFor("the drain's chart", () => {
      const c = ops.thread(root.ts).filter((r) => (r.files?.length ?? 0) > 0);
      return c.length > 0 ? c : undefined;
    });
    await settled(stack);
    expect(ops.thread(root.ts).filter((r) => (r.files?.length ?? 0) > 0)).toHaveLength(1);
    expect(charts[0]!.files![0]!.title).toMatch(/^Drain of compute-3: 5 of 5 VMs moved/);
    const file = stack.slack.file(charts[0]!.files![0]!.id)!;
    expect(file.mimetype).toBe("image/png");
    expect(decodePng(file.bytes!).width).toBeGreaterThan(0);
    // Each VM's own migration is in the drain's thread.
    const thread = ops.thread(root.ts);
    for (const name of ["web-7", "app-1", "app-2", "app-3"]) {
      expect(thread.some((m) => m.text.includes(name) && /Completed/.test(m.text))).toBe(true);
    }

    // Nova agrees: the host is empty and disabled with migbot's reason; one migration per VM.
    expect(await stack.nova.listServers({ host: "compute-3" })).toEqual([]);
    const svc = await service();
    expect(svc.status).toBe("disabled");
    expect(svc.disabledReason).toMatch(/migbot drain .* requested by U0ALICE01/);
    for (const name of onHost) {
      const server = await stack.nova.findServer(name === HOSTILE_VM ? HOSTILE.uuid : name);
      const migrations = await stack.nova.listMigrations({
        instanceUuid: server!.id,
        migrationType: "live-migration",
      });
      expect(migrations.filter((m) => m.status === "completed")).toHaveLength(1);
    }

    // The hostile name is shown, escaped, and pings nobody, anywhere in the drain's messages.
    expect(blocksText(done)).toContain("&lt;!channel&gt;");
    expectInert([ops.root(root.ts), ...ops.thread(root.ts)], [ALICE, BOB]);

    // Re-enable host, by an approver.
    await settled(stack);
    await ops.slack.clickButton({
      user: "bob",
      channel: ops.id,
      messageTs: root.ts,
      actionId: ACTION_DRAIN_REENABLE,
    });
    await ops.waitFor("the host enabled again", async () => (await service()).status === "enabled");
    await ops.waitFor("the root says so", () =>
      /enabled again by/.test(blocksText(ops.root(root.ts))) ? true : undefined,
    );
  }, 240_000);

  test("bad requests are answered with the right form and start nothing", async () => {
    await settled(stack);
    const before = ops.roots().length;
    // A destination someone disabled meanwhile.
    await stack.nova.setComputeServiceStatus!("compute-4", { status: "disabled", reason: "maintenance" });
    for (const [text, expected] of [
      ["compute-3 to compute-3", /is the host being drained/],
      ["compute-3 concurrency 0", /takes a whole number from 1 to 10/],
      ["compute-3 please", /I could not read `please`/],
      ["compute-2 to compute-4", null],
      ["compute-9", null],
    ] as const) {
      const res = await ops.command("alice", "/drain", text);
      if (expected) expect(res.responseText).toMatch(expected);
    }
    await ops.waitFor("the disabled destination answered", () =>
      ops.ephemerals(ALICE).find((t) => /`compute-4`'s nova-compute is up and disabled/.test(t)),
    );
    await ops.waitFor("the unknown host answered", () =>
      ops.ephemerals(ALICE).find((t) => /`compute-9` is not a compute host Nova knows/.test(t)),
    );
    await settled(stack);
    expect(ops.roots().length).toBe(before);
    await stack.nova.setComputeServiceStatus!("compute-4", { status: "enabled", reason: null });
    const carol = await ops.command("carol", "/drain", "compute-1");
    expect(carol.responseText).toMatch(/Only migbot operators may drain hosts/);
  });
});

/** Sends `/drain text` as alice, approves the plan as bob, returns the drain's root message. */
async function approvedDrain(text: string): Promise<StoredMessage> {
  await settled(stack);
  const before = ops.roots().length;
  await ops.command("alice", "/drain", text);
  const root = await ops.waitFor("the plan", () => {
    const r = ops.roots()[before];
    return r && /waiting for approval/.test(blocksText(r)) ? r : undefined;
  });
  await ops.slack.clickButton({
    user: "bob",
    channel: ops.id,
    messageTs: root.ts,
    actionId: ACTION_DRAIN_APPROVE,
  });
  // The approval replaces the plan's buttons with the running drain's.
  await ops.waitFor("the drain's buttons", () =>
    JSON.stringify(ops.root(root.ts).blocks).includes(ACTION_DRAIN_PAUSE) ? true : undefined,
  );
  return root;
}

const finished = (ts: string) =>
  ops.waitFor(
    "the drain finished",
    () => (/— finished/.test(blocksText(ops.root(ts))) ? ops.root(ts) : undefined),
    120_000,
  );

describe("a drain's buttons and a VM that will not converge", () => {
  test("Pause holds new migrations back, Resume goes on; db-1 (faster than the link) is stopped and reported", async () => {
    const n = (await stack.nova.listServers({ host: "compute-1" })).length;
    const root = await approvedDrain("compute-1 to compute-2");
    await ops.slack.clickButton({
      user: "bob",
      channel: ops.id,
      messageTs: root.ts,
      actionId: ACTION_DRAIN_PAUSE,
    });
    await ops.waitFor("the table paused", () =>
      /— paused/.test(blocksText(ops.root(root.ts))) ? true : undefined,
    );
    // Whatever was running when Pause was pressed ends; then nothing new starts.
    const inProgress = async () => {
      const all = await stack.nova.listMigrations({ migrationType: "live-migration" });
      return all.filter((m) => !["completed", "error", "failed", "cancelled"].includes(m.status)).length;
    };
    await ops.waitFor(
      "no migration in progress",
      async () => ((await inProgress()) === 0 ? true : undefined),
      90_000,
    );
    const started = (await stack.nova.listMigrations({ migrationType: "live-migration" })).length;
    await new Promise((r) => setTimeout(r, 1500)); // 30 model seconds: several of the drain's rounds
    expect((await stack.nova.listMigrations({ migrationType: "live-migration" })).length).toBe(started);
    expect(await inProgress()).toBe(0);
    await ops.slack.clickButton({
      user: "bob",
      channel: ops.id,
      messageTs: root.ts,
      actionId: ACTION_DRAIN_RESUME,
    });

    const done = await finished(root.ts);
    const report = await ops.waitFor("the report", () => ops.reply(root.ts, /^Drain of compute-1: /));
    const text = blocksText(report);
    // db-1 dirties 300 MiB/s against 112 MiB/s: stopped, with why and what to do.
    expect(text).toMatch(/db-1` — aborted: did not converge/);
    expect(text).toMatch(/approve the fix proposed in its thread and drain again, or cold-migrate it/);
    expect(report.text).toMatch(new RegExp(`${n - 1} of ${n} VMs moved`));
    expect(blocksText(done)).toMatch(new RegExp(`${n - 1} moved, 0 migrating, 0 waiting, 1 not moved`));
    expect((await stack.nova.findServer("db-1"))?.host).toBe("compute-1");
    // The stuck migration's diagnosis proposes the fix in the drain's thread.
    await ops.waitFor("the auto-converge proposal in the drain's thread", () =>
      ops
        .thread(root.ts)
        .find((m) => /auto-converge/i.test(m.text) && JSON.stringify(m.blocks).includes("proposal_approve")),
    );
    // compute-1 back in service for what follows.
    await ops.slack.clickButton({
      user: "bob",
      channel: ops.id,
      messageTs: root.ts,
      actionId: ACTION_DRAIN_REENABLE,
    });
    await ops.waitFor("compute-1 enabled again", async () => {
      const svc = (await stack.nova.computeServices()).find((s) => s.host === "compute-1");
      return svc?.status === "enabled" ? true : undefined;
    });
  }, 240_000);

  test("Cancel with abort running aborts the migration under way; the VM stays and the report says why", async () => {
    const root = await approvedDrain("compute-5 to compute-1");
    await ops.waitFor("batch-1 migrating", async () => {
      const server = await stack.nova.findServer("batch-1");
      const running = await stack.nova.listServerMigrations(server!.id);
      return running.some((m) => m.status === "running") ? true : undefined;
    });
    await ops.slack.clickButton({
      user: "bob",
      channel: ops.id,
      messageTs: root.ts,
      actionId: ACTION_DRAIN_CANCEL_ABORT,
    });
    const done = await finished(root.ts);
    expect(blocksText(done)).toMatch(/Cancelled by <@U0BOB0001>: running migrations were aborted/);
    const report = await ops.waitFor("the report", () => ops.reply(root.ts, /^Drain of compute-5: /));
    expect(blocksText(report)).toMatch(
      /batch-1` — aborted: aborted: the drain was cancelled with “abort running”/,
    );
    expect((await stack.nova.findServer("batch-1"))?.host).toBe("compute-5");
    expect(JSON.stringify(done.blocks)).toContain(ACTION_DRAIN_REENABLE);
  }, 240_000);
});

describe("a VM that lands on the host during the drain", () => {
  test("is added to the table and moved; the drain waits for migrations still coming in", async () => {
    await settled(stack);
    // batch-1 starts its slow way (5 MiB/s) onto compute-1 before the drain disables compute-1.
    const batch = (await stack.nova.findServer("batch-1"))!;
    expect(batch.host).toBe("compute-5");
    await stack.nova.liveMigrate(batch.id, { host: "compute-1" });
    const root = await approvedDrain("compute-1 to compute-3");
    const done = await finished(root.ts);
    // Shown as added during the drain (a leading +), and moved on.
    expect(blocksText(done)).toMatch(/\+batch-1\s+compute-3\s+moved/);
    expect((await stack.nova.findServer("batch-1"))?.host).toBe("compute-3");
    const report = await ops.waitFor("the report", () => ops.reply(root.ts, /^Drain of compute-1: /));
    expect(blocksText(report)).toMatch(/batch-1` → `compute-3`/);
  }, 240_000);
});
