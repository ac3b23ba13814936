/**
 * The tracker: one migration's state machine once its request is accepted. It triggers Nova
 * exactly once (reconciling with Nova after a crash), polls Nova's migration record phase by phase,
 * samples pre-copy (sampler.ts), judges convergence with debounce (verdict.ts), and finishes with
 * the outcome explained (failure.ts). What it shows goes to its thread (thread.ts) as typed
 * messages through the {@link MigrationPresenter}; the record in Redis says how far it got.
 */

import { CodedError, isTransient } from "../errors";
import type { HostsPort } from "../hosts/port";
import type { Logger } from "../log";
import type { MigrationType } from "../nova-conf/effective";
import { compareMicroversion, forceCompleteEffect, MICROVERSIONS } from "../nova-facts";
import type { NovaMigration, NovaPort } from "../openstack/port";
import { predictMigration } from "../predict/measure";
import { addChartSample, type ChartHistory, emptyChartHistory } from "./chart-history";
import { analyzeConvergence, type ConvergenceReport } from "./convergence";
import {
  type DowntimeFigures,
  type DowntimeSource,
  migrationTypeOfRequest,
  novaWillDo,
  sharedNovaConfDowntime,
} from "./downtime";
import {
  cancelled,
  explainingLines,
  type FailureReason,
  NOT_RECORDED,
  novaErrorReason,
  quotedLines,
  trackingTimeout,
} from "./failure";
import { EVIDENCE_TIMEOUT_MS, HostEvidence } from "./host-evidence";
import { explainNovaEnd, explanationText } from "./instance-log";
import { findNovaMigration, MIGRATION_RECORD_WAIT_MS, novaStage, reservationOf } from "./nova-migration";
import { toProgress } from "./precopy-progress";
import type { MigrationPresenter } from "./presenter";
import type { RetryLink } from "./request";
import { Sampler } from "./sampler";
import { parseDomjobinfo } from "./samples/domjobinfo";
import type { MigrationSample } from "./samples/sample";
import type { MigrationRecord, MigrationStore } from "./store";
import { chartDue, MigrationThread } from "./thread";
import { type ConvergenceWatch, confirmVerdict, factsOf } from "./verdict";
import { isFinished, type MigrationView, type PhaseName } from "./view";

/** Edits of the pre-copy reply are at least this far apart (Slack budget: a few per migration). */
export const PROGRESS_EDIT_MIN_INTERVAL_MS = 5000;
/** The tracker gives up following (not the migration) after this long without Nova finishing it. */
export const MAX_TRACK_MS = 24 * 3600 * 1000;
/**
 * A poll that fails for a reason that passes (Redis restarting or failing over, Nova or Slack
 * briefly away) is tried again in place, for this long in a row at most; then the job fails and
 * BullMQ retries it, resuming from the record. The migration itself goes on in Nova meanwhile.
 */
export const POLL_OUTAGE_TOLERANCE_MS = 10 * 60_000;
/** Longest wait between polls while they keep failing (the wait doubles from the poll interval). */
export const POLL_RETRY_MAX_MS = 30_000;

export type MigrationOutcome = "rejected" | "busy" | "completed" | "failed" | "aborted";

/** A migration waiting for Fix first / Go anyway is not started after this long without a choice. */
export const DECISION_WAIT_MS = 30 * 60_000;

