/**
 * Decorators that count and time what a migbot process does, wrapped around its ports by the
 * composition root so the domain never knows: the fetch under Slack's WebClient, Keystone and Nova;
 * the SSH hosts port; the migration store (phases reached, time per phase); the proposal service
 * (approvals); and the BullMQ workers' own events (queue wait, outcomes). Label values come only
 * from closed sets (inventory names, catalogue kinds, phase names, HTTP methods): never from Slack,
 * Nova or Redis text as such, so a tenant-chosen name cannot blow up the series count.
 */
import { type Job, Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { ProposalService } from "../fixes/service";
import type { HostsPort } from "../hosts/port";
import { type MigrationRecord, MigrationStore } from "../migration/store";
import type { MigrationOutcome } from "../migration/tracker";
import { isFinished, PHASES, type PhaseName } from "../migration/view";
import type { SlackCallOutcome } from "../notify/slack-api";
import { QUEUE_ACTIONS, QUEUE_MIGRATIONS } from "../queue/jobs";
import type { Workers } from "../queue/worker";
import { type Metrics, type MigrationOutcomeLabel, QUEUE_STATES, type QueueState } from "./metrics";

type FetchLike = typeof fetch;

/** Slack method names as they appear in Web API URLs (`chat.postMessage`); anything else is `other`. */
const SLACK_METHOD_RE = /^[a-z]+(\.[A-Za-z]+){1,3}$/;
/** Slack's error names (`invalid_auth`, `channel_not_found`); anything else is `other`. */
const SLACK_ERROR_RE = /^[a-z0-9_]{1,60}$/;
/** HTTP methods a client sends; anything else is `other`. */
const HTTP_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);
/** Host command kinds are the catalogue's kebab-case names. */
const COMMAND_KIND_RE = /^[a-z][a-z-]{0,39}$/;
/** Error codes are SCREAMING_SNAKE (HOST_TIMEOUT). */
const ERROR_CODE_RE = /^[A-Z][A-Z0-9_]{0,39}$/;

/** `2xx`, `4xx` … for an HTTP status; `error` when there was no answer at all. */
export function statusClass(status: number | null): string {
  return status === null || status < 100 || status > 599 ? "error" : `${Math.floor(status / 100)}xx`;
}

function urlOf(input: Parameters<FetchLike>[0]): string {
  if (typeof input === "string") return input;
  if (input instanceof URL) return input.href;
  return input.url;
}

function methodOf(input: Parameters<FetchLike>[0], init: RequestInit | undefined): string {
  const m = (
    init?.method ?? (typeof input === "object" && "method" in input ? input.method : "GET")
  ).toUpperCase();
  return HTTP_METHODS.has(m) ? m : "other";
}

/**
 * A fetch for Slack's WebClient (Bolt's and the notifier's) that counts calls by method, 429s, and
 * failures (`ok: false` with Slack's error name, another HTTP status, or no answer).
 */
export function slackFetch(metrics: Metrics, inner: FetchLike = fetch): FetchLike {
  return async (input, init) => {
    const segment = new URL(urlOf(input), "http://x").pathname.split("/").pop() ?? "";
    const method = SLACK_METHOD_RE.test(segment) ? segment : "other";
    metrics.slackCalls.inc({ method });
    let res: Response;
    try {
      res = await inner(input, init);
    } catch (err) {
      metrics.slackErrors.inc({ method, error: "network" });
      throw err;
    }
    if (res.status === 429) metrics.slackRateLimited.inc({ method });
    else if (res.status !== 200) metrics.slackErrors.inc({ method, error: `http_${res.status}` });
    else if (res.headers.get("content-type")?.includes("json")) {
      // Slack says most failures with HTTP 200 and `ok: false`. Read the body once and hand the
      // client a fresh response with it: `res.clone()` tees the stream, which cost more than the
      // call itself at 1,000 followed migrations (src/bench/track.ts).
      const text = await res.text();
      let body: { ok?: unknown; error?: unknown } | null = null;
      try {
        body = JSON.parse(text) as { ok?: unknown; error?: unknown } | null;
      } catch {
        body = null;
      }
      if (body?.ok === false) {
        const error =
          typeof body.error === "string" && SLACK_ERROR_RE.test(body.error) ? body.error : "other";
        metrics.slackErrors.inc({ method, error });
      }
      return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers });
    }
    return res;
  };
}

