/**
 * Redis is not trusted blindly: someone who can write to migbot's Redis (but holds neither the bot's
 * signing key nor the workers' plan key) forges or alters proposals and jobs. Through the real Bolt
 * app, BullMQ, Redis and the sandbox's hosts over SSH, nothing of theirs is written to any host,
 * each attempt is refused and audited, and Redis never held nova.conf's secrets to begin with.
 */
import { randomUUID } from "node:crypto";
import { Queue } from "bullmq";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ACTION_APPROVE } from "../../bot/render/proposal";
import type { Proposal } from "../../src/fixes/proposal";
import { QUEUE_ACTIONS } from "../../src/queue/jobs";
import { bullConnection, SANDBOX_CHANNEL, type SandboxStack } from "../../src/runtime/stack";
import { sha256Hex } from "../../src/signing/signatures";
import { settled, startTestStack } from "../support/sandbox-stack";
import { type SlackChannel, slackChannel } from "../support/slack-threads";
import { draftOf, planChanges, waitFor } from "./harness";

const ALICE = "U0ALICE01";
const BOB = "U0BOB0001";
let stack: SandboxStack;
let ops: SlackChannel;
let queue: Queue;
const connection = () => bullConnection(stack.redisUrl)();

beforeAll(async () => {
  stack = await startTestStack("forgery", { timeScale: 20 });
  ops = slackChannel(stack.slack);
  queue = new Queue(QUEUE_ACTIONS, { connection: connection(), prefix: `${stack.prefix}:bull` });
});
afterAll(async () => {
  await queue?.close();
  await stack?.stop();
});

const fileOn = (host: string, path = "/etc/nova/nova.conf") =>
  stack.sandbox.cloud.hosts.get(host)!.fs.get(path)!.content;

async function propose(host: string): Promise<Proposal> {
  const changes = await planChanges({ sandbox: stack.sandbox, hosts: stack.hosts }, "auto-converge", [host]);
  const p = await stack.proposals.propose(draftOf("auto-converge", changes), {
    requestedBy: ALICE,
    channel: SANDBOX_CHANNEL.id,
    threadTs: null,
  });
  await waitFor("the proposal message", () => ops.message(p.messageTs!));
  return p;
}

async function auditActions(): Promise<{ action: string; what: string }[]> {
  return (await stack.proposals.audit.read(50)).map((e) => ({ action: e.action, what: e.what }));
}

test("Redis holds no nova.conf text: only hashes, the recipe and the masked diff", async () => {
  // compute-1 has the Mitaka-era reference nova.conf, with a database password in its connection URL.
  expect(fileOn("compute-1")).toContain("yourpassword");
  const p = await propose("compute-1");
  const keys = await stack.redis.keys(`${stack.prefix}:*`);
  for (const key of keys) {
    const type = await stack.redis.type(key);
    const dump =
      type === "hash"
        ? JSON.stringify(await stack.redis.hgetall(key))
        : type === "string"
          ? ((await stack.redis.get(key)) ?? "")
          : type === "stream"
            ? JSON.stringify(await stack.redis.xrange(key, "-", "+"))
            : "";
    expect(dump, key).not.toContain("yourpassword");
    expect(dump, key).not.toContain("[DEFAULT]");
  }
  const stored = await stack.redis.hget(`${stack.prefix}:proposal:${p.id}`, "plan");
  expect(JSON.parse(stored!).changes[0]).toMatchObject({
    beforeSha256: sha256Hex(fileOn("compute-1")),
    path: "/etc/nova/nova.conf",
  });
});