/** What the tracker works with. */
export interface TrackerDeps {
  nova: NovaPort;
  hosts: HostsPort;
  presenter: MigrationPresenter;
  store: MigrationStore;
  log: Logger;
  /** Time between polls; a function is asked before every poll (the worker scales it by its load). */
  pollIntervalMs: number | (() => number);
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /**
   * Downtime figures for the analyzer, per source host. Default: read over SSH from the host's
   * effective nova.conf ({@link sharedNovaConfDowntime}), cached per host.
   */
  downtimeFor?: DowntimeSource;
  /** Called once when a migration is judged not converging or fails (diagnosis hooks in here). */
  onTrouble?: (record: MigrationRecord, kind: "not-converging" | "failed") => Promise<void>;
  /**
   * Called once the outcome is posted, before a failure's diagnosis runs: the VM is free for a new
   * request then (a diagnosis reads every involved host, ~20 s on real Zed, and a `/migrate` in that
   * time was refused as "already being migrated").
   */
  onEnded?: () => Promise<void>;
  /** Stops following when aborted (worker shutting down); the job resumes elsewhere. */
  signal?: AbortSignal;
  /** Timeout of each SSH call while tracking. @defaultValue {@link EVIDENCE_TIMEOUT_MS} */
  evidenceTimeoutMs?: number;
  /**
   * Predict convergence before triggering (src/predict): `show` posts the prediction; `ask` also
   * waits for Fix first / Go anyway when it says "will not converge" and a fix exists.
   * @defaultValue "off"
   */
  predict?: "off" | "show" | "ask";
  /** Fix first was chosen: propose the fix (with a retry) in the migration's thread. */
  onFixFirst?: (record: MigrationRecord) => Promise<void>;
  /** How long `ask` waits for a choice before the migration is not started. @defaultValue {@link DECISION_WAIT_MS} */
  decisionWaitMs?: number;
  /** Least time between routine edits of the pre-copy reply. @defaultValue {@link PROGRESS_EDIT_MIN_INTERVAL_MS} */
  progressEditIntervalMs?: number;
}

/** The worker stops while following a migration; the job goes back to the queue. */
export class WorkerShuttingDown extends CodedError<"WORKER_SHUTTING_DOWN"> {
  constructor() {
    // Retryable: another worker (or this one, restarted) resumes the migration from its record.
    super("WORKER_SHUTTING_DOWN", "worker shutting down; the migration is resumed by another worker", {
      retryable: true,
    });
  }
}

/**
 * The live-migrate call got no answer (Nova timed out or went away), so Nova may or may not have
 * started the migration. Retryable, unlike the client's own error for a timed-out POST: that one
 * forbids sending the call again blind, while a retry of the job first looks for Nova's migration
 * (the record stays "triggering") and sends nothing twice.
 */
export class TriggerOutcomeUnknown extends CodedError<"MIGRATION_TRIGGER_UNKNOWN"> {
  constructor(detail: string, cause: unknown) {
    super(
      "MIGRATION_TRIGGER_UNKNOWN",
      `${detail}; the job is retried and checks Nova for the migration before sending anything again`,
      { retryable: true, cause },
    );
  }
}

/** The record with what the tracker keeps beyond the shared fields (stored in the same JSON). */
export type TrackedRecord = MigrationRecord & {
  convergence?: ConvergenceWatch;
  /** Why the pre-copy figures do not come from domjobinfo (see {@link Sampler.detail}). */
  sourceDetail?: string | null;
  retry?: RetryLink;
  /** The figures for the thread's charts (bounded: see chart-history.ts). */
  chart?: ChartHistory;
};

/** The outcome a record's status stands for. */
export function outcomeOf(record: MigrationRecord): MigrationOutcome {
  switch (record.view.status) {
    case "completed":
      return "completed";
    case "aborted":
    case "cancelled":
      return "aborted";
    default:
      return "failed";
  }
}

export class Tracker {
  private lastProgressEditAt = 0;
  /** The outcome was said in the thread (the last phase or the failure, and the root's final state). */
  private ended = false;
  private readonly thread: MigrationThread;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly evidence: HostEvidence;
  private readonly sampler: Sampler;
  private readonly downtimeFor: DowntimeSource;
  private downtime: DowntimeFigures | undefined;
  /** The record as last written to Redis (serialized), to skip writes that change nothing. */
  private lastSaved: string | null;
  /** Inside a poll: the thread's writes after each post wait for the poll's own (see saveAfterPost). */
  private inPoll = false;
  /** A write was left for the end of the poll. */
  private saveOwed = false;
  /** The last poll read the control request at its end (saveReadingControl): the next need not. */
  private controlRead = false;

  constructor(
    readonly record: TrackedRecord,
    private readonly deps: TrackerDeps,
    private readonly log: Logger,
  ) {
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    const evidenceTimeoutMs = deps.evidenceTimeoutMs ?? EVIDENCE_TIMEOUT_MS;
    this.evidence = new HostEvidence(deps.hosts, { timeoutMs: evidenceTimeoutMs, now: this.now, log });
    this.sampler = new Sampler(this.evidence, log, this.now, record.sourceDetail ?? null);
    this.downtimeFor = deps.downtimeFor ?? sharedNovaConfDowntime(deps.hosts, deps.log, evidenceTimeoutMs);
    this.thread = new MigrationThread(record, {
      presenter: deps.presenter,
      now: this.now,
      log,
      save: () => this.saveAfterPost(),
      beforePhase: async (p) => {
        if (p === "reservation" && this.view.reservation === null) await this.loadReservation();
        if (p === "stop-and-copy" && this.view.downtimeMs === null) await this.loadDowntime();
      },
    });
    // runMigration hands over the record as loaded from or just written to Redis.
    this.lastSaved = JSON.stringify(record);
    record.convergence ??= { verdict: null, streak: 0, facts: null };
  }

