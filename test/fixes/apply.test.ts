/**
 * Applying approved nova.conf proposals on the sandbox's hosts over real SSH: the planner's real
 * plans against the hosts' real files, Nova's real service list and migrations, real Redis.
 */
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { progressLine } from "../../bot/render/proposal";
import { type ApplyTiming, applyProposal } from "../../src/fixes/apply";
import type { Proposal } from "../../src/fixes/proposal";
import { silentLogger } from "../../src/log";
import type { MigrationRecord } from "../../src/migration/store";
import { type ApplyHarness, approved, draftOf, planChanges, startApplyHarness, waitFor } from "./harness";

const FAST: Partial<ApplyTiming> = {
  serviceSettleMs: 300,
  servicePollIntervalMs: 100,
  serviceUpTimeoutMs: 15_000,
  abortPollIntervalMs: 100,
  abortWaitTimeoutMs: 15_000,
};

let h: ApplyHarness;
/** Progress as the lines shown under the proposal. */
const progress: string[] = [];

beforeAll(async () => {
  h = await startApplyHarness(inject("redisUrl"));
});
afterAll(async () => {
  await h?.stop();
});

function host(name: string) {
  return h.sandbox.cloud.hosts.get(name)!;
}

function apply(p: Proposal, nova: Parameters<typeof applyProposal>[1]["nova"] = h.nova) {
  return applyProposal(p, {
    hosts: h.hosts,
    nova,
    migrations: h.migrations,
    audit: h.audit,
    log: silentLogger,
    progress: async (event) => {
      progress.push(progressLine(event));
    },
    timing: FAST,
  });
}

function backups(name: string, path: string): string[] {
  return host(name)
    .fs.list()
    .filter((p) => p.startsWith(`${path}.migbot-backup-`));
}

function temps(name: string): string[] {
  return host(name)
    .fs.list()
    .filter((p) => p.includes(".migbot-tmp-"));
}

/** Lines present in one text and not the other (as multisets). */
function changedLines(before: string, after: string): string[] {
  const count = new Map<string, number>();
  for (const l of before.split("\n")) count.set(l, (count.get(l) ?? 0) + 1);
  const added: string[] = [];
  for (const l of after.split("\n")) {
    const n = count.get(l) ?? 0;
    if (n > 0) count.set(l, n - 1);
    else added.push(l);
  }
  const removed = [...count.entries()].flatMap(([l, n]) => Array(n).fill(l) as string[]);
  return [...removed, ...added];
}

describe("auto-converge on two Zed hosts", () => {
  let proposal: Proposal;

  test("writes only the intended lines, keeps owner and mode, backs up, restarts and waits for up", async () => {
    const changes = await planChanges(h, "auto-converge", ["compute-3", "compute-4"]);
    expect(changes.map((c) => `${c.host}:${c.path}`)).toEqual([
      "compute-3:/etc/nova/nova.conf",
      "compute-4:/etc/nova/nova.conf",
    ]);
    proposal = approved(draftOf("auto-converge", changes));
    const pids = ["compute-3", "compute-4"].map((n) => host(n).service.pid);
    expect(host("compute-3").settings?.autoConverge).toBe(false);

    const outcome = await apply(proposal);
    expect(outcome.results.map((r) => r.detail)).toEqual([
      expect.stringMatching(/applied; nova-compute is up again/),
      expect.stringMatching(/applied; nova-compute is up again/),
    ]);
    expect(outcome.ok).toBe(true);

    for (const [i, name] of ["compute-3", "compute-4"].entries()) {
      const change = changes[i]!;
      const file = host(name).fs.get(change.path)!;
      expect(file.content).toBe(change.after);
      const diff = changedLines(change.before, file.content);
      expect(diff.length).toBeGreaterThan(0);
      for (const line of diff) expect(line).toMatch(/live_migration_permit_auto_converge/);
      expect({ owner: file.owner, group: file.group, mode: file.mode.toString(8) }).toEqual({
        owner: "root",
        group: "nova",
        mode: "640",
      });
      const b = backups(name, change.path);
      expect(b).toHaveLength(1);
      expect(host(name).fs.get(b[0]!)!.content).toBe(change.before);
      expect(temps(name)).toEqual([]);
      // nova-compute was restarted and loaded the new setting.
      expect(host(name).service.pid).not.toBe(pids[i]);
      expect(host(name).settings?.autoConverge).toBe(true);
      expect(h.sandbox.cloud.serviceUp(host(name))).toBe(true);
    }
    const audit = await h.audit.read(20);
    const changesAudited = audit.filter((e) => e.action === "host-change" && e.proposalId === proposal.id);
    expect(changesAudited.map((e) => e.host).sort()).toEqual(["compute-3", "compute-4"]);
    expect(changesAudited[0]!.diff).toContain("+live_migration_permit_auto_converge");
    expect(changesAudited[0]!.actor).toBe("U0BOB0001");
  });

  test("applying the same proposal again changes nothing and restarts nothing", async () => {
    const pid = host("compute-3").service.pid;
    const outcome = await apply(proposal);
    expect(outcome.ok).toBe(true);
    expect(outcome.results[0]!.detail).toMatch(/already applied/);
    expect(host("compute-3").service.pid).toBe(pid);
    expect(backups("compute-3", "/etc/nova/nova.conf")).toHaveLength(1);
  });
});

