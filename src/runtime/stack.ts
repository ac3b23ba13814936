/**
 * The sandbox stack: the built-in cloud (or another cloud handed in through `cloud`, such as the
 * lab's data plane), the Slack emulator and a private Redis, with migbot itself built by the one
 * composition root (roles.ts) from the config a user would write for them. For `npm start`, tests
 * and benchmarks; production never loads this file.
 */
import type { Redis } from "ioredis";
import type { Bot } from "../../bot/app";
import type { Config } from "../config";
import { loadConfig } from "../config";
import type { ProposalService } from "../fixes/service";
import type { HomeRefresher } from "../home/refresher";
import type { HostEntry } from "../hosts/inventory";
import type { HostsPort } from "../hosts/port";
import { type Logger, silentLogger } from "../log";
import type { MigrationStore } from "../migration/store";
import type { Notifier, NotifierOptions } from "../notify/notifier";
import type { NovaPort } from "../openstack/port";
import type { Workers } from "../queue/worker";
import { SANDBOX_CLOUD_NAME, type Sandbox, type SandboxSeed, startSandbox } from "../sandbox";
import { type SlackEmulator, type SlackLimits, startSlackEmulator } from "../sandbox/slack/emulator";
import { generateKeySet } from "../signing/keys";
import type { JobSigner } from "../signing/signatures";
import { createNova } from "./nova";
import { type PrivateRedis, startPrivateRedis } from "./redis-server";
import { startRoles } from "./roles";

/** The sandbox's people: one operator, one approver (also an operator), one with neither role. */
export const SANDBOX_USERS = [
  { id: "U0ALICE01", name: "alice", realName: "Alice (operator)" },
  { id: "U0BOB0001", name: "bob", realName: "Bob (approver)" },
  { id: "U0CAROL01", name: "carol", realName: "Carol (no role)" },
] as const;
export const SANDBOX_CHANNEL = { id: "C0OPS0001", name: "ops" } as const;
export const SANDBOX_OPERATORS_GROUP = {
  id: "S0OPS0001",
  handle: "cloud-ops",
  users: ["U0ALICE01", "U0BOB0001"],
};
const SANDBOX_SIGNING_SECRET = "sandbox-signing-secret-not-for-production";
const SANDBOX_BOT_TOKEN = "xoxb-sandbox-0000-not-a-real-token";

/** Sandbox polls faster than production so a demo migration shows every phase in seconds. */
export const SANDBOX_POLL_INTERVAL_MS = 500;
/**
 * The sandbox's Nova reports a restarted nova-compute up only after its first report (10 model s),
 * later than a bad config kills it (2 model s), so a short settle is enough there.
 */
export const SANDBOX_SERVICE_SETTLE_MS = 1_000;

/**
 * What the stack needs from a cloud: the compute hosts to reach over SSH, the inventory and
 * clouds.yaml (with a cloud named `migbot-sandbox` unless it says otherwise) a user would point
 * migbot at, and a way to stop it.
 */
export interface CloudLike {
  hosts: HostEntry[];
  inventoryPath: string;
  cloudsYamlPath: string;
  /** The cloud's name in clouds.yaml (`OS_CLOUD`). @defaultValue {@link SANDBOX_CLOUD_NAME} */
  cloudName?: string;
  stop(): Promise<void>;
}