  private get view(): MigrationView {
    return this.record.view;
  }

  private get watch(): ConvergenceWatch {
    return this.record.convergence!;
  }

  async run(): Promise<MigrationOutcome> {
    try {
      await this.thread.ensureRoot();
      await this.thread.noticeEarlierThread();
      if (
        this.record.trigger.state === "none" &&
        !isFinished(this.view.status) &&
        (this.deps.predict ?? "off") !== "off"
      ) {
        const go = await this.predictFirst();
        if (!go) return outcomeOf(this.record);
      }
      // A finished record is resumed only to share its end's chart: never trigger it again.
      if (this.record.trigger.state !== "triggered" && !isFinished(this.view.status)) {
        const ok = await this.trigger();
        if (!ok) return outcomeOf(this.record);
      }
      await this.thread.postPhase("pre-migration");
      const deadline = this.view.startedAt + MAX_TRACK_MS;
      let failingSince: number | null = null;
      let failures = 0;
      // Until the outcome is known and said: a poll that learnt the outcome but failed to post it
      // (Slack or Redis away) leaves the thread's last words to the next round.
      while (!(isFinished(this.view.status) && this.ended)) {
        if (this.deps.signal?.aborted) throw new WorkerShuttingDown();
        const interval = this.deps.pollIntervalMs;
        const intervalMs = typeof interval === "function" ? interval() : interval;
        try {
          if (isFinished(this.view.status)) await this.announceEnd();
          else await this.pollThenSave();
          failingSince = null;
          failures = 0;
        } catch (err) {
          if (!isTransient(err)) throw err;
          failingSince ??= this.now();
          failures++;
          if (this.now() - failingSince > POLL_OUTAGE_TOLERANCE_MS) throw err;
          this.log.warn("poll failed; trying again", { err, failures });
          await this.sleep(Math.min(POLL_RETRY_MAX_MS, intervalMs * 2 ** Math.min(failures - 1, 10)));
          continue;
        }
        if (isFinished(this.view.status)) continue;
        if (this.now() > deadline) {
          await this.fail(this.view.phase, trackingTimeout(MAX_TRACK_MS / 3600_000, this.view.serverId));
          continue;
        }
        await this.sleep(intervalMs);
      }
      return outcomeOf(this.record);
    } finally {
      await this.thread.settle();
    }
  }

  /**
   * Writes the record when it differs from the last one written: many polls change nothing, and
   * saving them was 7% of a worker's CPU in the track benchmark (serializing once to compare is
   * far cheaper than the Redis round trip). The 7-day record TTL makes the skipped TTL refreshes moot.
   */
  private async save(): Promise<void> {
    const json = JSON.stringify(this.record);
    if (json !== this.lastSaved) {
      // Marked before the write: a save from the background (a warning's chart) at the same moment
      // with the same state must not write it twice.
      const previous = this.lastSaved;
      this.lastSaved = json;
      try {
        await this.deps.store.save(this.record, json);
      } catch (err) {
        if (this.lastSaved === json) this.lastSaved = previous;
        throw err;
      }
    }
    this.saveOwed = false;
  }

  /**
   * After a post, the thread asks for the record to be written (its ts and the phases posted). Inside
   * a poll that write is left to the poll's end, or to the next write the poll makes anyway (a verdict,
   * an outcome, the pre-copy figures): a poll that posted the reservation and pre-copy replies wrote
   * the record three times, and record writes were a tenth of the worker's busy time in the track
   * benchmark. Nothing can be posted twice meanwhile: a resumed job re-posting a phase the older
   * record lacks gets the first post's ts back from the notifier's dedupe key (`<job>:<slot>`).
   */
  private async saveAfterPost(): Promise<void> {
    if (this.inPoll) {
      this.saveOwed = true;
      return;
    }
    await this.save();
  }

