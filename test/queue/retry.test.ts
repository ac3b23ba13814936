/**
 * Which failed migration jobs BullMQ tries again: only those whose error is a CodedError saying
 * `retryable` (Nova unreachable or answering 5xx); a 4xx from Nova, or an error nobody coded (a
 * bug), fails the job at once. Real Redis and BullMQ, the real worker; Nova is a stub that fails.
 */
import { generateKeyPairSync, randomUUID } from "node:crypto";
import type { Job } from "bullmq";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, inject, test } from "vitest";
import { createAuditLog } from "../../src/audit/stream";
import { silentLogger } from "../../src/log";
import { MigrationStore } from "../../src/migration/store";
import { NovaNotFoundError, ServerError } from "../../src/openstack/errors";
import type { NovaPort } from "../../src/openstack/port";
import { jobSigningDomain } from "../../src/queue/job-auth";
import { type MigrateJob, QUEUE_MIGRATIONS } from "../../src/queue/jobs";
import { createEnqueuer, startWorkers, type Workers } from "../../src/queue/worker";
import { bullConnection } from "../../src/runtime/stack";
import { JobSigner, JobVerifier } from "../../src/signing/signatures";
import { until } from "../support/until";

const PREFIX = `retry-${randomUUID()}`;
let connection: ReturnType<typeof bullConnection>;
let redis: Redis;
let workers: Workers;
let queue: Queue;
let enqueuer: ReturnType<typeof createEnqueuer>;
/** What the stub Nova throws for each VM name, and how many times it was asked. */
const failures = new Map<string, () => Error>();
const asked = new Map<string, number>();

beforeAll(() => {
  connection = bullConnection(inject("redisUrl"));
  redis = connection();
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const domain = jobSigningDomain(PREFIX);
  const store = new MigrationStore(redis, PREFIX);
  const nova = {
    async findServer(name: string) {
      asked.set(name, (asked.get(name) ?? 0) + 1);
      throw failures.get(name)!();
    },
  } as unknown as NovaPort;
  const bull = { connection, prefix: `${PREFIX}:bull` };
  workers = startWorkers(bull, {
    audit: createAuditLog(redis, PREFIX),
    verifier: new JobVerifier(publicKey, domain),
    nova,
    hosts: { run: async () => ({ stdout: "", stderr: "", exitCode: 0 }), has: () => true },
    presenter: {} as never,
    store,
    answer: async () => {},
    log: silentLogger,
    pollIntervalMs: 100,
    concurrency: 4,
  });
  enqueuer = createEnqueuer(bull, store, new JobSigner(privateKey, domain));
  queue = new Queue(QUEUE_MIGRATIONS, { connection: connection(), prefix: `${PREFIX}:bull` });
});

afterAll(async () => {
  await workers?.close();
  await enqueuer?.close();
  await queue?.close();
  await connection?.closeAll();
});

async function migrate(vm: string, fail: () => Error): Promise<Job> {
  failures.set(vm, fail);
  const job: MigrateJob = {
    type: "migrate",
    vm,
    destination: "compute-2",
    channel: "C0OPS0001",
    user: "U0ALICE01",
    requestedAt: Date.now(),
  };
  const jobId = `migrate-${vm}`;
  expect(await enqueuer.add("migrations", jobId, job)).toBe("added");
  return (await queue.getJob(jobId))!;
}

test("Nova answering 5xx: the job is tried again", async () => {
  const job = await migrate("vm-5xx", () => new ServerError("Nova answered 503; try again"));
  // The first attempt fails, and BullMQ schedules another (after its backoff) rather than giving up.
  await until("a second attempt", () => (asked.get("vm-5xx") ?? 0) >= 2, { timeoutMs: 20_000 });
  const state = await job.getState();
  expect(["active", "delayed", "waiting"]).toContain(state);
});

test("Nova answering 404 (unknown VM): the job fails at once, tried once", async () => {
  const job = await migrate("vm-404", () => new NovaNotFoundError("No server named vm-404"));
  await until("the job failed", async () => (await job.getState()) === "failed", { timeoutMs: 20_000 });
  const failed = (await queue.getJob(job.id!))!;
  expect(failed.attemptsMade).toBe(1);
  expect(failed.failedReason).toMatch(/No server named vm-404/);
  expect(asked.get("vm-404")).toBe(1);
});

test("an error nobody coded (a bug) is not retried either", async () => {
  const job = await migrate("vm-bug", () => new TypeError("cannot read properties of undefined"));
  await until("the job failed", async () => (await job.getState()) === "failed", { timeoutMs: 20_000 });
  expect((await queue.getJob(job.id!))!.attemptsMade).toBe(1);
  expect(asked.get("vm-bug")).toBe(1);
});
