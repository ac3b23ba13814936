/**
 * The live-migration lifecycle of the sandbox cloud, as Nova's conductor and the source host's
 * nova-compute drive it: accept (pre-checks synchronous or, from microversion 2.34, after the API
 * answered), queued → preparing → running → post-migrating → completed, with `error` or `cancelled`
 * on the way out. While running, the pre-copy model (`precopy-model.ts`) moves the bytes with the
 * parameters of the source host's nova config as nova-compute last read it; its events become
 * Nova's log lines on the source and the record's status. Also: force-complete, abort, and the
 * abort a nova-compute restart causes.
 */

import type { Logger } from "../log";
import { autoConvergeFor } from "../nova-conf/effective";
import {
  abortableStatuses,
  FORCE_COMPLETE_STATUSES,
  migrationFigures,
  POST_COPY_STATUS,
} from "../nova-facts";
import type { ModelClock } from "./clock";
import { MODEL_STEP_S } from "./clock";
import type { SandboxHost, SandboxVm } from "./compute-host";
import type {
  CloudInstanceAction,
  CloudMigration,
  CloudMigrationStatus,
  LiveMigrateRequest,
} from "./control-plane";
import {
  isMigrationFinished,
  markMigrating,
  type NovaMigrationState,
  POWER_STATE,
  setMigrationStatus,
  settleServer,
} from "./control-plane-base";
import { type NovaLogLevel, newRequestId } from "./nova-log";
import {
  assignDestination,
  currentHostRefusal,
  namedHost,
  newLiveMigrationRecord,
  noValidHostFor,
  wrongMigrationState,
} from "./nova-records";
import {
  cancel as cancelJob,
  forceComplete as forceCompleteJob,
  initialState,
  isFinished,
  PAGE_SIZE_BYTES,
  type PrecopyEvent,
  type PrecopyState,
  step as stepJob,
} from "./precopy-model";
import type { PrecheckFailure, Scheduler } from "./scheduler";
import type { JobStats } from "./virsh-format";

/** Model seconds a migration waits in `queued` before the source starts preparing. */
export const MIGRATION_QUEUED_S = 1;
/** Model seconds of `preparing` (pre_live_migration on the destination). */
export const MIGRATION_PREPARING_S = 2;
/** Model seconds of `post-migrating` (post_live_migration on both hosts). */
export const MIGRATION_POST_S = 2;
/** libvirt's `setup` time of a migration job, as `domjobinfo` reports it. */
const JOB_SETUP_TIME_MS = 2;
const BYTES_PER_MIB = 1024 * 1024;

export interface SandboxMigration extends NovaMigrationState {
  vm: SandboxVm;
  requestId: string;
  job: PrecopyState | null;
  /** Model time the QEMU job started. */
  jobStartS: number;
  /** Stats kept for `domjobinfo --completed` on each side. */
  completedJobs: Map<string, JobStats>;
  /**
   * A block migration (the guest's local disks copied): `block_migration: "auto"` on the sandbox's
   * local-disk guests, or `true`. Mitaka takes its flags from block_migration_flag then.
   */
  block: boolean;
  /** The `live-migration` instance action, once the conductor accepted the destination. */
  action?: CloudInstanceAction;
}

/** Where the conductor's instance-action events run (real Zed names the controller's host). */
export const CONTROLLER_HOST = "controller";

/** How the lifecycle records instance actions (the cloud keeps them). */
export interface ActionRecorder {
  start(serverId: string, action: string, requestId: string): CloudInstanceAction;
  event(
    action: CloudInstanceAction | undefined,
    event: string,
    host: string,
    outcome?: { error?: string },
  ): void;
}