  /** One poll, then the write it owes (when one of its posts left it for the end). */
  private async pollThenSave(): Promise<void> {
    this.inPoll = true;
    try {
      await this.poll();
    } finally {
      this.inPoll = false;
    }
    if (this.saveOwed) await this.save();
  }

  /**
   * Before Nova is asked: measures and posts the prediction once (kept in the record, so a resumed
   * job neither measures nor posts again), and in `ask` mode, when it will not converge and a fix
   * exists, waits for the requester's choice recorded by the Fix first / Go anyway buttons. Returns
   * whether to trigger.
   */
  private async predictFirst(): Promise<boolean> {
    const v = this.view;
    if (v.prediction === undefined) {
      const prediction = await predictMigration(
        {
          hosts: this.deps.hosts,
          figures: this.downtimeFor,
          hypervisors: () => this.deps.nova.hypervisors(),
          ...(this.deps.sleep && { sleep: this.deps.sleep }),
          now: this.now,
        },
        {
          vm: v.serverName ?? v.vm,
          domain: v.instanceName,
          source: v.source ?? "",
          destination: v.requestedDestination,
          memoryMb: v.flavor?.ramMb ?? null,
          // Auto-converge per migration type (Mitaka takes block migrations' flags from another list).
          ...this.migrationType(),
        },
      );
      v.prediction = prediction;
      if (
        this.deps.predict === "ask" &&
        prediction.outcome === "will-not-converge" &&
        prediction.fix === "auto-converge"
      ) {
        v.decision = { state: "waiting" };
      }
      await this.save();
    }
    if (this.record.posts.prediction === undefined) {
      await this.thread.reply({ kind: "prediction", view: v, prediction: v.prediction });
      await this.save();
    }
    if (v.decision === undefined || v.decision.state === "go-anyway") return true;
    if (v.decision.state === "waiting") {
      const deadline = v.startedAt + (this.deps.decisionWaitMs ?? DECISION_WAIT_MS);
      for (;;) {
        if (this.deps.signal?.aborted) throw new WorkerShuttingDown();
        const chosen = await this.deps.store.getDecision(v.jobId);
        if (chosen !== null) {
          v.decision = { state: chosen.choice, by: chosen.by, at: chosen.at };
          break;
        }
        if (this.now() > deadline) {
          v.decision = { state: "expired" };
          break;
        }
        const interval = this.deps.pollIntervalMs;
        await this.sleep(typeof interval === "function" ? interval() : interval);
      }
      await this.save();
      // Said in the prediction's message (a resumed job says it again: the edit is idempotent).
      await this.editPrediction();
      if (v.decision.state === "go-anyway") return true;
    }
    if (!isFinished(v.status)) {
      const fixFirst = v.decision.state === "fix-first";
      await this.notStarted(
        fixFirst
          ? "Not started: Fix first was chosen. The auto-converge fix is proposed in this thread; once it is approved and applied, retry from the fix's message."
          : "Not started: nobody chose Fix first or Go anyway in time. Run /migrate again to decide anew.",
      );
      if (fixFirst && this.deps.onFixFirst) await this.deps.onFixFirst(this.record);
    }
    return false;
  }

  /** The migration type Nova will use for this request, when known. */
  private migrationType(): { migrationType?: MigrationType } {
    const type = migrationTypeOfRequest(this.deps.nova.microversion, this.view.bootedFromImage);
    return type === undefined ? {} : { migrationType: type };
  }

  private async editPrediction(): Promise<void> {
    const ref = this.record.posts.prediction;
    if (ref === undefined || this.view.prediction === undefined) return;
    await this.deps.presenter.update(
      ref,
      { kind: "prediction", view: this.view, prediction: this.view.prediction },
      "prompt",
    );
  }

  /** Ends a migration that was never sent to Nova (the requester chose not to, or did not choose). */
  private async notStarted(message: string): Promise<void> {
    this.view.status = "cancelled";
    this.view.endedAt = this.now();
    this.view.failure = { phase: "pre-migration", message, logLines: [] };
    await this.postFailure();
    await this.deps.onEnded?.();
  }

