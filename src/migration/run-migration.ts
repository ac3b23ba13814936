/**
 * One live migration, from request to outcome: validate, post the root message, trigger Nova once,
 * follow it phase by phase (Nova's migration record plus `virsh domjobinfo` on the source, falling
 * back to nova-compute's progress log line and then to Nova's memory counters), judge convergence,
 * and report each phase in the thread. Safe to run again for the same job after a crash: the record
 * in Redis says how far it got, and a second live-migrate is never sent.
 */
import {
  type NotConvergingFacts,
  type RenderedMessage,
  type RetryNote,
  renderFailure,
  renderNotConverging,
  renderPhase,
  renderRoot,
} from "../../bot/render/migration";
import { DEFAULT_NOVA_COMPUTE_LOG_PATH, DEFAULT_NOVA_CONF_PATHS } from "../hosts/inventory";
import type { Logger } from "../log";
import { effectiveSettings, type LiveMigrationSettings } from "../nova-conf/effective";
import { releaseFromVersion } from "../nova-conf/releases";
import type { MigrateJob } from "../queue/jobs";
import {
  analyzeConvergence,
  type ConvergenceOptions,
  type ConvergenceReport,
  type DowntimeStep,
  downtimeSchedule,
  type Verdict,
} from "./convergence";
import type { HostsPort, NotifierPort, NovaMigration, NovaPort, NovaServer, ReplyPort } from "./ports";
import { parseDomjobinfo } from "./samples/domjobinfo";
import {
  type NovaLogEvent,
  type NovaLogEventKind,
  parseNovaComputeLog,
  parseNovaProgressLine,
} from "./samples/nova-log";
import type { MigrationSample } from "./samples/sample";
import type { MigrationRecord, MigrationStore } from "./store";
import { emptyPrecopy, isFinished, type MigrationView, PHASES, type PhaseName } from "./view";

/** Edits of the pre-copy reply are at least this far apart (Slack budget: a few per migration). */
export const PROGRESS_EDIT_MIN_INTERVAL_MS = 5000;
/** The tracker gives up following (not the migration) after this long without Nova finishing it. */
export const MAX_TRACK_MS = 24 * 3600 * 1000;
/** Nova may take a moment to create the migration record after accepting the request. */
export const MIGRATION_RECORD_WAIT_MS = 60_000;
/** Samples kept per source for convergence analysis (a long migration polls thousands of times). */
export const MAX_SAMPLES = 600;
/** Lines of the nova-compute log read when explaining a failure or looking for progress lines. */
export const FAILURE_LOG_LINES = 400;
/** Log lines quoted in a failure reply. */
export const FAILURE_QUOTED_LINES = 8;
/** An SSH call during tracking that takes longer is skipped for this poll. */
export const EVIDENCE_TIMEOUT_MS = 10_000;
/** After an SSH call to a host failed, the tracker leaves that host alone this long (no timeout per poll). */
export const HOST_RETRY_AFTER_MS = 30_000;
/**
 * A verdict must hold for this many consecutive polls (with fresh samples) before the thread says
 * so: the analyzer can flip from not-converging to throttling once auto-converge kicks in.
 */
export const VERDICT_CONFIRM_POLLS = 2;
/**
 * A host's nova.conf figures are read again after this long. Short, because an approved fix changes
 * them and the retried migration must be judged by the new settings; long enough that many
 * migrations starting together from one host share one read.
 */
export const NOVA_CONF_CACHE_TTL_MS = 10_000;

const NOVA_FINAL_OK = new Set(["completed", "done", "finished", "confirmed"]);
const NOVA_FINAL_FAILED = new Set(["error", "failed"]);
const NOVA_FINAL_CANCELLED = new Set(["cancelled", "aborted"]);
const GIB = 1024 ** 3;

export type MigrationOutcome = "rejected" | "busy" | "completed" | "failed" | "aborted";

/** The downtime and timeout figures of a source host's nova-compute, for the analyzer and the warning. */
export interface DowntimeFigures extends Pick<ConvergenceOptions, "downtimeLimitMs" | "finalDowntimeMs"> {
  /** Nova's steps for this migration (depend on the VM's size). */
  downtimeSchedule?: DowntimeStep[];
  /** Nova aborts after this long without a new low in remaining (0 = off). */
  progressTimeoutS?: number;
  /** Nova gives up on the whole migration after this long (already × GiB; 0 = off). */
  completionTimeoutS?: number;
  timeoutAction?: "abort" | "force_complete";
  /** The release the figures were read for, e.g. `mitaka`. */
  release?: string;
  /** The source lets QEMU throttle the guest (auto-converge on, and not overridden by post-copy). */
  autoConverge?: boolean;
}

