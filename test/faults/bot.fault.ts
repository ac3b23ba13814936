/**
 * The bot and Slack's deliveries: a bot process SIGKILLed after it received a /migrate and before
 * it acknowledged it (the job add on its way to Redis), the same command delivered twice at once,
 * and the same Approve click delivered twice. Exactly one migration (one apply) must come of each.
 */
import { createServer } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import type { HostCommand } from "../../src/hosts/catalogue";
import { killAllRoles, startRole } from "../support/role-processes";
import { type SlackChannel, slackChannel } from "../support/slack-threads";
import { expectPhasesOnce, hostOf, liveMigrations, otherOf, waitFinished } from "./support/checks";
import { afterHostCommands, type FaultStack, memoryLog, startFaultStack } from "./support/fault-stack";
import { clickApprove, fileState, postFix, proposalStatus, service } from "./support/fixes";
import { faultCase, ms } from "./support/reliability";
import { startTcpProxy } from "./support/tcp-proxy";

let stack: FaultStack;
let ops: SlackChannel;
const mem = memoryLog();

beforeAll(async () => {
  stack = await startFaultStack("faults-bot", { timeScale: 4, log: mem.log });
  ops = slackChannel(stack.slack, { timeoutMs: 90_000 });
});
afterEach(async () => {
  await killAllRoles();
  stack.slack.setDeliveryUrl(stack.bot.url!);
});
afterAll(async () => {
  if (process.env.FAULTS_DEBUG) console.log(mem.lines.join("\n"));
  await killAllRoles();
  await stack?.stop();
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

/** Roots in #ops that mention the VM, from `since` on. */
function rootsFor(vm: string, since: number): number {
  return ops
    .roots()
    .slice(since)
    .filter((r) => r.text.includes(vm)).length;
}

describe("the bot and Slack's deliveries", () => {
  test("bot SIGKILLed between receiving /migrate and acknowledging it; the operator asks again", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "bot process SIGKILLed (OOM killer, node lost)",
      when: "after it received /migrate, with the job add sent to Redis and its answer not yet read (no ack sent)",
      userSees:
        'Slack\'s own "operation timed out" for the first command; the repeat (to the restarted bot) says it is already being migrated, or starts it; one thread',
      mustHold: "exactly one Nova live migration and one thread for the VM",
    });
    const vm = "app-2";
    const to = otherOf(await hostOf(stack.truth, vm), ["compute-3", "compute-4"]);
    const before = (await liveMigrations(stack.truth, vm)).length;
    const rootsBefore = ops.roots().length;
    const u = new URL(stack.redisUrl);
    const redisProxy = await startTcpProxy({ host: u.hostname, port: Number(u.port) });
    try {
      u.port = String(redisProxy.port);
      const port = await freePort();
      const bot = startRole("bot", {
        ...stack.botEnv,
        REDIS_URL: u.toString(),
        PORT: String(port),
        MIGBOT_HEALTH_PORT: "0",
      });
      await bot.waitForLog(/"bot started"/);
      stack.slack.setDeliveryUrl(`http://127.0.0.1:${port}/slack/events`);
      let killedAt: number | null = null;
      redisProxy.watch((chunk) => {
        // BullMQ adds a job with one script call: the script's text the first time (EVAL), its sha
        // (EVALSHA) after; the payload follows in later chunks, on its way to Redis all the same.
        const adds =
          chunk.includes("Adds a job to the queue") ||
          (/evalsha/i.test(chunk) && chunk.includes(":bull:migrations"));
        if (killedAt !== null || !adds) return undefined;
        killedAt = Date.now();
        setImmediate(() => bot.child.kill("SIGKILL"));
        return "hold-reply";
      });
      const first = await stack.slack.slashCommand({
        user: "alice",
        channel: ops.id,
        command: "/migrate",
        text: `${vm} to ${to}`,
      });
      expect(
        killedAt,
        `the bot was killed with the add in flight; ${JSON.stringify(first)} ${bot.log()}`,
      ).not.toBeNull();
      await bot.exited;
      c.measure(`first delivery: HTTP ${first.status || "none (no ack)"} after ${ms(first.ackMs)}`);
      expect(first.status).not.toBe(200);

      const port2 = await freePort();
      const bot2 = startRole("bot", { ...stack.botEnv, PORT: String(port2), MIGBOT_HEALTH_PORT: "0" });
      await bot2.waitForLog(/"bot started"/);
      stack.slack.setDeliveryUrl(`http://127.0.0.1:${port2}/slack/events`);
      const again = await stack.slack.slashCommand({
        user: "alice",
        channel: ops.id,
        command: "/migrate",
        text: `${vm} to ${to}`,
      });
      expect(again.status).toBe(200);
      const answer = ops.ephemerals("U0ALICE01").at(-1) ?? "";
      c.measure(`repeat answered in ${ms(again.ackMs)}: "${answer.slice(0, 90)}"`);
      const root = await ops.waitFor("the migration's root", () =>
        ops
          .roots()
          .slice(rootsBefore)
          .find((r) => r.text.includes(vm)),
      );
      const done = await waitFinished(ops, root.ts);
      expect(done.text).toMatch(/Completed/);
      expectPhasesOnce(ops, root.ts);
      // Let a second job, had one been queued, show itself before counting.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(rootsFor(vm, rootsBefore)).toBe(1);
      expect((await liveMigrations(stack.truth, vm)).length - before).toBe(1);
      // A finished job still shares its end's chart (routine, after the words): the queue then drains.
      await ops.waitFor("the queues to drain", async () => (await stack.queueCounts()) === 0, 30_000);
      c.measure("1 thread, 1 live migration, 0 jobs left");
    } finally {
      await redisProxy.close();
    }
  });

  test("the same /migrate delivered twice at once", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "Slack delivers the same slash command twice (same trigger_id)",
      when: "both at once",
      userSees: 'one "On it" answer per delivery, one thread',
      mustHold: "one thread, one live migration",
    });
    const vm = "app-3";
    const to = otherOf(await hostOf(stack.truth, vm), ["compute-3", "compute-4"]);
    const before = (await liveMigrations(stack.truth, vm)).length;
    const rootsBefore = ops.roots().length;
    const res = await stack.slack.slashCommand({
      user: "alice",
      channel: ops.id,
      command: "/migrate",
      text: `${vm} to ${to}`,
      deliverTwice: true,
    });
    expect(res.status).toBe(200);
    expect(res.duplicate?.status).toBe(200);
    c.measure(`acks ${ms(res.ackMs)} and ${ms(res.duplicate!.ackMs)}`);
    const root = await ops.waitFor("the root", () =>
      ops
        .roots()
        .slice(rootsBefore)
        .find((r) => r.text.includes(vm)),
    );
    expect((await waitFinished(ops, root.ts)).text).toMatch(/Completed/);
    expectPhasesOnce(ops, root.ts);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(rootsFor(vm, rootsBefore)).toBe(1);
    expect((await liveMigrations(stack.truth, vm)).length - before).toBe(1);
    c.measure("1 thread, 1 live migration");
  });

  test("the same Approve click delivered twice at once", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "Slack delivers the same Approve click twice",
      when: "both at once, on a nova.conf fix",
      userSees: "the proposal applied once; the message shows who approved",
      mustHold: "one apply: nova-compute restarted once; the file is the new one; proposal applied",
    });
    const host = "compute-3";
    const fix = await postFix(stack, ops, [host]);
    const change = fix.changes[0]!;
    let restarts = 0;
    let renames = 0;
    const unhook = afterHostCommands(stack.cloud.sandbox, (h, cmd: HostCommand) => {
      if (h !== host) return;
      if (cmd.kind === "systemctl-restart") restarts++;
      if (cmd.kind === "rename-file" && cmd.to === change.path) renames++;
    });
    try {
      const answers = await clickApprove(ops, fix.message, { twice: true });
      c.measure(`clicks answered HTTP ${answers.map((a) => a.status).join(" and ")}`);
      const status = await ops.waitFor(
        "the proposal to end",
        async () => {
          const st = await proposalStatus(stack, fix.proposal.id);
          return st === "applied" || st === "failed" ? st : undefined;
        },
        90_000,
      );
      expect(status).toBe("applied");
      await new Promise((r) => setTimeout(r, 2_000));
      expect(restarts).toBe(1);
      expect(renames).toBe(1);
      expect(fileState(stack, change)).toBe("new");
      expect(service(stack, host)).toMatchObject({ unit: "active", autoConverge: true });
      c.measure(`applied; ${renames} rename, ${restarts} nova-compute restart`);
    } finally {
      unhook();
    }
  });
});