  /** Sends the live-migrate exactly once, reconciling with Nova when a crash left it unknown. */
  private async trigger(): Promise<boolean> {
    const serverId = this.view.serverId!;
    if (this.record.trigger.state === "triggering") {
      const existing = await this.findNovaMigration();
      const server = await this.deps.nova.getServer(serverId);
      if (existing !== null || server.taskState === "migrating" || server.host !== this.view.source) {
        this.log.info("resumed: Nova already has this migration; not triggering again");
        this.record.trigger.state = "triggered";
        if (existing) this.adopt(existing);
        await this.save();
        return true;
      }
    }
    this.record.trigger = { state: "triggering", at: this.now() };
    this.view.hostForced =
      this.view.requestedDestination !== null &&
      compareMicroversion(this.deps.nova.microversion, MICROVERSIONS.LIVE_MIGRATE_FORCE) < 0;
    await this.save();
    try {
      await this.deps.nova.liveMigrate(serverId, { host: this.view.requestedDestination });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const code = (err as { code?: string }).code;
      // A 5xx is no answer either: a proxy in front of nova-api (502/503/504) or Nova itself failing
      // after it acted. nova 26.0.0 (Zed) nova/compute/api.py live_migrate sets the task state to
      // migrating before it casts to the conductor, and its own note on a MessagingTimeout there (a
      // 500 to us) says the live migration "will still be in progress". Found by the fault suite: a
      // 503 from the API failed the request at once, where a retry that reconciles gets it through.
      const serverError =
        code === "OPENSTACK_SERVER_ERROR" && ((err as { httpStatus?: number }).httpStatus ?? 500) >= 500;
      if (code === "OPENSTACK_UNREACHABLE" || code === "OPENSTACK_TIMEOUT" || serverError) {
        // Unknown whether Nova got it: leave "triggering" so a retry reconciles instead of re-sending.
        throw new TriggerOutcomeUnknown(message, err);
      }
      this.record.trigger.state = "none";
      await this.fail("pre-migration", { message }, this.view.source);
      return false;
    }
    this.record.trigger.state = "triggered";
    this.view.status = "running";
    await this.save();
    await this.thread.updateRoot();
    return true;
  }

  private adopt(m: NovaMigration): void {
    this.view.novaMigrationId = m.id;
    this.view.novaStatus = m.status;
    if (m.destCompute) this.view.destination = m.destCompute;
    if (this.view.status === "starting") this.view.status = "running";
  }

  private findNovaMigration(): Promise<NovaMigration | null> {
    return findNovaMigration(
      this.deps.nova,
      this.view.serverId!,
      this.view.novaMigrationId,
      this.record.trigger.at ?? this.view.startedAt,
    );
  }

  /** Shows a control request (Abort, Force complete) read from Redis, once. */
  private async applyControl(control: MigrationView["control"]): Promise<void> {
    if (control === null || this.view.control !== null) return;
    this.view.control = control;
    await this.save();
    await this.thread.updateRoot("prompt");
    await this.thread.updateWarning("prompt");
  }

  /**
   * The end-of-poll write of the pre-copy figures, with the control request read in the same round
   * trip (store.saveAndReadControl); the next poll then starts without reading it again. A request
   * made between two polls is shown at the end of the next one, a poll's length later than if read
   * at its start; where it decides the outcome (Nova reports the migration failed or cancelled), the
   * poll reads it fresh.
   */
  private async saveReadingControl(): Promise<void> {
    const json = JSON.stringify(this.record);
    if (this.view.control !== null || json === this.lastSaved) return this.save();
    const control = await this.deps.store.saveAndReadControl(this.record, json);
    this.lastSaved = json;
    this.saveOwed = false;
    this.controlRead = true;
    await this.applyControl(control);
  }

