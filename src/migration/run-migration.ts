/**
 * One live migration, from request to outcome: validate, post the root message, trigger Nova once,
 * follow it phase by phase (Nova's migration record plus `virsh domjobinfo` on the source), and
 * report each phase in the thread. Safe to run again for the same job after a crash: the record in
 * Redis says how far it got, and a second live-migrate is never sent.
 */
import {
  type RenderedMessage,
  renderFailure,
  renderNotConverging,
  renderPhase,
  renderRoot,
} from "../../bot/render/migration";
import type { Logger } from "../log";
import type { MigrateJob } from "../queue/jobs";
import { analyzeConvergence, type ConvergenceReport } from "./convergence";
import type { HostsPort, NotifierPort, NovaMigration, NovaPort, NovaServer, ReplyPort } from "./ports";
import { parseDomjobinfo } from "./samples/domjobinfo";
import type { MigrationSample } from "./samples/sample";
import type { MigrationRecord, MigrationStore } from "./store";
import { emptyPrecopy, isFinished, type MigrationView, PHASES, type PhaseName } from "./view";

/** Edits of the pre-copy reply are at least this far apart (Slack budget: a few per migration). */
export const PROGRESS_EDIT_MIN_INTERVAL_MS = 5000;
/** The tracker gives up following (not the migration) after this long without Nova finishing it. */
export const MAX_TRACK_MS = 24 * 3600 * 1000;
/** Nova may take a moment to create the migration record after accepting the request. */
export const MIGRATION_RECORD_WAIT_MS = 60_000;
/** Samples kept for convergence analysis (a long migration polls thousands of times). */
export const MAX_SAMPLES = 600;
/** Lines of the nova-compute log read when explaining a failure. */
export const FAILURE_LOG_LINES = 400;
/** An SSH call during tracking that takes longer is skipped for this poll. */
export const EVIDENCE_TIMEOUT_MS = 10_000;

const NOVA_FINAL_OK = new Set(["completed", "done", "finished", "confirmed"]);
const NOVA_FINAL_FAILED = new Set(["error", "failed"]);
const NOVA_FINAL_CANCELLED = new Set(["cancelled", "aborted"]);

export type MigrationOutcome = "rejected" | "busy" | "completed" | "failed" | "aborted";

export interface RunMigrationDeps {
  nova: NovaPort;
  hosts: HostsPort;
  notifier: NotifierPort;
  store: MigrationStore;
  reply: ReplyPort;
  log: Logger;
  pollIntervalMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Downtime figures for the analyzer, per source host (from its effective nova.conf). */
  downtimeFor?: (
    sourceHost: string,
  ) => Promise<{ downtimeLimitMs?: number; finalDowntimeMs?: number } | undefined>;
  /** Called once when a migration is judged not converging or fails (diagnosis hooks in here). */
  onTrouble?: (record: MigrationRecord, kind: "not-converging" | "failed") => Promise<void>;
  /** Stops following when aborted (worker shutting down); the job resumes elsewhere. */
  signal?: AbortSignal;
}

export class WorkerShuttingDown extends Error {
  constructor() {
    super("worker shutting down; the migration is resumed by another worker");
    this.name = "WorkerShuttingDown";
  }
}

function newRecord(jobId: string, job: MigrateJob, now: number): MigrationRecord {
  const view: MigrationView = {
    jobId,
    vm: job.vm,
    serverId: null,
    instanceName: null,
    requestedBy: job.user,
    channel: job.channel,
    source: null,
    requestedDestination: job.destination,
    destination: job.destination,
    flavor: null,
    status: "starting",
    phase: "pre-migration",
    startedAt: now,
    endedAt: null,
    novaMigrationId: null,
    novaStatus: null,
    reservation: null,
    precopy: null,
    downtimeMs: null,
    failure: null,
    stuck: null,
    control: null,
  };
  return {
    view,
    trigger: { state: "none", at: null },
    posts: {},
    postedPhases: [],
    notConvergingPosted: false,
    failurePosted: false,
  };
}