test("refuses a file edited since the plan, and touches nothing", async () => {
  const [change] = await planChanges(h, "cpu-model", ["compute-5"]);
  const edited = `${change!.before}# tuned by hand after the plan\n`;
  host("compute-5").fs.put(change!.path, edited, "root", "nova", 0o640);
  const pid = host("compute-5").service.pid;
  const outcome = await apply(approved(draftOf("cpu-model", [change!])));
  expect(outcome.ok).toBe(false);
  expect(outcome.results[0]!.detail).toMatch(
    /changed on compute-5 since the plan was made.*run \/diagnose again/,
  );
  expect(host("compute-5").fs.get(change!.path)!.content).toBe(edited);
  expect(backups("compute-5", change!.path)).toEqual([]);
  expect(host("compute-5").service.pid).toBe(pid);
  // Put the seed file back for the rollback test.
  host("compute-5").fs.put(change!.path, change!.before, "root", "nova", 0o640);
});

test("rolls back when nova-compute does not start with the new config, restarts again and says so", async () => {
  // Skylake-Client on a Haswell host: Zed's nova-compute refuses to start (InvalidCPUInfo).
  const changes = await planChanges(h, "cpu-model", ["compute-5"], "Skylake-Client");
  const before = changes.map((c) => c.before);
  const outcome = await apply(approved(draftOf("cpu-model", changes)));
  expect(outcome.ok).toBe(false);
  expect(outcome.results[0]!.detail).toMatch(/rolled back: nova-compute did not come up with the new config/);
  expect(outcome.results[0]!.detail).toMatch(/it is up again/);
  changes.forEach((c, i) => {
    expect(host("compute-5").fs.get(c.path)!.content).toBe(before[i]);
  });
  expect(h.sandbox.cloud.serviceUp(host("compute-5"))).toBe(true);
  expect(host("compute-5").settings?.cpuMode).not.toBe("custom");
  const log = host("compute-5").fs.get(host("compute-5").logPath)!.content;
  expect(log).toMatch(/CRITICAL.*Skylake-Client/);
  const audit = await h.audit.read(30);
  expect(audit.some((e) => e.action === "rollback" && e.host === "compute-5" && e.result === "ok")).toBe(
    true,
  );
  expect(temps("compute-5")).toEqual([]);
});

