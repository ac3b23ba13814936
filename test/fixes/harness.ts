/**
 * The pieces an apply test needs: the sandbox cloud (hosts over real SSH, Nova over HTTP), the SSH
 * executor, real Redis for the audit stream and migration records, and proposals built from the
 * hosts' real nova.conf with the real planner.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { type AuditLog, createAuditLog } from "../../src/audit/stream";
import type { HostFileChange, HostRecipe, Proposal, ProposalDraft } from "../../src/fixes/proposal";
import { draftHostFix } from "../../src/fixes/recipe";
import { SshExecutor } from "../../src/hosts/executor";
import type { HostsPort } from "../../src/hosts/port";
import { silentLogger } from "../../src/log";
import { MigrationStore } from "../../src/migration/store";
import { releaseByName } from "../../src/nova-conf/releases";
import type { NovaPort } from "../../src/openstack/port";
import { hostsPort, novaForSandbox } from "../../src/runtime/stack";
import { type Sandbox, startSandbox } from "../../src/sandbox";
import { until } from "../support/until";

export interface ApplyHarness {
  sandbox: Sandbox;
  hosts: HostsPort & { close(): Promise<void> };
  nova: NovaPort;
  redis: Redis;
  prefix: string;
  audit: AuditLog;
  migrations: MigrationStore;
  stop(): Promise<void>;
}

export async function startApplyHarness(redisUrl: string, timeScale = 20): Promise<ApplyHarness> {
  const sandbox = await startSandbox({ timeScale });
  const exec = new SshExecutor(sandbox.hosts, { log: silentLogger });
  const hosts = hostsPort(sandbox.hosts, exec);
  const nova = await novaForSandbox(sandbox, silentLogger);
  const redis = new Redis(redisUrl);
  const prefix = `fixes-${randomUUID()}`;
  return {
    sandbox,
    hosts,
    nova,
    redis,
    prefix,
    audit: createAuditLog(redis, prefix),
    migrations: new MigrationStore(redis, prefix),
    async stop() {
      await hosts.close();
      redis.disconnect();
      await sandbox.stop();
    },
  };
}

/** A planned change with the texts the test compares against (a real draft keeps only hashes). */
export interface PlannedChange extends HostFileChange {
  before: string;
  after: string;
  recipe: HostRecipe;
}

/** The real plan for `fix` on each host, from the files nova-compute reads there (read over SSH). */
export async function planChanges(
  h: { sandbox: Sandbox; hosts: HostsPort },
  fix: "auto-converge" | "cpu-model",
  hostNames: string[],
  model?: string,
): Promise<PlannedChange[]> {
  const out: PlannedChange[] = [];
  for (const name of hostNames) {
    const entry = h.sandbox.hosts.find((e) => e.name === name)!;
    const files = [];
    for (const path of entry.novaConfPaths ?? []) {
      files.push({ path, text: (await h.hosts.run(name, { kind: "read-file", path })).stdout });
    }
    const { plan, changes, recipe } = draftHostFix(
      name,
      fix,
      files,
      releaseByName(entry.release!),
      model ? { model } : {},
    );
    for (const [i, f] of plan.files.entries()) {
      out.push({ ...changes[i]!, before: f.before, after: f.after, recipe: recipe! });
    }
  }
  return out;
}

/** A draft as diagnosis makes one: changes without their texts, one recipe per host. */
export function draftOf(
  kind: ProposalDraft["kind"],
  planned: (HostFileChange | PlannedChange)[],
  extra: Partial<ProposalDraft> = {},
): ProposalDraft {
  const changes: HostFileChange[] = planned.map((c) => ({
    host: c.host,
    path: c.path,
    beforeSha256: c.beforeSha256,
    afterSha256: c.afterSha256,
    diff: c.diff,
    changedKeys: c.changedKeys,
  }));
  const recipes: HostRecipe[] = [];
  for (const c of planned) {
    if ("recipe" in c && !recipes.some((r) => r.host === c.host)) recipes.push(c.recipe);
  }
  return {
    kind,
    title: `${kind} on ${[...new Set(changes.map((c) => c.host))].join(", ")}`,
    reasoning: "test",
    warnings: [],
    changes,
    recipes,
    serviceRestarts: [...new Set(changes.map((c) => c.host))],
    vmRestarts: [],
    blockers: [],
    ...extra,
  };
}

/** An approved proposal as the worker sees it (ids and decision filled in). */
export function approved(draft: ProposalDraft, id = "testproposal000000000aa"): Proposal {
  return {
    ...draft,
    id,
    planDigest: "0".repeat(64),
    status: "applying",
    requestedBy: "U0ALICE01",
    channel: "C0OPS0001",
    threadTs: null,
    messageTs: null,
    createdAt: Date.now(),
    expiresAt: Date.now() + 3_600_000,
    decidedBy: "U0BOB0001",
    decidedAt: Date.now(),
    results: [],
  };
}

export function waitFor<T>(
  what: string,
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 20_000,
): Promise<T> {
  return until(what, fn, { timeoutMs });
}