/** Runs (or resumes) one migration job to its outcome. */
export async function runMigration(
  jobId: string,
  job: MigrateJob,
  deps: RunMigrationDeps,
): Promise<MigrationOutcome> {
  const now = deps.now ?? Date.now;
  const log = deps.log.child({ jobId, vm: job.vm });
  let record = await deps.store.load(jobId);
  if (record && isFinished(record.view.status)) return outcomeOf(record);
  if (record === null) {
    const holder = await deps.store.claimVm(job.vm, jobId);
    if (holder !== jobId) {
      await deps.reply(job.responseUrl, job.user, job.channel, {
        text: `${job.vm} is already being migrated by another request; follow its thread, or use \`/migrate status ${job.vm}\`.`,
      });
      return "busy";
    }
    record = newRecord(jobId, job, now());
    const rejection = await validate(record, job, deps);
    if (rejection !== null) {
      await deps.store.releaseVm(job.vm, jobId);
      await deps.reply(job.responseUrl, job.user, job.channel, { text: rejection });
      log.info("migration request rejected", { reason: rejection });
      return "rejected";
    }
    await deps.store.save(record);
  }
  const tracker = new Tracker(record, deps, log);
  try {
    return await tracker.run();
  } finally {
    if (isFinished(tracker.record.view.status)) await deps.store.releaseVm(job.vm, jobId);
  }
}

/** Checks the request against Nova before anything is posted: unknown VM or host, same host, not active. */
async function validate(
  record: MigrationRecord,
  job: MigrateJob,
  deps: RunMigrationDeps,
): Promise<string | null> {
  const server = await deps.nova.findServer(job.vm);
  if (server === null) {
    return `I can't find a VM named \`${job.vm}\` in Nova. Check the name (\`openstack server list --all-projects --name ${job.vm}\`), then try again.`;
  }
  const services = await deps.nova.computeServices();
  const hostNames = services.filter((s) => s.binary === "nova-compute").map((s) => s.host);
  if (job.destination !== null && !hostNames.includes(job.destination)) {
    return `\`${job.destination}\` is not a compute host Nova knows. Known hosts: ${hostNames.map((h) => `\`${h}\``).join(", ") || "none"}.`;
  }
  if (job.destination !== null && server.host === job.destination) {
    return `\`${job.vm}\` already runs on \`${job.destination}\`. Pick another host, or leave it out to let Nova's scheduler choose.`;
  }
  if (server.status !== "ACTIVE") {
    return `\`${job.vm}\` is ${server.status}${server.taskState ? ` (${server.taskState})` : ""}; Nova live-migrates only ACTIVE VMs. Try again once it is ACTIVE.`;
  }
  fillServer(record.view, server);
  return null;
}

function fillServer(view: MigrationView, server: NovaServer): void {
  view.serverId = server.id;
  view.instanceName = server.instanceName;
  view.source = server.host;
  view.flavor = { ramMb: server.flavor.ramMb ?? null, vcpus: server.flavor.vcpus ?? null };
}