/** What the lifecycle needs from the cloud around it. */
export interface MigrationsContext {
  clock: ModelClock;
  hosts: ReadonlyMap<string, SandboxHost>;
  scheduler: Scheduler;
  /** nova major of the controller: which statuses an abort may stop (nova-facts `abortRule`). */
  controllerMajor: number;
  /** The project the migration records belong to. */
  projectId: string;
  log: Logger;
  /** Migration bandwidth between two hosts, MiB/s. */
  linkBandwidthMiBps(a: string, b: string): number;
  /** Whether an operator disabled the host's nova-compute. */
  disabled(host: string): boolean;
  actions: ActionRecorder;
}

export class LiveMigrations {
  private migrationSeq = 0;

  /** @param migrations the cloud's list of every migration, which this appends to */
  constructor(
    private readonly migrations: SandboxMigration[],
    private readonly ctx: MigrationsContext,
  ) {}

  private host(name: string): SandboxHost {
    const h = this.ctx.hosts.get(name);
    if (!h) throw new Error(`no sandbox host ${name}`);
    return h;
  }

  /** Migrations that have not ended yet. */
  active(): SandboxMigration[] {
    return this.migrations.filter((m) => !isMigrationFinished(m.record.status));
  }

  /** The newest migration of `vm` that involved `hostName` as source or destination. */
  latestOn(vm: SandboxVm, hostName: string): SandboxMigration | undefined {
    return [...this.migrations]
      .reverse()
      .find((m) => m.vm === vm && (m.record.sourceCompute === hostName || m.record.destCompute === hostName));
  }

  /** The destination of a migration that passed the conductor's checks. */
  private destOf(m: SandboxMigration): SandboxHost {
    if (m.record.destCompute === null) throw new Error(`migration ${m.record.id} has no destination`);
    return this.host(m.record.destCompute);
  }

  private setStatus(m: SandboxMigration, status: CloudMigrationStatus): void {
    setMigrationStatus(m, status, this.ctx.clock.isoNow());
  }

  private fail(m: SandboxMigration, status: "error" | "cancelled" | "failed"): void {
    this.setStatus(m, status);
    settleServer(m.vm, this.ctx.clock.isoNow());
  }

  // ---------------------------------------------------------------- accepting

