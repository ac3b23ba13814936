/**
 * Redis faults: restarted (AOF on, as docker compose runs it) while migrations are tracked and while
 * an approval is applied; unreachable (refused, then not answering) when a slash command arrives.
 */
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from "vitest";
import type { StoredMessage } from "../../src/sandbox/slack/emulator";
import { type RedisNode, startRedisNode } from "../support/redis-processes";
import { type SlackChannel, slackChannel } from "../support/slack-threads";
import {
  expectPhasesOnce,
  firstTime,
  hostOf,
  liveMigrations,
  otherOf,
  threadActivity,
  waitFinished,
  waitReply,
} from "./support/checks";
import { afterHostCommands, type FaultStack, memoryLog, startFaultStack } from "./support/fault-stack";
import {
  backupsOf,
  clickApprove,
  fileState,
  postFix,
  proposalStatus,
  service,
  tempFilesOf,
} from "./support/fixes";
import { faultCase, ms } from "./support/reliability";

/** How long Redis stays unreachable after the refused command (the tracked migration waits it out). */
const REDIS_OUTAGE_MS = 3_000;
/** How long Redis stays down in a restart: `docker compose restart redis` takes a few seconds. */
const REDIS_RESTART_GAP_MS = 3_000;

describe("Redis restarted with AOF", () => {
  let redis: RedisNode;
  let stack: FaultStack;
  let ops: SlackChannel;
  const mem = memoryLog();

  beforeAll(async () => {
    redis = await startRedisNode();
    // A slow clock: vm-42 takes ~9 s, batch-1 ~18 s, so the restart lands mid-pre-copy.
    stack = await startFaultStack("faults-redis-restart", {
      redisUrl: redis.url,
      timeScale: 2,
      log: mem.log,
    });
    ops = slackChannel(stack.slack, { timeoutMs: 60_000 });
  });
  afterAll(async () => {
    if (process.env.FAULTS_DEBUG) console.log(mem.lines.join("\n"));
    await stack?.stop();
    await redis?.destroy();
  });

  test("while two migrations are tracked", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "Redis restarted (AOF on, SIGTERM then start)",
      when: "two migrations in pre-copy",
      userSees: "nothing unusual: both threads carry on and complete",
      mustHold:
        "tracking resumes; no job lost; one Nova live migration per request; one root and each phase once per thread",
    });
    const vms = [
      { vm: "vm-42", to: "compute-3" },
      { vm: "batch-1", to: "compute-4" },
    ];
    const before = await Promise.all(vms.map(({ vm }) => liveMigrations(stack.truth, vm)));
    const roots: StoredMessage[] = [];
    for (const { vm, to } of vms)
      roots.push(await ops.commandRoot("alice", "/migrate", `${vm} to ${to}`, vm));
    for (const r of roots) await waitReply(ops, r.ts, "Iterative pre-copy");

    const activity = roots.map((r) => threadActivity(ops, r.ts));
    const t0 = Date.now();
    await redis.stop("SIGTERM");
    // A container restart takes seconds (stop, start, AOF load); long enough for every client to notice.
    await new Promise((r) => setTimeout(r, REDIS_RESTART_GAP_MS));
    await redis.start();
    const down = Date.now() - t0;
    c.measure(`Redis down ${ms(down)}`);
    // Tracking resumes: each thread changes again (an edit or a new reply) after Redis is back.
    const back = Date.now();
    const resumed = await firstTime(
      () => roots.every((r, i) => threadActivity(ops, r.ts) > activity[i]!),
      60_000,
    );
    expect(resumed, "threads changed again after the restart").not.toBeNull();
    c.measure(`threads moving again ${ms(resumed! - back)} after Redis was back`);

    for (const r of roots) {
      const done = await waitFinished(ops, r.ts);
      expect(done.text).toMatch(/Completed/);
      expectPhasesOnce(ops, r.ts);
    }
    const after = await Promise.all(vms.map(({ vm }) => liveMigrations(stack.truth, vm)));
    for (const [i, list] of after.entries()) expect(list.length - before[i]!.length, vms[i]!.vm).toBe(1);
    for (const { vm, to } of vms) expect(await hostOf(stack.truth, vm)).toBe(to);
    // A finished job still shares its end's chart (routine, after the words): the queue then drains.
    await ops.waitFor("the queues to drain", async () => (await stack.queueCounts()) === 0, 30_000);
    c.measure("2/2 completed, 1 live migration each, phases once, 0 jobs left");
  });

  test("while an approval is being applied", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "Redis restarted (AOF on, SIGTERM then start)",
      when: "an approved nova.conf fix is being applied (right after the new file is renamed into place)",
      userSees: "the proposal message goes on to applied (progress lines, then the result)",
      mustHold:
        "the file is the planned one and a backup of the original exists; nova-compute restarted with it; the proposal ends applied; its message is posted once",
    });
    const host = "compute-4";
    const fix = await postFix(stack, ops, [host]);
    const change = fix.changes[0]!;
    const pidBefore = service(stack, host).pid;
    let downMs: number | null = null;
    const unhook = afterHostCommands(stack.cloud.sandbox, async (h, cmd) => {
      if (h === host && cmd.kind === "rename-file" && cmd.to === change.path && downMs === null) {
        // The rename is done on the host; its answer reaches the worker only once Redis is down,
        // so the apply's next writes (audit, progress, status) meet the restart.
        downMs = 0;
        const t0 = Date.now();
        await redis.stop("SIGTERM");
        setTimeout(() => {
          void redis.start().then(() => {
            downMs = Date.now() - t0;
          });
        }, REDIS_RESTART_GAP_MS);
      }
    });
    try {
      const rootsBefore = ops.roots().length;
      await clickApprove(ops, fix.message);
      const applied = await ops.waitFor(
        "the proposal to end",
        async () => {
          const st = await proposalStatus(stack, fix.proposal.id).catch(() => undefined);
          return st === "applied" || st === "failed" ? st : undefined;
        },
        90_000,
      );
      expect(downMs, "Redis was restarted mid-apply").not.toBeNull();
      await ops.waitFor("Redis back", () => redis.running() && (downMs ?? 0) > 0);
      c.measure(`Redis down ${ms(downMs!)} right after the rename`);
      expect(applied).toBe("applied");
      await ops.waitFor("the message to say applied", () =>
        /applied\./.test(ops.message(fix.message.ts)!.text),
      );
      expect(fileState(stack, change)).toBe("new");
      expect(backupsOf(stack, change).some((b) => b.original)).toBe(true);
      expect(tempFilesOf(stack, change)).toEqual([]);
      expect(service(stack, host)).toMatchObject({ unit: "active", autoConverge: true });
      expect(service(stack, host).pid).not.toBe(pidBefore);
      expect(ops.roots().length).toBe(rootsBefore);
      c.measure(`proposal ${applied}; file new, backup of the original kept, nova-compute restarted with it`);
    } finally {
      unhook();
    }
  });
});