export interface StackOptions<C extends CloudLike = Sandbox> {
  /** Use this Redis; otherwise a private redis-server is started. */
  redisUrl?: string;
  /** Key prefix, unique per test. @defaultValue "migbot" */
  prefix?: string;
  /**
   * Starts the cloud instead of the built-in sandbox (e.g. the lab's data plane); `timeScale` and
   * `seed` then do not apply. @defaultValue the built-in sandbox
   */
  cloud?: (log: Logger) => Promise<C>;
  /** Sandbox model seconds per real second. */
  timeScale?: number;
  pollIntervalMs?: number;
  /**
   * How long Nova must show a restarted nova-compute up before a fix counts as applied.
   * @defaultValue {@link SANDBOX_SERVICE_SETTLE_MS}
   */
  serviceSettleMs?: number;
  /** Start workers in this process. @defaultValue true */
  workers?: boolean;
  concurrency?: number;
  lockDurationMs?: number;
  slackLimits?: Partial<SlackLimits>;
  /** The sandbox cloud's hosts and VMs (scale scenarios bring many). @defaultValue DEFAULT_SEED */
  seed?: SandboxSeed;
  /**
   * Pacing of the in-process notifier. Only for scenarios that run Slack's clock faster together
   * with `slackLimits`; the defaults are Slack's own limits.
   */
  notifierPacing?: Pick<NotifierOptions, "rules" | "minUpdateIntervalMs" | "retryBaseMs">;
  log?: Logger;
  /** Extra environment for the config (e.g. MIGBOT_ALLOW_SELF_APPROVAL). */
  env?: Record<string, string>;
  /** One Home tab publish per user at most this often. @defaultValue 3 s */
  homeIntervalMs?: number;
}

export interface SandboxStack<C extends CloudLike = Sandbox> {
  config: Config;
  redisUrl: string;
  prefix: string;
  redis: Redis;
  sandbox: C;
  slack: SlackEmulator;
  bot: Bot;
  workers: Workers | null;
  notifier: Notifier;
  nova: NovaPort;
  hosts: HostsPort & { close(): Promise<void> };
  store: MigrationStore;
  /** Fix proposals (fixes behind approval): propose, get, claim; posts through the stack's notifier. */
  proposals: ProposalService;
  /** The App Home tab's refresher (tests wait on `home.idle()`). */
  home: HomeRefresher;
  /** Jobs not finished yet, across all queues. */
  queueCounts(): Promise<number>;
  /** Signs jobs as this stack's bot does (for tests and benchmarks that enqueue directly). */
  signer: JobSigner;
  /** Environment a separate worker process needs to join this stack (see `migbot start --role worker`). */
  workerEnv: Record<string, string>;
  /** Environment a separate bot process needs to stand in for this stack's bot (`--role bot`; give it a PORT). */
  botEnv: Record<string, string>;
  stop(): Promise<void>;
}

/** What a separate `--role worker` process of this stack gets: the worker's share of the environment. */
function workerRoleEnv(env: Record<string, string>): Record<string, string> {
  const { SLACK_SIGNING_SECRET: _secret, MIGBOT_BOT_SIGNING_KEY: _signing, ...rest } = env;
  return rest;
}

/** What a separate `--role bot` process of this stack gets: all but the workers' sealing key. */
function botRoleEnv(env: Record<string, string>): Record<string, string> {
  const { MIGBOT_WORKER_KEY: _sealing, ...rest } = env;
  return rest;
}

/** Moved to their production modules; re-exported for the tests and benchmarks that import them here. */
export { bullConnection } from "./connections";
export { hostsPort } from "./hosts";