/**
 * The notifier's Slack client's observer (src/notify/slack-api.ts `httpSlackApi`): the same counts
 * as {@link slackFetch}, told by the client instead of read back from the response.
 */
export function slackCallObserver(metrics: Metrics): (method: string, outcome: SlackCallOutcome) => void {
  return (name, outcome) => {
    const method = SLACK_METHOD_RE.test(name) ? name : "other";
    metrics.slackCalls.inc({ method });
    if (outcome === "rate-limited") metrics.slackRateLimited.inc({ method });
    else if (outcome !== "ok") {
      metrics.slackErrors.inc({
        method,
        error: SLACK_ERROR_RE.test(outcome.error) ? outcome.error : "other",
      });
    }
  };
}

/** A fetch for replies through Slack's response_url: counted as Slack calls of method `response_url`. */
export function responseUrlFetch(metrics: Metrics, inner: FetchLike = fetch): FetchLike {
  return async (input, init) => {
    const method = "response_url";
    metrics.slackCalls.inc({ method });
    try {
      const res = await inner(input, init);
      if (res.status === 429) metrics.slackRateLimited.inc({ method });
      else if (res.status !== 200) metrics.slackErrors.inc({ method, error: `http_${res.status}` });
      return res;
    } catch (err) {
      metrics.slackErrors.inc({ method, error: "network" });
      throw err;
    }
  };
}

/** A fetch for the Nova client: requests by HTTP method and status class, and their time. */
export function novaFetch(metrics: Metrics, inner: FetchLike = fetch): FetchLike {
  return async (input, init) => {
    const method = methodOf(input, init);
    const end = metrics.novaSeconds.startTimer({ method });
    let status: number | null = null;
    try {
      const res = await inner(input, init);
      status = res.status;
      return res;
    } finally {
      end();
      metrics.novaRequests.inc({ method, status_class: statusClass(status) });
    }
  };
}

/** A fetch for Keystone: token requests by status class. */
export function keystoneFetch(metrics: Metrics, inner: FetchLike = fetch): FetchLike {
  return async (input, init) => {
    let status: number | null = null;
    try {
      const res = await inner(input, init);
      status = res.status;
      return res;
    } finally {
      metrics.keystoneRequests.inc({ status_class: statusClass(status) });
    }
  };
}

/** The hosts port with every command counted and timed, and the last time each host answered. */
export type MeteredHosts = HostsPort & {
  close(): Promise<void>;
  /** When the host last ran a command for anyone (ms since epoch), if it has in this process. */
  lastAnsweredAt(host: string): number | undefined;
};

/** Wraps the SSH hosts port: commands, errors (by code) and latency by inventory host and kind. */
export function meteredHosts(hosts: HostsPort & { close(): Promise<void> }, metrics: Metrics): MeteredHosts {
  const answered = new Map<string, number>();
  return {
    has: (host) => hosts.has(host),
    close: () => hosts.close(),
    lastAnsweredAt: (host) => answered.get(host),
    async run(host, command, opts) {
      // Host names may come from Nova (untrusted); only inventory names become labels.
      const known = hosts.has(host);
      const labels = {
        host: known ? host : "other",
        kind: COMMAND_KIND_RE.test(command.kind) ? command.kind : "other",
      };
      metrics.sshCommands.inc(labels);
      const end = metrics.sshSeconds.startTimer(labels);
      try {
        const result = await hosts.run(host, command, opts);
        if (known) answered.set(host, Date.now());
        return result;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        metrics.sshErrors.inc({
          ...labels,
          code: typeof code === "string" && ERROR_CODE_RE.test(code) ? code : "OTHER",
        });
        throw err;
      } finally {
        end();
      }
    },
  };
}