test("an apply job forged into Redis for a proposal nobody approved is refused unread, audited, and writes nothing", async () => {
  const p = await propose("compute-3");
  const before = fileOn("compute-3");
  const pid = stack.sandbox.cloud.hosts.get("compute-3")!.service.pid;
  // The attacker marks it approved and adds the job a worker would run, with a made-up signature.
  await stack.redis.hset(`${stack.prefix}:proposal:${p.id}`, {
    status: "approved",
    decidedBy: BOB,
    decidedAt: String(Date.now()),
  });
  const payload = {
    type: "apply-proposal",
    proposalId: p.id,
    planDigest: p.planDigest,
    channel: SANDBOX_CHANNEL.id,
    user: BOB,
    requestedAt: Date.now(),
  };
  const forged = await queue.add(
    "apply-proposal",
    { ...payload, sig: `${"A".repeat(86)}==` },
    {
      jobId: `forged-${randomUUID()}`,
    },
  );
  const unsigned = await queue.add("apply-proposal", payload, { jobId: `unsigned-${randomUUID()}` });
  for (const job of [forged, unsigned]) {
    await waitFor("the forged job failed", async () => (await job.getState()) === "failed");
  }
  expect((await queue.getJob(forged.id!))!.failedReason).toMatch(/does not carry a valid signature/);
  expect((await queue.getJob(unsigned.id!))!.failedReason).toMatch(/is not signed/);
  await settled(stack);
  expect(fileOn("compute-3")).toBe(before);
  expect(stack.sandbox.cloud.hosts.get("compute-3")!.service.pid).toBe(pid);
  expect((await stack.proposals.get(p.id))!.status).toBe("approved");
  const audit = await auditActions();
  expect(audit.filter((a) => a.action === "job-refused").map((a) => a.what)).toEqual(
    expect.arrayContaining([expect.stringContaining(forged.id!), expect.stringContaining(unsigned.id!)]),
  );
});

test("a real approval's signed job replayed under another job id is refused", async () => {
  const p = await propose("compute-4");
  await stack.slack.clickButton({
    user: "bob",
    channel: SANDBOX_CHANNEL.id,
    messageTs: p.messageTs!,
    actionId: ACTION_APPROVE,
  });
  await waitFor("applied", async () => (await stack.proposals.get(p.id))?.status === "applied", 30_000);
  // The proposal reads applied a moment before its job is marked completed (the worker edits the
  // message first), so wait for the job itself.
  const done = await waitFor("the apply job completed", async () =>
    (await queue.getJobs(["completed"])).find((j) => j.data.proposalId === p.id),
  );
  const replay = await queue.add("apply-proposal", done!.data, { jobId: `replay-${randomUUID()}` });
  await waitFor("the replay failed", async () => (await replay.getState()) === "failed");
  expect((await queue.getJob(replay.id!))!.failedReason).toMatch(/does not carry a valid signature/);
});

test("a plan altered in Redis before a real approver approves it is refused by the worker's seal check, and nothing is written", async () => {
  const p = await propose("compute-5");
  const key = `${stack.prefix}:proposal:${p.id}`;
  const plan = JSON.parse((await stack.redis.hget(key, "plan"))!) as Proposal;
  // The attacker turns the auto-converge fix into a CPU-model change of their choosing on every host.
  const altered = {
    ...plan,
    recipes: plan.recipes.map((r) => ({ ...r, fix: "cpu-model", model: "kvm64" })),
  };
  await stack.redis.hset(key, "plan", JSON.stringify(altered));
  const before = fileOn("compute-5");
  const pid = stack.sandbox.cloud.hosts.get("compute-5")!.service.pid;

  await stack.slack.clickButton({
    user: "bob",
    channel: SANDBOX_CHANNEL.id,
    messageTs: p.messageTs!,
    actionId: ACTION_APPROVE,
  });
  const answer = await waitFor("bob is told why nothing was applied", () =>
    ops.ephemerals(BOB).find((t) => /FIX_INTEGRITY/.test(t)),
  );
  expect(answer).toMatch(/seal does not match its content.*nothing was applied on any host/);
  await settled(stack);
  expect(fileOn("compute-5")).toBe(before);
  expect(stack.sandbox.cloud.hosts.get("compute-5")!.service.pid).toBe(pid);
  expect(await auditActions()).toContainEqual({
    action: "integrity-refused",
    what: expect.stringMatching(/apply refused: its seal does not match.*nothing was written/),
  });
});
