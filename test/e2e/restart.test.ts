/**
 * Restart safety: `kill -9` the worker in the middle of a migration; a new worker process resumes
 * the same thread and never triggers a second live migration.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { afterAll, beforeAll, expect, inject, test } from "vitest";
import { SANDBOX_CHANNEL, type SandboxStack, startSandboxStack } from "../../src/runtime/stack";
import { PROJECT_ROOT } from "../support/fixtures";
import { until } from "../support/until";

let stack: SandboxStack;
const children: ChildProcess[] = [];
let workerLog = "";

/** A short lock so the killed worker's job is handed over in seconds rather than Slack-minutes. */
const TEST_JOB_LOCK_MS = 2000;

function startWorkerProcess(): ChildProcess {
  const child = spawn(
    process.execPath,
    [resolve(PROJECT_ROOT, "bin/migbot.mjs"), "start", "--role", "worker"],
    {
      env: {
        ...process.env,
        ...stack.workerEnv,
        MIGBOT_JOB_LOCK_MS: String(TEST_JOB_LOCK_MS),
        MIGBOT_LOG_LEVEL: "info",
      },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  child.stderr?.on("data", (d: Buffer) => {
    workerLog += d.toString();
  });
  children.push(child);
  return child;
}

beforeAll(async () => {
  // A slow clock (1 model second per second): vm-42 takes ~16 s to move, time enough to kill a worker.
  stack = await startSandboxStack({
    redisUrl: inject("redisUrl"),
    prefix: `restart-${randomUUID()}`,
    timeScale: 1,
    workers: false,
  });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await stack?.stop();
});

function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  return until(what, fn, { timeoutMs, explain: () => `--- worker log ---\n${workerLog.slice(-3000)}` });
}

test("a worker killed mid-migration is replaced and the same thread carries on, with one Nova migration", async () => {
  const first = startWorkerProcess();
  const res = await stack.slack.slashCommand({
    user: "alice",
    channel: "ops",
    command: "/migrate",
    text: "vm-42 to compute-3",
  });
  expect(res.status).toBe(200);

  // Kill the worker once it is following pre-copy.
  const root = await waitFor("the pre-copy reply", () =>
    stack.slack
      .messages(SANDBOX_CHANNEL.id)
      .find((m) => m.replies.some((r) => r.text.startsWith("Iterative pre-copy"))),
  );
  first.kill("SIGKILL");
  await new Promise((r) => first.once("exit", r));
  const server = await stack.nova.findServer("vm-42");
  expect(server?.status).toBe("MIGRATING");

  startWorkerProcess();
  const done = await waitFor(
    "the resumed worker to report completion",
    () => {
      const r = stack.slack.messages(SANDBOX_CHANNEL.id).find((m) => m.ts === root.ts);
      return r && /Completed/.test(r.text) ? r : undefined;
    },
    90_000,
  );

  // One root message, each phase once, in the original thread.
  expect(stack.slack.messages(SANDBOX_CHANNEL.id)).toHaveLength(1);
  for (const phase of ["Pre-migration", "Reservation", "Iterative pre-copy", "Stop-and-copy", "Commitment"]) {
    expect(done.replies.filter((r) => r.text.startsWith(phase))).toHaveLength(1);
  }
  // Nova saw exactly one live migration of vm-42, and it completed.
  const migrations = await stack.nova.listMigrations({
    instanceUuid: server!.id,
    migrationType: "live-migration",
  });
  expect(migrations).toHaveLength(1);
  expect(migrations[0]!.status).toBe("completed");
  expect((await stack.nova.findServer("vm-42"))?.host).toBe("compute-3");
}, 150_000);