describe("Redis unreachable when a slash command arrives", () => {
  let stack: FaultStack;
  let ops: SlackChannel;
  const mem = memoryLog();

  beforeAll(async () => {
    stack = await startFaultStack("faults-redis-away", { proxyRedis: true, timeScale: 4, log: mem.log });
    ops = slackChannel(stack.slack, { timeoutMs: 60_000 });
  });
  afterAll(async () => {
    if (process.env.FAULTS_DEBUG) console.log(mem.lines.join("\n"));
    direct?.disconnect();
    await stack?.stop();
  });
  afterEach(async () => {
    await stack.redisProxy?.setMode("pass");
  });

  /** Jobs in both queues, counted on Redis directly (not through the proxy). */
  async function jobsInRedis(): Promise<number> {
    const keys = await stackRedis().keys(`${stack.prefix}:bull:*:[0-9a-z]*-*`);
    return keys.filter((k) => !/:(lock|logs)$/.test(k)).length;
  }
  let direct: Redis | null = null;
  function stackRedis(): Redis {
    direct ??= new Redis(inject("redisUrl"));
    return direct;
  }

  for (const kind of ["refuse", "hang"] as const) {
    test(`${kind === "refuse" ? "refused (Redis down)" : "not answering (a partition)"}: the user is told at once, and work resumes by itself`, async (ctx) => {
      const c = faultCase(ctx, {
        fault:
          kind === "refuse" ? "Redis unreachable: connection refused" : "Redis not answering (packets held)",
        when: "a /migrate arrives, while another migration is tracked",
        userSees:
          kind === "refuse"
            ? "an ephemeral answer within Slack's 3 s: the queue is unreachable, nothing was started, try again"
            : "an ephemeral answer within Slack's 3 s: Redis did not answer in 2 s, nothing was started (or, if the add itself was cut off: check /migrate status before asking again)",
        mustHold:
          "ack < 3 s; no job or VM lock left by the refused request; the tracked migration completes once Redis is back; a repeated command then migrates once",
      });
      const running = "vm-42";
      const runningTo = otherOf(await hostOf(stack.truth, running), ["compute-1", "compute-3"]);
      const root = await ops.commandRoot("alice", "/migrate", `${running} to ${runningTo}`, running);
      await waitReply(ops, root.ts, "Iterative pre-copy");
      const jobsBefore = await jobsInRedis();
      const vm = "batch-1";
      const to = otherOf(await hostOf(stack.truth, vm), ["compute-3", "compute-4"]);
      const migrationsBefore = (await liveMigrations(stack.truth, vm)).length;

      await stack.redisProxy!.setMode(kind);
      const res = await stack.slack.slashCommand({
        user: "alice",
        channel: ops.id,
        command: "/migrate",
        text: `${vm} to ${to}`,
      });
      c.measure(`ack ${ms(res.ackMs)} (HTTP ${res.status})`);
      expect(res.status).toBe(200);
      expect(res.ackMs).toBeLessThan(3000);
      const answer = ops.ephemerals("U0ALICE01").at(-1) ?? "";
      c.measure(`answer: "${answer.slice(0, 120)}"`);
      expect(answer).toMatch(
        kind === "refuse"
          ? /cannot reach .*nothing was started/i
          : /did not answer.*(nothing was started|status)/i,
      );
      await new Promise((r) => setTimeout(r, REDIS_OUTAGE_MS));
      // Held bytes are delivered, as TCP would once the partition heals.
      await stack.redisProxy!.setMode("pass");
      const back = Date.now();

      const done = await waitFinished(ops, root.ts);
      expect(done.text).toMatch(/Completed/);
      expectPhasesOnce(ops, root.ts);
      c.measure(`tracked migration completed ${ms(Date.now() - back)} after Redis was back`);
      expect(await jobsInRedis()).toBe(jobsBefore);
      expect(await stackRedis().exists(`${stack.prefix}:active-vm:${vm}`)).toBe(0);
      expect((await liveMigrations(stack.truth, vm)).length).toBe(migrationsBefore);

      const again = await ops.commandRoot("alice", "/migrate", `${vm} to ${to}`, vm);
      const finished = await waitFinished(ops, again.ts);
      expect(
        finished.text,
        ops
          .thread(again.ts)
          .map((r) => r.text)
          .join("\n"),
      ).toMatch(/Completed/);
      expect((await liveMigrations(stack.truth, vm)).length).toBe(migrationsBefore + 1);
      c.measure("nothing queued by the refused request; the repeat migrated once");
    });
  }
});