/** Jobs whose phases a store remembers at most (a worker follows up to 2000 at once). */
const MAX_REMEMBERED_JOBS = 10_000;

interface SeenJob {
  /** How many phases the record had posted when this process last read or wrote it. */
  posted: number;
  /** The phase it is in, and since when (null: entered before this process saw it). */
  phase: PhaseName | null;
  since: number | null;
  finished: boolean;
}

/**
 * The migration store, counting as the tracker records progress: each phase entered (the record's
 * `postedPhases` grows, and it is kept in Redis, so a resumed job does not count a phase twice), the
 * time each phase took (when this process saw it begin), and the last phase a job reached.
 */
export class MeteredMigrationStore extends MigrationStore {
  private readonly seen = new Map<string, SeenJob>();

  constructor(
    redis: Redis,
    prefix: string,
    private readonly metrics: Metrics,
    private readonly now: () => number = Date.now,
  ) {
    super(redis, prefix);
  }

  override async load(jobId: string): Promise<MigrationRecord | null> {
    const record = await super.load(jobId);
    // Only the first read sets the baseline: an abort or status action reading a record this
    // process is following must not lose the time its phase began.
    if (record !== null && !this.seen.has(jobId)) {
      const posted = validPhases(record.postedPhases);
      this.remember(jobId, {
        posted: record.postedPhases.length,
        phase: posted.at(-1) ?? null,
        since: null,
        finished: isFinished(record.view.status),
      });
    }
    return record;
  }

  override async save(record: MigrationRecord, json?: string): Promise<void> {
    await super.save(record, json);
    this.noteSaved(record);
  }

  override async saveAndReadControl(
    record: MigrationRecord,
    json?: string,
  ): Promise<MigrationRecord["view"]["control"]> {
    const control = await super.saveAndReadControl(record, json);
    this.noteSaved(record);
    return control;
  }

  /** Counts the phases a saved record reached since the last save, and the time spent in each. */
  private noteSaved(record: MigrationRecord): void {
    const jobId = record.view.jobId;
    const seen = this.seen.get(jobId) ?? { posted: 0, phase: null, since: null, finished: false };
    const at = this.now();
    for (const phase of validPhases(record.postedPhases.slice(seen.posted))) {
      this.endPhase(seen, at);
      this.metrics.phasesReached.inc({ phase });
      seen.phase = phase;
      seen.since = at;
    }
    seen.posted = Math.max(seen.posted, record.postedPhases.length);
    if (!seen.finished && isFinished(record.view.status)) {
      this.endPhase(seen, at);
      seen.finished = true;
    }
    this.remember(jobId, seen);
  }

  /** The last phase this process saw the job reach; `none` when it never reached one. */
  phaseOf(jobId: string): PhaseName | "none" {
    return this.seen.get(jobId)?.phase ?? "none";
  }

  /** Forgets a job that is over in this process. */
  forget(jobId: string): void {
    this.seen.delete(jobId);
  }

  private endPhase(seen: SeenJob, at: number): void {
    if (seen.phase !== null && seen.since !== null) {
      this.metrics.phaseSeconds.observe({ phase: seen.phase }, (at - seen.since) / 1000);
    }
    seen.since = null;
  }

  private remember(jobId: string, seen: SeenJob): void {
    this.seen.delete(jobId);
    this.seen.set(jobId, seen);
    // Handed-back jobs are never settled here: drop the oldest rather than grow without bound.
    if (this.seen.size > MAX_REMEMBERED_JOBS) this.seen.delete(this.seen.keys().next().value!);
  }
}

/** Phase names as the record holds them (Redis is not trusted: unknown names are skipped). */
function validPhases(names: unknown[]): PhaseName[] {
  return names.filter((p): p is PhaseName => (PHASES as readonly unknown[]).includes(p));
}

/** The proposal service with each click on Approve / Reject counted by what it decided. */
export function meteredProposals(service: ProposalService, metrics: Metrics): ProposalService {
  return {
    ...service,
    async claim(id, user, decision, opts) {
      const outcome = await service.claim(id, user, decision, opts);
      metrics.approvals.inc({
        decision: !outcome.ok ? "refused" : decision === "approve" ? "approved" : "rejected",
      });
      return outcome;
    },
  };
}

