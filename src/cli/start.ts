/**
 * `migbot start`: with no Slack credentials, the whole product on the built-in sandbox with a
 * console chat; with credentials, the bot and/or a worker against the configured Slack, cloud and
 * host inventory (`--role bot|worker|all`, so docker compose can scale workers).
 */
import { webApi } from "@slack/bolt";
import { Redis } from "ioredis";
import { registerApprovalActions } from "../../bot/actions/approval";
import { startBot } from "../../bot/app";
import { ConfigError, loadConfig } from "../config";
import { createProposalService } from "../fixes/service";
import { SshExecutor } from "../hosts/executor";
import { loadInventory } from "../hosts/inventory-file";
import { createLogger } from "../log";
import { MigrationStore } from "../migration/store";
import { createNotifier } from "../notify/notifier";
import { slackWebClientOptions, webClientSlackApi } from "../notify/slack-api";
import { responseUrlOrigins } from "../queue/reply";
import { createEnqueuer } from "../queue/worker";
import { createNovaFromEnv } from "../runtime/nova";
import { redisTlsOptions } from "../runtime/redis-options";
import { ProgramMissingError } from "../runtime/redis-server";
import { bullConnection, hostsPort, startSandboxStack } from "../runtime/stack";
import { need, trustOf } from "../runtime/trust";
import { startWorkerSide } from "../runtime/worker-side";
import { CONSOLE_HELP, runConsole } from "./console-chat";
import type { CliCommand } from "./main";

const USAGE = `usage: migbot start [--role all|bot|worker] [--json] [--as <user>] [--time-scale N]

With no SLACK_BOT_TOKEN: runs everything on the built-in sandbox (a private redis-server when
REDIS_URL is unset, the sandbox cloud, a Slack emulator, the bot and a worker) and a console chat.

${CONSOLE_HELP}

  --json          print one JSON object per Slack message event instead of the transcript
  --as <user>     who you are in the console (default alice, an operator)
  --time-scale N  sandbox model seconds per real second (default 10)

With SLACK_BOT_TOKEN set: connects to Slack and the configured cloud (see README and .env.example).
  --role bot      only the Bolt app        --role worker   only a worker        (default: both)`;

interface StartArgs {
  role: "all" | "bot" | "worker";
  json: boolean;
  user: string;
  timeScale?: number;
}

function parseArgs(argv: string[]): StartArgs | string {
  const args: StartArgs = { role: "all", json: false, user: "alice" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") args.json = true;
    else if (a === "--role") {
      const r = argv[++i];
      if (r !== "all" && r !== "bot" && r !== "worker") return "--role takes all, bot or worker";
      args.role = r;
    } else if (a === "--as") args.user = argv[++i] ?? "";
    else if (a === "--time-scale") {
      const n = Number(argv[++i]);
      if (!Number.isFinite(n) || n <= 0 || n > 10_000) return "--time-scale takes a number from 0 to 10000";
      args.timeScale = n;
    } else return `unknown option '${a}'`;
  }
  return args;
}

