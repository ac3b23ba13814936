/**
 * Redis that fails over: a real primary, a replica and three `redis-sentinel` processes on loopback
 * (Debian's packages), migbot configured with REDIS_SENTINELS / REDIS_SENTINEL_NAME exactly as the
 * README says. The primary is failed over in the middle of migrations — by `SENTINEL FAILOVER`
 * (a planned switch) and by SIGKILL (the primary's machine lost) — and every request must still end
 * in exactly one migration, with no job lost.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { StoredMessage } from "../../src/sandbox/slack/emulator";
import { type SentinelDeployment, startSentinelDeployment } from "../support/redis-processes";
import { type SlackChannel, slackChannel } from "../support/slack-threads";
import { expectPhasesOnce, hostOf, liveMigrations, otherOf, waitFinished, waitReply } from "./support/checks";
import { type FaultStack, memoryLog, startFaultStack } from "./support/fault-stack";
import { faultCase, ms } from "./support/reliability";

let ha: SentinelDeployment;
let stack: FaultStack;
let ops: SlackChannel;
const mem = memoryLog();

beforeAll(async () => {
  ha = await startSentinelDeployment("migbot");
  const primary = ha.nodes[0]!;
  stack = await startFaultStack("faults-sentinel", {
    // With Sentinels the URL gives only the password: its host is not used (here it names the
    // first primary, which is gone after the first failover; migbot must not care).
    redisUrl: primary.url,
    timeScale: 2,
    log: mem.log,
    env: {
      REDIS_SENTINELS: ha.sentinelPorts.map((p) => `127.0.0.1:${p}`).join(","),
      REDIS_SENTINEL_NAME: ha.masterName,
      REDIS_SENTINEL_PASSWORD: ha.password,
    },
  });
  ops = slackChannel(stack.slack, { timeoutMs: 90_000 });
}, 90_000);
afterAll(async () => {
  if (process.env.FAULTS_DEBUG) console.log(mem.lines.join("\n"));
  await stack?.stop();
  await ha?.destroy();
});

const MOVES: { vm: string; pair: [string, string] }[] = [
  { vm: "vm-42", pair: ["compute-1", "compute-3"] },
  { vm: "batch-1", pair: ["compute-3", "compute-4"] },
];

/** Starts the moves, waits until both are in pre-copy; returns them with Nova's count before. */
async function startMoves() {
  const runs: { vm: string; to: string; before: number; root: StoredMessage }[] = [];
  for (const { vm, pair } of MOVES) {
    const to = otherOf(await hostOf(stack.truth, vm), pair);
    const before = (await liveMigrations(stack.truth, vm)).length;
    runs.push({ vm, to, before, root: await ops.commandRoot("alice", "/migrate", `${vm} to ${to}`, vm) });
  }
  for (const r of runs) await waitReply(ops, r.root.ts, "Iterative pre-copy");
  return runs;
}

async function expectEachOnce(runs: Awaited<ReturnType<typeof startMoves>>) {
  for (const r of runs) {
    const done = await waitFinished(ops, r.root.ts);
    expect(
      done.text,
      ops
        .thread(r.root.ts)
        .map((m) => m.text)
        .join("\n"),
    ).toMatch(/Completed/);
    expectPhasesOnce(ops, r.root.ts);
    expect((await liveMigrations(stack.truth, r.vm)).length - r.before, r.vm).toBe(1);
    expect(await hostOf(stack.truth, r.vm)).toBe(r.to);
  }
}

describe("Redis Sentinel failover", () => {
  for (const how of ["SENTINEL FAILOVER", "primary SIGKILLed"] as const) {
    test(`${how}, mid-migration, with a /migrate arriving during the switch`, async (ctx) => {
      const c = faultCase(ctx, {
        fault: `Redis primary failed over (${how}; 1 replica, 3 Sentinels)`,
        when: "two migrations in pre-copy; a third /migrate sent as the switch starts",
        userSees:
          "the two threads carry on and complete; the third command is either started or told to try again (never silently dropped)",
        mustHold:
          "no job lost (every accepted request completes), one live migration per request, phases once; migbot follows the new primary by itself",
      });
      const runs = await startMoves();
      const oldPort = await ha.primaryPort();
      const t0 = Date.now();
      if (how === "SENTINEL FAILOVER") await ha.failover();
      else await ha.nodes.find((n) => n.port === oldPort)!.stop("SIGKILL");
      // A command during the switch: accepted (then it must complete once) or refused with a clear answer.
      const third = {
        vm: "app-1",
        to: otherOf(await hostOf(stack.truth, "app-1"), ["compute-3", "compute-4"]),
      };
      const thirdBefore = (await liveMigrations(stack.truth, third.vm)).length;
      const rootsBefore = ops.roots().length;
      const res = await stack.slack.slashCommand({
        user: "alice",
        channel: ops.id,
        command: "/migrate",
        text: `${third.vm} to ${third.to}`,
      });
      expect(res.status).toBe(200);
      expect(res.ackMs).toBeLessThan(3000);
      const answer = ops.ephemerals("U0ALICE01").at(-1) ?? "";
      const newPort = await ha.waitForNewPrimary(oldPort);
      c.measure(
        `new primary in ${ms(Date.now() - t0)}; the command during the switch: ack ${ms(res.ackMs)}, "${answer.slice(0, 70)}"`,
      );
      await expectEachOnce(runs);
      const accepted = /^On it/.test(answer);
      if (accepted) {
        const root = await ops.waitFor("the third migration's root", () =>
          ops
            .roots()
            .slice(rootsBefore)
            .find((r) => r.text.includes(third.vm)),
        );
        await expectEachOnce([{ ...third, before: thirdBefore, root }]);
      } else {
        expect(answer).toMatch(/nothing was started|did not answer|try again/i);
        expect((await liveMigrations(stack.truth, third.vm)).length).toBe(thirdBefore);
      }
      // migbot writes to the new primary: a fresh request goes through end to end.
      const fresh = { vm: "app-2", pair: ["compute-3", "compute-4"] as [string, string] };
      const to = otherOf(await hostOf(stack.truth, fresh.vm), fresh.pair);
      const before = (await liveMigrations(stack.truth, fresh.vm)).length;
      const root = await ops.commandRoot("alice", "/migrate", `${fresh.vm} to ${to}`, fresh.vm);
      await expectEachOnce([{ vm: fresh.vm, to, before, root }]);
      // No job lost or stuck: every queue is empty once the threads are done.
      await ops.waitFor("the queues to drain", async () => (await stack.queueCounts()) === 0, 30_000);
      c.measure(
        `primary :${oldPort} → :${newPort}; 2/2 tracked completed once; third ${accepted ? "accepted and completed once" : "refused clearly, nothing started"}; a new request after the switch completed; 0 jobs left`,
      );
      if (how === "primary SIGKILLed") {
        // The old primary comes back as a replica of the new one (as an operator would restart it).
        await ha.nodes.find((n) => n.port === oldPort)!.start();
      }
    });
  }
});
