/**
 * The composition root: one function that builds a migbot process from its config — the bot
 * (Slack-facing: Bolt app, signed enqueuer, approval buttons), the worker side (SSH hosts, Nova,
 * notifier, presenters, BullMQ workers), or both — for production and the sandbox alike. The
 * sandbox only differs in the config it hands in (its clouds.yaml, inventory, emulator URL) and a
 * few timing overrides; nothing here imports src/sandbox or the test tree.
 *
 * Every process also answers /healthz, /readyz and /metrics (src/health): on the bot's receiver in
 * HTTP mode, else on a small server of its own (MIGBOT_HEALTH_PORT). The ports are wrapped here with
 * decorators that count and time them (Slack, Keystone and Nova through their fetch, SSH hosts, the
 * worker's migration store, approvals, the BullMQ workers' events); the domain does not know.
 *
 * Shutdown runs in dependency order: readiness turns to "shutting down", then stop taking work (the
 * bot's receiver, which lets requests in flight finish, then the workers, which hand their jobs
 * back), then what the workers used while finishing (enqueuer, notifier, hosts), then the health
 * server and Redis.
 */
import { webApi } from "@slack/bolt";
import type { Redis } from "ioredis";
import { AccessControl } from "../../bot/access";
import { registerApprovalActions } from "../../bot/actions/approval";
import { registerDrainActions } from "../../bot/actions/drain";
import { type Bot, startBot } from "../../bot/app";
import { createHomePresenter } from "../../bot/presenters/home";
import { createAuditLog } from "../audit/stream";
import type { Config } from "../config";
import { drainHomeSource } from "../drain/home";
import { DrainStore } from "../drain/store";
import type { ApplyTiming } from "../fixes/apply";
import { createProposalService, type ProposalService } from "../fixes/service";
import { ProposalStore } from "../fixes/store";
import {
  jobObserver,
  keystoneFetch,
  MeteredMigrationStore,
  meteredHosts,
  meteredProposals,
  novaFetch,
  queueCounts as queueJobCounts,
  responseUrlFetch,
  slackCallObserver,
  slackFetch,
} from "../health/instrument";
import { createMetrics, type Metrics } from "../health/metrics";
import { hostsCheck, keystoneCheck, Readiness, redisCheck, slackAuthCheck } from "../health/readiness";
import { type HealthServer, healthRoutes, startHealthServer } from "../health/server";
import type { DrainSource } from "../home/index";
import { readHomeSnapshot } from "../home/read";
import { createHomeRefresher, type HomeRefresher } from "../home/refresher";
import { proposalServiceWithHome } from "../home/signals";
import { HomeViewers } from "../home/viewers";
import { SshExecutor } from "../hosts/executor";
import type { HostEntry } from "../hosts/inventory";
import { loadInventory } from "../hosts/inventory-file";
import type { HostsPort } from "../hosts/port";
import type { Logger } from "../log";
import { MigrationStore } from "../migration/store";
import { createNotifier, type Notifier, type NotifierOptions } from "../notify/notifier";
import { httpSlackApi, slackWebClientOptions, webClientSlackApi } from "../notify/slack-api";
import type { NovaPort } from "../openstack/port";
import { responseUrlOrigins } from "../queue/reply";
import { createEnqueuer, type Workers } from "../queue/worker";
import type { JobSigner } from "../signing/signatures";
import { migrationCapacity } from "./capacity";
import { connectRedis, REDIS_START_READY_WAIT_MS, redisReady } from "./connections";
import { hostsPort } from "./hosts";
import { boundedFetch, connectNova } from "./nova";
import { need, trustOf } from "./trust";
import { startWorkerSide } from "./worker-side";

export interface RoleOverrides {
  /** HTTP port of the bot's receiver; 0 = a free one. @defaultValue config.slack.port */
  botPort?: number;
  /** Start BullMQ workers in this process. @defaultValue true when the role runs a worker */
  startWorkers?: boolean;
  /** @defaultValue config.worker.concurrency */
  concurrency?: number;
  /** @defaultValue config.worker.lockDurationMs */
  lockDurationMs?: number;
  applyTiming?: Partial<ApplyTiming>;
  /** Pacing of the notifier (only for scenarios that also run Slack's clock faster). */
  notifierPacing?: Pick<NotifierOptions, "rules" | "minUpdateIntervalMs" | "retryBaseMs">;
  /** Port of the health server (when the process has no HTTP receiver); 0 = a free one. @defaultValue config.healthPort */
  healthPort?: number;
  /** One Home tab publish per user at most this often. @defaultValue HOME_MIN_PUBLISH_INTERVAL_MS (3 s) */
  homeIntervalMs?: number;
  /** Where the Home tab reads running drains (the drain feature). @defaultValue none: no drain section */
  drains?: DrainSource;
}