  private async poll(): Promise<void> {
    const controlRead = this.controlRead;
    this.controlRead = false;
    if (this.view.control === null && !controlRead) {
      await this.applyControl(await this.deps.store.getControl(this.view.jobId));
    }
    const m = await this.findNovaMigration();
    if (m === null) {
      if (this.now() - (this.record.trigger.at ?? this.view.startedAt) > MIGRATION_RECORD_WAIT_MS) {
        await this.fail("pre-migration", NOT_RECORDED);
      }
      return;
    }
    const before = this.view.novaStatus;
    this.adopt(m);
    // The root gains its Abort button now that Nova knows the migration: show it without pacing.
    if (before === null && this.view.novaMigrationId !== null) await this.thread.updateRoot("prompt");
    const stage = novaStage(m.status);
    if ((stage === "failed" || stage === "cancelled") && this.view.control === null && controlRead) {
      // Whether someone asked decides how the end is told: read it now, not as of the last poll.
      await this.applyControl(await this.deps.store.getControl(this.view.jobId));
    }
    if (stage === "failed" && this.view.control?.action === "abort") {
      // Real Zed cancelling a block migration races: the monitor may see the job cancelled
      // (`cancelled`), or libvirt's migrate call fail first with "End of file while reading data"
      // (`failed`). Either way it ended because someone asked.
      await this.finishAborted(m.status);
      return;
    }
    if (stage === "failed") {
      await this.fail(
        this.view.phase === "pre-migration" ? "reservation" : this.view.phase,
        await novaErrorReason(this.evidence, m, this.view.serverId, {
          nova: this.deps.nova,
          sinceMs: this.record.trigger.at ?? this.view.startedAt,
          requestedDestination: this.view.requestedDestination,
        }),
      );
      return;
    }
    if (stage === "cancelled") {
      await this.finishAborted();
      return;
    }
    if (
      stage === "preparing" ||
      stage === "running" ||
      stage === "post-copy" ||
      stage === "post-migrating" ||
      stage === "completed"
    ) {
      if (m.destCompute) await this.thread.postPhase("reservation");
    }
    if (stage === "running") {
      await this.trackPrecopy(m);
    }
    if (stage === "post-copy") {
      // The guest was paused only to hand over; it runs on the destination from here.
      this.view.postCopy = true;
      await this.trackPrecopy(m);
      await this.thread.postPhase("stop-and-copy");
    }
    if (stage === "post-migrating") {
      await this.trackPrecopy(m);
      await this.thread.postPhase("stop-and-copy");
    }
    if (stage === "completed") {
      await this.finishCompleted(m);
    }
  }

  private async trackPrecopy(m: NovaMigration): Promise<void> {
    const sample = await this.sampler.sample(this.view, m, this.record.trigger.at ?? this.view.startedAt);
    if (sample !== null) this.record.sourceDetail = this.sampler.detail;
    const firstTime = !this.record.postedPhases.includes("precopy");
    const current = this.sampler.currentSeries();
    const report = current.length > 0 ? await this.analyze(current) : null;
    this.view.precopy = toProgress(m, sample, report, this.view.precopy);
    if (sample !== null) {
      this.record.chart ??= emptyChartHistory();
      addChartSample(this.record.chart, sample, report?.downtimeLimitMs ?? null);
    }
    if (firstTime) {
      await this.thread.postPhase("precopy");
      this.lastProgressEditAt = this.now();
    } else if (
      this.now() - this.lastProgressEditAt >=
      (this.deps.progressEditIntervalMs ?? PROGRESS_EDIT_MIN_INTERVAL_MS)
    ) {
      this.lastProgressEditAt = this.now();
      await this.thread.updatePrecopy("routine");
    }
    if (report !== null && sample !== null) await this.judge(report);
    await this.saveReadingControl();
  }

  /** Debounced verdicts: the warning goes out once the verdict held for two polls, and is edited when it no longer holds. */
  private async judge(report: ConvergenceReport): Promise<void> {
    const w = this.watch;
    switch (confirmVerdict(w, report, this.record.notConvergingPosted)) {
      case "warn": {
        const facts = factsOf(report, this.sampler.source, novaWillDo(this.downtime, report));
        w.facts = facts;
        this.view.status = "not-converging";
        this.view.stuck = { sinceIteration: report.iterations, reason: report.reason };
        this.record.notConvergingPosted = true;
        await this.thread.reply({ kind: "not-converging", view: this.view, facts });
        await this.save();
        await this.thread.updateRoot("prompt");
        // The chart of the figures so far; the tracker (and the Abort button) must not wait on it.
        this.thread.shareChartSoon("not-converging", structuredClone(this.record.chart));
        if (this.deps.onTrouble) {
          // Diagnosis reads every involved host; tracking (and the Abort button) must not wait on it.
          const record = structuredClone(this.record);
          void this.deps
            .onTrouble(record, "not-converging")
            .catch((err) => this.log.warn("diagnosis of a stuck migration failed", { err }));
        }
        return;
      }
      case "relapse":
        w.facts!.later = null;
        this.view.status = "not-converging";
        await this.thread.updateWarning("prompt");
        await this.thread.updateRoot("prompt");
        return;
      case "recover":
        w.facts!.later = { state: report.verdict as "throttling" | "converging", reason: report.reason };
        if (this.view.status === "not-converging") this.view.status = "running";
        await this.thread.updateWarning("prompt");
        await this.thread.updateRoot("prompt");
        return;
      case null:
        return;
    }
  }

