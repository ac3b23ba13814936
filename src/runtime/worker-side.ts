/**
 * The worker side of migbot, wired once for production (`migbot start --role worker`) and for the
 * sandbox stack: replies through response_url, fixes behind approval, diagnosis, the presenters
 * that show migrations and answers on Slack, and the BullMQ workers that run migrations and
 * actions with all of them hooked in.
 */

import type { Redis } from "ioredis";
import { createAnswerPresenter } from "../../bot/presenters/answers";
import { createAuditPresenter } from "../../bot/presenters/audit";
import { createDiagnosisPresenter } from "../../bot/presenters/diagnosis";
import { createDrainPresenter } from "../../bot/presenters/drain";
import { createMigrationPresenter } from "../../bot/presenters/migration";
import { createProposalPresenter } from "../../bot/presenters/proposals";
import { DEFAULT_CHARTS_PER_MINUTE } from "../config";
import { diagnosisActions } from "../diagnose/run";
import { drainActions } from "../drain";
import { drainPredictor } from "../drain/predict";
import { DrainStore } from "../drain/store";
import type { ApplyTiming } from "../fixes/apply";
import { APPLY_LEASE_PER_JOB_LOCK } from "../fixes/store";
import { createFixActions } from "../fixes/worker";
import {
  drainPresenterWithHome,
  migrationPresenterWithHome,
  proposalPresenterWithHome,
} from "../home/signals";
import type { HostEntry } from "../hosts/inventory";
import type { HostsPort } from "../hosts/port";
import type { Logger } from "../log";
import type { MigrationStore } from "../migration/store";
import type { Notifier } from "../notify/notifier";
import type { ReplyPort } from "../notify/port";
import type { NovaPort } from "../openstack/port";
import { createReply } from "../queue/reply";
import { type QueueConnection, startWorkers, type Workers } from "../queue/worker";
import type { JobVerifier, PlanSealer } from "../signing/signatures";
import { withChartBudget } from "./chart-budget";

export interface WorkerSideOptions {
  redis: Redis;
  prefix: string;
  conn: QueueConnection;
  store: MigrationStore;
  nova: NovaPort;
  hosts: HostsPort;
  inventory: HostEntry[];
  notifier: Notifier;
  log: Logger;
  /** Seals and checks fix plans (MIGBOT_WORKER_KEY). */
  sealer: PlanSealer;
  /** Checks the bot's signature on every job (MIGBOT_BOT_VERIFY_KEY). */
  verifier: JobVerifier;
  proposalTtlS: number;
  pollIntervalMs: number;
  concurrency: number;
  lockDurationMs?: number;
  /** Origins response_url replies may go to (responseUrlOrigins(config.slack.apiUrl)). */
  responseUrlOrigins: string[];
  /** Start the BullMQ workers (tests that run workers in other processes say false). */
  startWorkers: boolean;
  applyTiming?: Partial<ApplyTiming>;
  /** Told of each job refused for its signature, after it is audited (metrics). */
  onRefusedJob?: (queue: string, jobId: string) => void;
  /** The fetch replies through response_url go over (metrics count them). @defaultValue the global fetch */
  replyFetch?: typeof fetch;
  /** Told when something the App Home tab shows changed (a migration's phase or end, a proposal). */
  onHomeChange?: () => void;
  /** Convergence prediction before /migrate triggers (MIGBOT_PREDICT). @defaultValue "off" */
  predict?: "off" | "show" | "ask";
  /** Charts this worker draws in any minute (MIGBOT_CHARTS_PER_MINUTE). @defaultValue DEFAULT_CHARTS_PER_MINUTE */
  chartsPerMinute?: number;
}

export interface WorkerSide {
  reply: ReplyPort;
  /** Proposals as the worker side stores and posts them (tests read them). */
  proposals: ReturnType<typeof createFixActions>["proposals"];
  workers: Workers | null;
}

