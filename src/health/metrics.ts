/**
 * src/health: is this migbot process alive, ready, and how is it doing. Liveness and readiness
 * checks (readiness.ts), the HTTP routes and server that answer /healthz, /readyz and /metrics
 * (server.ts), Prometheus metrics (this file), and the decorators that count and time the ports
 * without the domain knowing (instrument.ts). Wired in by the composition root (src/runtime/roles.ts).
 *
 * Metrics use prom-client, Prometheus' own Node.js client: it writes the exposition format, keeps
 * histograms and adds the process metrics (CPU, memory, event-loop lag, open handles). Each process
 * gets its own registry, so the stacks a test starts side by side never mix their counts.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Role } from "../config";

/** Every metric of migbot's own starts with this. */
export const METRIC_PREFIX = "migbot_";

/** A migration phase takes seconds (reservation) to an hour (a slow pre-copy). */
const PHASE_SECONDS_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];
/** A queued job waits milliseconds when a worker is free, minutes when all are busy. */
const QUEUE_WAIT_SECONDS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
/** SSH commands and Nova calls: tens of ms on a LAN, seconds for a slow host or a loaded API. */
const CALL_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * How a migration job ended: the tracker's outcomes, a request too old to start (`stale`), or a job
 * that failed for good otherwise (`error`: Nova or the hosts unreachable through every retry, a bug).
 */
export type MigrationOutcomeLabel =
  | "completed"
  | "failed"
  | "aborted"
  | "rejected"
  | "busy"
  | "stale"
  | "error";

/** The states of a BullMQ queue reported as `migbot_queue_jobs`: its depth and what is in hand. */
export const QUEUE_STATES = ["waiting", "prioritized", "delayed", "active", "failed"] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** One process's metrics: the registry /metrics serves, and the instruments the decorators feed. */
export interface Metrics {
  registry: Registry;
  migrations: Counter<"outcome" | "phase">;
  phasesReached: Counter<"phase">;
  phaseSeconds: Histogram<"phase">;
  queueWaitSeconds: Histogram<"queue">;
  slackCalls: Counter<"method">;
  slackRateLimited: Counter<"method">;
  slackErrors: Counter<"method" | "error">;
  sshCommands: Counter<"host" | "kind">;
  sshErrors: Counter<"host" | "kind" | "code">;
  sshSeconds: Histogram<"host" | "kind">;
  novaRequests: Counter<"method" | "status_class">;
  novaSeconds: Histogram<"method">;
  keystoneRequests: Counter<"status_class">;
  approvals: Counter<"decision">;
  jobsRefused: Counter<"queue">;
  /** Where `migbot_migrations_active` reads from: the migrations this process follows now. */
  setActiveMigrations(source: () => number): void;
  /** Where `migbot_queue_jobs` reads from at each scrape (null: not known now, left out). */
  setQueueCounts(source: () => Promise<Record<string, Record<QueueState, number>> | null>): void;
}

