/**
 * Abort and Force complete act on the migration they were posted for, in its channel, and are
 * audited: an old button never reaches a newer migration of the same VM, a button or command from
 * another channel sends nothing to Nova. Real Redis for records and the audit stream.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { AccessControl } from "../../bot/access";
import { type CommandDeps, handleMigrate } from "../../bot/commands/migrate";
import { createAnswerPresenter } from "../../bot/presenters/answers";
import { createAuditLog } from "../../src/audit/stream";
import { silentLogger } from "../../src/log";
import { type MigrationRecord, MigrationStore } from "../../src/migration/store";
import type { MigrationView } from "../../src/migration/view";
import type { NovaPort } from "../../src/openstack/port";
import { handleAction } from "../../src/queue/actions";
import type { MigrationControlJob } from "../../src/queue/jobs";
import type { WorkerDeps } from "../../src/queue/worker";

const OPS = "C0OPS0001";
const OTHER = "C0OTHER01";
let redis: Redis;
beforeAll(() => {
  redis = new Redis(inject("redisUrl"));
});
afterAll(() => redis.disconnect());

function record(jobId: string, over: Partial<MigrationView>): MigrationRecord {
  return {
    view: {
      jobId,
      vm: "db-1",
      serverId: "srv-db-1",
      instanceName: "instance-00000001",
      requestedBy: "U0ALICE01",
      channel: OPS,
      source: "compute-1",
      requestedDestination: "compute-2",
      destination: "compute-2",
      flavor: null,
      status: "running",
      phase: "iterative-pre-copy",
      startedAt: Date.now(),
      endedAt: null,
      novaMigrationId: 7,
      novaStatus: "running",
      reservation: null,
      precopy: null,
      downtimeMs: null,
      failure: null,
      stuck: null,
      control: null,
      ...over,
    } as MigrationView,
    trigger: { state: "triggered", at: Date.now() },
    posts: {},
    postedPhases: [],
    notConvergingPosted: false,
    failurePosted: false,
  };
}

async function harness() {
  const prefix = `control-${randomUUID()}`;
  const store = new MigrationStore(redis, prefix);
  const audit = createAuditLog(redis, prefix);
  const calls: string[] = [];
  const answers: string[] = [];
  const nova = {
    abortMigration: async (server: string, id: number) => void calls.push(`abort ${server} ${id}`),
    forceComplete: async (server: string, id: number) => void calls.push(`force-complete ${server} ${id}`),
  } as unknown as NovaPort;
  const deps = {
    store,
    audit,
    nova,
    log: silentLogger,
    // The real answer presenter on a recording transport: the words are what a person reads.
    answer: createAnswerPresenter(async (_u, _user, _c, msg) => void answers.push(msg.text)),
  } as unknown as WorkerDeps;
  const control = (over: Partial<MigrationControlJob>): MigrationControlJob => ({
    type: "abort",
    vm: "db-1",
    jobId: "job-old",
    channel: OPS,
    user: "U0ALICE01",
    requestedAt: Date.now(),
    ...over,
  });
  return { store, audit, calls, answers, deps, control };
}

describe("the worker acts only on the migration the request was bound to", () => {
  test("an Abort from an ended migration's message does not touch the newer migration of the same VM", async () => {
    const h = await harness();
    await h.store.save(record("job-old", { status: "aborted", novaMigrationId: 5, endedAt: Date.now() }));
    await h.store.save(record("job-new", { novaMigrationId: 7 }));
    await h.store.claimVm("db-1", "job-new");
    await handleAction(h.control({ jobId: "job-old" }), h.deps);
    expect(h.calls).toEqual([]);
    expect(h.answers.at(-1)).toMatch(/already ended \(aborted\).*A newer one, if any, has its own thread/);
  });

  test("bound to its migration and channel: sent to Nova for that Nova migration id, and audited", async () => {
    const h = await harness();
    await h.store.save(record("job-new", { novaMigrationId: 7 }));
    await handleAction(h.control({ jobId: "job-new", type: "force-complete", user: "U0BOB0001" }), h.deps);
    expect(h.calls).toEqual(["force-complete srv-db-1 7"]);
    const [entry] = await h.audit.read(1);
    expect(entry).toMatchObject({ actor: "U0BOB0001", action: "migration-control", result: "ok" });
    expect(entry!.what).toMatch(
      /force-complete the live migration of db-1 \(Nova migration 7, migbot job job-new\)/,
    );
  });

  test("a request from another channel, or naming another VM, sends nothing", async () => {
    const h = await harness();
    await h.store.save(record("job-new", {}));
    await handleAction(h.control({ jobId: "job-new", channel: OTHER }), h.deps);
    await handleAction(h.control({ jobId: "job-new", vm: "web-7" }), h.deps);
    expect(h.calls).toEqual([]);
    expect(h.answers).toEqual([
      expect.stringMatching(/unknown in this channel; nothing was sent to Nova/),
      expect.stringMatching(/unknown in this channel; nothing was sent to Nova/),
    ]);
  });
});

describe("/migrate abort binds the request when it is typed", () => {
  function deps(channelOfJob: string | null, holder: string | null) {
    const added: unknown[] = [];
    const access = new AccessControl(
      { operators: ["U0ALICE01"], approvers: [], channels: [OPS, OTHER], allowSelfApproval: false },
      async () => [],
      silentLogger,
    );
    const d: CommandDeps = {
      access,
      enqueue: {
        add: async (_q, _id, payload) => {
          added.push(payload);
          return "added";
        },
        vmHolder: async () => holder,
      },
      channelOf: async () => channelOfJob,
      log: silentLogger,
    };
    return { d, added };
  }
  const command = (channel: string) => ({
    command: "/migrate",
    text: "abort db-1",
    user_id: "U0ALICE01",
    channel_id: channel,
  });

  async function ack(cmd: ReturnType<typeof command>, d: CommandDeps): Promise<string> {
    const said: string[] = [];
    await handleMigrate(
      cmd,
      async (r) => {
        said.push(r?.text ?? "");
      },
      d,
    );
    return said.join("\n");
  }

  test("in the channel of the migration's thread: enqueued with that migration's job id", async () => {
    const { d, added } = deps(OPS, "job-new");
    const said = await ack(command(OPS), d);
    expect(added).toEqual([expect.objectContaining({ type: "abort", vm: "db-1", jobId: "job-new" })]);
    expect(said).toMatch(/abort the migration of db-1/);
  });

  test("from another channel: refused, pointing to where the thread is; nothing enqueued", async () => {
    const { d, added } = deps(OPS, "job-new");
    const said = await ack(command(OTHER), d);
    expect(added).toEqual([]);
    expect(said).toBe(
      `The migration of db-1 is followed in <#${OPS}>; abort it there, where its thread is. Nothing was sent to Nova.`,
    );
  });

  test("with no migration running: said at once, nothing enqueued", async () => {
    const { d, added } = deps(null, null);
    const said = await ack(command(OPS), d);
    expect(added).toEqual([]);
    expect(said).toMatch(/No live migration of db-1 is running/);
  });
});