/** Reads a source host's downtime figures; `memoryBytes` is the VM's RAM (Nova scales steps by it). */
export type DowntimeSource = (
  sourceHost: string,
  memoryBytes: number | null,
) => Promise<DowntimeFigures | undefined>;

export interface RunMigrationDeps {
  nova: NovaPort;
  hosts: HostsPort;
  notifier: NotifierPort;
  store: MigrationStore;
  reply: ReplyPort;
  log: Logger;
  /** Time between polls; a function is asked before every poll (the worker scales it by its load). */
  pollIntervalMs: number | (() => number);
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /**
   * Downtime figures for the analyzer, per source host. Default: read over SSH from the host's
   * effective nova.conf ({@link novaConfDowntime}), cached per host.
   */
  downtimeFor?: DowntimeSource;
  /** Called once when a migration is judged not converging or fails (diagnosis hooks in here). */
  onTrouble?: (record: MigrationRecord, kind: "not-converging" | "failed") => Promise<void>;
  /** Stops following when aborted (worker shutting down); the job resumes elsewhere. */
  signal?: AbortSignal;
  /** Timeout of each SSH call while tracking. @defaultValue {@link EVIDENCE_TIMEOUT_MS} */
  evidenceTimeoutMs?: number;
  /** Least time between routine edits of the pre-copy reply. @defaultValue {@link PROGRESS_EDIT_MIN_INTERVAL_MS} */
  progressEditIntervalMs?: number;
}

export class WorkerShuttingDown extends Error {
  constructor() {
    super("worker shutting down; the migration is resumed by another worker");
    this.name = "WorkerShuttingDown";
  }
}

/** Nova's `_live_migration_data_gb` for RAM only: GiB of RAM, at least 2. */
export function novaDataGiB(memoryBytes: number): number {
  return Math.max(2, memoryBytes / GIB);
}

/** Nova's downtime schedule formula by release: exponential up to Newton, linear from Ocata (nova 15). */
export function downtimeFormula(releaseMajor: number): "exponential" | "linear" {
  return releaseMajor < 15 ? "exponential" : "linear";
}

/** The analyzer's figures from a host's effective live-migration settings, for a VM of `memoryBytes`. */
export function downtimeFiguresOf(
  settings: LiveMigrationSettings,
  memoryBytes: number | null,
): DowntimeFigures {
  const dataGiB = novaDataGiB(memoryBytes ?? 0);
  const schedule = downtimeSchedule({
    downtimeMs: settings.downtimeMs,
    steps: settings.downtimeSteps,
    delayS: settings.downtimeDelayS,
    dataGiB,
    formula: downtimeFormula(settings.release.major),
  });
  return {
    downtimeSchedule: schedule,
    finalDowntimeMs: schedule.at(-1)?.downtimeMs ?? settings.downtimeMs,
    progressTimeoutS: settings.progressTimeoutS,
    completionTimeoutS: Math.trunc(settings.completionTimeoutS * dataGiB),
    timeoutAction: settings.timeoutAction,
    release: settings.release.name,
    autoConverge: settings.autoConvergeEffective,
  };
}

/**
 * A {@link DowntimeSource} that reads each host's nova-compute release (`nova-compute --version`)
 * and config files (catalogue `read-file`) over SSH and resolves them as nova-compute would, cached
 * per host for {@link NOVA_CONF_CACHE_TTL_MS}. A host it cannot read gives `undefined` (the analyzer
 * then assumes QEMU's default limit).
 */
export function novaConfDowntime(
  hosts: HostsPort,
  opts: {
    log?: Logger;
    now?: () => number;
    timeoutMs?: number;
    /** nova-compute's config files in read order. @defaultValue DEFAULT_NOVA_CONF_PATHS */
    confPaths?: (host: string) => string[];
  } = {},
): DowntimeSource {
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.timeoutMs ?? EVIDENCE_TIMEOUT_MS;
  const cache = new Map<string, { at: number; settings: Promise<LiveMigrationSettings | null> }>();
  const read = async (host: string): Promise<LiveMigrationSettings | null> => {
    if (!(hosts.has?.(host) ?? true)) return null;
    try {
      const run = { timeoutMs, allowNonZeroExit: true };
      const version = await hosts.run(host, { kind: "nova-compute-version" }, run);
      // Mitaka's nova (Python 2.7 argparse) prints its version on stderr.
      const release = releaseFromVersion(`${version.stdout}${version.stderr}`.trim());
      const files: { path: string; text: string }[] = [];
      for (const path of opts.confPaths?.(host) ?? DEFAULT_NOVA_CONF_PATHS) {
        const res = await hosts.run(host, { kind: "read-file", path }, run);
        if (res.exitCode === 0) files.push({ path, text: res.stdout });
      }
      if (files.length === 0) return null;
      return effectiveSettings(files, release, { unknownFlags: "ignore", cpuConsistency: "warn" });
    } catch (err) {
      opts.log?.warn("nova.conf figures unavailable; assuming QEMU's default downtime", { host, err });
      return null;
    }
  };
  return async (host, memoryBytes) => {
    let entry = cache.get(host);
    if (entry === undefined || now() - entry.at > NOVA_CONF_CACHE_TTL_MS) {
      entry = { at: now(), settings: read(host) };
      cache.set(host, entry);
    }
    const settings = await entry.settings;
    return settings === null ? undefined : downtimeFiguresOf(settings, memoryBytes);
  };
}