  /**
   * `os-migrateLive` on a server the API found and Nova lets migrate. An unknown named host is
   * refused by the API at once; everything else is the conductor's (synchronously before 2.34,
   * after the API answered from 2.34), which records the migration `accepted` first:
   *
   * - a forced move (a named host before 2.30, or with `force`) checks that host directly — not
   *   the current one, service up, room, CPU — with Nova's wording for each, and names it in the
   *   record from the start;
   * - otherwise the scheduler chooses (the named host, if any, is only a candidate): a disabled
   *   compute is never offered, and a host that fails a check is skipped, so the refusal is
   *   "No valid host was found." with no destination in the record (nova 26.2.2
   *   nova/conductor/tasks/live_migrate.py `_find_destination`; seen from real Zed in the lab).
   */
  start(vm: SandboxVm, request: LiveMigrateRequest): CloudMigration {
    const { clock, scheduler } = this.ctx;
    const source = this.host(vm.host);
    const requestId = newRequestId();
    const forced = request.host !== null && (request.forced ?? true);
    const named = request.host === null ? null : namedHost(this.ctx.hosts, request.host);
    let dest: SandboxHost | null = null;
    let failure: PrecheckFailure | null = null;
    if (forced && named !== null) {
      if (named === source) failure = { error: currentHostRefusal(vm.uuid, source.name) };
      else {
        dest = named;
        failure = scheduler.precheck(vm, named);
      }
    } else if (named !== null) {
      if (named === source) failure = { error: noValidHostFor("filtered") };
      else if (this.ctx.disabled(named.name)) failure = { error: noValidHostFor("no-candidates") };
      else {
        const check = scheduler.precheck(vm, named);
        // The destination's own check failed (logged there); the conductor skips it and finds none.
        if (check !== null)
          failure = {
            error: noValidHostFor("filtered"),
            ...(check.cpu && { cpu: check.cpu, cpuHost: named }),
          };
        else dest = named;
      }
    } else {
      dest = scheduler.pickHost(vm, (h) => !this.ctx.disabled(h.name));
      if (dest === null) failure = { error: noValidHostFor("filtered") };
    }
    const now = clock.isoNow();
    const record = newLiveMigrationRecord({
      id: ++this.migrationSeq,
      serverId: vm.uuid,
      source: source.name,
      dest: forced ? (named?.name ?? null) : null,
      projectId: this.ctx.projectId,
      now,
    });
    const m: SandboxMigration = {
      record,
      vm,
      requestId,
      job: null,
      jobStartS: 0,
      completedJobs: new Map(),
      // Every sandbox guest boots from a local disk (no shared storage), so "auto" is a block migration.
      block: request.blockMigration !== false,
    };
    this.migrations.push(m);
    const action = this.ctx.actions.start(vm.uuid, "live-migration", requestId);
    const refuse = (f: PrecheckFailure) => {
      const cpuHost = f.cpuHost ?? dest;
      if (f.cpu && cpuHost) logPrecheckFailure(cpuHost, requestId, f.cpu);
      this.ctx.actions.event(action, "conductor_live_migrate_instance", CONTROLLER_HOST, {
        error: f.error.message,
      });
      this.setStatus(m, "error");
    };
    const accept = (to: SandboxHost) => {
      this.ctx.actions.event(action, "conductor_live_migrate_instance", CONTROLLER_HOST);
      this.ctx.actions.event(action, "compute_check_can_live_migrate_destination", to.name);
      this.ctx.actions.event(action, "compute_check_can_live_migrate_source", source.name);
      assignDestination(m.record, source.name, to.name);
      m.action = action;
      this.setStatus(m, "queued");
      clock.at(MIGRATION_QUEUED_S, () => this.tryPrepare(m));
    };
    if (!request.asyncPrecheck) {
      // The conductor's checks answer the API call itself: the record stays, in error, and the
      // server is back to ACTIVE when the API refuses.
      if (failure !== null) {
        refuse(failure);
        throw failure.error;
      }
      markMigrating(vm, now);
      accept(dest!);
    } else {
      markMigrating(vm, now);
      clock.at(MIGRATION_QUEUED_S, () => {
        if (failure !== null) {
          refuse(failure);
          settleServer(vm, clock.isoNow());
        } else accept(dest!);
      });
    }
    this.ctx.log.info("live migration accepted", {
      vm: vm.name,
      source: source.name,
      dest: dest?.name ?? null,
      id: record.id,
    });
    return { ...record };
  }

  /** Leaves `queued` once the source runs fewer than `max_concurrent_live_migrations`. */
  private tryPrepare(m: SandboxMigration): void {
    if (m.record.status !== "queued") return;
    const source = this.host(m.record.sourceCompute);
    const limit = source.settings?.maxConcurrent ?? 1;
    const running = this.active().filter(
      (o) => o !== m && o.record.sourceCompute === source.name && o.record.status !== "queued",
    ).length;
    if (limit > 0 && running >= limit) {
      this.ctx.clock.at(MODEL_STEP_S, () => this.tryPrepare(m));
      return;
    }
    this.setStatus(m, "preparing");
    this.ctx.clock.at(MIGRATION_PREPARING_S, () => this.startJob(m));
  }

