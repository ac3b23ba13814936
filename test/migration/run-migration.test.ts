/**
 * The migration runner on real pieces: the sandbox cloud (its Nova over HTTP, its hosts over SSH),
 * real Redis for the record, and a recording notifier. The sandbox clock only moves when the runner
 * sleeps between polls (time scale 0), so a run is deterministic: 2 s polls, as in production.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { createMigrationPresenter } from "../../bot/presenters/migration";
import { CodedError } from "../../src/errors";
import { SshExecutor } from "../../src/hosts/executor";
import type { HostsPort } from "../../src/hosts/port";
import { silentLogger } from "../../src/log";
import { novaConfDowntime } from "../../src/migration/downtime";
import { type RunMigrationDeps, runMigration } from "../../src/migration/run-migration";
import { parseNovaComputeLog } from "../../src/migration/samples/nova-log";
import { type MigrationRecord, MigrationStore } from "../../src/migration/store";
import { PROGRESS_EDIT_MIN_INTERVAL_MS } from "../../src/migration/tracker";
import type { NotifierPort, SlackText } from "../../src/notify/port";
import { TimeoutError } from "../../src/openstack/errors";
import type { MigrateJob } from "../../src/queue/jobs";
import { hostsPort, novaForSandbox } from "../../src/runtime/stack";
import { type Sandbox, startSandbox } from "../../src/sandbox";

/** Production's default poll interval; one model second per real (fake) second. */
const POLL_MS = 2000;
const DB1_UUID = "5a1dc0de-7e57-4b1d-9c1a-000000000031";

interface Sent {
  kind: "post" | "update";
  channel: string;
  ts: string;
  /** The Block Kit JSON, for what only the blocks show. */
  blocks: string;
  threadTs?: string;
  text: string;
  at: number;
  urgent: boolean;
}

// Message timestamps are unique across notifiers, as Slack's are across a channel: a retry's
// runner posts into the earlier runner's thread.
let seq = 0;

/** A NotifierPort that records what would reach Slack, stamped with the fake clock. */
function recordingNotifier(clock: {
  now: number;
}): NotifierPort & { sent: Sent[]; text(ts: string): string } {
  const sent: Sent[] = [];
  const byKey = new Map<string, string>();
  return {
    sent,
    async post(channel, msg: SlackText & { thread_ts?: string }, opts) {
      const known = byKey.get(opts.dedupeKey);
      if (known) return known;
      const ts = `1000.${String(++seq).padStart(6, "0")}`;
      byKey.set(opts.dedupeKey, ts);
      sent.push({
        kind: "post",
        channel,
        ts,
        blocks: JSON.stringify(msg.blocks ?? []),
        ...(msg.thread_ts && { threadTs: msg.thread_ts }),
        text: msg.text,
        at: clock.now,
        urgent: opts.urgent === true,
      });
      return ts;
    },
    async update(channel, ts, msg, opts) {
      sent.push({
        kind: "update",
        channel,
        ts,
        blocks: JSON.stringify(msg.blocks ?? []),
        text: msg.text,
        at: clock.now,
        urgent: opts?.urgent === true,
      });
    },
    text(ts) {
      return sent.filter((s) => s.ts === ts).at(-1)?.text ?? "";
    },
  };
}

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

interface Run {
  clock: { now: number };
  notifier: ReturnType<typeof recordingNotifier>;
  store: MigrationStore;
  trouble: { kind: string; status: string }[];
  deps: RunMigrationDeps;
  jobId: string;
}

