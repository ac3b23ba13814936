/**
 * Issue #5's two stories end to end on the sandbox: signed slash commands and button clicks from
 * the Slack emulator into the real Bolt app, Redis and BullMQ, the worker talking to the sandbox's
 * Nova over HTTP and its hosts over SSH. Outcomes come from the pre-copy model and the hosts' CPUs.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ACTION_RETRY } from "../../bot/render/proposal";
import type { SandboxStack } from "../../src/runtime/stack";
import type { StoredMessage } from "../../src/sandbox/slack/emulator";
import { approveProposal, nextProposal } from "../support/proposals";
import { startTestStack } from "../support/sandbox-stack";
import { type SlackChannel, slackChannel } from "../support/slack-threads";

/** Each story is bounded: the sandbox runs 20 model seconds per real second. */
const STORY_STEP_TIMEOUT_MS = 45_000;
const STORY_TIMEOUT_MS = 150_000;

let stack: SandboxStack;
let ops: SlackChannel;

beforeAll(async () => {
  stack = await startTestStack("stories", { timeScale: 20 });
  ops = slackChannel(stack.slack, { timeoutMs: STORY_STEP_TIMEOUT_MS });
});
afterAll(async () => {
  await stack?.stop();
});

/** Runs /migrate as alice and returns the root message of the new migration. */
function migrate(text: string, vm: string): Promise<StoredMessage> {
  return ops.commandRoot("alice", "/migrate", text, vm);
}

/** Bob approves; the proposal must then read as applied, and the click was acknowledged in time. */
async function approveAndWait(m: StoredMessage): Promise<StoredMessage> {
  const { ack, applied } = await approveProposal(ops, m, "bob");
  expect(ack.ackMs).toBeLessThan(3000);
  return applied;
}

async function retryAndComplete(proposal: StoredMessage, vm: string, destination: string): Promise<void> {
  const before = new Set(ops.roots().map((r) => r.ts));
  await stack.slack.clickButton({
    user: "alice",
    channel: "ops",
    messageTs: proposal.ts,
    actionId: ACTION_RETRY,
  });
  const root = await ops.waitFor("the retried migration", () =>
    ops.roots().find((r) => !before.has(r.ts) && r.text.includes(vm)),
  );
  await ops.waitFor(`${vm} completed on ${destination}`, () => {
    const r = ops.roots().find((x) => x.ts === root.ts);
    if (r && /Failed|Aborted/.test(r.text)) throw new Error(`retry did not complete: ${r.text}`);
    return r && /Completed/.test(r.text) ? r : undefined;
  });
  expect((await stack.nova.findServer(vm))?.host).toBe(destination);
  // With the fix in place the retry is never called hopeless, not even in the iterations before
  // QEMU's throttle starts (it would otherwise raise another proposal for a fix already applied).
  expect(ops.thread(root.ts).filter((m) => /is not converging/.test(m.text))).toEqual([]);
}

describe("story one: a database VM stuck in pre-copy", () => {
  test("not converging → diagnosis → approve auto-converge (abort first) → retry completes", {
    timeout: STORY_TIMEOUT_MS,
  }, async () => {
    const root = await migrate("db-1 to compute-2", "db-1");
    await ops.waitFor("the not-converging warning", () =>
      ops.thread(root.ts).find((m) => /is not converging/.test(m.text)),
    );
    const proposal = await nextProposal(ops, root.ts, new Set(), /auto-converge/);
    const applied = await approveAndWait(proposal);
    const text = JSON.stringify(applied.blocks);
    expect(text).toMatch(/Aborting the live migration of \*db-1\*/);
    for (const host of ["compute-1", "compute-2"]) {
      expect(stack.sandbox.cloud.hosts.get(host)!.settings?.autoConverge).toBe(true);
    }
    // The first attempt ended aborted; the VM stayed on its source.
    await ops.waitFor("the first migration aborted", () =>
      /Aborted/.test(ops.roots().find((r) => r.ts === root.ts)!.text),
    );
    expect((await stack.nova.findServer("db-1"))?.host).toBe("compute-1");
    await retryAndComplete(applied, "db-1", "compute-2");
  });
});

describe("story two: a VM on the newest CPU cannot move to an older host", () => {
  test("CPU pre-check fails → approve CPU model → approve VM restart → retry completes", {
    timeout: STORY_TIMEOUT_MS,
  }, async () => {
    const root = await migrate("web-7 to compute-5", "web-7");
    await ops.waitFor("the failure", () => /Failed/.test(ops.roots().find((r) => r.ts === root.ts)!.text));
    const seen = new Set<string>();
    const cpu = await nextProposal(ops, root.ts, seen, /CPU model/);
    seen.add(cpu.ts);
    await approveAndWait(cpu);
    const restart = await nextProposal(ops, root.ts, seen, /VM restart/);
    expect(JSON.stringify(restart.blocks)).toContain("web-7");
    const restarted = await approveAndWait(restart);
    const server = (await stack.nova.findServer("web-7"))!;
    expect(stack.sandbox.cloud.vms.get(server.id)!.cpuMode).toBe("custom");
    await retryAndComplete(restarted, "web-7", "compute-5");
  });
});