/** Starts Redis (unless given), the sandbox cloud, the Slack emulator, the bot and a worker. */
export async function startSandboxStack<C extends CloudLike = Sandbox>(
  opts: StackOptions<C> = {},
): Promise<SandboxStack<C>> {
  const log = opts.log ?? silentLogger;
  const prefix = opts.prefix ?? "migbot";
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    // splice: a second stop() (a test's and its afterAll's) has nothing left to stop.
    for (const fn of cleanups.splice(0).reverse())
      await fn().catch((err) => log.warn("stop step failed", { err }));
  };
  try {
    let privateRedis: PrivateRedis | null = null;
    let redisUrl = opts.redisUrl;
    if (redisUrl === undefined) {
      privateRedis = await startPrivateRedis();
      redisUrl = privateRedis.url;
      cleanups.push(() => privateRedis!.stop());
    }

    // Without `cloud`, C is its default, Sandbox; TypeScript cannot tie the default to the parameter.
    const startCloud =
      opts.cloud ??
      ((cloudLog: Logger) =>
        startSandbox({
          ...(opts.timeScale !== undefined && { timeScale: opts.timeScale }),
          ...(opts.seed && { seed: opts.seed }),
          log: cloudLog,
        }) as unknown as Promise<C>);
    const sandbox = await startCloud(log);
    cleanups.push(() => sandbox.stop());

    const slack = await startSlackEmulator({
      signingSecret: SANDBOX_SIGNING_SECRET,
      botToken: SANDBOX_BOT_TOKEN,
      users: SANDBOX_USERS.map((u) => ({ ...u })),
      channels: [{ ...SANDBOX_CHANNEL }],
      usergroups: [SANDBOX_OPERATORS_GROUP],
      ...(opts.slackLimits && { limits: opts.slackLimits }),
      log,
    });
    cleanups.push(() => slack.close());

    // The sandbox is configured exactly as a user would configure production, through the env.
    const env: Record<string, string> = {
      SLACK_BOT_TOKEN: SANDBOX_BOT_TOKEN,
      SLACK_SIGNING_SECRET: SANDBOX_SIGNING_SECRET,
      SLACK_MODE: "http",
      SLACK_API_URL: slack.apiUrl,
      REDIS_URL: redisUrl,
      MIGBOT_REDIS_PREFIX: prefix,
      MIGBOT_INVENTORY: sandbox.inventoryPath,
      OS_CLIENT_CONFIG_FILE: sandbox.cloudsYamlPath,
      OS_CLOUD: sandbox.cloudName ?? SANDBOX_CLOUD_NAME,
      MIGBOT_OPERATORS: SANDBOX_OPERATORS_GROUP.id,
      MIGBOT_APPROVERS: "U0BOB0001",
      MIGBOT_CHANNELS: SANDBOX_CHANNEL.id,
      MIGBOT_POLL_INTERVAL_MS: String(opts.pollIntervalMs ?? SANDBOX_POLL_INTERVAL_MS),
      // Worker processes joining this stack (workerEnv) each take a free port for /healthz and
      // /metrics: several of them, and other stacks, run on one machine at once.
      MIGBOT_HEALTH_PORT: "0",
      // Fresh keys per stack: the bot signs jobs, workers check them and seal fix plans.
      ...generateKeySet(),
      ...opts.env,
    };
    const config = loadConfig(env);
    const roles = await startRoles(config, log, {
      botPort: 0,
      startWorkers: opts.workers !== false,
      ...(opts.concurrency !== undefined && { concurrency: opts.concurrency }),
      ...(opts.lockDurationMs !== undefined && { lockDurationMs: opts.lockDurationMs }),
      applyTiming: { serviceSettleMs: opts.serviceSettleMs ?? SANDBOX_SERVICE_SETTLE_MS },
      ...(opts.notifierPacing && { notifierPacing: opts.notifierPacing }),
      ...(opts.homeIntervalMs !== undefined && { homeIntervalMs: opts.homeIntervalMs }),
    });
    cleanups.push(() => roles.stop());
    slack.setDeliveryUrl(roles.bot!.url!);
    return {
      config,
      redisUrl,
      prefix,
      redis: roles.redis,
      sandbox,
      slack,
      bot: roles.bot!,
      workers: roles.workers,
      notifier: roles.notifier!,
      nova: roles.nova!,
      hosts: roles.hosts!,
      store: roles.store,
      proposals: roles.proposals!,
      home: roles.home,
      workerEnv: workerRoleEnv(env),
      botEnv: botRoleEnv(env),
      queueCounts: roles.queueCounts!,
      signer: roles.signer!,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Nova for a sandbox cloud, through the clouds.yaml it wrote (as a user would point migbot at it). */
export function novaForSandbox(sandbox: Pick<Sandbox, "cloudsYamlPath">, log: Logger): Promise<NovaPort> {
  return createNova({ cloud: SANDBOX_CLOUD_NAME, cloudsFile: sandbox.cloudsYamlPath, env: {} }, log);
}