function outcomeOf(record: MigrationRecord): MigrationOutcome {
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

class Tracker {
  private samples: MigrationSample[] = [];
  private lastProgressEditAt = 0;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    readonly record: MigrationRecord,
    private readonly deps: RunMigrationDeps,
    private readonly log: Logger,
  ) {
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  private get view(): MigrationView {
    return this.record.view;
  }

  async run(): Promise<MigrationOutcome> {
    await this.ensureRoot();
    if (this.record.trigger.state !== "triggered") {
      const ok = await this.trigger();
      if (!ok) return outcomeOf(this.record);
    }
    await this.postPhase("pre-migration");
    const deadline = this.view.startedAt + MAX_TRACK_MS;
    while (!isFinished(this.view.status)) {
      if (this.deps.signal?.aborted) throw new WorkerShuttingDown();
      await this.poll();
      if (isFinished(this.view.status)) break;
      if (this.now() > deadline) {
        await this.fail(
          this.view.phase,
          `migbot stopped following after ${MAX_TRACK_MS / 3600_000} h; Nova still reports it in progress.`,
        );
        break;
      }
      await this.sleep(this.deps.pollIntervalMs);
    }
    return outcomeOf(this.record);
  }

  private async save(): Promise<void> {
    await this.deps.store.save(this.record);
  }

  private async ensureRoot(): Promise<void> {
    if (this.record.posts.root) return;
    const msg = renderRoot(this.view, this.now());
    this.record.posts.root = await this.deps.notifier.post(this.view.channel, msg, {
      dedupeKey: `${this.view.jobId}:root`,
    });
    await this.save();
  }

  private async updateRoot(urgent = false): Promise<void> {
    const ts = this.record.posts.root;
    if (!ts) return;
    await this.deps.notifier.update(this.view.channel, ts, renderRoot(this.view, this.now()), { urgent });
  }

  private async reply(key: string, msg: RenderedMessage): Promise<string> {
    const ts = await this.deps.notifier.post(
      this.view.channel,
      { ...msg, thread_ts: this.record.posts.root! },
      { dedupeKey: `${this.view.jobId}:${key}` },
    );
    this.record.posts[key] = ts;
    return ts;
  }

  /** Posts each phase reply once, in order, filling in any phase that went by between polls. */
  private async postPhase(phase: PhaseName): Promise<void> {
    const target = PHASES.indexOf(phase);
    for (const p of PHASES.slice(0, target + 1)) {
      if (this.record.postedPhases.includes(p)) continue;
      if (p === "reservation" && this.view.reservation === null) await this.loadReservation();
      if (p === "stop-and-copy" && this.view.downtimeMs === null) await this.loadDowntime();
      await this.reply(`phase:${p}`, renderPhase(this.view, p, this.now()));
      this.record.postedPhases.push(p);
      if (PHASES.indexOf(p) > PHASES.indexOf(this.view.phase)) this.view.phase = p;
      await this.save();
    }
  }

  /** Sends the live-migrate exactly once, reconciling with Nova when a crash left it unknown. */
  private async trigger(): Promise<boolean> {
    const serverId = this.view.serverId!;
    if (this.record.trigger.state === "triggering") {
      const existing = await this.findNovaMigration(this.record.trigger.at ?? this.view.startedAt);
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
    await this.save();
    try {
      await this.deps.nova.liveMigrate(serverId, { host: this.view.requestedDestination });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const code = (err as { code?: string }).code;
      if (code === "OPENSTACK_UNREACHABLE" || code === "OPENSTACK_TIMEOUT") {
        // Unknown whether Nova got it: leave "triggering" so a retry reconciles instead of re-sending.
        throw err;
      }
      this.record.trigger.state = "none";
      await this.fail("pre-migration", message, this.view.source ?? undefined);
      return false;
    }
    this.record.trigger.state = "triggered";
    this.view.status = "running";
    await this.save();
    await this.updateRoot();
    return true;
  }

  private adopt(m: NovaMigration): void {
    this.view.novaMigrationId = m.id;
    this.view.novaStatus = m.status;
    if (m.destCompute) this.view.destination = m.destCompute;
    if (this.view.status === "starting") this.view.status = "running";
  }

  /** The Nova migration record for this request: the in-progress one, else the newest since the trigger. */
  private async findNovaMigration(since: number): Promise<NovaMigration | null> {
    const serverId = this.view.serverId!;
    if (this.view.novaMigrationId !== null) {
      const m = await this.deps.nova.getServerMigration(serverId, this.view.novaMigrationId);
      if (m) return m;
      const all = await this.deps.nova.listMigrations({
        instanceUuid: serverId,
        migrationType: "live-migration",
      });
      return all.find((x) => x.id === this.view.novaMigrationId) ?? null;
    }
    const running = await this.deps.nova.listServerMigrations(serverId);
    if (running.length > 0) return running.reduce((a, b) => (a.id > b.id ? a : b));
    const all = await this.deps.nova.listMigrations({
      instanceUuid: serverId,
      migrationType: "live-migration",
    });
    // Nova stores timestamps in UTC without a zone; allow for clock skew between us and Nova.
    const fresh = all.filter((m) => Date.parse(`${m.createdAt.replace(/Z?$/, "Z")}`) >= since - 120_000);
    return fresh.length > 0 ? fresh.reduce((a, b) => (a.id > b.id ? a : b)) : null;
  }

  private async poll(): Promise<void> {
    if (this.view.control === null) {
      const control = await this.deps.store.getControl(this.view.jobId);
      if (control !== null) {
        this.view.control = control;
        await this.updateRoot();
      }
    }
    const m = await this.findNovaMigration(this.record.trigger.at ?? this.view.startedAt);
    if (m === null) {
      if (this.now() - (this.record.trigger.at ?? this.view.startedAt) > MIGRATION_RECORD_WAIT_MS) {
        await this.fail(
          "pre-migration",
          "Nova accepted the request but never created a migration record for it.",
        );
      }
      return;
    }
    const before = this.view.novaStatus;
    this.adopt(m);
    if (before === null && this.view.novaMigrationId !== null) await this.updateRoot();
    const status = m.status.toLowerCase();
    if (NOVA_FINAL_FAILED.has(status)) {
      await this.fail(
        this.view.phase === "pre-migration" ? "reservation" : this.view.phase,
        await this.failureMessage(m),
      );
      return;
    }
    if (NOVA_FINAL_CANCELLED.has(status)) {
      await this.finishAborted();
      return;
    }
    if (
      status === "preparing" ||
      status === "running" ||
      status === "post-migrating" ||
      NOVA_FINAL_OK.has(status)
    ) {
      if (m.destCompute) await this.postPhase("reservation");
    }
    if (status === "running") {
      await this.trackPrecopy(m);
    }
    if (status === "post-migrating") {
      await this.trackPrecopy(m);
      await this.postPhase("stop-and-copy");
    }
    if (NOVA_FINAL_OK.has(status)) {
      await this.finishCompleted(m);
    }
  }

  private async trackPrecopy(m: NovaMigration): Promise<void> {
    const sample = await this.sample(m);
    if (sample) {
      this.samples.push(sample);
      if (this.samples.length > MAX_SAMPLES) this.samples.splice(0, this.samples.length - MAX_SAMPLES);
    }
    const firstTime = !this.record.postedPhases.includes("precopy");
    const report = this.samples.length > 0 ? await this.analyze() : null;
    this.view.precopy = toProgress(m, sample, report, this.view.precopy);
    if (firstTime) {
      await this.postPhase("precopy");
      this.lastProgressEditAt = this.now();
    } else if (this.now() - this.lastProgressEditAt >= PROGRESS_EDIT_MIN_INTERVAL_MS) {
      this.lastProgressEditAt = this.now();
      await this.deps.notifier.update(
        this.view.channel,
        this.record.posts["phase:precopy"]!,
        renderPhase(this.view, "precopy", this.now()),
      );
    }
    if (report?.verdict === "not-converging" && !this.record.notConvergingPosted) {
      this.view.status = "not-converging";
      this.view.stuck = { sinceIteration: report.iterations, reason: report.reason };
      this.record.notConvergingPosted = true;
      await this.reply("not-converging", renderNotConverging(this.view));
      await this.save();
      await this.updateRoot(true);
      if (this.deps.onTrouble) await this.deps.onTrouble(this.record, "not-converging");
    }
    await this.save();
  }

  private async analyze(): Promise<ConvergenceReport> {
    const opts =
      this.view.source && this.deps.downtimeFor ? await this.deps.downtimeFor(this.view.source) : undefined;
    return analyzeConvergence(this.samples, opts ?? {});
  }

  /** One sample: `virsh domjobinfo` on the source when reachable, else Nova's memory counters. */
  private async sample(m: NovaMigration): Promise<MigrationSample | null> {
    const t = (this.now() - (this.record.trigger.at ?? this.view.startedAt)) / 1000;
    const source = this.view.source;
    const domain = this.view.instanceName;
    if (source && domain && (this.deps.hosts.has?.(source) ?? true)) {
      try {
        const res = await this.deps.hosts.run(
          source,
          { kind: "virsh-domjobinfo", domain },
          { timeoutMs: EVIDENCE_TIMEOUT_MS, allowNonZeroExit: true },
        );
        if (res.exitCode === 0) {
          const s = parseDomjobinfo(res.stdout);
          if (s && s.jobType !== "none") return s;
        }
      } catch (err) {
        this.log.warn("domjobinfo unavailable; using Nova's counters", { host: source, err });
      }
    }
    if (m.memoryTotalBytes === null) return null;
    return {
      t,
      source: "nova-api",
      ...(m.memoryTotalBytes !== null && { memoryTotalBytes: m.memoryTotalBytes }),
      ...(m.memoryProcessedBytes !== null && { memoryProcessedBytes: m.memoryProcessedBytes }),
      ...(m.memoryRemainingBytes !== null && { memoryRemainingBytes: m.memoryRemainingBytes }),
    };
  }

  private async loadReservation(): Promise<void> {
    const dest = this.view.destination;
    if (!dest) return;
    try {
      const hvs = await this.deps.nova.hypervisors();
      const hv = hvs.find((h) => h.serviceHost === dest || h.hostname === dest);
      this.view.reservation = hv
        ? {
            freeRamMb:
              hv.freeRamMb ??
              (hv.memoryMb !== null && hv.memoryMbUsed !== null ? hv.memoryMb - hv.memoryMbUsed : null),
            freeVcpus: hv.vcpus !== null && hv.vcpusUsed !== null ? hv.vcpus - hv.vcpusUsed : null,
            hypervisorState: hv.state,
          }
        : { freeRamMb: null, freeVcpus: null, hypervisorState: null };
    } catch (err) {
      this.log.warn("hypervisor details unavailable", { err });
    }
  }

  /** Downtime of the finished job, from `virsh domjobinfo --completed` on the source. */
  private async loadDowntime(): Promise<void> {
    const source = this.view.source;
    const domain = this.view.instanceName;
    if (!source || !domain || !(this.deps.hosts.has?.(source) ?? true)) return;
    for (const host of [source, this.view.destination].filter((h): h is string => !!h)) {
      try {
        const res = await this.deps.hosts.run(
          host,
          { kind: "virsh-domjobinfo", domain, completed: true },
          { timeoutMs: EVIDENCE_TIMEOUT_MS, allowNonZeroExit: true },
        );
        const s = res.exitCode === 0 ? parseDomjobinfo(res.stdout) : null;
        if (s?.downtimeMs !== undefined) {
          this.view.downtimeMs = s.downtimeMs;
          return;
        }
      } catch (err) {
        this.log.warn("completed job info unavailable", { host, err });
      }
    }
  }

  private async finishCompleted(m: NovaMigration): Promise<void> {
    const server = await this.deps.nova.getServer(this.view.serverId!);
    if (server.host) this.view.destination = server.host;
    if (this.view.precopy) {
      this.view.precopy.memoryRemainingBytes = 0;
      if (m.memoryTotalBytes !== null) this.view.precopy.memoryProcessedBytes = m.memoryProcessedBytes;
    }
    this.view.endedAt = this.now();
    await this.postPhase("stop-and-copy");
    this.view.status = "completed";
    this.view.phase = "commitment";
    if (this.record.posts["phase:precopy"]) {
      await this.deps.notifier.update(
        this.view.channel,
        this.record.posts["phase:precopy"],
        renderPhase(this.view, "precopy", this.now()),
        { urgent: true },
      );
    }
    await this.postPhase("commitment");
    await this.save();
    await this.updateRoot(true);
  }

  private async finishAborted(): Promise<void> {
    this.view.status = "aborted";
    this.view.endedAt = this.now();
    this.view.failure = {
      phase: this.view.phase,
      message: `Nova cancelled the live migration${this.view.control?.action === "abort" ? ` (abort requested by <@${this.view.control.by}>)` : ""}.`,
      logLines: await this.logLines(this.view.source),
    };
    await this.postFailure();
  }

  private async fail(phase: PhaseName, message: string, logHost?: string): Promise<void> {
    this.view.status = "failed";
    this.view.endedAt = this.now();
    const lines = await this.logLines(logHost ?? this.view.source);
    const destLines =
      this.view.destination && this.view.destination !== logHost
        ? await this.logLines(this.view.destination)
        : [];
    this.view.failure = { phase, message, logLines: [...lines, ...destLines].slice(-12) };
    await this.postFailure();
    if (this.deps.onTrouble) await this.deps.onTrouble(this.record, "failed");
  }

  private async postFailure(): Promise<void> {
    if (!this.record.failurePosted) {
      await this.reply("failure", renderFailure(this.view));
      this.record.failurePosted = true;
    }
    await this.save();
    await this.updateRoot(true);
  }

  /** Nova's API says only "error"; the reason is in the nova-compute logs, quoted in the thread. */
  private async failureMessage(m: NovaMigration): Promise<string> {
    const lines = [
      ...(await this.logLines(m.sourceCompute)),
      ...(m.destCompute ? await this.logLines(m.destCompute) : []),
    ];
    const explaining = lines.filter((l) =>
      /ERROR|pre-check|failure|incompatible|not completed|stuck/i.test(l),
    );
    const last = explaining.at(-1);
    const why = last
      ? last.replace(/^.*?(?:\] |\] \[instance: [0-9a-f-]+\] )/, "")
      : "no reason in the nova-compute log";
    return `Nova set the migration to ${m.status}: ${why}`;
  }

  /** The nova-compute log lines about this VM (by instance uuid), newest last. */
  private async logLines(host: string | null | undefined): Promise<string[]> {
    if (!host || !(this.deps.hosts.has?.(host) ?? true) || !this.view.serverId) return [];
    try {
      const res = await this.deps.hosts.run(
        host,
        { kind: "tail-log", path: "/var/log/nova/nova-compute.log", lines: FAILURE_LOG_LINES },
        { timeoutMs: EVIDENCE_TIMEOUT_MS, allowNonZeroExit: true },
      );
      return res.stdout
        .split("\n")
        .filter((l) => l.includes(this.view.serverId!) && /WARNING|ERROR|INFO/.test(l))
        .slice(-6)
        .map((l) => `${host}: ${l}`);
    } catch (err) {
      this.log.warn("nova-compute log unavailable", { host, err });
      return [];
    }
  }
}

