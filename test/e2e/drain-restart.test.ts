/**
 * A drain survives its worker: workers run as real production processes (`migbot start --role
 * worker`, src/sandbox and test/ unavailable to them); one is killed with SIGKILL while the drain's
 * second VM migrates, another resumes the same drain — the same table, the started migration
 * followed from its record without a second live-migrate, the rest started after it — and the
 * drain ends with one report.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { afterAll, beforeAll, expect, inject, test } from "vitest";
import { ACTION_DRAIN_APPROVE } from "../../bot/render/drain";
import { SANDBOX_CHANNEL, type SandboxStack, startSandboxStack } from "../../src/runtime/stack";
import { DEFAULT_SEED } from "../../src/sandbox/seed";
import { PROJECT_ROOT } from "../support/fixtures";
import { until } from "../support/until";

let stack: SandboxStack;
const children: ChildProcess[] = [];
let workerLog = "";

/** A short job lock so the killed worker's drain is handed over in seconds. */
const TEST_JOB_LOCK_MS = 2000;
/** The drained host holds three idle 2 GiB VMs; each takes ~20 model s over compute-1's 1 GbE link. */
const DRAINED_VMS = ["app-1", "app-2", "app-3"];

function startWorkerProcess(): ChildProcess {
  const child = spawn(
    process.execPath,
    [
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
  stack = await startSandboxStack({
    redisUrl: inject("redisUrl"),
    prefix: `drain-restart-${randomUUID()}`,
    // 4 model seconds per second: each VM moves in ~5 s, time enough to kill a worker mid-way.
    timeScale: 4,
    workers: false,
    seed: {
      ...DEFAULT_SEED,
      // Only guests that converge: db-1 (faster than its link) would be stopped, not moved.
      vms: DEFAULT_SEED.vms.filter(
        (v) => v.name !== "db-1" && (v.host !== "compute-3" || DRAINED_VMS.includes(v.name)),
      ),
    },
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
        .map((m) => [m.text, ...m.replies.map((r) => `  ${r.text.slice(0, 200)}`)].join("\n"))
        .join("\n")}\n--- worker log ---\n${workerLog.slice(-3000)}`,
  });
}

test("a worker killed mid-drain is replaced; the drain resumes its table without a second live-migrate", async () => {
  const first = startWorkerProcess();
  await stack.slack.slashCommand({
    user: "alice",
    channel: "ops",
    command: "/drain",
    text: "compute-3 to compute-1",
  });
  const root = await waitFor("the plan", () =>
    stack.slack
      .messages(SANDBOX_CHANNEL.id)
      .find((m) => JSON.stringify(m.blocks).includes(ACTION_DRAIN_APPROVE)),
  );
  await stack.slack.clickButton({
    user: "bob",
    channel: SANDBOX_CHANNEL.id,
    messageTs: root.ts,
    actionId: ACTION_DRAIN_APPROVE,
  });
  const thread = () => stack.slack.messages(SANDBOX_CHANNEL.id).find((m) => m.ts === root.ts)?.replies ?? [];
  const count = (prefix: string) => thread().filter((r) => r.text.startsWith(prefix)).length;
  // The second VM is in pre-copy, the first has finished.
  await waitFor(
    "the second VM in pre-copy",
    () => count("Iterative pre-copy") >= 2 && count("Commitment") === 1,
    90_000,
  );
  first.kill("SIGKILL");
  await new Promise((r) => first.once("exit", r));

  startWorkerProcess();
  const done = await waitFor(
    "the resumed drain's report",
    () => thread().find((r) => r.text.startsWith("Drain of compute-3: ")),
    120_000,
  );
  expect(done.text).toMatch(/3 of 3 VMs moved/);
  // One drain message, each VM's messages once, one report.
  expect(stack.slack.messages(SANDBOX_CHANNEL.id)).toHaveLength(1);
  expect(count("Commitment")).toBe(3);
  expect(count("Pre-migration")).toBe(3);
  expect(count("Drain of compute-3")).toBe(1);
  expect(JSON.stringify(stack.slack.messages(SANDBOX_CHANNEL.id)[0]!.blocks)).toMatch(/finished: 3 moved/);
  // Nova saw exactly one live migration per VM, each completed.
  for (const name of DRAINED_VMS) {
    const server = await stack.nova.findServer(name);
    expect(server?.host).toBe("compute-1");
    const migrations = await stack.nova.listMigrations({
      instanceUuid: server!.id,
      migrationType: "live-migration",
    });
    expect(migrations.map((m) => m.status)).toEqual(["completed"]);
  }
}, 240_000);

test("a worker stopped with SIGTERM mid-drain hands the drain back and exits 0; another finishes it", async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill("SIGKILL");
      await new Promise((r) => c.once("exit", r));
    }
  }
  const logStart = workerLog.length;
  const first = startWorkerProcess();
  await waitFor("the worker to start", () => /worker started/.test(workerLog.slice(logStart)));
  const before = stack.slack.messages(SANDBOX_CHANNEL.id).length;
  const earlier = (await stack.nova.listMigrations({ migrationType: "live-migration" })).length;
  // The VMs the first test moved to compute-1 go on to compute-2.
  await stack.slack.slashCommand({
    user: "alice",
    channel: "ops",
    command: "/drain",
    text: "compute-1 to compute-2",
  });
  const root = await waitFor("the plan", () =>
    stack.slack
      .messages(SANDBOX_CHANNEL.id)
      .slice(before)
      .find((m) => JSON.stringify(m.blocks).includes(ACTION_DRAIN_APPROVE)),
  );
  const onHost = (await stack.nova.listServers({ host: "compute-1" })).length;
  await stack.slack.clickButton({
    user: "bob",
    channel: SANDBOX_CHANNEL.id,
    messageTs: root.ts,
    actionId: ACTION_DRAIN_APPROVE,
  });
  const thread = () => stack.slack.messages(SANDBOX_CHANNEL.id).find((m) => m.ts === root.ts)?.replies ?? [];
  const count = (prefix: string) => thread().filter((r) => r.text.startsWith(prefix)).length;
  await waitFor(
    "the second VM in pre-copy",
    () => count("Iterative pre-copy") >= 2 && count("Commitment") === 1,
    90_000,
  );
  const exited = new Promise<number | null>((r) => first.once("exit", (code) => r(code)));
  first.kill("SIGTERM");
  expect(await exited).toBe(0);
  expect(workerLog.slice(logStart)).not.toMatch(/UnrecoverableError|drain job failed/);

  startWorkerProcess();
  const done = await waitFor(
    "the resumed drain's report",
    () => thread().find((r) => r.text.startsWith("Drain of compute-1: ")),
    120_000,
  );
  expect(done.text).toMatch(new RegExp(`${onHost} of ${onHost} VMs moved`));
  expect(stack.slack.messages(SANDBOX_CHANNEL.id).slice(before)).toHaveLength(1);
  expect(count("Commitment")).toBe(onHost);
  expect(count("Drain of compute-1")).toBe(1);
  // Triggered once each: exactly one more live migration per VM, all completed.
  const migrations = await stack.nova.listMigrations({ migrationType: "live-migration" });
  expect(migrations).toHaveLength(earlier + onHost);
  expect(migrations.every((m) => m.status === "completed")).toBe(true);
  expect(await stack.nova.listServers({ host: "compute-1" })).toEqual([]);
}, 240_000);