  /** The QEMU job starts with the source's nova config as its nova-compute last read it. */
  private startJob(m: SandboxMigration): void {
    if (m.record.status !== "preparing") return;
    const source = this.host(m.record.sourceCompute);
    const s = source.settings;
    if (s === null || !source.isUp()) {
      this.fail(m, "error");
      return;
    }
    const seed = m.vm.seed;
    const memoryBytes = seed.flavor.ramMb * BYTES_PER_MIB;
    const figures = migrationFigures(source.release.major, {
      memoryMb: seed.flavor.ramMb,
      downtimeMs: s.downtimeMs,
      downtimeSteps: s.downtimeSteps,
      downtimeDelayS: s.downtimeDelayS,
      completionTimeoutSPerGiB: s.completionTimeoutS,
      progressTimeoutS: s.progressTimeoutS,
    });
    const linkBps = this.ctx.linkBandwidthMiBps(m.record.sourceCompute, this.destOf(m).name) * BYTES_PER_MIB;
    const capBps = s.bandwidthMiBps > 0 ? s.bandwidthMiBps * BYTES_PER_MIB : Number.POSITIVE_INFINITY;
    m.job = initialState({
      memoryBytes,
      zeroPageFraction: seed.zeroPageFraction,
      dirtyRateBytesPerS: seed.dirtyRateMiBps * BYTES_PER_MIB,
      workingSetBytes: Math.min(memoryBytes, seed.workingSetMiB * BYTES_PER_MIB),
      bandwidthBytesPerS: Math.min(linkBps, capBps),
      linkBytesPerS: linkBps,
      autoConverge: autoConvergeFor(s, m.block ? "block" : "live"),
      postCopy: s.postCopy,
      downtimeSchedule: figures.downtimeStages,
      progressTimeoutS: figures.progressTimeoutS,
      completionTimeoutS: figures.completionTimeoutS,
      timeoutAction: s.timeoutAction,
      // Post-copy and the monitor's rules as this release has them (src/nova-facts).
      release: source.release.major,
    });
    m.jobStartS = this.ctx.clock.nowS;
    m.record.memoryTotalBytes = memoryBytes;
    m.record.memoryRemainingBytes = memoryBytes;
    this.ctx.actions.event(m.action, "compute_live_migration", source.name);
    this.ctx.actions.event(m.action, "compute_pre_live_migration", this.destOf(m).name);
    this.setStatus(m, "running");
  }

  // ---------------------------------------------------------------- running

  /** One clock step: every running job moves `dtS` model seconds. */
  step(dtS: number): void {
    for (const m of this.migrations) {
      if (m.job === null || isFinished(m.job) || m.record.status !== "running") continue;
      const r = stepJob(m.job, dtS);
      m.job = r.state;
      m.record.memoryProcessedBytes = Math.round(m.job.transferredBytes);
      m.record.memoryRemainingBytes = Math.round(m.job.remainingBytes);
      for (const e of r.events) this.onJobEvent(m, e);
    }
  }

