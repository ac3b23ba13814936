/**
 * The Fix first / Go anyway wait survives a worker stopping: the runner on real pieces (the
 * sandbox's Nova over HTTP and its hosts over SSH, real Redis for the record) is stopped while it
 * waits for the choice; the next runner neither measures nor posts the prediction again, finds the
 * choice recorded meanwhile (the first one counts), and only then asks Nova.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createMigrationPresenter } from "../../bot/presenters/migration";
import { SshExecutor } from "../../src/hosts/executor";
import type { HostsPort } from "../../src/hosts/port";
import { silentLogger } from "../../src/log";
import { type RunMigrationDeps, runMigration } from "../../src/migration/run-migration";
import { MigrationStore } from "../../src/migration/store";
import { WorkerShuttingDown } from "../../src/migration/tracker";
import type { NotifierPort } from "../../src/notify/port";
import { hostsPort, novaForSandbox } from "../../src/runtime/stack";
import { type Sandbox, startSandbox } from "../../src/sandbox";

const POLL_MS = 2000;
/** Real time per wait: the sandbox runs libvirt's measurement period on the real clock. */
const REAL_WAIT_CAP_MS = 1000;

let sandbox: Sandbox;
let hosts: HostsPort & { close(): Promise<void> };
let redis: Redis;
let nova: RunMigrationDeps["nova"];

beforeAll(async () => {
  sandbox = await startSandbox({ timeScale: 0 });
  hosts = hostsPort(sandbox.hosts, new SshExecutor(sandbox.hosts, { log: silentLogger }));
  nova = await novaForSandbox(sandbox, silentLogger);
  redis = new Redis(inject("redisUrl"));
});

afterAll(async () => {
  await hosts?.close();
  redis?.disconnect();
  await sandbox?.stop();
});

/** Posts once per dedupe key, like the real notifier; records every post and edit. */
function notifier(): NotifierPort & { posts: string[]; edits: string[] } {
  const keys = new Map<string, string>();
  const posts: string[] = [];
  const edits: string[] = [];
  let seq = 0;
  return {
    posts,
    edits,
    async post(_channel, msg, opts) {
      const known = keys.get(opts.dedupeKey);
      if (known) return known;
      const ts = `2000.${String(++seq).padStart(6, "0")}`;
      keys.set(opts.dedupeKey, ts);
      posts.push(msg.text);
      return ts;
    },
    async update(_channel, _ts, msg) {
      edits.push(JSON.stringify(msg.blocks ?? []));
    },
  };
}

describe("a migration waiting for Fix first / Go anyway", () => {
  it("resumes after a worker stop without measuring or posting again, and triggers on Go anyway", async () => {
    const store = new MigrationStore(redis, `predict-resume-${randomUUID()}`);
    const slack = notifier();
    const calcs: string[] = [];
    const counting: HostsPort = {
      has: (h) => hosts.has(h),
      run: (h, cmd, o) => {
        if (cmd.kind === "virsh-domdirtyrate-calc") calcs.push(h);
        return hosts.run(h, cmd, o);
      },
    };
    const clock = { now: sandbox.cloud.wallTime().getTime() };
    const jobId = `job-${randomUUID()}`;
    const stop = new AbortController();
    const deps = (signal: AbortSignal, onSleep: () => Promise<void>): RunMigrationDeps => ({
      nova,
      hosts: counting,
      presenter: createMigrationPresenter(slack),
      store,
      answer: async () => {},
      log: silentLogger,
      pollIntervalMs: POLL_MS,
      now: () => clock.now,
      sleep: async (ms) => {
        sandbox.cloud.advance(ms / 1000);
        clock.now += ms;
        await new Promise((r) => setTimeout(r, Math.min(ms, REAL_WAIT_CAP_MS)));
        await onSleep();
      },
      signal,
      predict: "ask",
      evidenceTimeoutMs: 5000,
    });
    const job = {
      type: "migrate" as const,
      vm: "db-1",
      destination: "compute-2",
      channel: "C0OPS0001",
      user: "U0ALICE01",
      requestedAt: clock.now,
    };
    const db1 = (await nova.findServer("db-1"))!;

    // First runner: stopped while it waits for the choice.
    const first = runMigration(
      jobId,
      job,
      deps(stop.signal, async () => {
        const record = await store.load(jobId);
        if (record?.view.decision?.state === "waiting") stop.abort();
      }),
    );
    await expect(first).rejects.toBeInstanceOf(WorkerShuttingDown);
    expect(calcs).toEqual(["compute-1", "compute-1"]);
    expect(slack.posts.filter((t) => /will not converge without auto-converge/.test(t))).toHaveLength(1);
    expect(await nova.listServerMigrations(db1.id)).toEqual([]);

    // The choice arrives while no worker runs the job; only the first one counts.
    expect(await store.setDecision(jobId, { choice: "go-anyway", by: "U0ALICE01", at: clock.now })).toBe(
      true,
    );
    expect(await store.setDecision(jobId, { choice: "fix-first", by: "U0BOB0001", at: clock.now })).toBe(
      false,
    );

    // Second runner: no new measurement, no second prediction post; Go anyway triggers. Stopped
    // again as soon as Nova has the migration (the rest is the tracker as before).
    const again = new AbortController();
    const second = runMigration(
      jobId,
      job,
      deps(again.signal, async () => {
        if ((await nova.listServerMigrations(db1.id)).length > 0) again.abort();
      }),
    );
    await expect(second).rejects.toBeInstanceOf(WorkerShuttingDown);
    expect(calcs).toHaveLength(2);
    expect(slack.posts.filter((t) => /will not converge without auto-converge/.test(t))).toHaveLength(1);
    expect(slack.edits.some((e) => e.includes("Go anyway chosen by <@U0ALICE01>"))).toBe(true);
    const migrations = await nova.listServerMigrations(db1.id);
    expect(migrations).toHaveLength(1);
    await nova.abortMigration(db1.id, migrations[0]!.id);
  }, 60_000);
});