  private async analyze(samples: MigrationSample[]): Promise<ConvergenceReport> {
    if (this.downtime === undefined && this.view.source) {
      const ramMb = this.view.flavor?.ramMb ?? null;
      // Auto-converge per migration type: a Mitaka block migration takes block_migration_flag.
      this.downtime = await this.downtimeFor(
        this.view.source,
        ramMb === null ? null : ramMb * 1024 * 1024,
        migrationTypeOfRequest(this.deps.nova.microversion, this.view.bootedFromImage),
      );
    }
    const d = this.downtime;
    const ramMb = this.view.flavor?.ramMb ?? null;
    if (d?.releaseRef !== undefined) {
      this.view.forceComplete = forceCompleteEffect(d.releaseRef, {
        postCopyEnabled: d.postCopyPermitted === true,
        migrationStatus: this.view.novaStatus ?? "running",
      });
    }
    // Nova's clock for this migration: the release (with its point version when the host told it),
    // the VM's size, the stages and both timeouts, so a run Nova will abort is called in time.
    return analyzeConvergence(samples, {
      ...(d?.releaseRef !== undefined && { release: d.releaseRef }),
      ...(ramMb !== null && { memoryMb: ramMb }),
      ...(d?.downtimeLimitMs !== undefined && { downtimeLimitMs: d.downtimeLimitMs }),
      ...(d?.finalDowntimeMs !== undefined && { finalDowntimeMs: d.finalDowntimeMs }),
      ...(d?.downtimeSchedule !== undefined && { downtimeSchedule: d.downtimeSchedule }),
      ...(d?.progressTimeoutS !== undefined && { progressTimeoutS: d.progressTimeoutS }),
      ...(d?.completionTimeoutS !== undefined && { completionTimeoutS: d.completionTimeoutS }),
      ...(d?.timeoutAction !== undefined && { timeoutAction: d.timeoutAction }),
      ...(d?.autoConverge !== undefined && { autoConverge: d.autoConverge }),
    });
  }

  private async loadReservation(): Promise<void> {
    const dest = this.view.destination;
    if (!dest) return;
    try {
      this.view.reservation = reservationOf(await this.deps.nova.hypervisors(), dest);
    } catch (err) {
      this.log.warn("hypervisor details unavailable", { err });
    }
  }

  /**
   * Downtime of the finished job, from `virsh domjobinfo --completed` on the source, else the
   * destination (after a block migration real Zed undefines the source's domain, so only the
   * destination still knows the job). Its figures also fill in what the pre-copy reply lacks:
   * a short migration can pass pre-copy between two polls (real Zed: the one sample taken was of a
   * job still setting up, with no figures at all).
   */
  private async loadDowntime(): Promise<void> {
    const domain = this.view.instanceName;
    if (!domain) return;
    for (const host of [this.view.source, this.view.destination]) {
      if (!this.evidence.reachable(host)) continue;
      const res = await this.evidence.run(host, { kind: "virsh-domjobinfo", domain, completed: true });
      const s = res.ok && res.exitCode === 0 ? parseDomjobinfo(res.stdout) : null;
      if (s?.downtimeMs !== undefined) {
        this.view.downtimeMs = s.downtimeMs;
        // The finished job's own figures close the chart (a short migration may have had one poll).
        this.record.chart ??= emptyChartHistory();
        addChartSample(this.record.chart, s, null);
        const p = this.view.precopy;
        if (p !== null && s.memoryTotalBytes !== undefined && p.source !== "domjobinfo") {
          // No sample came from domjobinfo while the job ran (it can pass between two polls):
          // libvirt's record of the finished job has the true figures.
          p.memoryTotalBytes = s.memoryTotalBytes;
          if (s.memoryProcessedBytes !== undefined) p.memoryProcessedBytes = s.memoryProcessedBytes;
          if (s.iteration !== undefined) p.iteration = s.iteration;
          p.source = "domjobinfo";
          this.record.sourceDetail =
            host === this.view.source
              ? "the finished job's record"
              : `the finished job's record, read on ${host}`;
        } else if (p !== null && s.iteration !== undefined && (p.iteration ?? 0) < s.iteration) {
          p.iteration = s.iteration;
        }
        return;
      }
    }
  }

