/**
 * Runs an approved drain: one resumable job. It checks the plan against its seal and the digest the
 * approval named, disables the host's nova-compute (so the scheduler places nothing new there),
 * then live-migrates the VMs `concurrency` at a time through the migration machinery
 * (src/migration/run-migration.ts: each VM's own record, trigger-once and thread, in the drain's
 * thread), keeps the root message's table current, adds VMs that land on the host meanwhile, stops
 * a migration judged not converging (it would hold a slot until Nova's timeout), obeys Pause,
 * Resume and Cancel, and ends with a report. Its state is in Redis (store.ts): a worker that dies
 * or stops hands the job on, and the next one resumes each started migration from its record
 * without triggering it again.
 */

import type { AuditLog } from "../audit/stream";
import { drainChartMigrationsOf } from "../chart/drain-migrations";
import type { Logger } from "../log";
import type { AnswerTo, MigrationAnswer } from "../migration/presenter";
import type { RunMigrationDeps } from "../migration/run-migration";
import { runMigration } from "../migration/run-migration";
import type { MigrationRecord, MigrationStore } from "../migration/store";
import type { TrackedRecord } from "../migration/tracker";
import { type MigrationOutcome, WorkerShuttingDown } from "../migration/tracker";
import { isFinished } from "../migration/view";
import { liveMigrationUnfinished } from "../nova-facts";
import type { NovaServer } from "../openstack/port";
import type { DrainJob, MigrateJob } from "../queue/jobs";
import { type PlanDeps, planVm } from "./plan";
import type { DrainPresenter } from "./presenter";
import { DRAIN_LOCK_TTL_S, type DrainStore } from "./store";
import type { DrainPlan, DrainRow, DrainRun, DrainStatus, DrainView, DrainVmRun } from "./types";

/** How often the drain looks for VMs that landed on the host meanwhile. */
export const NEW_VM_CHECK_INTERVAL_MS = 10_000;
/** The host lock is renewed this often while the drain runs. */
export const DRAIN_LOCK_RENEW_MS = 60_000;

export interface DrainDeps extends PlanDeps {
  store: DrainStore;
  /** The host's service disabled and enabled again are written here. */
  audit?: AuditLog;
  migrations: MigrationStore;
  presenter: DrainPresenter;
  /** What each VM's migration runs with (the worker's tracker hooks: diagnosis on trouble, downtime). */
  tracking: Omit<RunMigrationDeps, "presenter" | "log" | "signal" | "answer" | "nova" | "hosts" | "store">;
  /** Time between the drain's own rounds (table, new VMs, starting the next). */
  pollIntervalMs: number;
  newVmCheckIntervalMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal;
}

export type DrainOutcome = "finished" | "refused" | "not-approved";

/** A VM's migration job id within a drain: fixed, so a resumed drain finds the same record. */
export function childJobId(drainId: string, serverId: string): string {
  return `drain-${drainId}-${serverId.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 64)}`;
}

/** The run a drain starts with: every planned VM waiting, the skipped ones with their reason. */
export function initialRun(plan: DrainPlan): DrainRun {
  return {
    status: "running",
    startedAt: null,
    endedAt: null,
    hostDisabled: false,
    hostReenabled: null,
    cancel: null,
    pausedBy: null,
    vms: plan.vms.map((v) => ({
      serverId: v.serverId,
      name: v.name,
      destination: v.destination,
      state: v.action === "skip" ? "skipped" : "waiting",
      childJobId: null,
      reason: v.action === "skip" ? [v.reason, v.advice].filter(Boolean).join("; ") : null,
      addedDuringDrain: false,
    })),
  };
}