const MIGRATION_OUTCOMES: readonly MigrationOutcome[] = [
  "completed",
  "failed",
  "aborted",
  "rejected",
  "busy",
];

/** Counts what the BullMQ workers of this process take and settle. */
export interface JobObserver {
  /** Tells it a job was refused (forged): it is then not counted as a migration outcome. */
  refused(queue: string, jobId: string): void;
  /** Listens to the workers' own events: wait time on first take, outcomes, work in hand. */
  attach(workers: Workers): void;
}

/**
 * Job metrics from BullMQ's worker events: the wait before a job is first taken (a job handed back
 * at shutdown and taken again is not counted twice), migration outcomes with the last phase reached
 * (from the metered store), refused jobs, and the migrations in hand.
 */
export function jobObserver(metrics: Metrics, store: MeteredMigrationStore): JobObserver {
  const refusedIds = new Set<string>();
  const waited = (queue: string) => (job: Job) => {
    if (job.attemptsStarted > 1 || job.processedOn === undefined) return;
    metrics.queueWaitSeconds.observe({ queue }, Math.max(0, job.processedOn - job.timestamp) / 1000);
  };
  const settle = (jobId: string | undefined, outcome: MigrationOutcomeLabel) => {
    if (jobId === undefined) return;
    metrics.migrations.inc({ outcome, phase: store.phaseOf(jobId) });
    store.forget(jobId);
  };
  return {
    refused(queue, jobId) {
      metrics.jobsRefused.inc({
        queue: queue === QUEUE_MIGRATIONS || queue === QUEUE_ACTIONS ? queue : "other",
      });
      refusedIds.add(jobId);
    },
    attach(workers) {
      metrics.setActiveMigrations(() => workers.following());
      workers.bull.migrations.on("active", waited(QUEUE_MIGRATIONS));
      workers.bull.actions.on("active", waited(QUEUE_ACTIONS));
      workers.bull.migrations.on("completed", (job, result: unknown) => {
        settle(
          job.id,
          MIGRATION_OUTCOMES.includes(result as MigrationOutcome) ? (result as MigrationOutcome) : "error",
        );
      });
      workers.bull.migrations.on("failed", (job, err) => {
        // Retried jobs come back; only a job that failed for good has an outcome.
        if (job?.id === undefined || job.finishedOn === undefined) return;
        if (refusedIds.delete(job.id)) return;
        settle(job.id, err.message.startsWith("JOB_STALE") ? "stale" : "error");
      });
      workers.bull.actions.on("failed", (job) => {
        if (job?.id !== undefined) refusedIds.delete(job.id);
      });
    },
  };
}

/** Reading the queues' job counts at most this long per scrape: a Redis outage must not hang /metrics. */
export const QUEUE_COUNTS_TIMEOUT_MS = 2_000;

/**
 * Reads the BullMQ queues' job counts for `migbot_queue_jobs`, on the process's own Redis client
 * (shared: closing these queue handles leaves it open). Null when Redis does not answer in time.
 */
export function queueCounts(
  redis: Redis,
  bullPrefix: string,
): { read(): Promise<Record<string, Record<QueueState, number>> | null>; close(): Promise<void> } {
  const queues = [QUEUE_MIGRATIONS, QUEUE_ACTIONS].map((name) => {
    const queue = new Queue(name, { connection: redis, prefix: bullPrefix });
    // Redis trouble is the readiness check's to report; a scrape then just lacks these series.
    queue.on("error", () => {});
    return [name, queue] as const;
  });
  return {
    async read() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), QUEUE_COUNTS_TIMEOUT_MS);
      });
      const read = Promise.all(
        queues.map(
          async ([name, q]) =>
            [name, (await q.getJobCounts(...QUEUE_STATES)) as Record<QueueState, number>] as const,
        ),
      ).then(Object.fromEntries, () => null);
      try {
        return await Promise.race([read, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await Promise.all(queues.map(([, q]) => q.close()));
    },
  };
}