// One default source per hosts port, so that every migration a worker follows shares its cache.
const defaultDowntimeSources = new WeakMap<HostsPort, DowntimeSource>();

function defaultDowntimeFor(deps: RunMigrationDeps): DowntimeSource {
  let source = defaultDowntimeSources.get(deps.hosts);
  if (source === undefined) {
    source = novaConfDowntime(deps.hosts, {
      log: deps.log,
      timeoutMs: deps.evidenceTimeoutMs ?? EVIDENCE_TIMEOUT_MS,
    });
    defaultDowntimeSources.set(deps.hosts, source);
  }
  return source;
}

/** What the tracker keeps in the record beyond the shared fields (stored in the same JSON). */
interface ConvergenceWatch {
  /** The verdict of the latest polls with fresh samples, and how many in a row held it. */
  verdict: Verdict | null;
  streak: number;
  /** The figures the posted warning shows; null until it is posted. */
  facts: NotConvergingFacts | null;
}

/** A retry's link back: what the new root says, and the earlier thread that learns of the retry. */
interface RetryLink {
  note: RetryNote;
  /** The earlier job and its thread; null when its record is gone (expired) or it never posted. */
  earlier: { jobId: string; channel: string; rootTs: string } | null;
  noticePosted: boolean;
}

type TrackedRecord = MigrationRecord & {
  convergence?: ConvergenceWatch;
  sourceDetail?: string | null;
  retry?: RetryLink;
};

