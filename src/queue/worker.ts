/**
 * Worker bootstrap: BullMQ workers on the shared Redis, any number of them on any machine. A worker
 * killed mid-migration loses its job lock; BullMQ hands the job to another worker as stalled, and
 * runMigration resumes from the record in Redis without triggering Nova again.
 */
import { DelayedError, type Job, Queue, UnrecoverableError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { AuditLog } from "../audit/stream";
import { isTransient } from "../errors";
import type { HostsPort } from "../hosts/port";
import { type Logger, silentLogger } from "../log";
import type { MigrationPresenter } from "../migration/presenter";
import { type RunMigrationDeps, runMigration } from "../migration/run-migration";
import type { MigrationStore } from "../migration/store";
import { type MigrationOutcome, WorkerShuttingDown } from "../migration/tracker";
import type { NovaPort } from "../openstack/port";
import type { JobSigner, JobVerifier } from "../signing/signatures";
import { handleAction } from "./actions";
import type { AnswerPort } from "./answers";
import { JobAuthError, openJob, signJob } from "./job-auth";
import { type ActionJob, type Enqueuer, type MigrateJob, QUEUE_ACTIONS, QUEUE_MIGRATIONS } from "./jobs";

/** How long a worker's lock on a job lasts without renewal; a killed worker's jobs resume after it. @defaultValue 30 000 */
export const DEFAULT_LOCK_DURATION_MS = 30_000;
/** A migration may survive this many worker deaths before BullMQ gives up on it. */
export const MAX_STALLED_COUNT = 20;
/** Transient failures (Nova or a host unreachable) are retried this many times, with backoff. */
export const JOB_ATTEMPTS = 5;
export const JOB_BACKOFF_MS = 2000;
/** Finished jobs are kept this long so a duplicate delivery still finds its job id. */
export const KEEP_FINISHED_JOBS_S = 24 * 3600;
/**
 * Tracking polls (Nova over HTTP, domjobinfo over SSH, the record to Redis) one worker process makes
 * per second across all the migrations it follows, at most. 500 migrations at the sandbox's 500 ms
 * would be 1,000 polls a second: 35% of a core in src/bench/track.ts; at 100/s 20%, at 50/s 17%.
 * Up to 100 migrations at production's 2 s interval are not slowed; beyond, add workers.
 */
export const MAX_TRACKING_POLLS_PER_S = 50;

/**
 * The poll interval of each followed migration: the configured one while the worker follows few, and
 * stretched when it follows many so the total stays under `maxPollsPerS` (500 migrations at 50/s:
 * each one every 10 s).
 */
export function loadScaledPollIntervalMs(
  baseMs: number,
  following: number,
  maxPollsPerS = MAX_TRACKING_POLLS_PER_S,
): number {
  return Math.max(baseMs, Math.ceil((following * 1000) / maxPollsPerS));
}

export interface QueueConnection {
  /** A factory: BullMQ needs its own connections (with maxRetriesPerRequest: null). */
  connection: () => Redis;
  /**
   * A connection for adding jobs that fails at once while Redis is away (`enableOfflineQueue:
   * false`), so an add never lands after its sender gave up. @defaultValue `connection`
   */
  producer?: () => Redis;
  /** BullMQ key prefix, e.g. `migbot:bull`. */
  prefix: string;
}

/**
 * A migration request that waited this long for a worker is not started: the person who asked has
 * long moved on, and an old signed job replayed into Redis must not move a VM today.
 */
export const MAX_JOB_START_AGE_MS = 60 * 60 * 1000;

/** The bot's side: signs jobs and adds them under their idempotency keys. */
export function createEnqueuer(
  conn: QueueConnection,
  store: MigrationStore,
  signer: JobSigner,
  log: Logger = silentLogger,
): Enqueuer & { close(): Promise<void>; pending(): Promise<number> } {
  const connect = conn.producer ?? conn.connection;
  const queue = (name: string) => {
    const q = new Queue(name, { connection: connect(), prefix: conn.prefix });
    // Connection trouble is logged by the connection; a failed add is answered to its sender.
    q.on("error", (err) => log.debug("queue error", { queue: name, err }));
    return q;
  };
  const queues = {
    migrations: queue(QUEUE_MIGRATIONS),
    actions: queue(QUEUE_ACTIONS),
  };
  return {
    async add(queue, jobId, payload) {
      const data = signJob(signer, q(queue), jobId, payload);
      const q2 = queues[queue];
      if (await q2.getJob(jobId)) return "duplicate";
      await q2.add(payload.type, data, {
        jobId,
        attempts: queue === "migrations" ? JOB_ATTEMPTS : 2,
        backoff: { type: "exponential", delay: JOB_BACKOFF_MS },
        removeOnComplete: { age: KEEP_FINISHED_JOBS_S },
        removeOnFail: { age: 7 * KEEP_FINISHED_JOBS_S },
      });
      return "added";
    },
    vmHolder: (vm) => store.vmHolder(vm),
    /** Jobs not finished yet, across both queues. */
    async pending() {
      let n = 0;
      for (const q of [queues.migrations, queues.actions]) {
        const c = await q.getJobCounts("waiting", "active", "delayed", "prioritized", "waiting-children");
        n += Object.values(c).reduce((a, b) => a + b, 0);
      }
      return n;
    },
    async close() {
      await Promise.all([queues.migrations.close(), queues.actions.close()]);
    },
  };
}

/** The queue name a job is signed under. */
function q(queue: "migrations" | "actions"): string {
  return queue === "migrations" ? QUEUE_MIGRATIONS : QUEUE_ACTIONS;
}

export interface WorkerDeps {
  /** Abort and force-complete are written here. */
  audit: AuditLog;
  /** Checks the bot's signature on every job before it is read. */
  verifier: JobVerifier;
  /** Told about every refused job (the audit stream): it names what was refused, never trusts it. */
  onRefusedJob?: (refusal: { queue: string; jobId: string; reason: string }) => Promise<void>;
  nova: NovaPort;
  hosts: HostsPort;
  /** Shows each migration (its thread); see src/migration/presenter.ts. */
  presenter: MigrationPresenter;
  store: MigrationStore;
  /** Answers the person who asked, privately. */
  answer: AnswerPort;
  log: Logger;
  pollIntervalMs: number;
  /** @defaultValue {@link MAX_TRACKING_POLLS_PER_S} */
  maxPollsPerS?: number;
  concurrency: number;
  lockDurationMs?: number;
  /** Extra hooks for migration tracking (diagnosis on trouble, downtime figures). */
  migrationHooks?: Pick<
    RunMigrationDeps,
    "downtimeFor" | "onTrouble" | "predict" | "onFixFirst" | "decisionWaitMs"
  >;
  /** Handlers for action job types this module does not know (diagnose, proposals). */
  extraActions?: (job: ActionJob) => Promise<boolean>;
}

export interface Workers {
  /** Resolves when every job this process has taken has settled. */
  idle(): Promise<void>;
  /** Outcomes of the migrations this process finished, by job id (for the console and tests). */
  outcomes: Map<string, MigrationOutcome>;
  /** Migrations this process follows now (metrics). */
  following(): number;
  /** The BullMQ workers, for listeners on their own events (metrics: queue wait, outcomes). */
  bull: { migrations: Worker; actions: Worker };
  close(): Promise<void>;
}

/**
 * Only a failure that may pass is retried (a coded error that says so, Redis restarting or failing
 * over); anything else (a bug, an unknown failure) fails the job at once.
 */
function isRetryable(err: unknown): boolean {
  return isTransient(err);
}

/** Starts the migration and action workers. */
export function startWorkers(conn: QueueConnection, deps: WorkerDeps): Workers {
  const shutdown = new AbortController();
  const outcomes = new Map<string, MigrationOutcome>();
  const inFlight = new Set<Promise<unknown>>();
  let following = 0;
  const lockDuration = deps.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS;
  const common = {
    prefix: conn.prefix,
    lockDuration,
    stalledInterval: Math.max(1000, Math.floor(lockDuration / 2)),
    maxStalledCount: MAX_STALLED_COUNT,
  };

  /** The job's payload once its signature checks out; a refused job fails at once, unread. */
  const open = async (queue: string, job: Job) => {
    try {
      return openJob(deps.verifier, queue, job.id ?? "", job.data);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      deps.log.error("job refused", { queue, jobId: job.id, code: (err as { code?: string }).code });
      if (err instanceof JobAuthError) {
        await deps.onRefusedJob?.({ queue, jobId: job.id ?? "", reason }).catch(() => {});
      }
      throw new UnrecoverableError(reason);
    }
  };

  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    p.finally(() => inFlight.delete(p)).catch(() => {});
    return p;
  };

  const migrations = new Worker(
    QUEUE_MIGRATIONS,
    (job: Job, token?: string) =>
      track(
        (async () => {
          const data = (await open(QUEUE_MIGRATIONS, job)) as MigrateJob;
          const log = deps.log.child({ jobId: job.id });
          if (
            Date.now() - data.requestedAt > MAX_JOB_START_AGE_MS &&
            (await deps.store.load(job.id!)) === null
          ) {
            log.warn("stale migration request not started", { requestedAt: data.requestedAt });
            await deps
              .answer(data, {
                kind: "request-stale",
                vm: data.vm,
                waitedMinutes: Math.round(MAX_JOB_START_AGE_MS / 60_000),
              })
              .catch(() => {});
            throw new UnrecoverableError("JOB_STALE: migration request too old to start");
          }
          following++;
          try {
            const outcome = await runMigration(job.id!, data, {
              nova: deps.nova,
              hosts: deps.hosts,
              presenter: deps.presenter,
              store: deps.store,
              answer: deps.answer,
              log,
              // Asked before every poll, so each tracker follows the worker's current load.
              pollIntervalMs: () =>
                loadScaledPollIntervalMs(deps.pollIntervalMs, following, deps.maxPollsPerS),
              signal: shutdown.signal,
              ...deps.migrationHooks,
            });
            outcomes.set(job.id!, outcome);
            return outcome;
          } catch (err) {
            if (err instanceof WorkerShuttingDown && token) {
              // Hand the job straight back to the queue: another worker resumes it from the record.
              await job.moveToDelayed(Date.now() + 100, token);
              throw new DelayedError();
            }
            log.error("migration job failed", { err });
            if (!isRetryable(err))
              throw new UnrecoverableError(err instanceof Error ? err.message : String(err));
            throw err;
          } finally {
            following--;
          }
        })(),
      ),
    { connection: conn.connection(), concurrency: deps.concurrency, ...common },
  );

  const actions = new Worker(
    QUEUE_ACTIONS,
    (job: Job) =>
      track(
        (async () => {
          const data = (await open(QUEUE_ACTIONS, job)) as ActionJob;
          try {
            if (deps.extraActions && (await deps.extraActions(data))) return;
            await handleAction(data, deps);
          } catch (err) {
            deps.log.error("action job failed", { jobId: job.id, type: data.type, err });
            await deps
              .answer(data, {
                kind: "action-failed",
                error: err instanceof Error ? err.message : String(err),
              })
              .catch(() => {});
            throw new UnrecoverableError(err instanceof Error ? err.message : String(err));
          }
        })(),
      ),
    { connection: conn.connection(), concurrency: Math.max(4, Math.min(deps.concurrency, 20)), ...common },
  );

  for (const w of [migrations, actions]) {
    w.on("error", (err) => deps.log.error("worker error", { err }));
  }

  return {
    outcomes,
    following: () => following,
    bull: { migrations, actions },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    async close() {
      shutdown.abort();
      await Promise.all([migrations.close(), actions.close()]);
    },
  };
}