test.each(["accepted", "running (post-copy)"])(
  "a live migration Nova lists as %s is not over: nova-compute is not restarted under it",
  async (status) => {
    // Neither status is in Nova's "in progress" list, yet both hosts are busy with the migration.
    const changes = await planChanges(h, "auto-converge", ["compute-1", "compute-2"]);
    const pids = [host("compute-1").service.pid, host("compute-2").service.pid];
    const busy = {
      ...h.nova,
      computeServices: () => h.nova.computeServices(),
      abortMigration: (s: string, m: number) => h.nova.abortMigration(s, m),
      listMigrations: async () => [
        {
          id: 9001,
          status,
          sourceCompute: "compute-1",
          destCompute: "compute-2",
          memoryTotalBytes: null,
          memoryProcessedBytes: null,
          memoryRemainingBytes: null,
          createdAt: new Date().toISOString(),
          updatedAt: null,
        },
      ],
    };
    const outcome = await apply(approved(draftOf("auto-converge", changes)), busy);
    expect(outcome.ok).toBe(false);
    expect(outcome.results[0]!.detail).toMatch(/refused: 1 live migration\(s\) run on compute-1/);
    for (const c of changes) expect(host(c.host).fs.get(c.path)!.content).toBe(c.before);
    expect([host("compute-1").service.pid, host("compute-2").service.pid]).toEqual(pids);
  },
);

describe("under a running migration", () => {
  let serverId: string;
  let migrationId: number;

  beforeAll(async () => {
    const server = await h.nova.findServer("db-1");
    serverId = server!.id;
    await h.nova.liveMigrate(serverId, { host: "compute-2" });
    const m = await waitFor("db-1's migration running", async () =>
      (await h.nova.listMigrations({ instanceUuid: serverId })).find((x) => x.status === "running"),
    );
    migrationId = m.id;
  });

  test("refuses to restart nova-compute under it, and changes nothing", async () => {
    const changes = await planChanges(h, "auto-converge", ["compute-1", "compute-2"]);
    const pids = [host("compute-1").service.pid, host("compute-2").service.pid];
    const outcome = await apply(approved(draftOf("auto-converge", changes)));
    expect(outcome.ok).toBe(false);
    expect(outcome.results[0]!.detail).toMatch(/refused: 1 live migration\(s\) run on compute-1/);
    expect(outcome.results[1]!.detail).toMatch(/not attempted/);
    for (const c of changes) expect(host(c.host).fs.get(c.path)!.content).toBe(c.before);
    expect([host("compute-1").service.pid, host("compute-2").service.pid]).toEqual(pids);
    const m = (await h.nova.listMigrations({ instanceUuid: serverId })).find((x) => x.id === migrationId);
    expect(m?.status).toBe("running");
  });

  test("with abortFirst, aborts that migration through Nova, waits, then applies on both hosts", async () => {
    const jobId = "migrate-db1-stuck";
    await h.migrations.save({
      view: { jobId, vm: "db-1", serverId, novaMigrationId: migrationId, startedAt: Date.now() },
      trigger: { state: "triggered", at: Date.now() },
      posts: {},
      postedPhases: [],
      notConvergingPosted: true,
      failurePosted: false,
    } as unknown as MigrationRecord);
    const changes = await planChanges(h, "auto-converge", ["compute-1", "compute-2"]);
    const outcome = await apply(
      approved(draftOf("auto-converge", changes, { abortFirst: { jobId, vm: "db-1" } })),
    );
    expect(outcome.results.map((r) => r.ok)).toEqual([true, true]);
    const m = (await h.nova.listMigrations({ instanceUuid: serverId })).find((x) => x.id === migrationId);
    expect(m?.status).toBe("cancelled");
    expect((await h.nova.findServer("db-1"))?.host).toBe("compute-1");
    for (const name of ["compute-1", "compute-2"]) {
      expect(host(name).settings?.autoConverge).toBe(true);
      // Mitaka: both flag lists, so db-1's block migration (local disk, block_migration auto) gets it too.
      expect(host(name).settings?.autoConvergeFor).toEqual({ live: true, block: true });
    }
    for (const c of changes) {
      expect(c.changedKeys).toEqual(["[libvirt] live_migration_flag", "[libvirt] block_migration_flag"]);
    }
    expect((await h.migrations.getControl(jobId))?.by).toBe("U0BOB0001");
    expect(progress.some((l) => /Aborting the live migration of \*db-1\*/.test(l))).toBe(true);
  });
});
