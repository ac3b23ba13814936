/**
 * src/drain holds `/drain <host>`: emptying a compute host for maintenance. plan.ts builds the plan
 * (every VM, its destination, the pre-flight checks of src/diagnose, what is expected, what to do
 * about the VMs that cannot move), store.ts keeps plans and runs in Redis (sealed, approved with
 * the claim fix proposals use, a per-host lock), run.ts runs an approved drain as one resumable
 * job through src/migration, and presenter.ts is the port it shows itself through (plain data;
 * bot/render/drain.ts words and escapes it). This file wires them into a worker.
 */
import type { AnswerTo } from "../migration/presenter";
import type { MigrationRecord } from "../migration/store";
import type { DrainHostJob, DrainJob, DrainPlanJob } from "../queue/jobs";
import { buildDrainPlan } from "./plan";
import { type DrainDeps, type DrainOutcome, drainView, planView, runDrain } from "./run";
import { newDrainId } from "./store";

export { type DrainSummary, listDrains } from "./store";

/** How long a drain plan can be approved (the host stays locked for it meanwhile). */
export const DRAIN_PLAN_TTL_S = 3600;

export interface DrainActions {
  /** For startWorkers' extraActions: true when the job was a drain's and was handled. */
  handle(job: { type: string }): Promise<boolean>;
  /** The migrations queue's drain job. */
  run(jobId: string, job: DrainJob, signal: AbortSignal): Promise<DrainOutcome>;
}

/** Wires drains into a worker. */
export function drainActions(deps: Omit<DrainDeps, "signal"> & { planTtlS?: number }): DrainActions {
  const now = deps.now ?? Date.now;
  return {
    async handle(job) {
      if (job.type === "drain-plan") {
        await planDrain(job as DrainPlanJob, deps, deps.planTtlS ?? DRAIN_PLAN_TTL_S, now);
        return true;
      }
      if (job.type === "drain-reenable") {
        await reenableHost(job as DrainHostJob, deps, now);
        return true;
      }
      return false;
    },
    run: (jobId, job, signal) => runDrain(jobId, job, { ...deps, signal }),
  };
}

/** `/drain`: lock the host, build the plan, store it sealed, post it for approval. */
async function planDrain(job: DrainPlanJob, deps: DrainDeps, ttlS: number, now: () => number): Promise<void> {
  const id = newDrainId();
  const holder = await deps.store.lockHost(job.host, id, ttlS);
  if (holder !== id) {
    await deps.presenter.answer(job, { kind: "drain-busy", host: job.host, holder });
    return;
  }
  try {
    const built = await buildDrainPlan(
      {
        host: job.host,
        destinations: job.destinations,
        concurrency: job.concurrency,
        requestedBy: job.user,
        channel: job.channel,
      },
      { id, now: now(), ttlS },
      deps,
    );
    if (!built.ok) {
      await deps.store.releaseHost(job.host, id);
      await deps.presenter.answer(job, built.refusal);
      return;
    }
    const plan = built.plan;
    await deps.store.create(plan, ttlS);
    const view = planView(plan, "pending", null, now());
    const root = await deps.presenter.postPlan(view);
    await deps.store.setMessageTs(plan.id, root);
    await deps.presenter.postPlanDetails(root, view);
    deps.log.info("drain planned", { drain: plan.id, host: plan.host, vms: plan.vms.length });
  } catch (err) {
    await deps.store.releaseHost(job.host, id);
    throw err;
  }
}

/** "Re-enable host": once the drain ended, the host's nova-compute takes new VMs again. */
async function reenableHost(job: DrainHostJob, deps: DrainDeps, now: () => number): Promise<void> {
  const to: AnswerTo = job;
  const plan = await deps.store.plan(job.drainId);
  const run = await deps.store.run(job.drainId);
  if (plan === null || run === null || plan.channel !== job.channel) {
    await deps.presenter.answer(to, {
      kind: "drain-reenable-refused",
      host: plan?.host ?? "?",
      why: "unknown",
    });
    return;
  }
  if (run.status !== "finished") {
    await deps.presenter.answer(to, { kind: "drain-reenable-refused", host: plan.host, why: "running" });
    return;
  }
  if (!run.hostDisabled || run.hostReenabled !== null) {
    await deps.presenter.answer(to, { kind: "drain-reenable-refused", host: plan.host, why: "not-disabled" });
    return;
  }
  if (!deps.nova.setComputeServiceStatus) throw new Error("this Nova client cannot change services");
  await deps.nova.setComputeServiceStatus(plan.host, { status: "enabled", reason: null });
  await deps.audit?.write({
    actor: job.user,
    action: "host-change",
    host: plan.host,
    what: `enabled nova-compute on ${plan.host} again after drain ${plan.id}`,
    result: "ok",
  });
  run.hostReenabled = { by: job.user, at: now() };
  await deps.store.saveRun(plan.id, run);
  const root = await deps.store.messageTs(plan.id);
  if (root !== null) {
    const records = new Map<string, MigrationRecord>();
    for (const v of run.vms) {
      if (v.childJobId === null) continue;
      const r = await deps.migrations.load(v.childJobId);
      if (r) records.set(v.childJobId, r);
    }
    await deps.presenter.updateRoot(
      root,
      drainView(plan, run, records, await deps.store.decidedBy(plan.id), now()),
      "prompt",
    );
  }
  await deps.presenter.answer(to, { kind: "drain-reenabled", host: plan.host });
}