  /** A pre-copy event as Nova's monitor sees it: a log line on the source, maybe a new status. */
  private onJobEvent(m: SandboxMigration, e: PrecopyEvent): void {
    const source = this.host(m.record.sourceCompute);
    const job = m.job!;
    m.record.memoryProcessedBytes = Math.round(job.transferredBytes);
    m.record.memoryRemainingBytes = Math.round(job.remainingBytes);
    const mitaka = source.release.major <= 13;
    const driver = "nova.virt.libvirt.driver";
    const migrationLogger = mitaka ? driver : "nova.virt.libvirt.migration";
    const log = (level: NovaLogLevel, logger: string, text: string) =>
      source.novaLog(level, logger, text, { requestId: m.requestId, instance: m.vm.uuid });
    const abortedText = mitaka
      ? "operation aborted: migration job: canceled by client"
      : "operation aborted: job 'migration out' canceled by client";
    switch (e.kind) {
      case "downtime-increased":
        log(
          "INFO",
          migrationLogger,
          `Increasing downtime to ${e.downtimeMs} ms after ${e.afterS} sec elapsed time`,
        );
        break;
      case "progress":
        log(
          "INFO",
          driver,
          mitaka
            ? `Migration running for ${e.secs} secs, memory ${e.remainingPercent}% remaining; (bytes processed=${e.processed}, remaining=${e.remaining}, total=${e.total})`
            : // With no disk copied Nova prints "disk 100% remaining" (disk_remaining = 100 when disk_total is 0; real Zed).
              `Migration running for ${e.secs} secs, memory ${e.remainingPercent}% remaining (bytes processed=${e.processed}, remaining=${e.remaining}, total=${e.total}); disk 100% remaining (bytes processed=0, remaining=0, total=0).`,
        );
        break;
      case "switch-postcopy":
        log("INFO", migrationLogger, "Switching to post-copy migration mode");
        // Nova records the switch on the migration (what `server migration list` shows).
        this.setStatus(m, POST_COPY_STATUS);
        break;
      case "stuck":
        log("WARNING", driver, `Live migration stuck for ${e.forS} sec`);
        break;
      case "not-completed":
        log("WARNING", migrationLogger, `Live migration not completed after ${e.afterS} sec`);
        break;
      case "cancelled":
        this.recordJobEnd(m, "Cancelled");
        if (!mitaka) {
          // Real Zed (libvirt 9.0): the monitor sees the job CANCELLED whether an operator or
          // Nova's own timeout aborted it, so the record ends `cancelled`, and the failure line
          // follows with the exception's type (seen in the lab).
          log("WARNING", driver, "Migration operation was cancelled");
          log(
            "ERROR",
            driver,
            `Live Migration failure: ${abortedText}: libvirt.libvirtError: ${abortedText}`,
          );
          this.fail(m, "cancelled");
        } else {
          log("ERROR", driver, `Live Migration failure: ${abortedText}`);
          if (e.reason === "cancelled") {
            log("WARNING", driver, "Migration operation was cancelled");
            this.fail(m, "cancelled");
          } else {
            log("ERROR", driver, "Migration operation has aborted");
            this.fail(m, "error");
          }
        }
        break;
      case "completed": {
        this.recordJobEnd(m, "Completed");
        log("INFO", driver, "Migration operation has completed");
        this.setStatus(m, "post-migrating");
        const dest = this.destOf(m);
        // The guest now runs on the destination; the source domain is undefined (VIR_MIGRATE_UNDEFINE_SOURCE).
        m.vm.host = dest.name;
        m.vm.domainId = dest.nextDomainId++;
        this.ctx.clock.at(MIGRATION_POST_S, () => {
          source.novaLog(
            "INFO",
            "nova.compute.manager",
            `Migrating instance to ${dest.name} finished successfully.`,
            { requestId: m.requestId, instance: m.vm.uuid },
          );
          this.ctx.actions.event(m.action, "compute_post_live_migration_at_destination", dest.name);
          this.setStatus(m, "completed");
          settleServer(m.vm, this.ctx.clock.isoNow());
        });
        break;
      }
      default:
        break;
    }
  }

  private recordJobEnd(m: SandboxMigration, type: "Completed" | "Cancelled"): void {
    const stats = jobStats(m.job!, "Outgoing migration", type);
    m.completedJobs.set(m.record.sourceCompute, stats);
    if (type === "Completed")
      m.completedJobs.set(this.destOf(m).name, { ...stats, operation: "Incoming migration" });
  }

  // ---------------------------------------------------------------- operator actions

  /**
   * Force-complete: the guest is paused so the rest fits the downtime. Nova logs no line of its
   * own for it; the pause shows as the lifecycle event nova-compute logs (real Zed:
   * "VM Paused (Lifecycle Event)" from nova.compute.manager).
   */
  forceComplete(m: SandboxMigration): void {
    if (!(FORCE_COMPLETE_STATUSES as readonly string[]).includes(m.record.status) || m.job === null) {
      throw wrongMigrationState("force_complete", m.record.serverId, m.record.id, m.record.status);
    }
    this.ctx.actions.start(m.vm.uuid, "live_migration_force_complete", newRequestId());
    m.job = forceCompleteJob(m.job);
    m.vm.powerState = POWER_STATE.PAUSED;
    this.host(m.record.sourceCompute).novaLog("INFO", "nova.compute.manager", "VM Paused (Lifecycle Event)", {
      instance: m.vm.uuid,
    });
  }

