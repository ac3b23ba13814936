/**
 * The one config module: reads the environment (and nothing else) into typed, validated options
 * with documented defaults. A bad value fails at start with a message naming the variable.
 * Pure: tests pass their own env.
 */

export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = "ConfigError";
  }
}

export interface AccessConfig {
  /** Slack user ids (U…) or user-group ids (S…) allowed to migrate, diagnose, abort. Empty = nobody. */
  operators: string[];
  /** Slack user ids or user-group ids allowed to approve fixes and force-complete. Empty = nobody. */
  approvers: string[];
  /** Channel ids where commands are accepted. Empty = any channel. */
  channels: string[];
  /** May the requester approve their own proposal? @defaultValue false */
  allowSelfApproval: boolean;
}

export interface Config {
  /** `sandbox` when no Slack credentials are set: everything runs on the built-in cloud and Slack. */
  mode: "sandbox" | "slack";
  slack: {
    /** @defaultValue "socket" when SLACK_APP_TOKEN is set, else "http" */
    transport: "socket" | "http";
    botToken?: string;
    signingSecret?: string;
    appToken?: string;
    /** HTTP receiver port. @defaultValue 3000 */
    port: number;
    /** Slack Web API base URL. @defaultValue Slack's own */
    apiUrl?: string;
  };
  /** Unset in sandbox mode: `npm start` then runs its own redis-server. */
  redisUrl?: string;
  /** Key prefix for everything migbot stores in Redis. @defaultValue "migbot" */
  redisPrefix: string;
  access: AccessConfig;
  /** How long a fix proposal can be approved. @defaultValue 3600 */
  proposalTtlS: number;
  openstack: {
    /** `OS_CLOUD`: the clouds.yaml entry to use. */
    cloud?: string;
    /** `OS_CLIENT_CONFIG_FILE`: an explicit clouds.yaml path. */
    cloudsFile?: string;
  };
  /** `MIGBOT_INVENTORY`: YAML file listing compute hosts (see src/hosts/inventory.ts). */
  inventoryPath?: string;
  /** `MIGBOT_KNOWN_HOSTS`: an OpenSSH known_hosts file pinning host keys. */
  knownHostsPath?: string;
  worker: {
    /** Migrations one worker follows at once. @defaultValue 50 */
    concurrency: number;
    /** How often the tracker polls Nova and the source host, in ms. @defaultValue 2000 */
    pollIntervalMs: number;
    /** A job's lock; a killed worker's migrations resume elsewhere after about this long, in ms. @defaultValue 30000 */
    lockDurationMs: number;
  };
  logLevel: "debug" | "info" | "warn" | "error";
}

export const DEFAULT_PORT = 3000;
export const DEFAULT_PROPOSAL_TTL_S = 3600;
export const DEFAULT_WORKER_CONCURRENCY = 50;
export const DEFAULT_POLL_INTERVAL_MS = 2000;
export const DEFAULT_JOB_LOCK_MS = 30_000;

type Env = Record<string, string | undefined>;