/** Runs (or resumes) an approved drain to its end. */
export async function runDrain(jobId: string, job: DrainJob, deps: DrainDeps): Promise<DrainOutcome> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const log = deps.log.child({ drain: job.drainId, jobId });
  const sealed = await deps.store.sealedPlan(job.drainId);
  if (!sealed.ok || sealed.digest !== job.planDigest) {
    const reason = sealed.ok ? "the plan changed after it was approved" : `the plan is ${sealed.reason}`;
    log.error("drain refused: plan does not match its approval", { reason });
    await deps.presenter.answer(job, {
      kind: "drain-plan-refused",
      host: sealed.ok ? sealed.plan.host : null,
      reason,
    });
    return "refused";
  }
  const plan = sealed.plan;
  const status = await deps.store.status(plan.id, now());
  if (status === "pending" || status === "rejected" || status === "expired" || status === null) {
    log.warn("drain job for a plan that is not approved", { status });
    return "not-approved";
  }
  const root = await deps.store.messageTs(plan.id);
  const approver = (await deps.store.decidedBy(plan.id)) ?? plan.requestedBy;
  const run = (await deps.store.run(plan.id)) ?? initialRun(plan);
  const drain = new Drain(plan, run, root, approver, deps, log, now);
  if (run.status === "finished") {
    await drain.finish();
    return "finished";
  }
  const holder = await deps.store.lockHost(plan.host, plan.id);
  if (holder !== plan.id) {
    await deps.presenter.answer(job, { kind: "drain-busy", host: plan.host, holder });
    return "refused";
  }
  if (!run.hostDisabled) {
    try {
      if (!deps.nova.setComputeServiceStatus) throw new Error("this Nova client cannot change services");
      await deps.nova.setComputeServiceStatus(plan.host, { status: "disabled", reason: plan.disableReason });
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      log.error("drain: could not disable the host", { err });
      await deps.presenter.answer(job, { kind: "drain-disable-failed", host: plan.host, error });
      run.status = "finished";
      run.endedAt = now();
      for (const v of run.vms) {
        if (v.state === "waiting") {
          v.state = "skipped";
          v.reason = `not started: ${plan.host}'s nova-compute could not be disabled (${error})`;
        }
      }
      await drain.save();
      await drain.finish();
      return "finished";
    }
    run.hostDisabled = true;
    run.startedAt ??= now();
    await deps.audit?.write({
      actor: approver,
      action: "host-change",
      host: plan.host,
      what: `disabled nova-compute on ${plan.host} for drain ${plan.id} (reason: ${plan.disableReason})`,
      result: "ok",
    });
    await drain.save();
  }
  await drain.loop(sleep);
  return "finished";
}

class Drain {
  private readonly children = new Map<string, Promise<void>>();
  private readonly records = new Map<string, MigrationRecord>();
  private lastRows = "";
  private lastSaved = "";
  private editing: Promise<void> | null = null;
  private lastNewVmCheck = 0;
  private lastLockRenew = 0;
  private shuttingDown = false;
  /** Migrations done copying memory in Nova (their slot is free), whatever their tracker still posts. */
  private readonly novaDone = new Set<string>();
  /** Migrations whose run failed for a passing reason: started again from their record next round. */
  private readonly retryLater = new Set<string>();

