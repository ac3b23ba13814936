/**
 * `migbot start`: with no Slack credentials, the whole product on the built-in sandbox with a
 * console chat; with credentials, the bot and/or a worker against the configured Slack, cloud and
 * host inventory (`--role bot|worker|all`, so docker compose can scale workers).
 */
import { type Config, ConfigError, loadConfig } from "../config";
import { createLogger } from "../log";
import { ProgramMissingError } from "../runtime/redis-server";
import { startRoles } from "../runtime/roles";
import { CONSOLE_HELP } from "./console-help";
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

/** Exit code after a second SIGTERM/SIGINT: the operator wants out now, not a graceful stop. */
const EXIT_ON_SECOND_SIGNAL = 130;

/**
 * Resolves at the first SIGTERM or SIGINT; a second one exits the process at once (a stop that
 * hangs on an unreachable host must not keep the operator waiting).
 */
function firstSignal(log: { warn(msg: string): void }): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (seen) {
        log.warn(`second ${signal}: exiting now`);
        process.exit(EXIT_ON_SECOND_SIGNAL);
      }
      seen = true;
      resolve(signal);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

async function runSandbox(args: StartArgs, config: Config): Promise<number> {
  const interactive = process.stdin.isTTY === true;
  const log = createLogger(
    "migbot",
    {},
    (line) => {
      // The console is for the chat; logs go to stderr only when asked for.
      if (config.logLevelGiven) process.stderr.write(`${line}\n`);
    },
    config.logLevel,
  );
  if (!args.json)
    process.stdout.write(
      "Starting the sandbox: redis, 5 compute hosts over SSH, Nova, Slack emulator, bot, worker…\n",
    );
  // Loaded only here: production start never loads the sandbox.
  const { startSandboxStack } = await import("../runtime/stack");
  const { runConsole } = await import("./console-chat");
  const stack = await startSandboxStack({
    // The sandbox shows the prediction before /migrate and asks when it will not converge (production
    // opts in with MIGBOT_PREDICT; the default there is off).
    env: { MIGBOT_PREDICT: process.env.MIGBOT_PREDICT ?? "ask" },
    ...(config.redisUrl !== undefined && { redisUrl: config.redisUrl }),
    ...(args.timeScale !== undefined && { timeScale: args.timeScale }),
    log,
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await stack.stop();
  };
  void firstSignal(log).then(() => stop().then(() => process.exit(143)));
  try {
    return await runConsole(stack, { json: args.json, user: args.user, interactive });
  } finally {
    await stop();
  }
}

async function runProduction(args: StartArgs): Promise<number> {
  const config = loadConfig(process.env, { role: args.role });
  const log = createLogger("migbot", {}, undefined, config.logLevel);
  for (const warning of config.warnings) log.warn(warning);
  const roles = await startRoles(config, log);
  if (roles.workers) {
    log.info("worker started", {
      hosts: roles.inventory?.length ?? 0,
      concurrency: roles.migrationConcurrency,
    });
  }
  const signal = await firstSignal(log);
  log.info(
    args.role === "bot"
      ? "shutting down: no new requests are accepted; those in flight finish"
      : "shutting down: no new work is taken; running migrations are handed back",
    { signal },
  );
  await roles.stop();
  log.info("stopped");
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
      const config = loadConfig(process.env, { role: args.role });
      if (config.mode === "sandbox") {
        if (args.role !== "all") {
          console.error(
            "migbot start: --role needs SLACK_BOT_TOKEN and the rest of the configuration (see .env.example)",
          );
          return 2;
        }
        return await runSandbox(args, config);
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