/** A running migbot process. Fields of a role the process does not run are null. */
export interface RunningRoles {
  config: Config;
  /** Migrations this process follows at once (the config's, bounded by its heap); null without workers. */
  migrationConcurrency: number | null;
  redis: Redis;
  store: MigrationStore;
  bot: Bot | null;
  /** Signs jobs as the bot does (bot roles only). */
  signer: JobSigner | null;
  /** Jobs not finished yet across the queues (bot roles only). */
  queueCounts: (() => Promise<number>) | null;
  inventory: HostEntry[] | null;
  notifier: Notifier | null;
  hosts: (HostsPort & { close(): Promise<void> }) | null;
  nova: NovaPort | null;
  /** Proposals as the worker side stores and posts them. */
  proposals: ProposalService | null;
  /** The App Home tab: `opened(user)` when someone opens it, `changed()` when what it shows changed. */
  home: HomeRefresher;
  workers: Workers | null;
  /** This process's Prometheus registry and instruments (served at /metrics). */
  metrics: Metrics;
  /** This process's readiness checks (served at /readyz). */
  readiness: Readiness;
  /** The health server's port, when the process runs one (no HTTP receiver); else the receiver serves. */
  healthPort: number | null;
  /** Stops everything in dependency order; a second call does nothing. */
  stop(): Promise<void>;
}

