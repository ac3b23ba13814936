/**
 * One live migration, from request to outcome: the entry point the worker calls. It claims the VM,
 * checks the request (request.ts), and hands the record to the tracker (tracker.ts), which triggers
 * Nova once and follows it phase by phase. Safe to run again for the same job after a crash: the
 * record in Redis says how far it got, and a second live-migrate is never sent.
 *
 * src/migration holds the migration domain: the request check (request.ts), the tracker's state
 * machine (tracker.ts) and its parts (sampler.ts, verdict.ts, convergence.ts, downtime.ts,
 * instance-log.ts, host-evidence.ts, nova-migration.ts, precopy-progress.ts), the record (store.ts,
 * view.ts), the sample parsers (samples/), and the ports it needs (ports.ts; presenter.ts for what
 * it shows). It writes no Slack syntax; bot/render words and escapes what it shows.
 */
import type { MigrateJob } from "../queue/jobs";
import type { MigrationAnswerPort } from "./presenter";
import { checkRequest, newRecord, retryLinkOf } from "./request";
import {
  endChartDue,
  type MigrationOutcome,
  outcomeOf,
  type TrackedRecord,
  Tracker,
  type TrackerDeps,
} from "./tracker";
import { isFinished } from "./view";

export interface RunMigrationDeps extends TrackerDeps {
  /** Answers the person who asked, privately, when the request is not started (VM busy, rejected). */
  answer: MigrationAnswerPort;
}

/** Runs (or resumes) one migration job to its outcome. */
export async function runMigration(
  jobId: string,
  job: MigrateJob,
  deps: RunMigrationDeps,
): Promise<MigrationOutcome> {
  const now = deps.now ?? Date.now;
  const log = deps.log.child({ jobId, vm: job.vm });
  let record: TrackedRecord | null = await deps.store.load(jobId);
  // A finished record is done, unless the chart of its end is still to be shared.
  if (record && isFinished(record.view.status) && !endChartDue(record)) return outcomeOf(record);
  if (record === null) {
    const holder = await deps.store.claimVm(job.vm, jobId);
    if (holder !== jobId) {
      await deps.answer(job, { kind: "vm-busy", vm: job.vm });
      return "busy";
    }
    const startedAt = now();
    const check = await checkRequest(job, deps.nova);
    if (!check.ok) {
      await deps.store.releaseVm(job.vm, jobId);
      await deps.answer(job, check.rejection);
      log.info("migration request rejected", { reason: check.rejection });
      return "rejected";
    }
    record = newRecord(jobId, job, check.server, startedAt);
    const retry = await retryLinkOf(job, deps.store);
    if (retry !== null) record.retry = retry;
    await deps.store.save(record);
  }
  const tracker = new Tracker(record, { ...deps, onEnded: () => deps.store.releaseVm(job.vm, jobId) }, log);
  try {
    return await tracker.run();
  } finally {
    if (isFinished(tracker.record.view.status)) await deps.store.releaseVm(job.vm, jobId);
  }
}