  /**
   * Abort, as the controller's release allows it for the request's microversion (nova-facts
   * `abortRule`: `running` from 2.24, also `queued` and `preparing` from 2.65 — so a Mitaka
   * controller aborts only `running` ones). Before the job the record is cancelled; while it runs
   * pre-copy, QEMU cancels the job.
   */
  abort(m: SandboxMigration, requestMicroversion: string): void {
    const { serverId, id } = m.record;
    const status = m.record.status;
    const allowed = abortableStatuses(this.ctx.controllerMajor, requestMicroversion).includes(status);
    if (!allowed || (status === "running" && (m.job === null || m.job.phase === "postcopy"))) {
      throw wrongMigrationState("abort live migration", serverId, id, status);
    }
    this.ctx.actions.start(m.vm.uuid, "live_migration_cancel", newRequestId());
    if (status !== "running") {
      this.fail(m, "cancelled");
      return;
    }
    const r = cancelJob(m.job!);
    m.job = r.state;
    for (const e of r.events) this.onJobEvent(m, e);
  }

  /** A nova-compute restart under a running migration kills Nova's monitor: the job aborts, the record errors. */
  abortForRestart(host: SandboxHost): void {
    for (const m of this.active()) {
      if (m.record.sourceCompute !== host.name && m.record.destCompute !== host.name) continue;
      if (m.job && !isFinished(m.job)) m.job = cancelJob(m.job).state;
      this.fail(m, "error");
      host.novaLog(
        "WARNING",
        "nova.compute.manager",
        "Instance found in migrating state during startup. Resetting task_state",
        { instance: m.vm.uuid },
      );
    }
  }
}

/** Nova's pre-check failure as the destination's nova-compute logs it. */
function logPrecheckFailure(
  dest: SandboxHost,
  requestId: string,
  cpu: { reason: string; message: string },
): void {
  dest.novaLog("ERROR", "nova.virt.libvirt.driver", cpu.reason, { requestId });
  dest.novaLog("ERROR", "oslo_messaging.rpc.server", "Exception during message handling", { requestId });
  const cls = dest.release.major <= 13 ? "MigrationPreCheckError" : "nova.exception.MigrationPreCheckError";
  dest.novaLog("ERROR", "oslo_messaging.rpc.server", `${cls}: ${cpu.message}`, { requestId });
}

/** What `virsh domjobinfo` reports of a pre-copy job: running (`Unbounded`) or ended. */
export function jobStats(
  job: PrecopyState,
  operation: JobStats["operation"],
  type: JobStats["type"],
): JobStats {
  const elapsedMs = Math.round(job.elapsedS * 1000);
  const finished = type !== "Unbounded";
  const seconds = Math.max(job.elapsedS, 0.001);
  return {
    type,
    operation,
    timeElapsedMs: elapsedMs,
    ...(finished ? { timeElapsedNoNetworkMs: Math.max(0, elapsedMs - 1) } : {}),
    dataProcessed: job.transferredBytes,
    dataRemaining: finished && type === "Completed" ? 0 : job.remainingBytes,
    dataTotal: job.params.memoryBytes,
    memoryBandwidthBytesPerS:
      job.iteration === 1 && !finished ? job.params.bandwidthBytesPerS : job.transferredBytes / seconds,
    dirtyRatePagesPerS: finished ? 0 : job.dirtyRatePagesPerS,
    pageSizeBytes: PAGE_SIZE_BYTES,
    iteration: job.iteration,
    postcopyRequests: job.postcopyRequests,
    constantPages: job.zeroPages,
    normalPages: Math.round(job.normalBytes / PAGE_SIZE_BYTES),
    normalData: job.normalBytes,
    ...(type === "Completed"
      ? { totalDowntimeMs: job.downtimeMs ?? 0 }
      : { expectedDowntimeMs: job.expectedDowntimeMs }),
    setupTimeMs: JOB_SETUP_TIME_MS,
    autoConvergeThrottle: job.throttlePercent,
  };
}
