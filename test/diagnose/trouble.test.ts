/**
 * A /migrate thread in trouble diagnoses itself (the tracker's onTrouble hook) and `/diagnose`
 * jobs run through runDiagnosis: checked on the sandbox's Nova and SSH hosts, with a recording
 * notifier and proposal sink standing in for Slack and src/fixes.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createDiagnosisPresenter } from "../../bot/presenters/diagnosis";
import type { EvidenceDeps } from "../../src/diagnose/evidence";
import {
  type DiagnoseDeps,
  diagnoseMigrationTrouble,
  diagnosisActions,
  runDiagnosis,
} from "../../src/diagnose/run";
import type { Proposal, ProposalDraft } from "../../src/fixes/proposal";
import { SshExecutor } from "../../src/hosts/executor";
import { silentLogger } from "../../src/log";
import type { MigrationRecord } from "../../src/migration/store";
import type { NotifierPort, SlackText } from "../../src/notify/port";
import type { DiagnoseJob } from "../../src/queue/jobs";
import { hostsPort, novaForSandbox } from "../../src/runtime/stack";
import { type Sandbox, startSandbox } from "../../src/sandbox";

let sandbox: Sandbox;
let base: EvidenceDeps & { hosts: { close(): Promise<void> } };

beforeAll(async () => {
  sandbox = await startSandbox({ timeScale: 0 });
  const exec = new SshExecutor(sandbox.hosts, { log: silentLogger });
  base = {
    nova: await novaForSandbox(sandbox, silentLogger),
    hosts: hostsPort(sandbox.hosts, exec),
    inventory: sandbox.hosts,
  };
});

afterAll(async () => {
  await base?.hosts.close();
  await sandbox?.stop();
});

interface Recorded {
  posts: { channel: string; msg: SlackText & { thread_ts?: string }; dedupeKey: string }[];
  updates: { ts: string; msg: SlackText }[];
  proposed: {
    draft: ProposalDraft;
    origin: { requestedBy: string; channel: string; threadTs: string | null };
  }[];
  replies: string[];
}

function recordingDeps(): DiagnoseDeps & { rec: Recorded } {
  const rec: Recorded = { posts: [], updates: [], proposed: [], replies: [] };
  let ts = 1000;
  const notifier: NotifierPort = {
    async post(channel, msg, opts) {
      rec.posts.push({ channel, msg, dedupeKey: opts.dedupeKey });
      return `${ts++}.000100`;
    },
    async update(_channel, t, msg) {
      rec.updates.push({ ts: t, msg });
    },
  };
  return {
    ...base,
    presenter: createDiagnosisPresenter({
      notifier,
      reply: async (_url, _user, _channel, msg) => {
        rec.replies.push(msg.text);
      },
    }),
    log: silentLogger,
    proposals: {
      async propose(draft, origin) {
        rec.proposed.push({ draft, origin });
        return { ...draft, id: `p${rec.proposed.length}` } as unknown as Proposal;
      },
    },
    rec,
  };
}

function record(vm: string, destination: string, failure: string | null): MigrationRecord {
  const server = sandbox.cloud.vmByName(vm)!;
  return {
    view: {
      jobId: `migrate-${vm}`,
      vm,
      serverId: server.uuid,
      instanceName: server.instanceName,
      requestedBy: "U0ALICE01",
      channel: "C0OPS0001",
      source: server.host,
      requestedDestination: destination,
      destination,
      flavor: null,
      status: failure ? "failed" : "not-converging",
      phase: failure ? "pre-migration" : "precopy",
      startedAt: 0,
      endedAt: null,
      novaMigrationId: 1,
      novaStatus: null,
      reservation: null,
      precopy: null,
      downtimeMs: null,
      failure: failure ? { phase: "pre-migration", message: failure, logLines: [] } : null,
      stuck: null,
      control: null,
    },
    trigger: { state: "triggered", at: 0 },
    posts: { root: "42.000001" },
    postedPhases: [],
    notConvergingPosted: !failure,
    failurePosted: Boolean(failure),
  };
}

describe("diagnosis of a migration in trouble", () => {
  test("not converging: convergence checks in the migration's thread, auto-converge that aborts the stuck migration first", async () => {
    const deps = recordingDeps();
    const out = await diagnoseMigrationTrouble(record("db-1", "compute-2", null), "not-converging", deps);
    expect(out?.kind).toBe("done");
    const ids = out!.kind === "done" ? out!.findings.map((f) => f.id) : [];
    // The migration already started: no capacity or CPU checks, the settings and logs matter.
    expect(ids).toEqual(["vm", "settings", "log-failures"]);
    expect(deps.rec.posts).toHaveLength(1);
    expect(deps.rec.posts[0]!.msg.thread_ts).toBe("42.000001");
    expect(deps.rec.posts[0]!.msg.text).toMatch(/^Checklist for db-1 → compute-2:/);
    expect(deps.rec.proposed).toHaveLength(1);
    const { draft, origin } = deps.rec.proposed[0]!;
    expect(draft.kind).toBe("auto-converge");
    expect(draft.abortFirst).toEqual({ jobId: "migrate-db-1", vm: "db-1" });
    expect(draft.retry).toEqual({ vm: "db-1", destination: "compute-2" });
    // Both Mitaka hosts get the flag: the source drives the migration, the destination the way back.
    expect(draft.serviceRestarts).toEqual(["compute-1", "compute-2"]);
    expect(origin).toEqual({ requestedBy: "U0ALICE01", channel: "C0OPS0001", threadTs: "42.000001" });
  });

  test("failed on the CPU: CPU checks only, the cpu-model fixes with a retry", async () => {
    const deps = recordingDeps();
    const failure =
      "Migration pre-check error: CPU doesn't have compatibility.\n\nthe CPU is incompatible with host CPU: Host CPU does not provide required features: mpx";
    const out = await diagnoseMigrationTrouble(record("web-7", "compute-5", failure), "failed", deps);
    const ids = out?.kind === "done" ? out.findings.map((f) => f.id) : [];
    expect(ids).toEqual(["vm", "source-service", "destination-service", "cpu", "log-failures"]);
    expect(deps.rec.proposed.map((p) => p.draft.kind)).toEqual(["cpu-model", "cpu-model"]);
    for (const p of deps.rec.proposed) {
      expect(p.draft.retry).toEqual({ vm: "web-7", destination: "compute-5" });
      expect(p.draft.abortFirst).toBeUndefined();
    }
  });

  test("a hook failure is logged, never thrown into the migration tracker", async () => {
    const deps = recordingDeps();
    deps.nova = { ...base.nova, getServer: async () => Promise.reject(new Error("Nova is down")) };
    const errors: unknown[] = [];
    const actions = diagnosisActions({
      ...deps,
      log: { ...silentLogger, error: (...a: unknown[]) => errors.push(a) },
    });
    await expect(
      actions.onTrouble(record("db-1", "compute-2", null), "not-converging"),
    ).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
  });
});

describe("runDiagnosis", () => {
  const job = (
    target: string,
    destination: string | null,
    extra: Partial<DiagnoseJob> = {},
  ): DiagnoseJob => ({
    type: "diagnose",
    target,
    destination,
    channel: "C0OPS0001",
    user: "U0ALICE01",
    requestedAt: 1_700_000_000_000,
    ...extra,
  });

  test("a host: root message, checklist in its thread, root updated with the verdict, fixes proposed there", async () => {
    const deps = recordingDeps();
    const out = await runDiagnosis(job("compute-1", null), deps);
    expect(out.kind).toBe("done");
    expect(deps.rec.posts.map((p) => p.msg.text)).toEqual([
      "Diagnosis of compute-1: checking…",
      expect.stringMatching(
        /^Checklist for compute-1:\n✅ nova-compute up on compute-1\n⚠️ Live-migration settings — compute-1 \(mitaka \(13\.1\.4, newest point release assumed\)\): auto-converge for live migrations OFF \(default\), for block migrations OFF/,
      ),
    ]);
    const rootTs = "1000.000100";
    expect(deps.rec.posts[1]!.msg.thread_ts).toBe(rootTs);
    expect(deps.rec.updates).toEqual([
      { ts: rootTs, msg: expect.objectContaining({ text: expect.stringMatching(/⚠️ 1 warning/) }) },
    ]);
    expect(deps.rec.proposed.map((p) => [p.draft.kind, p.origin.threadTs])).toEqual([
      ["auto-converge", rootTs],
    ]);
  });

  test("asked from a thread: replies there instead of a new root message", async () => {
    const deps = recordingDeps();
    await runDiagnosis(job("vm-42", "compute-3", { threadTs: "77.000001" }), deps);
    expect(deps.rec.posts.every((p) => p.msg.thread_ts === "77.000001")).toBe(true);
    expect(deps.rec.updates).toEqual([]);
  });

  test("an unknown destination or a host with a destination is answered privately; nothing is posted", async () => {
    const deps = recordingDeps();
    expect((await runDiagnosis(job("vm-42", "compute-9"), deps)).kind).toBe("unknown");
    expect((await runDiagnosis(job("compute-1", "compute-2"), deps)).kind).toBe("unknown");
    expect(deps.rec.replies[0]).toMatch(/can't find a compute host named `compute-9`/);
    // Slack shows &lt; and &gt; as < and >.
    expect(deps.rec.replies[1]).toMatch(/`compute-1` is a compute host; `to &lt;host&gt;` goes with a VM/);
    expect(deps.rec.posts).toEqual([]);
  });
});
