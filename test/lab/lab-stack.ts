/**
 * The product wired exactly as `startSandboxStack` (src/runtime/stack.ts) wires it — Redis, the
 * Slack emulator, the real Bolt app, BullMQ workers with fixes and diagnosis — but with the lab
 * data plane (`startLabCloud`) as the cloud: the worker reaches Nova over HTTP and the lab hosts'
 * real sshd with the lab inventory. Kept in the test folder because `startSandboxStack` cannot be
 * handed another cloud yet; a `cloud` option there would make this file a one-liner.
 */
import { webApi } from "@slack/bolt";
import { Redis } from "ioredis";
import { registerApprovalActions } from "../../bot/actions/approval";
import { type Bot, startBot } from "../../bot/app";
import { loadConfig } from "../../src/config";
import { diagnosisActions } from "../../src/diagnose/run";
import { createProposalService } from "../../src/fixes/service";
import { createFixActions } from "../../src/fixes/worker";
import { SshExecutor } from "../../src/hosts/executor";
import { type Logger, silentLogger } from "../../src/log";
import type { HostsPort, NovaPort, ReplyPort } from "../../src/migration/ports";
import { MigrationStore } from "../../src/migration/store";
import { createNotifier } from "../../src/notify/notifier";
import { slackWebClientOptions, webClientSlackApi } from "../../src/notify/slack-api";
import { createReply } from "../../src/queue/reply";
import { createEnqueuer, startWorkers, type Workers } from "../../src/queue/worker";
import { createNovaFromEnv } from "../../src/runtime/nova";
import {
  bullConnection,
  hostsPort,
  SANDBOX_CHANNEL,
  SANDBOX_OPERATORS_GROUP,
  SANDBOX_USERS,
} from "../../src/runtime/stack";
import { type LabCloudOptions, type LabSandbox, startLabCloud } from "../../src/sandbox/data-plane-lab";
import { type SlackEmulator, startSlackEmulator } from "../../src/sandbox/slack/emulator";

const SIGNING_SECRET = "lab-signing-secret-not-for-production";
const BOT_TOKEN = "xoxb-lab-0000-not-a-real-token";
/** The tracker polls Nova and `virsh domjobinfo` this often (the agents poll every 0.5 s, like Nova). */
export const LAB_POLL_INTERVAL_MS = 1_000;
/**
 * A restarted agent loads node and its config in ~1.5 s, and one that cannot load its config is
 * gone within that; a restart counts as good once Nova has shown it up for this long.
 */
const SERVICE_SETTLE_MS = 3_000;

export interface LabStack {
  lab: LabSandbox;
  slack: SlackEmulator;
  bot: Bot;
  nova: NovaPort;
  hosts: HostsPort & { close(): Promise<void> };
  store: MigrationStore;
  workers: Workers;
  queueCounts(): Promise<number>;
  stop(): Promise<void>;
}

export async function startLabStack(opts: {
  redisUrl: string;
  prefix: string;
  cloud: LabCloudOptions;
  log?: Logger;
}): Promise<LabStack> {
  const log = opts.log ?? silentLogger;
  const prefix = opts.prefix;
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const fn of cleanups.splice(0).reverse())
      await fn().catch((err) => log.warn("stop step failed", { err }));
  };
  try {
    const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 3 });
    cleanups.push(async () => redis.disconnect());
    const lab = await startLabCloud({ ...opts.cloud, log });
    cleanups.push(() => lab.stop());
    const slack = await startSlackEmulator({
      signingSecret: SIGNING_SECRET,
      botToken: BOT_TOKEN,
      users: SANDBOX_USERS.map((u) => ({ ...u })),
      channels: [{ ...SANDBOX_CHANNEL }],
      usergroups: [SANDBOX_OPERATORS_GROUP],
      log,
    });
    cleanups.push(() => slack.close());
    const config = loadConfig({
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_MODE: "http",
      SLACK_API_URL: slack.apiUrl,
      REDIS_URL: opts.redisUrl,
      MIGBOT_REDIS_PREFIX: prefix,
      MIGBOT_INVENTORY: lab.inventoryPath,
      OS_CLIENT_CONFIG_FILE: lab.cloudsYamlPath,
      OS_CLOUD: "migbot-sandbox",
      MIGBOT_OPERATORS: SANDBOX_OPERATORS_GROUP.id,
      MIGBOT_APPROVERS: "U0BOB0001",
      MIGBOT_CHANNELS: SANDBOX_CHANNEL.id,
      MIGBOT_POLL_INTERVAL_MS: String(LAB_POLL_INTERVAL_MS),
    });
    const store = new MigrationStore(redis, prefix);
    const conn = { connection: bullConnection(opts.redisUrl), prefix: `${prefix}:bull` };
    cleanups.push(() => conn.connection.closeAll());
    const enqueuer = createEnqueuer(conn, store);
    cleanups.push(() => enqueuer.close());
    const bot = await startBot({
      config,
      enqueue: enqueuer,
      store,
      redis,
      log: log.child({ component: "bot" }),
      port: 0,
      registerExtra: registerApprovalActions(
        createProposalService({ redis, prefix, notifier: null, ttlS: config.proposalTtlS, log }),
      ),
    });
    cleanups.push(() => bot.stop());
    slack.setDeliveryUrl(bot.url!);
    const web = new webApi.WebClient(BOT_TOKEN, slackWebClientOptions(slack.apiUrl));
    const notifier = createNotifier({ redis, api: webClientSlackApi(web), prefix, log });
    cleanups.push(() => notifier.close());
    const exec = new SshExecutor(lab.hosts, { log });
    const hosts = hostsPort(lab.hosts, exec);
    cleanups.push(() => hosts.close());
    const nova = await createNovaFromEnv(
      { OS_CLOUD: "migbot-sandbox", OS_CLIENT_CONFIG_FILE: lab.cloudsYamlPath },
      log,
    );
    const reply: ReplyPort = createReply({
      ephemeral: (channel, user, msg) => notifier.ephemeral(channel, user, msg),
      log,
    });
    const fixes = createFixActions({
      redis,
      prefix,
      nova,
      hosts,
      notifier,
      store,
      reply,
      log: log.child({ component: "fixes" }),
      proposalTtlS: config.proposalTtlS,
      applyTiming: { serviceSettleMs: SERVICE_SETTLE_MS },
    });
    const diagnosis = diagnosisActions({
      nova,
      hosts,
      inventory: lab.hosts,
      notifier,
      reply,
      log: log.child({ component: "diagnose" }),
      proposals: fixes.proposals,
    });
    const workers = startWorkers(conn, {
      nova,
      hosts,
      notifier,
      store,
      reply,
      log: log.child({ component: "worker" }),
      pollIntervalMs: config.worker.pollIntervalMs,
      concurrency: config.worker.concurrency,
      extraActions: async (job) => (await fixes.handle(job)) || diagnosis.handle(job),
      migrationHooks: { onTrouble: (record, kind) => diagnosis.onTrouble(record, kind) },
    });
    cleanups.push(() => workers.close());
    return {
      lab,
      slack,
      bot,
      nova,
      hosts,
      store,
      workers,
      queueCounts: () => enqueuer.pending(),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