async function runSandbox(args: StartArgs): Promise<number> {
  const interactive = process.stdin.isTTY === true;
  const log = createLogger("migbot", {}, (line) => {
    // The console is for the chat; logs go to stderr only when asked for.
    if (process.env.MIGBOT_LOG_LEVEL) process.stderr.write(`${line}\n`);
  });
  if (!args.json)
    process.stdout.write(
      "Starting the sandbox: redis, 5 compute hosts over SSH, Nova, Slack emulator, bot, worker…\n",
    );
  const stack = await startSandboxStack({
    ...(process.env.REDIS_URL && { redisUrl: process.env.REDIS_URL }),
    ...(args.timeScale !== undefined && { timeScale: args.timeScale }),
    log,
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await stack.stop();
  };
  process.once("SIGINT", () => void stop().then(() => process.exit(130)));
  process.once("SIGTERM", () => void stop().then(() => process.exit(143)));
  try {
    return await runConsole(stack, { json: args.json, user: args.user, interactive });
  } finally {
    await stop();
  }
}

async function runProduction(args: StartArgs): Promise<number> {
  const config = loadConfig(process.env, { role: args.role });
  const log = createLogger("migbot");
  for (const warning of config.warnings) log.warn(warning);
  const trust = trustOf(config);
  const tls = redisTlsOptions(config);
  const redis = new Redis(config.redisUrl!, { ...tls, maxRetriesPerRequest: 3 });
  const store = new MigrationStore(redis, config.redisPrefix);
  const conn = { connection: bullConnection(config.redisUrl!, tls), prefix: `${config.redisPrefix}:bull` };
  const stops: (() => Promise<void>)[] = [async () => redis.disconnect(), () => conn.connection.closeAll()];
  if (args.role === "all" || args.role === "bot") {
    const enqueuer = createEnqueuer(conn, store, need(trust.signer, "MIGBOT_BOT_SIGNING_KEY"));
    const bot = await startBot({
      config,
      enqueue: enqueuer,
      store,
      redis,
      log: log.child({ component: "bot" }),
      // fixes behind approval: Approve / Reject / Retry buttons.
      registerExtra: registerApprovalActions(
        createProposalService({
          redis,
          prefix: config.redisPrefix,
          presenter: null,
          sealer: null,
          ttlS: config.proposalTtlS,
          log,
        }),
      ),
    });
    stops.push(
      () => bot.stop(),
      () => enqueuer.close(),
    );
  }
  if (args.role === "all" || args.role === "worker") {
    const inventory = loadInventory(config.inventoryPath!);
    const exec = new SshExecutor(inventory, {
      log,
      ...(config.knownHostsPath !== undefined && { knownHostsPath: config.knownHostsPath }),
    });
    const hosts = hostsPort(inventory, exec);
    const web = new webApi.WebClient(config.slack.botToken, slackWebClientOptions(config.slack.apiUrl));
    const notifier = createNotifier({ redis, api: webClientSlackApi(web), prefix: config.redisPrefix, log });
    const nova = await createNovaFromEnv(process.env, log);
    const { workers } = startWorkerSide({
      redis,
      prefix: config.redisPrefix,
      conn,
      store,
      nova,
      hosts,
      inventory,
      notifier,
      log,
      sealer: need(trust.sealer, "MIGBOT_WORKER_KEY"),
      verifier: need(trust.verifier, "MIGBOT_BOT_VERIFY_KEY"),
      proposalTtlS: config.proposalTtlS,
      responseUrlOrigins: responseUrlOrigins(config.slack.apiUrl),
      pollIntervalMs: config.worker.pollIntervalMs,
      concurrency: config.worker.concurrency,
      lockDurationMs: config.worker.lockDurationMs,
      startWorkers: true,
    });
    stops.push(
      () => workers!.close(),
      () => notifier.close(),
      () => hosts.close(),
    );
    log.info("worker started", { hosts: inventory.length, concurrency: config.worker.concurrency });
  }
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  log.info("shutting down");
  for (const s of stops.reverse()) await s().catch((err) => log.warn("shutdown step failed", { err }));
  return 0;
}

export const command: CliCommand = {
  summary: "run the bot (on the built-in sandbox when no Slack credentials are set)",
  async run(argv) {
    if (argv.includes("--help") || argv.includes("-h")) {
      console.log(USAGE);
      return 0;
    }
    const args = parseArgs(argv);
    if (typeof args === "string") {
      console.error(`migbot start: ${args}\n\n${USAGE}`);
      return 2;
    }
    try {
      if (!process.env.SLACK_BOT_TOKEN) {
        if (args.role !== "all") {
          console.error(
            "migbot start: --role needs SLACK_BOT_TOKEN and the rest of the configuration (see .env.example)",
          );
          return 2;
        }
        return await runSandbox(args);
      }
      return await runProduction(args);
    } catch (err) {
      if (
        err instanceof ConfigError ||
        err instanceof ProgramMissingError ||
        (err as { code?: string }).code === "INVENTORY_INVALID"
      ) {
        console.error(`migbot start: ${(err as Error).message}`);
        return 2;
      }
      throw err;
    }
  },
};