function toProgress(
  m: NovaMigration,
  s: MigrationSample | null,
  r: ConvergenceReport | null,
  previous: MigrationView["precopy"],
): NonNullable<MigrationView["precopy"]> {
  const p = previous ?? emptyPrecopy();
  return {
    ...p,
    iteration: s?.iteration ?? p.iteration,
    memoryTotalBytes: s?.memoryTotalBytes ?? m.memoryTotalBytes ?? p.memoryTotalBytes,
    memoryProcessedBytes: s?.memoryProcessedBytes ?? m.memoryProcessedBytes ?? p.memoryProcessedBytes,
    memoryRemainingBytes: s?.memoryRemainingBytes ?? m.memoryRemainingBytes ?? p.memoryRemainingBytes,
    transferRateBytesPerS: r?.transferRateBytesPerS ?? s?.bandwidthBytesPerS ?? p.transferRateBytesPerS,
    dirtyRateBytesPerS: r?.dirtyRateBytesPerS ?? p.dirtyRateBytesPerS,
    expectedDowntimeMs: r?.expectedDowntimeMs ?? s?.expectedDowntimeMs ?? p.expectedDowntimeMs,
    downtimeLimitMs: r?.downtimeLimitMs ?? p.downtimeLimitMs,
    throttlePercent: r?.throttlePercent ?? s?.throttlePercent ?? p.throttlePercent,
    etaSeconds: r?.etaSeconds ?? null,
    verdict: r?.verdict ?? p.verdict,
    reason: r?.reason ?? p.reason,
    minRemainingPerIteration: r?.minRemainingPerIteration ?? p.minRemainingPerIteration,
    source: s?.source ?? p.source,
  };
}
