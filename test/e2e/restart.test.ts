/**
 * Restart safety, with workers as real production processes (`migbot start --role worker`, each
 * started with src/sandbox and test/ made unavailable, so production start is proven not to load
 * them): `kill -9` a worker in the middle of a migration, or SIGTERM it; a new worker process
 * resumes the same thread and never triggers a second live migration.
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
    [
      // The production entry point with the sandbox and the test tree unavailable: any import of
      // them fails the process.
      "--import",
      resolve(PROJECT_ROOT, "test/support/forbid-sandbox.mjs"),
      resolve(PROJECT_ROOT, "bin/migbot.mjs"),
      "start",
      "--role",
      "worker",
    ],
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
  return until(what, fn, {
    timeoutMs,
    explain: () =>
      `--- threads ---\n${stack.slack
        .messages(SANDBOX_CHANNEL.id)
        .map((m) => [m.text, ...m.replies.map((r) => `  ${r.text.slice(0, 300)}`)].join("\n"))
        .join("\n")}\n--- worker log ---\n${workerLog.slice(-3000)}`,
  });
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

test("a worker stopped with SIGTERM mid-migration hands its job back and exits 0; another resumes it, with no duplicate post", async () => {
  // The first test's replacement worker would take the job otherwise.
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill("SIGKILL");
      await new Promise((r) => c.once("exit", r));
    }
  }
  const before = stack.slack.messages(SANDBOX_CHANNEL.id).length;
  const logStart = workerLog.length;
  const first = startWorkerProcess();
  await waitFor("the worker to start", () => /worker started/.test(workerLog.slice(logStart)));
  // From wherever the previous test (or none) left vm-42, to a Skylake host it can run on (Nova
  // compares the source host's CPU with the destination's, so Skylake → Haswell would be refused).
  const destination =
    (await stack.nova.findServer("vm-42"))?.host === "compute-3" ? "compute-4" : "compute-3";
  const earlier = (await stack.nova.listMigrations({ migrationType: "live-migration" })).length;
  await stack.slack.slashCommand({
    user: "alice",
    channel: "ops",
    command: "/migrate",
    text: `vm-42 to ${destination}`,
  });
  const root = await waitFor("the pre-copy reply", () =>
    stack.slack
      .messages(SANDBOX_CHANNEL.id)
      .slice(before)
      .find((m) => m.replies.some((r) => r.text.startsWith("Iterative pre-copy"))),
  );
  const exited = new Promise<number | null>((r) => first.once("exit", (code) => r(code)));
  first.kill("SIGTERM");
  expect(await exited).toBe(0);
  expect(workerLog.slice(logStart)).toMatch(/shutting down/);
  expect(workerLog.slice(logStart)).not.toMatch(/NOTIFY_CLOSED|UnrecoverableError|migration job failed/);

  startWorkerProcess();
  const done = await waitFor(
    "the resumed worker to report completion",
    () => {
      const r = stack.slack.messages(SANDBOX_CHANNEL.id).find((m) => m.ts === root.ts);
      return r && /Completed/.test(r.text) ? r : undefined;
    },
    90_000,
  );
  expect(stack.slack.messages(SANDBOX_CHANNEL.id).slice(before)).toHaveLength(1);
  for (const phase of ["Pre-migration", "Reservation", "Iterative pre-copy", "Stop-and-copy", "Commitment"]) {
    expect(done.replies.filter((r) => r.text.startsWith(phase))).toHaveLength(1);
  }
  expect((await stack.nova.findServer("vm-42"))?.host).toBe(destination);
  // Triggered once: exactly one more live migration in Nova, and it completed.
  const migrations = await stack.nova.listMigrations({ migrationType: "live-migration" });
  expect(migrations).toHaveLength(earlier + 1);
  expect(migrations.every((m) => m.status === "completed")).toBe(true);
}, 150_000);