  constructor(
    private readonly plan: DrainPlan,
    private readonly run: DrainRun,
    private readonly root: string | null,
    private readonly approver: string,
    private readonly deps: DrainDeps,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {
    this.lastSaved = JSON.stringify(run);
  }

  async save(): Promise<void> {
    const json = JSON.stringify(this.run);
    if (json === this.lastSaved) return;
    await this.deps.store.saveRun(this.plan.id, this.run, json);
    this.lastSaved = json;
  }

  async loop(sleep: (ms: number) => Promise<void>): Promise<void> {
    // A resumed drain picks its started migrations up first: each resumes from its own record.
    for (const v of this.run.vms) if (v.state === "running") this.spawn(v);
    this.lastNewVmCheck = this.now();
    this.lastLockRenew = this.now();
    await this.updateRoot("prompt");
    for (;;) {
      if (this.deps.signal?.aborted || this.shuttingDown) {
        await Promise.allSettled([...this.children.values()]);
        await this.save();
        throw new WorkerShuttingDown();
      }
      await this.readControls();
      await this.watchRunning();
      if (this.now() - this.lastLockRenew >= DRAIN_LOCK_RENEW_MS) {
        this.lastLockRenew = this.now();
        await this.deps.store.lockHost(this.plan.host, this.plan.id, DRAIN_LOCK_TTL_S);
      }
      const stopping = this.run.cancel !== null;
      if (
        !stopping &&
        this.now() - this.lastNewVmCheck >= (this.deps.newVmCheckIntervalMs ?? NEW_VM_CHECK_INTERVAL_MS)
      ) {
        this.lastNewVmCheck = this.now();
        await this.addNewVms();
      }
      if (!stopping && this.run.pausedBy === null) this.startNext();
      this.run.status = stopping ? "cancelling" : this.run.pausedBy !== null ? "paused" : "running";
      const running = this.run.vms.filter((v) => v.state === "running").length;
      const waiting = this.run.vms.filter((v) => v.state === "waiting").length;
      if (running === 0 && (waiting === 0 || stopping)) {
        // One last look for VMs that landed while the last ones moved, and for migrations still
        // coming in (started before the host was disabled): the drain waits for them to land.
        if (!stopping && (await this.addNewVms()) > 0) continue;
        if (stopping || (await this.incoming()) === 0) break;
        this.lastNewVmCheck = 0;
      }
      await this.save();
      this.updateRoutine();
      await sleep(this.deps.pollIntervalMs);
    }
    if (this.run.cancel !== null) {
      for (const v of this.run.vms) {
        if (v.state === "waiting") {
          v.state = "skipped";
          v.reason = "not started: the drain was cancelled";
        }
      }
    }
    this.run.status = "finished";
    this.run.endedAt = this.now();
    await this.save();
    await this.finish();
  }

  /** The end: the host lock freed, the table's final state, the report (each said once). */
  async finish(): Promise<void> {
    await this.deps.store.releaseHost(this.plan.host, this.plan.id);
    await this.refreshRecords();
    if (this.root === null) return;
    await this.editing?.catch(() => {});
    await this.deps.presenter.updateRoot(this.root, this.view(), "prompt");
    await this.deps.presenter.postReport(this.root, this.view());
    await this.shareChart(this.root);
    this.log.info("drain finished", {
      moved: this.run.vms.filter((v) => v.state === "completed").length,
      total: this.run.vms.length,
    });
  }

  /**
   * One chart for the whole drain (its VMs' memory remaining on one time axis) after the report. A
   * chart that cannot be drawn or shared is logged: the report already said everything.
   */
  private async shareChart(root: string): Promise<void> {
    // The stored records are the trackers' (TrackedRecord: with their bounded chart history).
    const records = this.run.vms
      .map((v) => (v.childJobId ? this.records.get(v.childJobId) : undefined))
      .filter((r) => r !== undefined) as TrackedRecord[];
    const migrations = drainChartMigrationsOf(records);
    if (migrations.length === 0) return;
    try {
      await this.deps.presenter.postReportChart(root, this.view(), migrations);
    } catch (err) {
      this.log.warn("could not share the drain's chart", { err });
    }
  }

  private async readControls(): Promise<void> {
    this.run.pausedBy = await this.deps.store.paused(this.plan.id);
    if (this.run.cancel === null) this.run.cancel = await this.deps.store.cancel(this.plan.id);
  }

  /**
   * Starts waiting VMs while fewer than `concurrency` live migrations copy memory in Nova. A
   * migration past its copy (post-migrating, or finished) frees its slot at once, while its tracker
   * still posts the last phases (Slack's pacing must not hold the next VM back).
   */
  private startNext(): void {
    let running = this.run.vms.filter(
      (v) => v.state === "running" && !(v.childJobId !== null && this.novaDone.has(v.childJobId)),
    ).length;
    for (const v of this.run.vms) {
      if (running >= this.plan.concurrency) return;
      if (v.state !== "waiting") continue;
      v.state = "running";
      v.childJobId = childJobId(this.plan.id, v.serverId);
      running++;
      this.spawn(v);
    }
  }

  /** Runs (or resumes) one VM's migration; its outcome lands in the VM's row. */
  private spawn(v: DrainVmRun): void {
    const jobId = v.childJobId!;
    if (this.children.has(jobId)) return;
    const job: MigrateJob = {
      type: "migrate",
      // By Nova's id: names are the tenant's, and may repeat or read as anything.
      vm: v.serverId,
      destination: v.destination,
      channel: this.plan.channel,
      user: this.approver,
      requestedAt: this.now(),
    };
    let rejection: string | null = null;
    const answer = async (_to: AnswerTo, a: MigrationAnswer) => {
      rejection = rejectionText(a);
    };
    // The state must be in Redis before the migration can be triggered: a restart then resumes it.
    const started = this.save().then(() =>
      runMigration(jobId, job, {
        ...this.deps.tracking,
        nova: this.deps.nova,
        hosts: this.deps.hosts,
        store: this.deps.migrations,
        presenter: this.deps.presenter.childPresenter(this.root ?? ""),
        answer,
        log: this.log.child({ vm: v.serverId }),
        ...(this.deps.signal && { signal: this.deps.signal }),
      }),
    );
    const p = started
      .then(async (outcome: MigrationOutcome) => {
        const record = await this.deps.migrations.load(jobId);
        if (record) this.records.set(jobId, record);
        this.settle(v, outcome, record, rejection);
      })
      .catch((err) => {
        if (err instanceof WorkerShuttingDown) {
          this.shuttingDown = true;
          return;
        }
        this.log.error("drain: a migration failed to run", { vm: v.serverId, err });
        // Unknown how far it got: leave it running, so the next round (or a resumed worker) looks
        // again from its record; only a request never recorded is marked failed.
        return this.deps.migrations.load(jobId).then((record) => {
          if (record === null) {
            v.state = "failed";
            v.reason = err instanceof Error ? err.message : String(err);
          } else if (!this.shuttingDown) {
            this.retryLater.add(jobId);
          }
        });
      })
      .finally(() => this.children.delete(jobId));
    this.children.set(jobId, p);
  }

  private settle(
    v: DrainVmRun,
    outcome: MigrationOutcome,
    record: MigrationRecord | null,
    rejection: string | null,
  ) {
    switch (outcome) {
      case "completed":
        v.state = "completed";
        v.reason = null;
        if (record?.view.destination) v.destination = record.view.destination;
        return;
      case "busy":
        v.state = "skipped";
        v.reason = "another migration of this VM was already running; follow its own thread";
        return;
      case "rejected":
        v.state = "skipped";
        v.reason = rejection ?? "Nova refused the request";
        return;
      case "aborted":
        v.state = "aborted";
        v.reason ??= record?.view.failure?.message ?? "aborted";
        return;
      case "failed":
        v.state = "failed";
        v.reason = record?.view.failure?.message ?? "failed";
        return;
    }
  }

  /**
   * Reads the running migrations' records: a migration judged not converging is aborted (it would
   * hold one of the drain's slots until Nova's own timeout), and on Cancel with "abort running"
   * every running one is.
   */
  private async watchRunning(): Promise<void> {
    for (const jobId of [...this.retryLater]) {
      this.retryLater.delete(jobId);
      const v = this.run.vms.find((x) => x.childJobId === jobId);
      if (v && v.state === "running") this.spawn(v);
    }
    for (const v of this.run.vms) {
      if (v.state !== "running" || v.childJobId === null) continue;
      const record = await this.deps.migrations.load(v.childJobId);
      if (record === null) continue;
      this.records.set(v.childJobId, record);
      const view = record.view;
      if (isFinished(view.status)) {
        this.novaDone.add(v.childJobId);
        continue;
      }
      if (!this.novaDone.has(v.childJobId) && view.serverId !== null && view.novaMigrationId !== null) {
        // Nova shows a live migration here only while it is in progress; in post-migrating it copies
        // no more memory (both hosts clean up), so the next VM may start: Nova still holds it in
        // `queued` while the source is at its max_concurrent_live_migrations.
        const m = await this.deps.nova
          .getServerMigration(view.serverId, view.novaMigrationId)
          .catch(() => undefined);
        if (m === null || m?.status === "post-migrating") this.novaDone.add(v.childJobId);
      }
      const abortAll = this.run.cancel?.mode === "abort";
      if (view.status !== "not-converging" && !abortAll) continue;
      if (view.serverId === null || view.novaMigrationId === null) continue;
      const by = abortAll ? this.run.cancel!.by : this.approver;
      if (!(await this.deps.migrations.setControl(v.childJobId, { action: "abort", by, at: this.now() })))
        continue;
      v.reason = abortAll
        ? "aborted: the drain was cancelled with “abort running”"
        : `did not converge (${view.stuck?.reason ?? "pre-copy was not getting anywhere"}): stopped so that the drain goes on; approve the fix proposed in its thread and drain again, or cold-migrate it`;
      try {
        await this.deps.nova.abortMigration(view.serverId, view.novaMigrationId);
      } catch (err) {
        this.log.warn("drain: abort refused", { vm: v.serverId, err });
      }
    }
  }

  /** VMs that landed on the host since the plan (someone forced one there): planned and queued. */
  private async addNewVms(): Promise<number> {
    let servers: NovaServer[];
    try {
      servers = await this.deps.nova.listServers({ host: this.plan.host });
    } catch (err) {
      this.log.warn("drain: could not list the host's servers", { err });
      return 0;
    }
    const known = new Set(this.run.vms.map((v) => v.serverId));
    let added = 0;
    for (const s of servers) {
      if (known.has(s.id) || s.taskState !== null) continue;
      const destination = this.plan.destinations ? this.leastUsedDestination() : null;
      const p = await planVm(s, destination, this.plan.destinations !== null, this.deps);
      this.run.vms.push({
        serverId: s.id,
        name: s.name,
        destination: p.destination,
        state: p.action === "skip" ? "skipped" : "waiting",
        childJobId: null,
        reason: p.action === "skip" ? [p.reason, p.advice].filter(Boolean).join("; ") : null,
        addedDuringDrain: true,
      });
      added++;
    }
    if (added > 0) {
      this.log.info("drain: VMs landed on the host meanwhile", { added });
      await this.save();
    }
    return added;
  }

  /** Live migrations not finished whose destination is the drained host (none when Nova cannot say). */
  private async incoming(): Promise<number> {
    try {
      const all = await this.deps.nova.listMigrations({ migrationType: "live-migration" });
      return all.filter((m) => m.destCompute === this.plan.host && liveMigrationUnfinished(m.status)).length;
    } catch (err) {
      this.log.warn("drain: could not list migrations coming in", { err });
      return 0;
    }
  }

  /** The given destination the fewest of this drain's VMs go to (a newcomer's). */
  private leastUsedDestination(): string | null {
    const given = this.plan.destinations ?? [];
    let best: string | null = null;
    let fewest = Number.POSITIVE_INFINITY;
    for (const d of given) {
      const n = this.run.vms.filter((v) => v.destination === d).length;
      if (n < fewest) {
        fewest = n;
        best = d;
      }
    }
    return best;
  }

  private async refreshRecords(): Promise<void> {
    for (const v of this.run.vms) {
      if (v.childJobId === null) continue;
      const cached = this.records.get(v.childJobId);
      if (cached && isFinished(cached.view.status)) continue;
      const r = await this.deps.migrations.load(v.childJobId);
      if (r) this.records.set(v.childJobId, r);
    }
  }

  /** A routine edit of the table when it changed; one at a time (the notifier paces them). */
  private updateRoutine(): void {
    if (this.root === null || this.editing !== null) return;
    const view = this.view();
    const rows = JSON.stringify([view.rows, view.status, view.pausedBy, view.cancel]);
    if (rows === this.lastRows) return;
    this.lastRows = rows;
    this.editing = this.deps.presenter
      .updateRoot(this.root, view, "routine")
      .catch((err) => this.log.warn("drain: table edit failed", { err }))
      .finally(() => {
        this.editing = null;
      });
  }

  private async updateRoot(pace: "prompt" | "routine"): Promise<void> {
    if (this.root === null) return;
    await this.deps.presenter.updateRoot(this.root, this.view(), pace);
  }

  view(): DrainView {
    return drainView(this.plan, this.run, this.records, this.approver, this.now());
  }
}

/** The table as it stands: each VM's row from the drain's state and its migration's record. */
export function drainView(
  plan: DrainPlan,
  run: DrainRun,
  records: ReadonlyMap<string, MigrationRecord>,
  decidedBy: string | null,
  at: number,
): DrainView {
  let bytesSent: number | null = null;
  const rows: DrainRow[] = run.vms.map((v) => {
    const r = v.childJobId ? records.get(v.childJobId) : undefined;
    const p = r?.view.precopy ?? null;
    const total = p?.memoryTotalBytes ?? null;
    const processed = p?.memoryProcessedBytes ?? null;
    if (processed !== null) bytesSent = (bytesSent ?? 0) + processed;
    let progress = total && processed !== null ? Math.min(1, processed / total) : null;
    if (v.state === "completed") progress = 1;
    return {
      name: v.name,
      destination: r?.view.destination ?? v.destination,
      state: v.state,
      progress,
      etaSeconds: v.state === "running" ? (p?.etaSeconds ?? null) : null,
      downtimeMs: r?.view.downtimeMs ?? null,
      reason: v.reason,
      addedDuringDrain: v.addedDuringDrain,
    };
  });
  return {
    plan,
    status: run.status as DrainStatus,
    decidedBy,
    rows,
    hostDisabled: run.hostDisabled,
    hostReenabled: run.hostReenabled,
    cancel: run.cancel,
    pausedBy: run.pausedBy,
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    bytesSent,
    at,
  };
}

/** A plain sentence for a migration the drain asked for and Nova's checks refused. */
function rejectionText(a: MigrationAnswer): string {
  switch (a.kind) {
    case "vm-busy":
      return "another migration of this VM was already running";
    case "unknown-vm":
      return "Nova no longer knows this VM (deleted meanwhile?)";
    case "unknown-host":
      return `${a.host} is not a compute host Nova knows`;
    case "already-there":
      return `it already runs on ${a.host}`;
    case "not-active":
      return `it is ${a.status}${a.taskState ? ` (${a.taskState})` : ""}; Nova live-migrates only ACTIVE or PAUSED VMs with no task in progress: cold-migrate it instead`;
  }
}

/** The plan's view before it runs (the plan message). */
export function planView(
  plan: DrainPlan,
  status: DrainStatus,
  decidedBy: string | null,
  at: number,
): DrainView {
  const run = initialRun(plan);
  run.status = status;
  return drainView(plan, run, new Map(), decidedBy, at);
}