export function startWorkerSide(opts: WorkerSideOptions): WorkerSide {
  const { redis, prefix, nova, hosts, notifier, store, log } = opts;
  const reply = createReply({
    ephemeral: (c, u, m) => notifier.ephemeral(c, u, m),
    log,
    origins: opts.responseUrlOrigins,
    ...(opts.replyFetch && { fetchImpl: opts.replyFetch }),
  });
  const homeChanged = opts.onHomeChange ?? (() => {});
  const serviceByHost = new Map(opts.inventory.map((h) => [h.name, h.novaComputeService ?? "nova-compute"]));
  // fixes behind approval: apply-proposal jobs and /migrate audit.
  const fixes = createFixActions({
    redis,
    prefix,
    sealer: opts.sealer,
    nova,
    hosts,
    presenter: proposalPresenterWithHome(createProposalPresenter({ notifier, reply }), homeChanged),
    audits: createAuditPresenter({ reply }),
    store,
    log: log.child({ component: "fixes" }),
    proposalTtlS: opts.proposalTtlS,
    serviceFor: (host) => serviceByHost.get(host) ?? "nova-compute",
    ...(opts.applyTiming && { applyTiming: opts.applyTiming }),
    // A killed worker's apply is taken over on the same clock as its migrations are resumed: the
    // re-run job comes once the job lock lapses, and finds the apply lease lapsing soon after.
    ...(opts.lockDurationMs !== undefined && {
      applyLeaseMs: opts.lockDurationMs * APPLY_LEASE_PER_JOB_LOCK,
      applyLeaseRenewIntervalMs: Math.max(1, Math.floor(opts.lockDurationMs / 2)),
    }),
  });
  // diagnosis: /diagnose jobs, and a troubled /migrate thread diagnosing itself; proposes through fixes.
  const diagnosis = diagnosisActions({
    nova,
    hosts,
    inventory: opts.inventory,
    presenter: createDiagnosisPresenter({ notifier, reply }),
    log: log.child({ component: "diagnose" }),
    proposals: fixes.proposals,
  });
  // drains: /drain plans (sealed like fix plans), the approved drain as one resumable job.
  const drains = drainActions({
    store: new DrainStore(redis, prefix, opts.sealer),
    migrations: store,
    nova,
    hosts,
    inventory: opts.inventory,
    presenter: drainPresenterWithHome(
      createDrainPresenter({ notifier, reply, files: notifier }),
      homeChanged,
    ),
    audit: fixes.proposals.audit,
    log: log.child({ component: "drain" }),
    // Each VM's expected outcome from its measured dirty rate (src/predict), as /diagnose shows it.
    predict: drainPredictor({ hosts, nova, log: log.child({ component: "drain" }) }),
    pollIntervalMs: opts.pollIntervalMs,
    tracking: {
      pollIntervalMs: opts.pollIntervalMs,
      onTrouble: (record, kind) => diagnosis.onTrouble(record, kind),
    },
  });
  const workers = opts.startWorkers
    ? startWorkers(opts.conn, {
        verifier: opts.verifier,
        audit: fixes.proposals.audit,
        onRefusedJob: async ({ queue, jobId, reason }) => {
          opts.onRefusedJob?.(queue, jobId);
          await fixes.proposals.audit.write({
            actor: "",
            action: "job-refused",
            what: `refused job ${jobId} in ${queue}: not signed by the bot`,
            detail: reason,
            result: "refused",
          });
        },
        nova,
        hosts,
        presenter: migrationPresenterWithHome(
          withChartBudget(
            createMigrationPresenter(notifier, notifier),
            opts.chartsPerMinute ?? DEFAULT_CHARTS_PER_MINUTE,
            log.child({ component: "charts" }),
          ),
          homeChanged,
        ),
        store,
        answer: createAnswerPresenter(reply),
        log: log.child({ component: "worker" }),
        pollIntervalMs: opts.pollIntervalMs,
        concurrency: opts.concurrency,
        ...(opts.lockDurationMs !== undefined && { lockDurationMs: opts.lockDurationMs }),
        extraActions: async (job) =>
          (await fixes.handle(job)) || (await drains.handle(job)) || diagnosis.handle(job),
        drain: (jobId, job, signal) => drains.run(jobId, job, signal),
        migrationHooks: {
          onTrouble: (record, kind) => diagnosis.onTrouble(record, kind),
          onFixFirst: (record) => diagnosis.onFixFirst(record),
          predict: opts.predict ?? "off",
        },
      })
    : null;
  return { reply, proposals: fixes.proposals, workers };
}
