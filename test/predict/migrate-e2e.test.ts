/**
 * /migrate predicts before it triggers (MIGBOT_PREDICT=ask), end to end: the Slack emulator, the real
 * Bolt app, Redis, the worker, the sandbox's Nova and its hosts over SSH measuring the dirty rate.
 * A dirty VM without auto-converge gets "will not converge" with Fix first / Go anyway and Nova is
 * not asked until someone chooses; Go anyway triggers, Fix first proposes the auto-converge fix and
 * ends the request unstarted. A calm VM is predicted to converge and migrates as before. Every
 * message of a VM with a hostile name stays inert.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { SandboxStack } from "../../src/runtime/stack";
import { DEFAULT_SEED, type SeedVm } from "../../src/sandbox/seed";
import type { StoredMessage } from "../../src/sandbox/slack/emulator";
import { expectInert, HOSTILE_VM } from "../support/hostile";
import { startTestStack } from "../support/sandbox-stack";
import { type SlackChannel, slackChannel } from "../support/slack-threads";
import { until } from "../support/until";

const ALICE = "U0ALICE01";
/** db-1's load (300 MiB/s into a 1 GiB set) under a name a tenant chose. */
const HOSTILE_DIRTY: SeedVm = {
  name: HOSTILE_VM,
  uuid: "5a1dc0de-7e57-4b1d-9c1a-0000000000f1",
  instanceId: 0xf1,
  host: "compute-1",
  flavor: { name: "m1.large", ramMb: 8192, vcpus: 4, diskGb: 80 },
  dirtyRateMiBps: 300,
  workingSetMiB: 1024,
  zeroPageFraction: 0.6,
};

let stack: SandboxStack;
let ops: SlackChannel;

beforeAll(async () => {
  stack = await startTestStack("predict-migrate", {
    timeScale: 20,
    seed: { ...DEFAULT_SEED, vms: [...DEFAULT_SEED.vms, HOSTILE_DIRTY] },
    env: { MIGBOT_PREDICT: "ask" },
  });
  ops = slackChannel(stack.slack, { timeoutMs: 30_000 });
});

afterAll(async () => {
  await stack?.stop();
});

function predictionOf(root: StoredMessage): Promise<StoredMessage> {
  return ops.waitFor("the prediction in the thread", () =>
    ops.thread(root.ts).find((m) => /converge/.test(m.text) && !m.text.startsWith("Fix proposal")),
  );
}

function actionIds(m: StoredMessage | undefined): string[] {
  const blocks = (m as { blocks?: { type: string; elements?: { action_id?: string }[] }[] } | undefined)
    ?.blocks;
  return (blocks ?? [])
    .filter((b) => b.type === "actions")
    .flatMap((b) => b.elements?.map((e) => e.action_id ?? "") ?? []);
}

async function novaMigrations(name: string): Promise<number> {
  const server = await stack.nova.findServer(name);
  return (await stack.nova.listServerMigrations(server!.id)).length;
}

describe("/migrate shows the prediction before it triggers", () => {
  test("db-1 to compute-2: will not converge, Nova not asked until Go anyway", async () => {
    const root = await ops.commandRoot("alice", "/migrate", "db-1 to compute-2", "db-1");
    const p = await predictionOf(root);
    expect(p.text).toMatch(
      /db-1 dirties ~?300 MiB\/s against a 119 MiB\/s link: will not converge without auto-converge \(enabled on neither host\)/,
    );
    expect(actionIds(p)).toEqual(["predict_fix_first", "predict_go_anyway"]);
    expect(await novaMigrations("db-1")).toBe(0);

    await stack.slack.clickButton({ user: "alice", channel: "ops", messageTs: p.ts, label: "Go anyway" });
    await until("Nova asked to migrate db-1", async () => (await novaMigrations("db-1")) > 0, {
      timeoutMs: 30_000,
    });
    const edited = await ops.waitFor("the prediction saying who chose", () => {
      const m = ops.message(p.ts);
      return m && JSON.stringify(m.blocks).includes("Go anyway chosen by") ? m : undefined;
    });
    expect(actionIds(edited)).toEqual([]);
  });

  test("a hostile-named dirty VM: Fix first proposes auto-converge and leaves it unstarted; every message inert", async () => {
    const server = await stack.nova.findServer(HOSTILE_VM);
    const root = await ops.commandRoot("alice", "/migrate", `${server!.id} to compute-2`);
    const p = await predictionOf(root);
    expect(actionIds(p)).toEqual(["predict_fix_first", "predict_go_anyway"]);
    await stack.slack.clickButton({ user: "alice", channel: "ops", messageTs: p.ts, label: "Fix first" });
    const proposal = await ops.waitFor("the auto-converge proposal", () =>
      ops.thread(root.ts).find((m) => m.text.startsWith("Fix proposal (auto-converge)")),
    );
    expect(proposal.text).toMatch(/Enable libvirt auto-converge on compute-1/);
    await ops.waitFor("the request ended unstarted", () =>
      ops.thread(root.ts).find((m) => /Not started: Fix first was chosen/.test(JSON.stringify(m.blocks))),
    );
    expect(await novaMigrations(HOSTILE_VM)).toBe(0);
    const thread = [ops.root(root.ts), ...ops.thread(root.ts)];
    expectInert(thread, [ALICE]);
  });

  test("vm-42 (8 MiB/s): will converge, no buttons, migrates at once", async () => {
    const root = await ops.commandRoot("alice", "/migrate", "vm-42 to compute-2", "vm-42");
    const p = await predictionOf(root);
    expect(p.text).toMatch(/vm-42 dirties ~?8 MiB\/s against a 119 MiB\/s link: will converge$/);
    expect(actionIds(p)).toEqual([]);
    await until("Nova asked to migrate vm-42", async () => (await novaMigrations("vm-42")) > 0, {
      timeoutMs: 30_000,
    });
  });
});