function setup(
  opts: { onPoll?: (run: Run) => void | Promise<void>; hostsPort?: HostsPort; store?: MigrationStore } = {},
): Run {
  const clock = { now: sandbox.cloud.wallTime().getTime() };
  const notifier = recordingNotifier(clock);
  const store = opts.store ?? new MigrationStore(redis, `unit-${randomUUID()}`);
  const trouble: Run["trouble"] = [];
  const run = { clock, notifier, store, trouble, jobId: `job-${randomUUID()}` } as Run;
  run.deps = {
    nova,
    hosts: opts.hostsPort ?? hosts,
    // The real presenter on a recording notifier: what reaches Slack is what is asserted.
    presenter: createMigrationPresenter(notifier),
    store,
    answer: async () => {},
    log: silentLogger,
    pollIntervalMs: POLL_MS,
    now: () => clock.now,
    sleep: async (ms) => {
      // Model time moves only while the runner waits, exactly as long as it waits.
      sandbox.cloud.advance(ms / 1000);
      clock.now += ms;
      await opts.onPoll?.(run);
    },
    onTrouble: async (record: MigrationRecord, kind) => {
      trouble.push({ kind, status: record.view.status });
    },
    evidenceTimeoutMs: 2000,
  };
  return run;
}

function migrateDb1(run: Run, extra: Partial<MigrateJob> = {}) {
  return runMigration(
    run.jobId,
    {
      type: "migrate",
      vm: "db-1",
      destination: "compute-2",
      channel: "C0OPS0001",
      user: "U0ALICE01",
      requestedAt: run.clock.now,
      ...extra,
    },
    run.deps,
  );
}

/** Aborts db-1's migration from Nova's side at the first poll that finds it running. */
function abortWhenRunning(): (run: Run) => void {
  let aborted = false;
  return () => {
    const m = db1Job();
    if (!aborted && m?.record.status === "running") {
      sandbox.cloud.abortMigration(m.record.serverId, m.record.id);
      aborted = true;
    }
  };
}

function db1Job() {
  return [...sandbox.cloud.migrations].reverse().find((m) => m.vm.name === "db-1")!;
}

