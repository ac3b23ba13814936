/**
 * The end's chart is shared once across worker restarts: a job redelivered after its outcome was
 * saved but before its chart was shared resumes only to share it (never triggering Nova again), a
 * job whose chart was shared returns at once, and a chart Slack refused is not tried on every resume.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { CodedError } from "../../src/errors";
import type { HostsPort } from "../../src/hosts/port";
import { silentLogger } from "../../src/log";
import { addChartSample, emptyChartHistory } from "../../src/migration/chart-history";
import type { ChartMessage, MigrationPresenter } from "../../src/migration/presenter";
import { newRecord } from "../../src/migration/request";
import { runMigration } from "../../src/migration/run-migration";
import { MigrationStore } from "../../src/migration/store";
import type { TrackedRecord } from "../../src/migration/tracker";
import type { NovaPort, NovaServer } from "../../src/openstack/port";
import type { MigrateJob } from "../../src/queue/jobs";

let redis: Redis;
beforeAll(() => {
  redis = new Redis(inject("redisUrl"));
});
afterAll(() => {
  redis.disconnect();
});

const JOB: MigrateJob = {
  type: "migrate",
  vm: "vm-42",
  destination: "compute-3",
  channel: "C0OPS0001",
  user: "U0ALICE01",
  requestedAt: 1_780_000_000_000,
} as MigrateJob;

/** Nova and the hosts must not be asked anything: the migration is over. */
const untouchable = new Proxy(
  {},
  {
    get: (_, name) => () => {
      throw new Error(`${String(name)} called on a finished migration`);
    },
  },
);

/** A record as a worker leaves it when it stops right after saving the outcome. */
function finishedRecord(jobId: string): TrackedRecord {
  const server = {
    id: "5a1dc0de-7e57-4b1d-9c1a-000000000042",
    name: "vm-42",
    host: "compute-1",
    instanceName: "instance-0000002a",
    flavor: { ramMb: 2048, vcpus: 2 },
  } as NovaServer;
  const record = newRecord(jobId, JOB, server, JOB.requestedAt) as TrackedRecord;
  record.trigger = { state: "triggered", at: JOB.requestedAt };
  record.view.status = "completed";
  record.view.phase = "commitment";
  record.view.endedAt = JOB.requestedAt + 30_000;
  record.posts = { root: "1.000001" };
  for (const [i, p] of ["pre-migration", "reservation", "precopy", "stop-and-copy", "commitment"].entries()) {
    record.posts[`phase:${p}`] = `1.00000${i + 2}`;
    record.postedPhases.push(p);
  }
  record.chart = emptyChartHistory();
  for (let t = 1; t <= 5; t++) {
    addChartSample(
      record.chart,
      {
        t,
        source: "domjobinfo",
        iteration: 1,
        memoryRemainingBytes: (6 - t) * 2 ** 28,
        bandwidthBytesPerS: 2 ** 27,
      },
      300,
    );
  }
  return record;
}

function presenter(
  share: (m: ChartMessage) => Promise<string>,
): MigrationPresenter & { charts: ChartMessage[] } {
  const charts: ChartMessage[] = [];
  return {
    charts,
    postRoot: async () => "1.000001",
    postReply: async () => {
      throw new Error("nothing is posted again");
    },
    update: async () => {},
    postRetryNotice: async () => {},
    postChart: async (_root, m) => {
      charts.push(m);
      return share(m);
    },
  };
}

async function resume(store: MigrationStore, jobId: string, p: MigrationPresenter) {
  return runMigration(jobId, JOB, {
    nova: untouchable as NovaPort,
    hosts: untouchable as HostsPort,
    presenter: p,
    store,
    answer: async () => {},
    log: silentLogger,
    pollIntervalMs: 10,
  });
}

describe("the end's chart across restarts", () => {
  test("a job stopped before sharing it resumes to share it once; the next delivery returns at once", async () => {
    const store = new MigrationStore(redis, `unit-${randomUUID()}`);
    const jobId = `job-${randomUUID()}`;
    await store.save(finishedRecord(jobId));
    const first = presenter(async () => "F0CHART001");
    expect(await resume(store, jobId, first)).toBe("completed");
    expect(first.charts.map((c) => [c.moment, c.history.t.length])).toEqual([["ended", 5]]);
    expect((await store.load(jobId))!.posts["chart:ended"]).toBe("F0CHART001");

    const again = presenter(async () => "F0CHART002");
    expect(await resume(store, jobId, again)).toBe("completed");
    expect(again.charts).toEqual([]);
  });

  test("a transient failure leaves the chart for the next delivery; Slack refusing it does not", async () => {
    const store = new MigrationStore(redis, `unit-${randomUUID()}`);
    const jobId = `job-${randomUUID()}`;
    await store.save(finishedRecord(jobId));
    const away = presenter(async () => {
      throw new CodedError("NOTIFY_CLOSED", "the notifier is closed", { retryable: true });
    });
    await resume(store, jobId, away);
    expect((await store.load(jobId))!.posts["chart:ended"]).toBeUndefined();

    const refused = presenter(async () => {
      throw new CodedError("NOTIFY_SLACK_REFUSED", "Slack refused files.upload: missing_scope", {
        retryable: false,
      });
    });
    await resume(store, jobId, refused);
    expect(refused.charts).toHaveLength(1);
    expect((await store.load(jobId))!.posts["chart:ended"]).toBe("not-shared");
    const later = presenter(async () => "F0CHART003");
    await resume(store, jobId, later);
    expect(later.charts).toEqual([]);
  });
});