  private async finishCompleted(m: NovaMigration): Promise<void> {
    const server = await this.deps.nova.getServer(this.view.serverId!);
    if (server.host) this.view.destination = server.host;
    // A short migration can pass pre-copy between two polls: Nova's counters are all there is.
    this.view.precopy ??= toProgress(m, null, null, null);
    if (this.view.precopy) {
      this.view.precopy.memoryRemainingBytes = 0;
      if (m.memoryTotalBytes !== null) this.view.precopy.memoryProcessedBytes = m.memoryProcessedBytes;
    }
    this.view.endedAt = this.now();
    await this.thread.postPhase("stop-and-copy");
    this.view.status = "completed";
    this.view.phase = "commitment";
    await this.announceEnd();
  }

  /** Says the outcome in the thread; safe to run again (each post happens once). */
  private async announceEnd(): Promise<void> {
    if (this.view.status !== "completed") return this.postFailure();
    await this.thread.updatePrecopy("prompt");
    await this.thread.postPhase("commitment");
    await this.save();
    await this.thread.updateWarning("prompt");
    await this.thread.updateRoot("prompt");
    await this.shareEndChart();
    this.ended = true;
  }

  /**
   * Shares the chart of the whole migration once its outcome is said. The VM is freed first: the
   * chart takes a moment to draw and waits its turn in the channel, and a retry (or another request
   * for the VM) must not be refused as busy meanwhile.
   */
  private async shareEndChart(): Promise<void> {
    if (!chartDue(this.record, "ended")) return;
    await this.deps.onEnded?.();
    await this.thread.shareChart("ended", this.record.chart);
  }

  /**
   * Nova cancelled it: an Abort (who asked is in `view.control`), someone outside migbot, or Nova's
   * own timeout — real Zed ends a migration its completion timeout aborted as `cancelled` too, so
   * when nobody in Slack asked, the source's log says which bound ended it.
   */
  private async finishAborted(novaStatus = "cancelled"): Promise<void> {
    this.view.status = "aborted";
    this.view.endedAt = this.now();
    const logLines = await quotedLines(this.evidence, [this.view.source], this.view.serverId);
    let reason = cancelled(this.view.source);
    if (novaStatus !== "cancelled") {
      reason = {
        message: `${reason.message} Nova recorded it as ${novaStatus}: the job ended with an error as it was cancelled.`,
      };
    }
    if (this.view.control === null) {
      const why = explainNovaEnd(
        await explainingLines(this.evidence, this.view.source, this.view.serverId),
        this.view.source,
      );
      if (why?.code === "MIGRATION_COMPLETION_TIMEOUT" || why?.code === "MIGRATION_PROGRESS_TIMEOUT") {
        reason = { message: `${reason.message} ${explanationText(why)}` };
      }
    }
    this.view.failure = { phase: this.view.phase, ...reason, logLines };
    await this.postFailure();
  }

  private async fail(phase: PhaseName, reason: FailureReason, logHost?: string | null): Promise<void> {
    this.view.status = "failed";
    this.view.endedAt = this.now();
    const hosts = [logHost ?? this.view.source, this.view.destination];
    const logLines = await quotedLines(this.evidence, hosts, this.view.serverId);
    this.view.failure = { phase, ...reason, logLines };
    await this.postFailure();
    await this.deps.onEnded?.();
    if (this.deps.onTrouble) await this.deps.onTrouble(this.record, "failed");
  }

  private async postFailure(): Promise<void> {
    if (!this.record.failurePosted) {
      await this.thread.reply({ kind: "failure", view: this.view });
      this.record.failurePosted = true;
    }
    await this.save();
    await this.thread.updatePrecopy("prompt");
    await this.thread.updateWarning("prompt");
    await this.thread.updateRoot("prompt");
    await this.shareEndChart();
    this.ended = true;
  }
}

/**
 * Whether a finished migration's job still has something to say: the chart of its end (a worker
 * may have stopped between saving the outcome and sharing it).
 */
export function endChartDue(record: TrackedRecord): boolean {
  return chartDue(record, "ended");
}