describe("runMigration on the sandbox (db-1: compute-1 → compute-2, Mitaka, no auto-converge)", () => {
  beforeEach(async () => {
    expect((await nova.findServer("db-1"))?.host).toBe("compute-1");
  });

  it("warns once, by iteration 3, after two polls agree; Nova's progress timeout then ends it, explained from the log", async () => {
    let iterationAtWarning: number | null = null;
    const polls: { verdict: string | null; warned: boolean }[] = [];
    const run = setup({
      onPoll: async (r) => {
        const warned = r.notifier.sent.some((s) => /is not converging/.test(s.text));
        if (iterationAtWarning === null && warned) iterationAtWarning = db1Job().job!.iteration;
        const record = await r.store.load(r.jobId);
        polls.push({ verdict: record?.view.precopy?.verdict ?? null, warned });
      },
    });
    const outcome = await migrateDb1(run);
    expect(outcome).toBe("failed");

    const warnings = run.notifier.sent.filter((s) => s.kind === "post" && /is not converging/.test(s.text));
    expect(warnings).toHaveLength(1);
    const warning = warnings[0]!;
    expect(Number(/pre-copy iteration (\d+)/.exec(warning.text)?.[1])).toBe(3);
    expect(iterationAtWarning).toBe(3);
    // Debounced: the first poll judged not converging did not warn; the next one, agreeing, did.
    const first = polls.findIndex((p) => p.verdict === "not-converging");
    expect(first).toBeGreaterThan(0);
    expect(polls[first]!.warned).toBe(false);
    expect(polls[first + 1]).toEqual({ verdict: "not-converging", warned: true });
    // Figures from compute-1's nova.conf read over SSH: Mitaka defaults for an 8 GiB VM.
    expect(warning.text).toMatch(/final allowed downtime of 500 ms/);
    expect(warning.text).toMatch(/no new low for 150 s/);
    expect(warning.text).toMatch(/Force complete/);
    expect(run.trouble).toEqual([
      { kind: "not-converging", status: "not-converging" },
      { kind: "failed", status: "failed" },
    ]);

    const record = (await run.store.load(run.jobId))!;
    expect(record.view.status).toBe("failed");
    expect(record.view.failure?.message).toMatch(
      /^Nova set the migration to error\. MIGRATION_PROGRESS_TIMEOUT: Nova aborted the live migration after 15\d s/,
    );
    const quoted = record.view.failure!.logLines;
    expect(
      quoted.some((l) =>
        /^compute-1: .* WARNING nova\.virt\.libvirt\.driver .*Live migration stuck for 15\d sec$/.test(l),
      ),
    ).toBe(true);
    expect(quoted.every((l) => l.includes(`[instance: ${DB1_UUID}]`))).toBe(true);
    // The warning was edited at the end to say how it ended, urgently, and lost its buttons.
    const final = run.notifier.sent.filter((s) => s.ts === warning.ts).at(-1)!;
    expect(final.urgent).toBe(true);
    expect(final.text).toMatch(/Nova ended it: .*MIGRATION_PROGRESS_TIMEOUT/);
  }, 60_000);

  it("edits the pre-copy reply at most every few seconds and the root for final states urgently", async () => {
    let aborted = false;
    const run = setup({
      onPoll: (r) => {
        // An operator aborts once the warning is up (straight at Nova, between two polls).
        if (!aborted && r.notifier.sent.some((s) => /is not converging/.test(s.text))) {
          const m = db1Job();
          sandbox.cloud.abortMigration(m.record.serverId, m.record.id);
          aborted = true;
        }
      },
    });
    expect(await migrateDb1(run)).toBe("aborted");

    const posts = run.notifier.sent.filter((s) => s.kind === "post");
    const root = posts[0]!;
    expect(posts.filter((p) => p.threadTs === undefined)).toHaveLength(1);
    // Thread replies jump the channel's post queue; a new root waits its turn.
    expect(root.urgent).toBe(false);
    expect(posts.slice(1).map((p) => p.urgent)).toEqual(posts.slice(1).map(() => true));
    const titles = posts
      .slice(1)
      .map(
        (p) =>
          /^(Pre-migration|Reservation|Iterative pre-copy|Stop-and-copy|Commitment)\b/.exec(p.text)?.[1] ??
          (/is not converging/.test(p.text)
            ? "warning"
            : /was aborted|failed during/.test(p.text)
              ? "end"
              : p.text),
      );
    expect(titles).toEqual(["Pre-migration", "Reservation", "Iterative pre-copy", "warning", "end"]);
    expect(new Set(titles).size).toBe(titles.length);
    const precopy = posts.find((p) => p.text.startsWith("Iterative pre-copy"))!;
    const routine = run.notifier.sent.filter((s) => s.kind === "update" && s.ts === precopy.ts && !s.urgent);
    for (let i = 1; i < routine.length; i++) {
      expect(routine[i]!.at - routine[i - 1]!.at).toBeGreaterThanOrEqual(PROGRESS_EDIT_MIN_INTERVAL_MS);
    }
    const lastRoot = run.notifier.sent.filter((s) => s.ts === root.ts).at(-1)!;
    expect(lastRoot.urgent).toBe(true);
    expect(lastRoot.text).toMatch(/Aborted after .* keeps running on `compute-1`/);
    expect(run.notifier.text(precopy.ts)).toMatch(/figures from virsh domjobinfo on `?compute-1`?/);
  }, 60_000);

  /** Aborts db-1 from Nova's side at the first poll where `when` holds. */
  function abortWhen(when: (record: MigrationRecord | null) => boolean) {
    let done = false;
    return async (r: Run) => {
      if (done || !when(await r.store.load(r.jobId))) return;
      const m = db1Job();
      sandbox.cloud.abortMigration(m.record.serverId, m.record.id);
      done = true;
    };
  }

  it("virsh domjobinfo failing: falls back to nova-compute's progress line and says so", async () => {
    const libvirtDown: HostsPort = {
      has: (h) => hosts.has!(h),
      run: async (h, command, o) =>
        command.kind === "virsh-domjobinfo"
          ? {
              stdout: "",
              stderr:
                "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Connection refused\n",
              exitCode: 1,
            }
          : hosts.run(h, command, o),
    };
    const fromLog: MigrationRecord[] = [];
    const abort = abortWhen((rec) => {
      if (rec?.view.precopy?.source === "nova-log") fromLog.push(rec);
      return fromLog.length >= 3;
    });
    const run = setup({ hostsPort: libvirtDown, onPoll: abort });
    expect(await migrateDb1(run)).toBe("aborted");
    const precopy = run.notifier.sent.find(
      (s) => s.kind === "post" && s.text.startsWith("Iterative pre-copy"),
    )!;
    const texts = run.notifier.sent.filter((s) => s.ts === precopy.ts).map((s) => s.text);
    // Before Nova's first progress line (every 30 s) the counters of its API stand in, and say why.
    expect(texts[0]).toMatch(
      /figures from Nova's API memory counters \(virsh domjobinfo failed: error: failed to connect to the hypervisor; nova-compute has not logged a progress line for it yet\)/,
    );
    expect(texts.at(-1)).toMatch(
      /figures from nova-compute's progress log line on compute-1 \(virsh domjobinfo failed: error: failed to connect to the hypervisor\)/,
    );
    // The figures are the log line's own numbers.
    const log = sandbox.cloud.hosts.get("compute-1")!.fs.get("/var/log/nova/nova-compute.log")!.content;
    const last = parseNovaComputeLog(log, { instanceUuid: DB1_UUID }).samples;
    const shown = fromLog.at(-1)!.view.precopy!;
    expect(last.map((x) => x.memoryRemainingBytes)).toContain(shown.memoryRemainingBytes);
    expect(shown.memoryTotalBytes).toBe(8 * 1024 ** 3);
  }, 60_000);

  it("source host unreachable over SSH (connections dropped, answers delayed): Nova's API counters, and says so", async () => {
    const ssh = sandbox.sshServers.get("compute-1")!;
    let broken = false;
    const abort = abortWhen((rec) => rec?.view.precopy?.source === "nova-api" && broken);
    const run = setup({
      onPoll: async (r) => {
        if (!broken && r.notifier.sent.some((s) => s.text.startsWith("Iterative pre-copy"))) {
          ssh.setResponseDelayMs(5000);
          ssh.dropAllConnections();
          broken = true;
          return;
        }
        await abort(r);
      },
    });
    run.deps.evidenceTimeoutMs = 300;
    try {
      expect(await migrateDb1(run)).toBe("aborted");
    } finally {
      ssh.setResponseDelayMs(0);
    }
    const record = (await run.store.load(run.jobId))!;
    expect(record.view.precopy?.source).toBe("nova-api");
    const precopy = run.notifier.sent.find(
      (s) => s.kind === "post" && s.text.startsWith("Iterative pre-copy"),
    )!;
    expect(run.notifier.text(precopy.ts)).toMatch(
      /figures from Nova's API memory counters \(compute-1 unreachable over SSH.*; the nova-compute log is unreachable too\)/,
    );
  }, 60_000);

  it("source host missing from the inventory: Nova's API counters, and says so", async () => {
    const notInInventory: HostsPort = {
      has: (h) => h !== "compute-1" && hosts.has!(h),
      run: (h, c, o) => hosts.run(h, c, o),
    };
    const run = setup({
      hostsPort: notInInventory,
      onPoll: abortWhen((rec) => rec?.view.precopy?.source === "nova-api"),
    });
    expect(await migrateDb1(run)).toBe("aborted");
    const precopy = run.notifier.sent.find(
      (s) => s.kind === "post" && s.text.startsWith("Iterative pre-copy"),
    )!;
    expect(run.notifier.text(precopy.ts)).toMatch(
      /figures from Nova's API memory counters \(compute-1 is not in migbot's inventory; the nova-compute log is unreachable too\)/,
    );
  }, 60_000);

  it("Nova's completion timeout (progress timeout off) is explained with its log line", async () => {
    // An operator turned Mitaka's progress timeout off and shortened the completion timeout to 30 s
    // per GiB (8 GiB → 240 s; nova's default 800 s/GiB would be 6,400 s).
    const conf = sandbox.cloud.hosts.get("compute-1")!.fs.get("/etc/nova/nova.conf")!;
    const original = conf.content;
    const restart = async () => {
      await hosts.run("compute-1", { kind: "systemctl-restart", service: "nova-compute" });
      sandbox.cloud.advance(15);
    };
    conf.content = original.replace(
      /^\[libvirt\]\s*$/m,
      "[libvirt]\nlive_migration_progress_timeout = 0\nlive_migration_completion_timeout = 30",
    );
    expect(conf.content).not.toBe(original);
    await restart();
    try {
      // A fresh hosts port: the default nova.conf figures are cached per port and host.
      const run = setup({ hostsPort: { has: (h) => hosts.has!(h), run: (h, c, o) => hosts.run(h, c, o) } });
      expect(await migrateDb1(run)).toBe("failed");
      const warning = run.notifier.sent.find((s) => s.kind === "post" && /is not converging/.test(s.text))!;
      expect(warning.text).toMatch(/Nova aborts it after 240 s in total/);
      const record = (await run.store.load(run.jobId))!;
      expect(record.view.failure?.message).toMatch(
        /MIGRATION_COMPLETION_TIMEOUT: Nova aborted the live migration because it had not completed after 240 s/,
      );
      expect(
        record.view.failure?.logLines.some((l) =>
          /WARNING nova\.virt\.libvirt\.driver .*Live migration not completed after 240 sec$/.test(l),
        ),
      ).toBe(true);
    } finally {
      conf.content = original;
      await restart();
    }
  }, 60_000);

  it("a retry names the earlier attempt and the fix in its root, and points the old thread at the new message once", async () => {
    const first = setup({ onPoll: abortWhenRunning() });
    expect(await migrateDb1(first)).toBe("aborted");
    const earlier = (await first.store.load(first.jobId))!;

    const retry = setup({ onPoll: abortWhenRunning(), store: first.store });
    const job = {
      retryOf: first.jobId,
      retryContext: {
        fix: "Enable libvirt auto-converge on compute-1 and compute-2",
        approvedBy: "U0BOB0001",
      },
      user: "U0CAROL01",
    };
    expect(await migrateDb1(retry, job)).toBe("aborted");

    const posts = retry.notifier.sent.filter((s) => s.kind === "post");
    const root = posts.find((p) => p.threadTs === undefined && p.channel === "C0OPS0001")!;
    const started = `${new Date(earlier.view.startedAt).toISOString().slice(0, 16).replace("T", " ")} UTC`;
    expect(root.blocks).toContain(
      `Retry after *Enable libvirt auto-converge on compute-1 and compute-2* (approved by <@U0BOB0001>) of the migration of *db-1* started ${started} (\`compute-1\` → \`compute-2\`)`,
    );
    expect(root.text).toMatch(/\(retry\)$/);
    // Still named on the final edit of the root, not only when first posted.
    const lastRoot = retry.notifier.sent.filter((s) => s.ts === root.ts).at(-1)!;
    expect(lastRoot.blocks).toContain("Retry after *Enable libvirt auto-converge");

    const notices = posts.filter((p) => p.threadTs === earlier.posts.root);
    expect(notices.map((n) => n.text)).toEqual([
      ":repeat: Retrying: follow the new message (requested by <@U0CAROL01>).",
    ]);
    expect(notices[0]!.urgent).toBe(true);
    expect(posts.indexOf(notices[0]!)).toBeGreaterThan(posts.indexOf(root));
    const record = (await retry.store.load(retry.jobId)) as { retry?: { noticePosted: boolean } } | null;
    expect(record?.retry?.noticePosted).toBe(true);
    // The first attempt's thread saw nothing from its own runner about the retry.
    expect(first.notifier.sent.some((s) => /Retrying/.test(s.text))).toBe(false);
  }, 60_000);

  it("a live-migrate whose answer timed out fails the run retryably; the retried run finds Nova's migration and sends nothing twice", async () => {
    let sent = 0;
    const lostAnswer: RunMigrationDeps["nova"] = Object.create(nova);
    lostAnswer.liveMigrate = async (serverId, opts) => {
      sent++;
      await nova.liveMigrate(serverId, opts);
      // Nova carried it out, but the answer never came back.
      throw new TimeoutError("Nova did not answer POST /servers/x/action within 30000 ms", {
        retryable: false,
      });
    };
    const before = sandbox.cloud.migrations.length;
    const first = setup();
    first.deps.nova = lostAnswer;
    const err = await migrateDb1(first).catch((e: unknown) => e);
    // What the queue worker reads to retry the job rather than fail it for good.
    expect(err).toBeInstanceOf(CodedError);
    expect((err as CodedError).retryable).toBe(true);
    expect((err as CodedError).code).toBe("MIGRATION_TRIGGER_UNKNOWN");
    expect((await first.store.load(first.jobId))?.trigger.state).toBe("triggering");

    const retry = setup({ onPoll: abortWhenRunning(), store: first.store });
    retry.jobId = first.jobId;
    retry.deps.nova = lostAnswer;
    expect(await migrateDb1(retry)).toBe("aborted");
    expect(sent).toBe(1);
    expect(sandbox.cloud.migrations.length).toBe(before + 1);
  }, 60_000);

  it("never writes a record to Redis that is the same as the last one written", async () => {
    const writes: string[] = [];
    class CountingStore extends MigrationStore {
      override async save(record: MigrationRecord): Promise<void> {
        writes.push(JSON.stringify(record));
        await super.save(record);
      }
    }
    const store = new CountingStore(redis, `unit-${randomUUID()}`);
    let polls = 0;
    const stopWhenRunning = abortWhenRunning();
    const run = setup({
      store,
      onPoll: (r) => {
        polls++;
        // Let it run a while first: polls where nothing changed are what must not be written.
        if (polls >= 40) stopWhenRunning(r);
      },
    });
    expect(await migrateDb1(run)).toBe("aborted");
    expect(polls).toBeGreaterThanOrEqual(40);
    const repeats = writes.filter((w, i) => i > 0 && w === writes[i - 1]);
    expect(repeats).toEqual([]);
    // What is in Redis is the final state, not a stale one from a skipped write.
    expect(JSON.stringify(await store.load(run.jobId))).toBe(writes.at(-1));
    expect((await store.load(run.jobId))?.view.status).toBe("aborted");
  }, 60_000);

  it("writes the record once per poll, even in a poll that posted phase replies", async () => {
    let writes = 0;
    class CountingStore extends MigrationStore {
      override async save(record: MigrationRecord, json?: string): Promise<void> {
        writes++;
        await super.save(record, json);
      }
    }
    const store = new CountingStore(redis, `unit-${randomUUID()}`);
    const perPoll: { writes: number; phases: number }[] = [];
    let before = 0;
    const stopWhenRunning = abortWhenRunning();
    const run = setup({
      store,
      onPoll: async (r) => {
        const phases = (await store.load(r.jobId))?.postedPhases.length ?? 0;
        perPoll.push({ writes: writes - before, phases });
        before = writes;
        if (perPoll.length >= 12) stopWhenRunning(r);
      },
    });
    expect(await migrateDb1(run)).toBe("aborted");
    // The first entry is the start (root, trigger, pre-migration); then one write per poll at most,
    // including the polls that posted the reservation and pre-copy replies (each reply's ts is in
    // Redis by the end of its poll).
    const polls = perPoll.slice(1);
    expect(polls.some((p, i) => i > 0 && p.phases > polls[i - 1]!.phases)).toBe(true);
    expect(polls.map((p) => p.writes).filter((w) => w > 1)).toEqual([]);
    expect((await store.load(run.jobId))?.postedPhases).toEqual(
      expect.arrayContaining(["pre-migration", "reservation", "precopy"]),
    );
  }, 60_000);

  it("reads an Abort with the poll's write (no read of its own) and still tells the end as asked by that person", async () => {
    const reads = { alone: 0, withWrite: 0 };
    class CountingStore extends MigrationStore {
      override async getControl(jobId: string) {
        reads.alone++;
        return super.getControl(jobId);
      }
      override async saveAndReadControl(record: MigrationRecord, json?: string) {
        reads.withWrite++;
        return super.saveAndReadControl(record, json);
      }
    }
    const store = new CountingStore(redis, `unit-${randomUUID()}`);
    let polls = 0;
    let asked = false;
    const run = setup({
      store,
      onPoll: async (r) => {
        polls++;
        if (asked || polls < 10 || db1Job()?.record.status !== "running") return;
        // What the Abort button does (queue/actions.ts): record who asked, then cancel in Nova.
        asked = await store.setControl(r.jobId, { action: "abort", by: "U0BOB0001", at: r.clock.now });
        const m = db1Job();
        sandbox.cloud.abortMigration(m.record.serverId, m.record.id);
      },
    });
    expect(await migrateDb1(run)).toBe("aborted");
    expect(asked).toBe(true);
    const failure = run.notifier.sent.find((s) => /db-1 was aborted during/.test(s.text))!;
    expect(failure.text).toMatch(/abort requested by <@U0BOB0001>/);
    // Most polls read the control request in the round trip that wrote the record.
    expect(reads.withWrite).toBeGreaterThan(reads.alone);
  }, 60_000);

  it("a verdict that flips to throttling edits the warning instead of posting again; the end is shown there too", async () => {
    let switched = false;
    const run = setup({
      onPoll: (r) => {
        // Once warned, let QEMU start throttling the guest (as auto-converge would have): the verdict flips.
        if (!switched && r.notifier.sent.some((s) => /is not converging/.test(s.text))) {
          const m = db1Job();
          m.job = { ...m.job!, params: { ...m.job!.params, autoConverge: true } };
          switched = true;
        }
      },
    });
    expect(await migrateDb1(run)).toBe("completed");
    const warnings = run.notifier.sent.filter((s) => s.kind === "post" && /is not converging/.test(s.text));
    expect(warnings).toHaveLength(1);
    const edits = run.notifier.sent.filter((s) => s.kind === "update" && s.ts === warnings[0]!.ts);
    expect(edits.some((e) => /Update: now throttling/.test(e.text))).toBe(true);
    expect(edits.at(-1)!.text).toMatch(/It completed after all \(downtime \d+ ms\)/);
    // Not converging was said once; later verdicts edit, never post again.
    expect(run.trouble.filter((t) => t.kind === "not-converging")).toHaveLength(1);
    expect((await nova.findServer("db-1"))?.host).toBe("compute-2");
  }, 60_000);
});