/** Creates a process's registry with migbot's metrics and the default process metrics. */
export function createMetrics(opts: { role: Role }): Metrics {
  const registry = new Registry();
  // Every series says which role answered, so one dashboard can tell the bot from the workers.
  registry.setDefaultLabels({ role: opts.role });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let activeSource: () => number = () => 0;
  let queueSource: () => Promise<Record<string, Record<QueueState, number>> | null> = async () => null;

  new Gauge({
    name: `${METRIC_PREFIX}migrations_active`,
    help: "Migrations this process follows now.",
    registers,
    collect() {
      this.set(activeSource());
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}queue_jobs`,
    help: "Jobs in each BullMQ queue by state (waiting + prioritized + delayed is the depth), read from Redis at each scrape.",
    labelNames: ["queue", "state"],
    registers,
    async collect() {
      const counts = await queueSource();
      this.reset();
      if (counts === null) return;
      for (const [queue, byState] of Object.entries(counts)) {
        for (const state of QUEUE_STATES) this.set({ queue, state }, byState[state] ?? 0);
      }
    },
  });

  return {
    registry,
    migrations: new Counter({
      name: `${METRIC_PREFIX}migrations_total`,
      help: "Migration jobs this process finished, by outcome and the last phase they reached (none: never started).",
      labelNames: ["outcome", "phase"],
      registers,
    }),
    phasesReached: new Counter({
      name: `${METRIC_PREFIX}migration_phases_reached_total`,
      help: "Migration phases entered (each phase of each migration once, across worker restarts).",
      labelNames: ["phase"],
      registers,
    }),
    phaseSeconds: new Histogram({
      name: `${METRIC_PREFIX}migration_phase_duration_seconds`,
      help: "Time spent in each migration phase, as the tracker's polls saw it (a phase that began and ended between two polls counts near 0).",
      labelNames: ["phase"],
      buckets: PHASE_SECONDS_BUCKETS,
      registers,
    }),
    queueWaitSeconds: new Histogram({
      name: `${METRIC_PREFIX}queue_wait_seconds`,
      help: "How long a job waited in its queue before a worker first took it (BullMQ processedOn - timestamp).",
      labelNames: ["queue"],
      buckets: QUEUE_WAIT_SECONDS_BUCKETS,
      registers,
    }),
    slackCalls: new Counter({
      name: `${METRIC_PREFIX}slack_api_calls_total`,
      help: "Slack Web API calls by method (response_url replies as method response_url).",
      labelNames: ["method"],
      registers,
    }),
    slackRateLimited: new Counter({
      name: `${METRIC_PREFIX}slack_api_rate_limited_total`,
      help: "Slack Web API calls answered HTTP 429 (rate limited), by method.",
      labelNames: ["method"],
      registers,
    }),
    slackErrors: new Counter({
      name: `${METRIC_PREFIX}slack_api_errors_total`,
      help: "Slack Web API calls that failed otherwise, by method and Slack's error (ok:false), http_<status> or network.",
      labelNames: ["method", "error"],
      registers,
    }),
    sshCommands: new Counter({
      name: `${METRIC_PREFIX}ssh_commands_total`,
      help: "Catalogue commands run over SSH, by inventory host and command kind.",
      labelNames: ["host", "kind"],
      registers,
    }),
    sshErrors: new Counter({
      name: `${METRIC_PREFIX}ssh_errors_total`,
      help: "SSH commands that failed, by host, command kind and error code (HOST_UNREACHABLE, HOST_TIMEOUT, ...).",
      labelNames: ["host", "kind", "code"],
      registers,
    }),
    sshSeconds: new Histogram({
      name: `${METRIC_PREFIX}ssh_command_duration_seconds`,
      help: "Time of SSH commands (connection included when one was opened), by host and command kind.",
      labelNames: ["host", "kind"],
      buckets: CALL_SECONDS_BUCKETS,
      registers,
    }),
    novaRequests: new Counter({
      name: `${METRIC_PREFIX}nova_requests_total`,
      help: "HTTP requests to the Nova API by method and status class (2xx, 4xx, 5xx; error: no answer).",
      labelNames: ["method", "status_class"],
      registers,
    }),
    novaSeconds: new Histogram({
      name: `${METRIC_PREFIX}nova_request_duration_seconds`,
      help: "Time of HTTP requests to the Nova API, by method.",
      labelNames: ["method"],
      buckets: CALL_SECONDS_BUCKETS,
      registers,
    }),
    keystoneRequests: new Counter({
      name: `${METRIC_PREFIX}keystone_requests_total`,
      help: "Token requests to Keystone by status class (error: no answer).",
      labelNames: ["status_class"],
      registers,
    }),
    approvals: new Counter({
      name: `${METRIC_PREFIX}approvals_total`,
      help: "Clicks on fix proposals by decision: approved, rejected, or refused (not an approver, expired, already decided...).",
      labelNames: ["decision"],
      registers,
    }),
    jobsRefused: new Counter({
      name: `${METRIC_PREFIX}jobs_refused_total`,
      help: "Jobs refused unread because the bot's signature did not verify (forged or altered in Redis), by queue.",
      labelNames: ["queue"],
      registers,
    }),
    setActiveMigrations(source) {
      activeSource = source;
    },
    setQueueCounts(source) {
      queueSource = source;
    },
  };
}