/** Builds and starts the roles the config names (`config.role`). */
export async function startRoles(
  config: Config,
  log: Logger,
  overrides: RoleOverrides = {},
): Promise<RunningRoles> {
  const runsBot = config.role !== "worker";
  const runsWorker = config.role !== "bot";
  const trust = trustOf(config);
  const connections = connectRedis(config, log.child({ component: "redis" }));
  const { redis } = connections;
  const store = new MigrationStore(redis, config.redisPrefix);
  // The producers' connections are kept to wait for at start (see REDIS_START_READY_WAIT_MS).
  const producers: ReturnType<typeof connections.bull.producer>[] = [];
  const conn = {
    connection: connections.bull,
    producer: () => {
      const client = connections.bull.producer();
      producers.push(client);
      return client;
    },
    prefix: `${config.redisPrefix}:bull`,
  };
  const metrics = createMetrics({ role: config.role });
  const readiness = new Readiness(secretsOf(config));
  readiness.add("redis", redisCheck(redis));
  const routes = healthRoutes({ readiness, metrics, log: log.child({ component: "health" }) });

  // Stop steps by stage: lower stages stop first (taking work, then finishing it, then the rest).
  const stages: (() => Promise<void>)[][] = [[], [], [], []];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    readiness.stopping();
    for (const stage of stages) {
      for (const fn of stage.reverse()) await fn().catch((err) => log.warn("shutdown step failed", { err }));
    }
  };
  stages[3]!.push(() => connections.close());
  const jobCounts = queueJobCounts(redis, conn.prefix);
  metrics.setQueueCounts(() => jobCounts.read());
  stages[3]!.push(() => jobCounts.close());

  try {
    // In HTTP mode the bot's receiver serves the health routes; any other process gets a server.
    let health: HealthServer | null = null;
    if (!(runsBot && config.slack.transport === "http")) {
      health = await startHealthServer(overrides.healthPort ?? config.healthPort, routes, log);
      const server = health;
      stages[3]!.push(() => server.close());
    }

    // Every role publishes Home tabs (the bot when someone opens one or decides, the workers as
    // migrations and proposals change), through one notifier per process and the shared limiter.
    const web = new webApi.WebClient(config.slack.botToken, {
      ...slackWebClientOptions(config.slack.apiUrl),
      fetch: slackFetch(metrics),
    });
    // The notifier's own lean client (httpSlackApi: why, see there); the WebClient stays for auth.test
    // and the Home tab's permalinks.
    const slackApi = httpSlackApi({
      token: config.slack.botToken,
      ...(config.slack.apiUrl !== undefined && { apiUrl: config.slack.apiUrl }),
      observe: slackCallObserver(metrics),
      uploads: webClientSlackApi(web),
    });
    const slackNotifier = createNotifier({
      redis,
      api: slackApi,
      prefix: config.redisPrefix,
      log,
      ...overrides.notifierPacing,
    });
    // After the workers: a tracker finishing its poll during shutdown still posts.
    stages[2]!.push(async () => {
      await slackNotifier.close();
      await slackApi.close();
    });
    const home = startHome(config, redis, web, slackNotifier, overrides, log);
    stages[1]!.push(() => home.close());

    let bot: Bot | null = null;
    let signer: JobSigner | null = null;
    let queueCounts: (() => Promise<number>) | null = null;
    if (runsBot) {
      signer = need(trust.signer, "MIGBOT_BOT_SIGNING_KEY");
      // The acknowledgement path fails fast while Redis is away: the person is told within Slack's
      // 3 s that nothing was queued, instead of waiting on a reconnection.
      const enqueuer = createEnqueuer(
        conn,
        new MigrationStore(connections.failFast, config.redisPrefix),
        signer,
        log.child({ component: "enqueue" }),
      );
      stages[2]!.push(() => enqueuer.close());
      queueCounts = () => enqueuer.pending();
      if (!(await redisReady([connections.failFast, ...producers], REDIS_START_READY_WAIT_MS))) {
        log.warn("Redis is not reachable yet; commands are answered that nothing can be queued until it is", {
          waitedMs: REDIS_START_READY_WAIT_MS,
        });
      }
      bot = await startBot({
        config,
        enqueue: enqueuer,
        store,
        redis,
        log: log.child({ component: "bot" }),
        ...(overrides.botPort !== undefined && { port: overrides.botPort }),
        ...(config.slack.transport === "http" && { customRoutes: routes }),
        slackFetch: slackFetch(metrics),
        // Someone opened the Home tab: shown at once, then kept up to date.
        home,
        // Approve / Reject / Retry: the bot decides, it never posts proposals or seals plans.
        registerExtra: (app, deps) => {
          registerApprovalActions(
            proposalServiceWithHome(
              meteredProposals(
                createProposalService({
                  redis,
                  prefix: config.redisPrefix,
                  presenter: null,
                  sealer: null,
                  ttlS: config.proposalTtlS,
                  log,
                }),
                metrics,
              ),
              () => home.changed(),
            ),
          )(app, deps);
          // /drain and its buttons: the bot decides, it never seals plans.
          registerDrainActions(
            new DrainStore(redis, config.redisPrefix),
            createAuditLog(redis, config.redisPrefix),
          )(app, deps);
        },
      });
      const running = bot;
      stages[0]!.push(() => running.stop());
      readiness.add(
        "slack",
        slackAuthCheck(() => running.app.client.auth.test()),
      );
    }

    let inventory: HostEntry[] | null = null;
    let notifier: Notifier | null = null;
    let hosts: RunningRoles["hosts"] = null;
    let nova: NovaPort | null = null;
    let proposals: ProposalService | null = null;
    let workers: Workers | null = null;
    let migrationConcurrency: number | null = null;
    if (runsWorker) {
      inventory = loadInventory(need(config.inventoryPath ?? null, "MIGBOT_INVENTORY"));
      const exec = new SshExecutor(inventory, {
        log,
        ...(config.knownHostsPath !== undefined && { knownHostsPath: config.knownHostsPath }),
        // The agent socket comes from the config only.
        ...(config.sshAuthSock !== undefined && { agentSocket: config.sshAuthSock }),
      });
      const sshHosts = meteredHosts(hostsPort(inventory, exec), metrics);
      hosts = sshHosts;
      stages[2]!.push(() => sshHosts.close());
      // One Slack check per process: in role all the bot's and the workers' token are the same.
      readiness.add(
        "slack",
        slackAuthCheck(() => web.auth.test()),
      );
      notifier = slackNotifier;
      const openstack = await connectNova(config.openstack, log, {
        keystone: keystoneFetch(metrics, boundedFetch()),
        nova: novaFetch(metrics, boundedFetch()),
      });
      nova = openstack.nova;
      readiness.add("nova", keystoneCheck(openstack.auth));
      const serviceByHost = new Map(inventory.map((h) => [h.name, h.novaComputeService ?? "nova-compute"]));
      readiness.add(
        "hosts",
        hostsCheck(sshHosts, {
          names: inventory.map((h) => h.name),
          serviceFor: (host) => serviceByHost.get(host) ?? "nova-compute",
          lastAnsweredAt: (host) => sshHosts.lastAnsweredAt(host),
        }),
      );
      // The worker side's own store counts phases as the tracker records them.
      const workerStore = new MeteredMigrationStore(redis, config.redisPrefix, metrics);
      const observer = jobObserver(metrics, workerStore);
      const capacity = migrationCapacity(overrides.concurrency ?? config.worker.concurrency);
      if (capacity.cappedByHeap) {
        log.warn(
          `concurrency capped at ${capacity.concurrency} by the heap limit (${Math.round(capacity.heapLimitBytes / 1048576)} MB): MIGBOT_WORKER_CONCURRENCY asked for ${overrides.concurrency ?? config.worker.concurrency}. Run more workers, or give this one a larger --max-old-space-size.`,
          { heapAllows: capacity.heapAllows },
        );
      }
      migrationConcurrency = capacity.concurrency;
      const side = startWorkerSide({
        redis,
        prefix: config.redisPrefix,
        conn,
        store: workerStore,
        onRefusedJob: (queue, jobId) => observer.refused(queue, jobId),
        replyFetch: responseUrlFetch(metrics),
        nova,
        hosts: sshHosts,
        inventory,
        notifier: slackNotifier,
        log,
        sealer: need(trust.sealer, "MIGBOT_WORKER_KEY"),
        verifier: need(trust.verifier, "MIGBOT_BOT_VERIFY_KEY"),
        proposalTtlS: config.proposalTtlS,
        responseUrlOrigins: responseUrlOrigins(config.slack.apiUrl),
        pollIntervalMs: config.worker.pollIntervalMs,
        predict: config.worker.predict,
        chartsPerMinute: config.worker.chartsPerMinute,
        concurrency: capacity.concurrency,
        lockDurationMs: overrides.lockDurationMs ?? config.worker.lockDurationMs,
        startWorkers: overrides.startWorkers !== false,
        onHomeChange: () => home.changed(),
        ...(overrides.applyTiming && { applyTiming: overrides.applyTiming }),
      });
      proposals = side.proposals;
      workers = side.workers;
      if (workers) {
        const running = workers;
        observer.attach(running);
        stages[1]!.push(() => running.close());
      }
    }
    readiness.started();
    return {
      migrationConcurrency,
      config,
      redis,
      store,
      bot,
      signer,
      queueCounts,
      inventory,
      notifier,
      hosts,
      nova,
      proposals,
      home,
      workers,
      metrics,
      readiness,
      healthPort: health?.port ?? null,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The Home tab's refresher of this process: reads Redis, shows proposals to approvers, publishes paced. */
function startHome(
  config: Config,
  redis: Redis,
  web: webApi.WebClient,
  notifier: Notifier,
  overrides: RoleOverrides,
  log: Logger,
): HomeRefresher {
  const access = new AccessControl(
    config.access,
    async (group) => (await web.usergroups.users.list({ usergroup: group })).users ?? [],
    log,
  );
  // The workspace's URL (for links to threads) once known; asked again after a failure.
  let workspaceUrl: Promise<string | null> | undefined;
  const url = () => {
    workspaceUrl ??= web.auth.test().then(
      (r) => r.url ?? null,
      () => {
        workspaceUrl = undefined;
        return null;
      },
    );
    return workspaceUrl;
  };
  const migrations = new MigrationStore(redis, config.redisPrefix);
  const proposals = new ProposalStore(redis, config.redisPrefix);
  return createHomeRefresher({
    redis,
    prefix: config.redisPrefix,
    viewers: new HomeViewers(redis, config.redisPrefix),
    read: () =>
      readHomeSnapshot({
        migrations,
        proposals,
        drains: overrides.drains ?? drainHomeSource(redis, config.redisPrefix),
      }),
    publisher: createHomePresenter({ home: notifier, access, workspaceUrl: url }),
    ...(overrides.homeIntervalMs !== undefined && { minIntervalMs: overrides.homeIntervalMs }),
    log,
  });
}

/** Values that must never appear in a readiness report, removed should an error quote one. */
function secretsOf(config: Config): string[] {
  const secrets = [config.slack.botToken, config.slack.signingSecret, config.slack.appToken];
  if (config.redisUrl !== undefined) {
    try {
      secrets.push(decodeURIComponent(new URL(config.redisUrl).password));
    } catch {
      // An unparsable URL never reached Redis; nothing to hide from its errors.
    }
  }
  if (config.redisSentinelPassword !== undefined) secrets.push(config.redisSentinelPassword);
  for (const [name, value] of Object.entries(config.openstack.env)) {
    if (/PASSWORD|SECRET|TOKEN/.test(name)) secrets.push(value);
  }
  return secrets.filter((s): s is string => s !== undefined && s !== "");
}