describe("novaConfDowntime", () => {
  function counting(): HostsPort & { calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      has: (h) => hosts.has!(h),
      run: (h, c, o) => {
        calls.push(`${h}:${c.kind}`);
        return hosts.run(h, c, o);
      },
    };
  }

  it("reads release and nova.conf over SSH once per host; Mitaka steps are exponential, Zed's linear", async () => {
    const port = counting();
    const source = novaConfDowntime(port);
    const eightGiB = 8 * 1024 ** 3;
    const mitaka = (await source("compute-1", eightGiB))!;
    expect(mitaka.release).toBe("mitaka");
    expect(mitaka.progressTimeoutS).toBe(150);
    expect(mitaka.completionTimeoutS).toBe(6400);
    expect(mitaka.finalDowntimeMs).toBe(500);
    // 75 s × 8 GiB between steps; offset 500/11 = 45 plus base^i: 46 ms first.
    expect(mitaka.downtimeSchedule!.slice(0, 2)).toEqual([
      { atS: 0, downtimeMs: 46 },
      { atS: 600, downtimeMs: 47 },
    ]);
    await source("compute-1", 2 * 1024 ** 3);
    expect(port.calls.filter((c) => c.startsWith("compute-1:"))).toEqual([
      "compute-1:nova-compute-version",
      "compute-1:read-file",
      "compute-1:read-file",
    ]);
    const zed = (await source("compute-3", eightGiB))!;
    expect(zed.release).toBe("zed");
    expect(zed.progressTimeoutS).toBe(0);
    expect(zed.downtimeSchedule![0]).toEqual({ atS: 0, downtimeMs: 50 });
    expect(zed.downtimeSchedule!.at(-1)).toEqual({ atS: 6000, downtimeMs: 500 });
  });

  it("a host outside the inventory gives no figures (the analyzer then assumes QEMU's default)", async () => {
    const port: HostsPort = { has: () => false, run: () => Promise.reject(new Error("must not be called")) };
    expect(await novaConfDowntime(port)("compute-1", 1024 ** 3)).toBeUndefined();
  });
});