/** The retry link for a job that retries an earlier one; null for a first attempt. */
async function retryLinkOf(job: MigrateJob, store: MigrationStore): Promise<RetryLink | null> {
  if (job.retryOf === undefined && job.retryContext === undefined) return null;
  const earlier = job.retryOf === undefined ? null : await store.load(job.retryOf);
  return {
    note: {
      fix: job.retryContext?.fix ?? null,
      approvedBy: job.retryContext?.approvedBy ?? null,
      earlier:
        earlier === null
          ? null
          : {
              vm: earlier.view.vm,
              startedAt: earlier.view.startedAt,
              source: earlier.view.source,
              destination: earlier.view.destination,
            },
    },
    earlier:
      earlier?.posts.root !== undefined && job.retryOf !== undefined
        ? { jobId: job.retryOf, channel: earlier.view.channel, rootTs: earlier.posts.root }
        : null,
    noticePosted: false,
  };
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
    const retry = await retryLinkOf(job, deps.store);
    if (retry !== null) (record as TrackedRecord).retry = retry;
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

/** Log event kinds that explain how a migration ended (progress lines excluded). */
const EXPLAINING_KINDS = new Set<NovaLogEventKind>([
  "stuck",
  "completion-timeout",
  "abort-failed",
  "aborted",
  "cancelled",
  "failure",
  "pre-check-error",
  "pre-migration-failed",
  "post-migration-failed",
  "low-watermark",
  "downtime-increase",
]);
/** Kinds that end a migration in the log: progress lines before them belong to an earlier one. */
const ENDING_KINDS = new Set<NovaLogEventKind>([
  "stuck",
  "completion-timeout",
  "completed",
  "aborted",
  "cancelled",
  "failure",
  "finished",
]);

type SampleSource = MigrationSample["source"];

const PRECHECK_RE = /Migration pre-check error: (.*)$/i;

/** What the nova-compute log says about this instance's latest migration. */
interface LogReading {
  /** Progress samples after the last line that ended an earlier migration. */
  samples: MigrationSample[];
  /** The notable lines of the latest migration (by its request id), as printed. */
  explaining: { event: NovaLogEvent; text: string }[];
}

/** Reads one nova-compute log for one instance (see {@link LogReading}). */
export function readInstanceLog(text: string, instanceUuid: string): LogReading {
  const uuid = instanceUuid.toLowerCase();
  const lines = text.split(/\r?\n/);
  const events = parseNovaComputeLog(text, { instanceUuid: uuid }).events.filter(
    (e) => e.instanceUuid === uuid,
  );
  let lastEnd = -1;
  for (const [i, e] of events.entries()) if (ENDING_KINDS.has(e.kind)) lastEnd = i;
  const samples = events
    .slice(lastEnd + 1)
    .filter((e) => e.kind === "progress")
    .map((e) => parseNovaProgressLine(e.message))
    .filter((s): s is MigrationSample => s !== null);
  // The monitor's lines of one migration share the live-migration request's id.
  const notable = events.filter((e) => EXPLAINING_KINDS.has(e.kind));
  const latest = notable.at(-1)?.requestId;
  const explaining = notable
    .filter((e) => latest === undefined || e.requestId === latest)
    .map((event) => ({ event, text: (lines[event.line - 1] ?? event.message).trim() }));
  if (explaining.length === 0) {
    // A destination's pre-check failure is logged by oslo.messaging without an instance tag; the
    // newest one is the one that just failed this migration.
    let i = lines.length - 1;
    while (
      i >= 0 &&
      !(PRECHECK_RE.test(lines[i]!) && (!lines[i]!.includes("[instance: ") || lines[i]!.includes(uuid)))
    )
      i--;
    if (i >= 0) {
      const text = lines[i]!.trim();
      const reason = PRECHECK_RE.exec(text)![1]!.trim();
      explaining.push({ event: { kind: "pre-check-error", line: i + 1, message: text, reason }, text });
    }
  }
  return { samples, explaining };
}

/** One sentence for why Nova ended the migration, with a code and what to do next. */
export function explainNovaEnd(explaining: { event: NovaLogEvent }[], source: string | null): string | null {
  const find = (kind: NovaLogEventKind) =>
    [...explaining].reverse().find((x) => x.event.kind === kind)?.event;
  const host = source ? ` on ${source}` : "";
  const stuck = find("stuck");
  if (stuck) {
    return `MIGRATION_PROGRESS_TIMEOUT: Nova aborted the live migration after ${stuck.seconds ?? "?"} s without a new low in the memory still to copy (live_migration_progress_timeout${host}). The guest dirties memory faster than the link sends it: enable auto-converge${host}, or use Force complete next time.`;
  }
  const timeout = find("completion-timeout");
  if (timeout) {
    return `MIGRATION_COMPLETION_TIMEOUT: Nova aborted the live migration because it had not completed after ${timeout.seconds ?? "?"} s (live_migration_completion_timeout × GiB of RAM${host}). Enable auto-converge${host}, or use Force complete next time.`;
  }
  const precheck = find("pre-check-error");
  if (precheck?.reason) return `MIGRATION_PRECHECK_FAILED: ${precheck.reason}`;
  const failure = find("failure") ?? find("pre-migration-failed") ?? find("post-migration-failed");
  if (failure) return `MIGRATION_FAILED: ${failure.reason ?? failure.message}`;
  return null;
}

class Tracker {
  private readonly series: Record<SampleSource, MigrationSample[]> = {
    domjobinfo: [],
    "nova-log": [],
    "nova-api": [],
    qmp: [],
  };
  private currentSource: SampleSource | null = null;
  private lastProgressEditAt = 0;
  private readonly hostDownUntil = new Map<string, number>();
  /** Routine edits in flight: sent in the background so that the poll loop never waits on pacing. */
  private readonly pendingEdits = new Set<Promise<void>>();
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly evidenceTimeoutMs: number;
  private readonly downtimeFor: DowntimeSource;
  private downtime: DowntimeFigures | undefined;
  /** The record as last written to Redis (serialized), to skip writes that change nothing. */
  private lastSaved: string | null;

  constructor(
    readonly record: TrackedRecord,
    private readonly deps: RunMigrationDeps,
    private readonly log: Logger,
  ) {
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.evidenceTimeoutMs = deps.evidenceTimeoutMs ?? EVIDENCE_TIMEOUT_MS;
    this.downtimeFor = deps.downtimeFor ?? defaultDowntimeFor(deps);
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
      await this.ensureRoot();
      await this.noticeEarlierThread();
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
            `MIGRATION_TRACKING_TIMEOUT: migbot stopped following after ${MAX_TRACK_MS / 3600_000} h; Nova still reports it in progress. Check it with \`openstack server migration list --server ${this.view.serverId}\`.`,
          );
          break;
        }
        const interval = this.deps.pollIntervalMs;
        await this.sleep(typeof interval === "function" ? interval() : interval);
      }
      return outcomeOf(this.record);
    } finally {
      await this.settleEdits();
    }
  }

  /**
   * Writes the record when it differs from the last one written: many polls change nothing, and
   * saving them was 7% of a worker's CPU in the track benchmark (serializing once to compare is
   * far cheaper than the Redis round trip). The 7-day record TTL makes the skipped TTL refreshes moot.
   */
  private async save(): Promise<void> {
    const json = JSON.stringify(this.record);
    if (json === this.lastSaved) return;
    await this.deps.store.save(this.record);
    this.lastSaved = json;
  }

  /** Sends an edit. Routine edits go in the background (the notifier paces and coalesces them). */
  private edit(ts: string | undefined, msg: RenderedMessage, urgent: boolean): Promise<void> {
    if (!ts) return Promise.resolve();
    const p = this.deps.notifier.update(this.view.channel, ts, msg, { urgent });
    if (urgent) return p;
    const tracked = p.catch((err) => this.log.warn("message edit failed", { err }));
    this.pendingEdits.add(tracked);
    void tracked.finally(() => this.pendingEdits.delete(tracked));
    return Promise.resolve();
  }

  private async settleEdits(): Promise<void> {
    await Promise.allSettled([...this.pendingEdits]);
  }

  private rootMessage(): RenderedMessage {
    return renderRoot(this.view, this.now(), { retry: this.record.retry?.note ?? null });
  }

  /** Tells the earlier attempt's thread, once, that a retry started and where to follow it. */
  private async noticeEarlierThread(): Promise<void> {
    const retry = this.record.retry;
    if (!retry?.earlier || retry.noticePosted) return;
    try {
      await this.deps.notifier.post(
        retry.earlier.channel,
        {
          text: `:repeat: Retrying: follow the new message (requested by <@${this.view.requestedBy}>).`,
          thread_ts: retry.earlier.rootTs,
        },
        { dedupeKey: `${retry.earlier.jobId}:retried-by:${this.view.jobId}`, urgent: true },
      );
      retry.noticePosted = true;
      await this.save();
    } catch (err) {
      // The new migration matters more than the pointer in the old thread.
      this.log.warn("could not tell the earlier thread about the retry", { err });
    }
  }

  private async ensureRoot(): Promise<void> {
    if (this.record.posts.root) return;
    const msg = this.rootMessage();
    this.record.posts.root = await this.deps.notifier.post(this.view.channel, msg, {
      dedupeKey: `${this.view.jobId}:root`,
    });
    await this.save();
  }

  private async updateRoot(urgent = false): Promise<void> {
    await this.edit(this.record.posts.root, this.rootMessage(), urgent);
  }

  private renderPrecopyReply(): RenderedMessage {
    return renderPhase(this.view, "precopy", this.now(), { sourceDetail: this.record.sourceDetail ?? null });
  }

  private async updateWarning(urgent: boolean): Promise<void> {
    const ts = this.record.posts["not-converging"];
    if (!ts || this.watch.facts === null) return;
    await this.edit(ts, renderNotConverging(this.view, this.watch.facts), urgent);
  }

  private async reply(key: string, msg: RenderedMessage): Promise<string> {
    const ts = await this.deps.notifier.post(
      this.view.channel,
      { ...msg, thread_ts: this.record.posts.root! },
      // Replies in an existing thread go before new roots (see NotifierPort.post's `urgent`).
      { dedupeKey: `${this.view.jobId}:${key}`, urgent: true },
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
      const msg = p === "precopy" ? this.renderPrecopyReply() : renderPhase(this.view, p, this.now());
      await this.reply(`phase:${p}`, msg);
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
        await this.save();
        await this.updateRoot(true);
        await this.updateWarning(true);
      }
    }
    const m = await this.findNovaMigration(this.record.trigger.at ?? this.view.startedAt);
    if (m === null) {
      if (this.now() - (this.record.trigger.at ?? this.view.startedAt) > MIGRATION_RECORD_WAIT_MS) {
        await this.fail(
          "pre-migration",
          "MIGRATION_NOT_RECORDED: Nova accepted the request but never created a migration record for it. Check nova-conductor's and nova-scheduler's logs, then try again.",
        );
      }
      return;
    }
    const before = this.view.novaStatus;
    this.adopt(m);
    // The root gains its Abort button now that Nova knows the migration: show it without pacing.
    if (before === null && this.view.novaMigrationId !== null) await this.updateRoot(true);
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
    const firstTime = !this.record.postedPhases.includes("precopy");
    const current = this.currentSource === null ? [] : this.series[this.currentSource];
    const report = current.length > 0 ? await this.analyze(current) : null;
    this.view.precopy = toProgress(m, sample, report, this.view.precopy);
    if (firstTime) {
      await this.postPhase("precopy");
      this.lastProgressEditAt = this.now();
    } else if (
      this.now() - this.lastProgressEditAt >=
      (this.deps.progressEditIntervalMs ?? PROGRESS_EDIT_MIN_INTERVAL_MS)
    ) {
      this.lastProgressEditAt = this.now();
      await this.edit(this.record.posts["phase:precopy"], this.renderPrecopyReply(), false);
    }
    if (report !== null && sample !== null) await this.judge(report);
    await this.save();
  }

  /** Debounced verdicts: the warning goes out once the verdict held for two polls, and is edited when it no longer holds. */
  private async judge(report: ConvergenceReport): Promise<void> {
    const w = this.watch;
    if (report.verdict === w.verdict) w.streak += 1;
    else {
      w.verdict = report.verdict;
      w.streak = 1;
    }
    if (w.streak < VERDICT_CONFIRM_POLLS) return;
    if (report.verdict === "not-converging") {
      if (!this.record.notConvergingPosted) {
        w.facts = this.factsOf(report);
        this.view.status = "not-converging";
        this.view.stuck = { sinceIteration: report.iterations, reason: report.reason };
        this.record.notConvergingPosted = true;
        await this.reply("not-converging", renderNotConverging(this.view, w.facts));
        await this.save();
        await this.updateRoot(true);
        if (this.deps.onTrouble) {
          // Diagnosis reads every involved host; tracking (and the Abort button) must not wait on it.
          const record = structuredClone(this.record);
          void this.deps
            .onTrouble(record, "not-converging")
            .catch((err) => this.log.warn("diagnosis of a stuck migration failed", { err }));
        }
      } else if (w.facts?.later) {
        w.facts.later = null;
        this.view.status = "not-converging";
        await this.updateWarning(true);
        await this.updateRoot(true);
      }
      return;
    }
    if (
      (report.verdict === "throttling" || report.verdict === "converging") &&
      w.facts !== null &&
      w.facts.later?.state !== report.verdict
    ) {
      w.facts.later = { state: report.verdict, reason: report.reason };
      if (this.view.status === "not-converging") this.view.status = "running";
      await this.updateWarning(true);
      await this.updateRoot(true);
    }
  }

  private factsOf(report: ConvergenceReport): NotConvergingFacts {
    return {
      iteration: report.iterations,
      minRemainingPerIteration: report.minRemainingPerIteration,
      sampledIterations: report.sampledIterations,
      remainingAtSyncPerIteration: report.remainingAtSyncPerIteration,
      dirtyRateBytesPerS: report.dirtyRateBytesPerS,
      transferRateBytesPerS: report.transferRateBytesPerS,
      expectedDowntimeMs: report.expectedDowntimeMs,
      downtimeLimitMs: report.downtimeLimitMs,
      finalDowntimeMs: report.finalDowntimeMs,
      throttlePercent: report.throttlePercent,
      reason: report.reason,
      source: this.currentSource,
      novaWillDo: this.novaWillDo(report),
      later: null,
    };
  }

  /** What Nova's own timeouts will do, from the source's nova.conf figures. */
  private novaWillDo(report: ConvergenceReport): string | null {
    const d = this.downtime;
    if (d === undefined) return null;
    if (d.progressTimeoutS !== undefined && d.progressTimeoutS > 0) {
      return `Nova aborts it once the memory still to copy has made no new low for ${d.progressTimeoutS} s (live_migration_progress_timeout on ${d.release ?? "this release"})`;
    }
    if (d.completionTimeoutS !== undefined && d.completionTimeoutS > 0) {
      const left = Math.max(0, d.completionTimeoutS - report.elapsedS);
      const action = d.timeoutAction === "force_complete" ? "force-completes" : "aborts";
      return `Nova ${action} it after ${d.completionTimeoutS} s in total, about ${Math.round(left)} s from now (live_migration_completion_timeout)`;
    }
    return "Nova has no timeout configured and keeps copying for ever";
  }

  private async analyze(samples: MigrationSample[]): Promise<ConvergenceReport> {
    if (this.downtime === undefined && this.view.source) {
      const ramMb = this.view.flavor?.ramMb ?? null;
      this.downtime = await this.downtimeFor(this.view.source, ramMb === null ? null : ramMb * 1024 * 1024);
    }
    const d = this.downtime;
    return analyzeConvergence(samples, {
      ...(d?.downtimeLimitMs !== undefined && { downtimeLimitMs: d.downtimeLimitMs }),
      ...(d?.finalDowntimeMs !== undefined && { finalDowntimeMs: d.finalDowntimeMs }),
      ...(d?.downtimeSchedule !== undefined && { downtimeSchedule: d.downtimeSchedule }),
      ...(d?.autoConverge !== undefined && { autoConverge: d.autoConverge }),
    });
  }

  private reachable(host: string | null | undefined): host is string {
    if (!host || !(this.deps.hosts.has?.(host) ?? true)) return false;
    return this.now() >= (this.hostDownUntil.get(host) ?? 0);
  }

  /** Runs a catalogue command for evidence; an SSH failure marks the host down for a while. */
  private async evidence(
    host: string,
    command: Parameters<HostsPort["run"]>[1],
  ): Promise<{ ok: true; stdout: string; stderr: string; exitCode: number } | { ok: false; why: string }> {
    try {
      const res = await this.deps.hosts.run(host, command, {
        timeoutMs: this.evidenceTimeoutMs,
        allowNonZeroExit: true,
      });
      return { ok: true, ...res };
    } catch (err) {
      this.hostDownUntil.set(host, this.now() + HOST_RETRY_AFTER_MS);
      const code = (err as { code?: string }).code;
      const why = `${host} unreachable over SSH${code ? ` (${code})` : ""}`;
      this.log.warn("host evidence unavailable", { host, kind: command.kind, err });
      return { ok: false, why };
    }
  }

  private keep(sample: MigrationSample, detail: string | null): MigrationSample {
    const list = this.series[sample.source];
    list.push(sample);
    if (list.length > MAX_SAMPLES) list.splice(0, list.length - MAX_SAMPLES);
    if (this.currentSource !== sample.source || this.record.sourceDetail !== detail) {
      this.log.info("pre-copy figures source", { source: sample.source, detail });
    }
    this.currentSource = sample.source;
    this.record.sourceDetail = detail;
    return sample;
  }

  /**
   * One fresh sample, from the best source available: `virsh domjobinfo` on the source host, else
   * Nova's periodic progress line in the source's nova-compute log, else Nova's API memory counters.
   * Null when there is nothing new (e.g. no new progress line since the last poll).
   */
  private async sample(m: NovaMigration): Promise<MigrationSample | null> {
    const source = this.view.source;
    const domain = this.view.instanceName;
    let why: string;
    if (!source || !(this.deps.hosts.has?.(source) ?? true)) {
      why = `${source ?? "the source host"} is not in migbot's inventory`;
    } else if (!this.reachable(source)) {
      why = `${source} unreachable over SSH; retrying in a while`;
    } else if (!domain) {
      why = "Nova does not say the libvirt domain name";
    } else {
      const res = await this.evidence(source, { kind: "virsh-domjobinfo", domain });
      if (res.ok && res.exitCode === 0) {
        const s = parseDomjobinfo(res.stdout);
        // A job of type None: QEMU has not started (or has just ended); wait for the next poll.
        return s.jobType === "none" ? null : this.keep(s, null);
      }
      why = res.ok
        ? `virsh domjobinfo failed: ${res.stderr.trim().split("\n")[0] || `exit ${res.exitCode}`}`
        : res.why;
    }
    const fromLog = await this.logSample(source, why);
    if (typeof fromLog !== "string") return fromLog;
    if (m.memoryTotalBytes === null) return null;
    const t = (this.now() - (this.record.trigger.at ?? this.view.startedAt)) / 1000;
    return this.keep(
      {
        t,
        source: "nova-api",
        jobType: "unbounded",
        memoryTotalBytes: m.memoryTotalBytes,
        ...(m.memoryProcessedBytes !== null && { memoryProcessedBytes: m.memoryProcessedBytes }),
        ...(m.memoryRemainingBytes !== null && { memoryRemainingBytes: m.memoryRemainingBytes }),
      },
      `${why}; ${fromLog}`,
    );
  }

  /**
   * Nova's progress line from the source's log: a new sample, null when the log is in use but has
   * no new line yet, or why it cannot be used (a sentence for the progress reply).
   */
  private async logSample(source: string | null, why: string): Promise<MigrationSample | null | string> {
    if (!this.reachable(source) || !this.view.serverId) return "the nova-compute log is unreachable too";
    const res = await this.evidence(source, {
      kind: "tail-log",
      path: DEFAULT_NOVA_COMPUTE_LOG_PATH,
      lines: FAILURE_LOG_LINES,
    });
    if (!res.ok || res.exitCode !== 0) return "the nova-compute log is unreachable too";
    const { samples } = readInstanceLog(res.stdout, this.view.serverId);
    const seen = this.series["nova-log"];
    const lastT = seen.at(-1)?.t ?? -1;
    const fresh = samples.filter((s) => s.t > lastT);
    if (fresh.length === 0) {
      if (seen.length > 0 && this.currentSource === "nova-log") return null;
      // Nova logs its progress line at INFO every 30 s only.
      return "nova-compute has not logged a progress line for it yet";
    }
    for (const s of fresh.slice(0, -1)) this.keep(s, why);
    return this.keep(fresh.at(-1)!, why);
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

  /** Downtime of the finished job, from `virsh domjobinfo --completed` on the source, else the destination. */
  private async loadDowntime(): Promise<void> {
    const domain = this.view.instanceName;
    if (!domain) return;
    for (const host of [this.view.source, this.view.destination]) {
      if (!this.reachable(host)) continue;
      const res = await this.evidence(host, { kind: "virsh-domjobinfo", domain, completed: true });
      const s = res.ok && res.exitCode === 0 ? parseDomjobinfo(res.stdout) : null;
      if (s?.downtimeMs !== undefined) {
        this.view.downtimeMs = s.downtimeMs;
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
    await this.postPhase("stop-and-copy");
    this.view.status = "completed";
    this.view.phase = "commitment";
    await this.edit(this.record.posts["phase:precopy"], this.renderPrecopyReply(), true);
    await this.postPhase("commitment");
    await this.save();
    await this.updateWarning(true);
    await this.updateRoot(true);
  }

  private async finishAborted(): Promise<void> {
    this.view.status = "aborted";
    this.view.endedAt = this.now();
    const quoted = await this.explainingLines(this.view.source);
    const by =
      this.view.control?.action === "abort" ? ` (abort requested by <@${this.view.control.by}>)` : "";
    this.view.failure = {
      phase: this.view.phase,
      message: `Nova cancelled the live migration${by}; the VM keeps running on ${this.view.source ?? "its source host"}.`,
      logLines: quoted.map((q) => q.text),
    };
    await this.postFailure();
  }

  private async fail(phase: PhaseName, message: string, logHost?: string): Promise<void> {
    this.view.status = "failed";
    this.view.endedAt = this.now();
    const hosts = [logHost ?? this.view.source, this.view.destination].filter(
      (h, i, all): h is string => !!h && all.indexOf(h) === i,
    );
    const lines: string[] = [];
    for (const host of hosts) lines.push(...(await this.explainingLines(host)).map((q) => q.text));
    this.view.failure = { phase, message, logLines: lines.slice(-FAILURE_QUOTED_LINES) };
    await this.postFailure();
    if (this.deps.onTrouble) await this.deps.onTrouble(this.record, "failed");
  }

  private async postFailure(): Promise<void> {
    if (!this.record.failurePosted) {
      await this.reply("failure", renderFailure(this.view));
      this.record.failurePosted = true;
    }
    await this.save();
    await this.edit(this.record.posts["phase:precopy"], this.renderPrecopyReply(), true);
    await this.updateWarning(true);
    await this.updateRoot(true);
  }

  /** Nova's API says only "error"; the reason is in the nova-compute logs, quoted in the thread. */
  private async failureMessage(m: NovaMigration): Promise<string> {
    for (const host of [m.sourceCompute, m.destCompute]) {
      const why = explainNovaEnd(await this.explainingLines(host), m.sourceCompute);
      if (why !== null) return `Nova set the migration to ${m.status}. ${why}`;
    }
    return `MIGRATION_FAILED: Nova set the migration to ${m.status} and its nova-compute logs give no reason migbot can read. Look at nova-compute's log on ${m.sourceCompute}${m.destCompute ? ` and ${m.destCompute}` : ""}.`;
  }

  /** The nova-compute log lines that explain this instance's latest migration, host-prefixed, oldest first. */
  private async explainingLines(
    host: string | null | undefined,
  ): Promise<{ event: NovaLogEvent; text: string }[]> {
    if (!this.reachable(host) || !this.view.serverId) return [];
    const res = await this.evidence(host, {
      kind: "tail-log",
      path: DEFAULT_NOVA_COMPUTE_LOG_PATH,
      lines: FAILURE_LOG_LINES,
    });
    if (!res.ok || res.exitCode !== 0) return [];
    return readInstanceLog(res.stdout, this.view.serverId)
      .explaining.slice(-FAILURE_QUOTED_LINES)
      .map((q) => ({ event: q.event, text: `${host}: ${q.text}` }));
  }
}

function toProgress(
  m: NovaMigration,
  s: MigrationSample | null,
  r: ConvergenceReport | null,
  previous: MigrationView["precopy"],
): NonNullable<MigrationView["precopy"]> {
  const p = previous ?? emptyPrecopy();
  // Without a fresh sample, keep the figures of the source the reply names rather than mixing in
  // Nova's counters; those stand in only before any source has given a figure.
  const nova = p.source === null ? m : null;
  return {
    ...p,
    iteration: s?.iteration ?? (s ? (r?.iterations ?? p.iteration) : p.iteration),
    memoryTotalBytes:
      s?.memoryTotalBytes ?? nova?.memoryTotalBytes ?? p.memoryTotalBytes ?? m.memoryTotalBytes,
    memoryProcessedBytes: s?.memoryProcessedBytes ?? nova?.memoryProcessedBytes ?? p.memoryProcessedBytes,
    memoryRemainingBytes: s?.memoryRemainingBytes ?? nova?.memoryRemainingBytes ?? p.memoryRemainingBytes,
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
