/**
 * Approve / Reject / Retry through the real Bolt app: buttons pressed in the Slack emulator (signed
 * block_actions payloads), Redis, BullMQ, the worker applying on the sandbox's hosts over SSH.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ACTION_APPROVE, ACTION_REJECT, ACTION_RETRY } from "../../bot/render/proposal";
import type { Proposal } from "../../src/fixes/proposal";
import { SANDBOX_CHANNEL, type SandboxStack } from "../../src/runtime/stack";
import { sha256Hex } from "../../src/signing/signatures";
import { settled, startTestStack } from "../support/sandbox-stack";
import { type SlackChannel, slackChannel } from "../support/slack-threads";
import { draftOf, planChanges, waitFor } from "./harness";

const ALICE = "U0ALICE01";
const BOB = "U0BOB0001";
let stack: SandboxStack;
let ops: SlackChannel;

beforeAll(async () => {
  stack = await startTestStack("approval", {
    timeScale: 20,
    // Alice, who asks for the proposals, is an approver too: so the four-eyes rule is what stops her.
    env: { MIGBOT_APPROVERS: `${BOB},${ALICE}` },
  });
  ops = slackChannel(stack.slack);
});
afterAll(async () => {
  await stack?.stop();
});

function actionIds(ts: string): string[] {
  return stack.slack
    .findButtons(SANDBOX_CHANNEL.id)
    .filter((b) => b.messageTs === ts)
    .map((b) => b.actionId);
}

async function proposeAutoConverge(
  host: string,
  extra: Parameters<typeof draftOf>[2] = {},
): Promise<Proposal> {
  const changes = await planChanges({ sandbox: stack.sandbox, hosts: stack.hosts }, "auto-converge", [host]);
  const p = await stack.proposals.propose(draftOf("auto-converge", changes, extra), {
    requestedBy: ALICE,
    channel: SANDBOX_CHANNEL.id,
    threadTs: null,
  });
  await waitFor("the proposal message", () => ops.message(p.messageTs!));
  return p;
}

const click = (user: string, ts: string, actionId: string) =>
  stack.slack.clickButton({ user, channel: SANDBOX_CHANNEL.id, messageTs: ts, actionId });

describe("approving a proposal", () => {
  let p: Proposal;

  beforeAll(async () => {
    p = await proposeAutoConverge("compute-3", { retry: { vm: "vm-42", destination: "compute-2" } });
  });

  test("the posted proposal shows the diff and Approve / Reject", () => {
    const m = ops.message(p.messageTs!)!;
    expect(JSON.stringify(m.blocks)).toContain("+live_migration_permit_auto_converge = true");
    expect(actionIds(p.messageTs!)).toEqual([ACTION_APPROVE, ACTION_REJECT]);
  });

  test("carol (no role) is refused privately; nothing changes", async () => {
    const res = await click("carol", p.messageTs!, ACTION_APPROVE);
    expect(res.status).toBe(200);
    expect(res.ackMs).toBeLessThan(3000);
    await waitFor("carol's refusal", () =>
      ops.ephemerals("U0CAROL01").find((t) => /Only migbot approvers may approve/.test(t)),
    );
    expect(actionIds(p.messageTs!)).toEqual([ACTION_APPROVE, ACTION_REJECT]);
    expect((await stack.proposals.get(p.id))?.status).toBe("pending");
  });

  test("the requester cannot approve their own proposal", async () => {
    const res = await click("alice", p.messageTs!, ACTION_APPROVE);
    expect(res.status).toBe(200);
    await waitFor("alice's refusal", () =>
      ops
        .ephemerals(ALICE)
        .find((t) => /You asked for this proposal, so someone else must approve it/.test(t)),
    );
    expect(actionIds(p.messageTs!)).toEqual([ACTION_APPROVE, ACTION_REJECT]);
    expect((await stack.proposals.get(p.id))?.status).toBe("pending");
  });

  test("bob approves: the message says who and when, loses its buttons, and the change is applied", async () => {
    const res = await click("bob", p.messageTs!, ACTION_APPROVE);
    expect(res.ackMs).toBeLessThan(3000);
    const decided = await waitFor("the decided message", () => {
      const m = ops.message(p.messageTs!);
      return m && /Approved\* by <@U0BOB0001> at <!date\^/.test(JSON.stringify(m.blocks)) ? m : undefined;
    });
    expect(JSON.stringify(decided.blocks)).not.toContain(ACTION_APPROVE);
    const applied = await waitFor(
      "applied",
      () => {
        const m = ops.message(p.messageTs!);
        return m && /applied\./.test(m.text) ? m : undefined;
      },
      30_000,
    );
    expect(JSON.stringify(applied.blocks)).toMatch(/compute-3.*applied; nova-compute is up again/);
    const host = stack.sandbox.cloud.hosts.get("compute-3")!;
    expect(sha256Hex(host.fs.get("/etc/nova/nova.conf")!.content)).toBe(p.changes[0]!.afterSha256);
    expect(host.settings?.autoConverge).toBe(true);
    // Applied with a retry: "Retry migration" is the only button left.
    expect(actionIds(p.messageTs!)).toEqual([ACTION_RETRY]);
  });

  test("/migrate audit shows the proposal, the approval and the host change", async () => {
    await stack.slack.slashCommand({ user: "alice", channel: "ops", command: "/migrate", text: "audit 10" });
    const answer = await waitFor("the audit answer", () =>
      ops.ephemerals(ALICE).find((t) => /audit entries, newest first/.test(t)),
    );
    expect(answer).toMatch(/<@U0BOB0001> \*host-change\* on `compute-3`: wrote \/etc\/nova\/nova.conf/);
    expect(answer).toMatch(/<@U0BOB0001> \*approved\*/);
    expect(answer).toMatch(/<@U0ALICE01> \*proposed\*/);
  });

  test("Retry migration starts a new migration once, in a new root message", async () => {
    const rootsBefore = stack.slack.messages(SANDBOX_CHANNEL.id).length;
    await click("carol", p.messageTs!, ACTION_RETRY);
    await waitFor("carol's retry refusal", () =>
      ops.ephemerals("U0CAROL01").find((t) => /Only migbot operators/.test(t)),
    );
    await click("alice", p.messageTs!, ACTION_RETRY);
    const root = await waitFor("the retried migration's root message", () =>
      stack.slack
        .messages(SANDBOX_CHANNEL.id)
        .slice(rootsBefore)
        .find((m) => /Live migration.*vm-42/.test(m.text)),
    );
    expect(root.text).toMatch(/compute-2/);
    // The job carried the fix and its approver through the queue's payload validation to the new root.
    expect(JSON.stringify(root.blocks)).toContain(`Retry after *${p.title}* (approved by <@${BOB}>)`);
    await waitFor("retry recorded on the proposal", () => {
      const m = ops.message(p.messageTs!);
      return m && JSON.stringify(m.blocks).includes(`Retry requested by <@${ALICE}>`) ? m : undefined;
    });
    expect(actionIds(p.messageTs!)).toEqual([]);
    await waitFor(
      "vm-42 on compute-2",
      async () => (await stack.nova.findServer("vm-42"))?.host === "compute-2",
      30_000,
    );
  });
});

test("bob rejects: the message says so, loses its buttons, and nothing is applied", async () => {
  const p = await proposeAutoConverge("compute-4");
  const pid = stack.sandbox.cloud.hosts.get("compute-4")!.service.pid;
  await click("bob", p.messageTs!, ACTION_REJECT);
  await waitFor("the rejected message", () => {
    const m = ops.message(p.messageTs!);
    return m && /Rejected\* by <@U0BOB0001>/.test(JSON.stringify(m.blocks)) ? m : undefined;
  });
  expect(actionIds(p.messageTs!)).toEqual([]);
  await settled(stack);
  const host = stack.sandbox.cloud.hosts.get("compute-4")!;
  expect(sha256Hex(host.fs.get("/etc/nova/nova.conf")!.content)).toBe(p.changes[0]!.beforeSha256);
  expect(host.service.pid).toBe(pid);
});
