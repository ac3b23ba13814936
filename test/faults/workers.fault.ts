/**
 * Worker processes killed: SIGKILL at each step of applying an approved nova.conf fix (the step done
 * on the host, its answer never read), and SIGTERM in the middle of a migration. Workers are the
 * production entry point (`migbot start --role worker`) as child processes; a replacement picks
 * the job up once its lock lapses.
 */

import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import type { HostCommand } from "../../src/hosts/catalogue";
import { killAllRoles, startWorker } from "../support/role-processes";
import { type SlackChannel, slackChannel } from "../support/slack-threads";
import { expectMovedOnce, startMove, waitReply } from "./support/checks";
import { afterHostCommands, type FaultStack, startFaultStack } from "./support/fault-stack";
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

/** A short job lock: a killed worker's job is handed to the next one in seconds. */
const TEST_JOB_LOCK_MS = 2_000;

let stack: FaultStack;
let ops: SlackChannel;

beforeAll(async () => {
  stack = await startFaultStack("faults-workers", { workers: false, timeScale: 4 });
  ops = slackChannel(stack.slack, { timeoutMs: 90_000 });
});
afterEach(async () => {
  await killAllRoles();
});
afterAll(async () => {
  await killAllRoles();
  await stack?.stop();
});

function workerEnv(): Record<string, string> {
  return { ...stack.workerEnv, MIGBOT_JOB_LOCK_MS: String(TEST_JOB_LOCK_MS) };
}

/** The apply steps a worker can die after, each recognised by the command that completes it. */
const STEPS: { name: string; done: (cmd: HostCommand, path: string) => boolean }[] = [
  {
    name: "after the backup",
    done: (cmd, path) =>
      cmd.kind === "copy-file" && cmd.from === path && cmd.to.startsWith(`${path}.migbot-backup-`),
  },
  {
    name: "after the temp file",
    done: (cmd) => cmd.kind === "write-file" && cmd.path.includes(".migbot-tmp-"),
  },
  { name: "after the rename", done: (cmd, path) => cmd.kind === "rename-file" && cmd.to === path },
  { name: "after the restart", done: (cmd) => cmd.kind === "systemctl-restart" },
];

describe("a worker killed (SIGKILL) while applying a fix", () => {
  const hosts = ["compute-1", "compute-2", "compute-3", "compute-4"];
  for (const [i, step] of STEPS.entries()) {
    test(step.name, async (ctx) => {
      const c = faultCase(ctx, {
        fault: "worker SIGKILLed while applying a nova.conf fix",
        when: `${step.name} (the step done on the host, its answer never read)`,
        userSees:
          "the proposal says another worker continues, then applied (or, should the host refuse it, rolled back / not applied with the reason)",
        mustHold:
          "the file is always the old or the new one, never torn; a backup of the original exists once it changed; the proposal never stays applying; nova-compute is never left stopped, and runs the new config when applied",
      });
      const host = hosts[i]!;
      const fix = await postFix(stack, ops, [host]);
      const change = fix.changes[0]!;
      const first = await startWorker(workerEnv());
      let killedAt: number | null = null;
      let stateAtKill = "";
      const unhook = afterHostCommands(stack.cloud.sandbox, (h, cmd) => {
        if (h !== host || killedAt !== null || !step.done(cmd, change.path)) return;
        first.child.kill("SIGKILL");
        killedAt = Date.now();
        stateAtKill = fileState(stack, change);
      });
      try {
        await clickApprove(ops, fix.message);
        await ops.waitFor("the worker to be killed", () => killedAt !== null);
        await first.exited;
        c.measure(`killed ${step.name}: file ${stateAtKill}`);
        await startWorker(workerEnv());
        const status = await ops.waitFor(
          "the proposal to end",
          async () => {
            const st = await proposalStatus(stack, fix.proposal.id);
            return st === "applied" || st === "failed" ? st : undefined;
          },
          90_000,
        );
        c.measure(`proposal ${status} ${ms(Date.now() - killedAt!)} after the kill`);
        expect(status).toBe("applied");
        await ops.waitFor("the message to say applied", () =>
          /applied\./.test(ops.message(fix.message.ts)!.text),
        );
        expect(JSON.stringify(ops.message(fix.message.ts)!.blocks)).toMatch(/another one continues/);
        expect(fileState(stack, change)).toBe("new");
        expect(backupsOf(stack, change).some((b) => b.original)).toBe(true);
        expect(service(stack, host)).toMatchObject({ unit: "active", autoConverge: true });
        const leftovers = tempFilesOf(stack, change);
        c.measure(
          `file new, ${backupsOf(stack, change).length} backup(s) of the original, nova-compute active with the new setting${leftovers.length > 0 ? `, ${leftovers.length} temp file left by the killed worker` : ""}`,
        );
      } finally {
        unhook();
      }
    });
  }
});

describe("a worker stopped with SIGTERM", () => {
  test("mid-migration: it hands the job back and exits 0; another resumes the thread", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "worker SIGTERMed (docker compose stop / a rolling update)",
      when: "a migration in pre-copy",
      userSees: "the thread carries on (a short pause in the progress edits) and completes",
      mustHold: "exit 0 within the grace period; one Nova live migration; one root, each phase once",
    });
    const first = await startWorker(workerEnv());
    const m = await startMove(ops, stack.truth, "vm-42", ["compute-1", "compute-3"]);
    await waitReply(ops, m.root.ts, "Iterative pre-copy");
    const t0 = Date.now();
    const exit = await first.kill("SIGTERM");
    c.measure(`exit ${exit.code} ${ms(exit.at - t0)} after SIGTERM`);
    expect(exit.code).toBe(0);
    await startWorker(workerEnv());
    await expectMovedOnce(ops, stack.truth, m);
    c.measure("completed in the same thread, 1 live migration, phases once");
  });
});
