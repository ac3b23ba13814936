/**
 * /migrate end to end: signed slash commands from the Slack emulator into the real Bolt app, real
 * Redis and BullMQ, the worker talking to the sandbox's Nova over HTTP and its hosts over SSH.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { SandboxStack } from "../../src/runtime/stack";
import { settled, startTestStack } from "../support/sandbox-stack";
import { type SlackChannel, slackChannel } from "../support/slack-threads";

let stack: SandboxStack;
let ops: SlackChannel;

beforeAll(async () => {
  stack = await startTestStack("e2e", { timeScale: 20 });
  ops = slackChannel(stack.slack, { timeoutMs: 60_000 });
});

afterAll(async () => {
  await stack?.stop();
});

describe("/migrate vm-42 to compute-3", () => {
  test("acks at once, posts a root message and reports all five phases in its thread", async () => {
    const before = ops.roots().length;
    const res = await stack.slack.slashCommand({
      user: "alice",
      channel: "ops",
      command: "/migrate",
      text: "vm-42 to compute-3",
    });
    expect(res.status).toBe(200);
    expect(res.ackMs).toBeLessThan(3000);
    expect(res.responseText).toMatch(/live-migrating vm-42 to compute-3/);

    const root = await ops.waitFor("the root message", () => ops.roots()[before]);
    expect(root.text).toMatch(/vm-42/);
    const done = await ops.waitFor("completion", () => {
      const r = ops.roots().find((m) => m.ts === root.ts);
      return r && /Completed/.test(r.text) ? r : undefined;
    });
    const replies = done.replies.map((r) => r.text);
    const order = ["Pre-migration", "Reservation", "Iterative pre-copy", "Stop-and-copy", "Commitment"];
    const positions = order.map((title) => replies.findIndex((t) => t.startsWith(title)));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(replies.find((t) => t.startsWith("Commitment"))).toMatch(/vm-42 now runs on compute-3/);
    expect(replies.find((t) => t.startsWith("Reservation"))).toMatch(/free RAM .*free vCPUs \d+/);
    expect(replies.find((t) => t.startsWith("Stop-and-copy"))).toMatch(/downtime \d+/);
    const precopy = done.replies.find((r) => r.text.startsWith("Iterative pre-copy"))!;
    // Once over, the reply is a summary of pre-copy: never an iteration's live figures or a verdict.
    expect(precopy.text).toMatch(
      /^Iterative pre-copy — done( after \d+ iterations?)? · \S+ 100% of memory copied · (sent \S+ \S+ in all|bytes sent not reported)/,
    );
    expect(precopy.text).not.toMatch(/verdict|to go|\?/);
    // Nova agrees: the VM is on the destination, and exactly one migration was made for it.
    const server = await stack.nova.findServer("vm-42");
    expect(server?.host).toBe("compute-3");
    const migrations = await stack.nova.listMigrations({
      instanceUuid: server!.id,
      migrationType: "live-migration",
    });
    expect(migrations.filter((m) => m.status === "completed")).toHaveLength(1);
    // The root lost its Abort button once the migration finished.
    expect(JSON.stringify(done.blocks)).not.toContain("migration_abort");
  });
});

describe("bad requests are answered privately and start nothing", () => {
  test.each([
    ["vm-42; reboot to compute-1", /shell characters/],
    ["vm-42 compute-1", /could not read/],
    ["nosuchvm to compute-1", /can't find a VM named `nosuchvm`/],
    ["web-7 to compute-9", /`compute-9` is not a compute host Nova knows/],
    ["web-7 to compute-3", /already runs on `compute-3`/],
  ])("%s", async (text, expected) => {
    await settled(stack);
    const before = ops.roots().length;
    const novaBefore = (await stack.nova.listMigrations({ migrationType: "live-migration" })).length;
    const res = await stack.slack.slashCommand({ user: "alice", channel: "ops", command: "/migrate", text });
    expect(res.status).toBe(200);
    await ops.waitFor("the private answer", () => ops.ephemerals("U0ALICE01").find((t) => expected.test(t)));
    await settled(stack);
    expect(ops.roots().length).toBe(before);
    expect((await stack.nova.listMigrations({ migrationType: "live-migration" })).length).toBe(novaBefore);
  });

  test("someone who is not an operator is refused", async () => {
    const before = ops.roots().length;
    const res = await stack.slack.slashCommand({
      user: "carol",
      channel: "ops",
      command: "/migrate",
      text: "vm-42 to compute-1",
    });
    expect(res.responseText).toMatch(/Only migbot operators may start live migrations/);
    await settled(stack);
    expect(ops.roots().length).toBe(before);
  });
});

describe("a slash command delivered twice", () => {
  test("starts one migration and one thread", async () => {
    await settled(stack);
    const before = ops.roots().length;
    const server = await stack.nova.findServer("vm-42");
    const dest = server?.host === "compute-4" ? "compute-3" : "compute-4";
    const res = await stack.slack.slashCommand({
      user: "alice",
      channel: "ops",
      command: "/migrate",
      text: `vm-42 to ${dest}`,
      deliverTwice: true,
    });
    expect(res.status).toBe(200);
    expect(res.duplicate?.status).toBe(200);
    await settled(stack);
    const added = ops.roots().slice(before);
    expect(added).toHaveLength(1);
    expect(added[0]!.text).toMatch(/Completed/);
    const migrations = await stack.nova.listMigrations({
      instanceUuid: server!.id,
      migrationType: "live-migration",
    });
    expect(migrations.filter((m) => m.destCompute === dest)).toHaveLength(1);
  });
});