function str(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `'${raw}' is not a whole number`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `${n} is out of range (${min} to ${max})`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = str(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new ConfigError(name, `'${raw}' is not true or false`);
}

function idList(env: Env, name: string, prefixes: string): string[] {
  const raw = str(env, name);
  if (raw === undefined) return [];
  const ids = raw
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  const re = new RegExp(`^[${prefixes}][A-Z0-9]{2,}$`);
  for (const id of ids) {
    if (!re.test(id)) {
      throw new ConfigError(
        name,
        `'${id}' is not a Slack id (expected ids starting with ${prefixes.split("").join(" or ")}, e.g. U012ABC3DEF; names are not accepted because they can change)`,
      );
    }
  }
  return ids;
}

/** Reads the configuration from an environment; throws {@link ConfigError} naming the bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const botToken = str(env, "SLACK_BOT_TOKEN");
  const signingSecret = str(env, "SLACK_SIGNING_SECRET");
  const appToken = str(env, "SLACK_APP_TOKEN");
  const mode: Config["mode"] = botToken === undefined ? "sandbox" : "slack";
  const transportRaw = str(env, "SLACK_MODE");
  if (transportRaw !== undefined && transportRaw !== "socket" && transportRaw !== "http") {
    throw new ConfigError("SLACK_MODE", `'${transportRaw}' must be 'socket' or 'http'`);
  }
  const transport = (transportRaw ?? (appToken ? "socket" : "http")) as "socket" | "http";
  if (mode === "slack") {
    if (botToken !== undefined && !botToken.startsWith("xoxb-")) {
      throw new ConfigError("SLACK_BOT_TOKEN", "must be a bot token starting with xoxb-");
    }
    if (transport === "socket" && appToken === undefined) {
      throw new ConfigError("SLACK_APP_TOKEN", "Socket Mode needs an app-level token (xapp-…)");
    }
    if (transport === "socket" && appToken !== undefined && !appToken.startsWith("xapp-")) {
      throw new ConfigError("SLACK_APP_TOKEN", "must be an app-level token starting with xapp-");
    }
    if (transport === "http" && signingSecret === undefined) {
      throw new ConfigError("SLACK_SIGNING_SECRET", "the HTTP receiver needs the app's signing secret");
    }
    if (str(env, "REDIS_URL") === undefined) {
      throw new ConfigError("REDIS_URL", "is required with Slack credentials (e.g. redis://127.0.0.1:6379)");
    }
  }
  const redisUrl = str(env, "REDIS_URL");
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError("REDIS_URL", `must start with redis:// or rediss://`);
  }
  const logLevel = (str(env, "MIGBOT_LOG_LEVEL") ?? "info") as Config["logLevel"];
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new ConfigError("MIGBOT_LOG_LEVEL", `'${logLevel}' must be debug, info, warn or error`);
  }
  const prefix = str(env, "MIGBOT_REDIS_PREFIX") ?? "migbot";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(prefix)) {
    throw new ConfigError("MIGBOT_REDIS_PREFIX", "letters, digits, '_' and '-' only");
  }
  const config: Config = {
    mode,
    slack: {
      transport,
      port: int(env, "PORT", DEFAULT_PORT, 1, 65535),
      ...(botToken !== undefined && { botToken }),
      ...(signingSecret !== undefined && { signingSecret }),
      ...(appToken !== undefined && { appToken }),
      ...(str(env, "SLACK_API_URL") !== undefined && { apiUrl: str(env, "SLACK_API_URL") }),
    },
    ...(redisUrl !== undefined && { redisUrl }),
    redisPrefix: prefix,
    access: {
      operators: idList(env, "MIGBOT_OPERATORS", "US"),
      approvers: idList(env, "MIGBOT_APPROVERS", "US"),
      channels: idList(env, "MIGBOT_CHANNELS", "CG"),
      allowSelfApproval: bool(env, "MIGBOT_ALLOW_SELF_APPROVAL", false),
    },
    proposalTtlS: int(env, "MIGBOT_PROPOSAL_TTL_S", DEFAULT_PROPOSAL_TTL_S, 60, 7 * 24 * 3600),
    openstack: {
      ...(str(env, "OS_CLOUD") !== undefined && { cloud: str(env, "OS_CLOUD") }),
      ...(str(env, "OS_CLIENT_CONFIG_FILE") !== undefined && {
        cloudsFile: str(env, "OS_CLIENT_CONFIG_FILE"),
      }),
    },
    ...(str(env, "MIGBOT_INVENTORY") !== undefined && { inventoryPath: str(env, "MIGBOT_INVENTORY") }),
    ...(str(env, "MIGBOT_KNOWN_HOSTS") !== undefined && { knownHostsPath: str(env, "MIGBOT_KNOWN_HOSTS") }),
    worker: {
      concurrency: int(env, "MIGBOT_WORKER_CONCURRENCY", DEFAULT_WORKER_CONCURRENCY, 1, 2000),
      pollIntervalMs: int(env, "MIGBOT_POLL_INTERVAL_MS", DEFAULT_POLL_INTERVAL_MS, 100, 60_000),
      lockDurationMs: int(env, "MIGBOT_JOB_LOCK_MS", DEFAULT_JOB_LOCK_MS, 1000, 600_000),
    },
    logLevel,
  };
  if (mode === "slack" && config.inventoryPath === undefined) {
    throw new ConfigError(
      "MIGBOT_INVENTORY",
      "is required with Slack credentials: the YAML list of compute hosts",
    );
  }
  return config;
}
