/**
 * The one config module: reads the environment (and nothing else) into typed, validated options
 * with documented defaults. A bad value fails at start with a message naming the variable.
 * Pure: tests pass their own env.
 *
 * Roles hold only what they need: the bot (Slack-facing) gets the Slack credentials, Redis and the
 * key it signs jobs with; workers get the SSH inventory, the cloud, Redis, the key that seals fix
 * plans and the bot's public key. A role missing a piece stops here naming it; a role handed a
 * secret it must not hold stops too (the trust split depends on it), and a merely unneeded one is
 * reported in {@link Config.warnings}.
 */

import type { KeyObject } from "node:crypto";
import { CodedError } from "./errors";
import {
  KeyFormatError,
  parseBotSigningKey,
  parseBotVerifyKey,
  parseWorkerKey,
  verifyKeyOf,
} from "./signing/keys";

/** A bad or missing setting: the process stops at start, the message naming the variable. */
export class ConfigError extends CodedError<"CONFIG_INVALID"> {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super("CONFIG_INVALID", `${field}: ${message}`, { retryable: false });
  }
}

export interface AccessConfig {
  /** Slack user ids (U…) or user-group ids (S…) allowed to migrate, diagnose, abort. Empty = nobody. */
  operators: string[];
  /** Slack user ids or user-group ids allowed to approve fixes and force-complete. Empty = nobody. */
  approvers: string[];
  /** Channel ids where commands are accepted. Empty = none: migbot fails closed. */
  channels: string[];
  /** May the requester approve their own proposal? @defaultValue false */
  allowSelfApproval: boolean;
}

/** Which parts of migbot a process runs: the Slack-facing bot, a worker, or both. */
export type Role = "bot" | "worker" | "all";

/** The keys of the trust split (src/signing/keys.ts); none of them is ever logged. */
export interface TrustKeys {
  /** `MIGBOT_BOT_SIGNING_KEY`: the bot signs every job with it. Bot role only. */
  botSigning?: KeyObject;
  /** `MIGBOT_BOT_VERIFY_KEY` (or derived from the signing key in role all): workers check jobs with it. */
  botVerify?: KeyObject;
  /** `MIGBOT_WORKER_KEY`: workers seal fix plans with it. Worker role only. */
  worker?: Buffer;
}

export interface Config {
  /** `sandbox` when no Slack credentials are set: everything runs on the built-in cloud and Slack. */
  mode: "sandbox" | "slack";
  /** @defaultValue "all" */
  role: Role;
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
  /**
   * `MIGBOT_HEALTH_PORT`: where /healthz, /readyz and /metrics answer on a worker, and on the bot in
   * Socket Mode (in HTTP mode the bot serves them on its receiver's port). 0 = any free port (tests).
   * @defaultValue {@link DEFAULT_HEALTH_PORT}
   */
  healthPort: number;
  /**
   * Unset in sandbox mode: `npm start` then runs its own redis-server. With Slack credentials it
   * must carry a password (`redis://:PASSWORD@host:6379`); `rediss://` for TLS.
   */
  redisUrl?: string;
  /** `REDIS_TLS_CA_FILE`: a CA bundle for a `rediss://` server whose certificate is not publicly trusted. */
  redisTlsCaFile?: string;
  /**
   * `REDIS_SENTINELS`: Redis Sentinels (host:port each) to ask for the current primary, for a Redis
   * that fails over. REDIS_URL then gives only the password (and database); its host is not used.
   */
  redisSentinels?: { host: string; port: number }[];
  /** `REDIS_SENTINEL_NAME`: the master group name the Sentinels monitor (`sentinel monitor <name> …`). */
  redisSentinelName?: string;
  /** `REDIS_SENTINEL_PASSWORD`: the Sentinels' own password, when they require one (their `requirepass`). */
  redisSentinelPassword?: string;
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
    /** The `OS_*` variables (openrc style), for clouds given without clouds.yaml. */
    env: Record<string, string>;
  };
  keys: TrustKeys;
  /** `SSH_AUTH_SOCK`: the ssh-agent for hosts whose inventory entry has no privateKeyPath. */
  sshAuthSock?: string;
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
    /**
     * `MIGBOT_PREDICT`: measure and predict convergence before /migrate triggers: `off`, `show` (post
     * the prediction), `ask` (also offer Fix first / Go anyway when it will not converge). @defaultValue "off"
     */
    predict: "off" | "show" | "ask";
    /**
     * `MIGBOT_CHARTS_PER_MINUTE`: charts one worker draws in any minute (each ~65 ms of CPU); beyond
     * it a thread's chart is skipped and logged; 0 turns charts off. @defaultValue 30
     */
    chartsPerMinute: number;
  };
  logLevel: "debug" | "info" | "warn" | "error";
  /** MIGBOT_LOG_LEVEL was set: the sandbox's console chat then also writes logs to stderr. */
  logLevelGiven: boolean;
  /** Settings given to a role that does not use them: said at start, never fatal. */
  warnings: string[];
}

export const DEFAULT_PORT = 3000;
/**
 * The health and metrics port: 9464, the OpenTelemetry Prometheus exporter's default, where an
 * application's own /metrics usually lives (clear of 3000, the Slack receiver's).
 */
export const DEFAULT_HEALTH_PORT = 9464;
export const DEFAULT_PROPOSAL_TTL_S = 3600;
export const DEFAULT_WORKER_CONCURRENCY = 50;
export const DEFAULT_POLL_INTERVAL_MS = 2000;
export const DEFAULT_JOB_LOCK_MS = 30_000;

type Env = Record<string, string | undefined>;

function str(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

/** Charts a worker draws in any one minute, by default (see src/runtime/chart-budget.ts for why). */
export const DEFAULT_CHARTS_PER_MINUTE = 30;

/** MIGBOT_PREDICT's values. */
const PREDICT_MODES = ["off", "show", "ask"] as const;

function predictMode(value: string | undefined): "off" | "show" | "ask" {
  if (value === undefined) return "off";
  if ((PREDICT_MODES as readonly string[]).includes(value)) return value as "off" | "show" | "ask";
  throw new ConfigError("MIGBOT_PREDICT", `'${value}' is not one of ${PREDICT_MODES.join(", ")}`);
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

/** Secrets each role must never hold: the split of trust depends on it. */
const FORBIDDEN_BY_ROLE: Record<Role, readonly string[]> = {
  bot: ["MIGBOT_WORKER_KEY"],
  worker: ["MIGBOT_BOT_SIGNING_KEY"],
  all: [],
};

/** Settings a role does not use: left out of its environment, it holds less. */
const UNNEEDED_BY_ROLE: Record<Role, readonly string[]> = {
  bot: ["OS_PASSWORD", "OS_CLOUD", "OS_CLIENT_CONFIG_FILE", "MIGBOT_INVENTORY", "MIGBOT_KNOWN_HOSTS"],
  worker: ["SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"],
  all: [],
};

function key<T>(env: Env, name: string, parse: (v: string) => T): T | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  try {
    return parse(raw);
  } catch (err) {
    // The message of a KeyFormatError never contains the key itself.
    if (err instanceof KeyFormatError) throw new ConfigError(name, err.message);
    throw err;
  }
}

/** `host:port` or `[v6 address]:port`, comma- or space-separated. */
function sentinelList(env: Env): { host: string; port: number }[] | undefined {
  const raw = str(env, "REDIS_SENTINELS");
  if (raw === undefined) return undefined;
  return raw
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((item) => {
      const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(item);
      const port = Number(m?.[2]);
      if (!m || port < 1 || port > 65535) {
        throw new ConfigError(
          "REDIS_SENTINELS",
          `'${item}' is not host:port; list the Sentinels as host:port, comma-separated, e.g. sentinel-1:26379,sentinel-2:26379,sentinel-3:26379`,
        );
      }
      return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
    });
}

/** The Sentinel settings, checked together: they only make sense as a set. */
function sentinelConfig(
  env: Env,
  redisUrl: string | undefined,
): Pick<Config, "redisSentinels" | "redisSentinelName" | "redisSentinelPassword"> {
  const sentinels = sentinelList(env);
  const name = str(env, "REDIS_SENTINEL_NAME");
  const password = str(env, "REDIS_SENTINEL_PASSWORD");
  if (sentinels === undefined) {
    for (const [field, value] of [
      ["REDIS_SENTINEL_NAME", name],
      ["REDIS_SENTINEL_PASSWORD", password],
    ] as const) {
      if (value !== undefined) {
        throw new ConfigError(
          field,
          "is set but REDIS_SENTINELS is not; list the Sentinels there, or remove it",
        );
      }
    }
    return {};
  }
  if (name === undefined) {
    throw new ConfigError(
      "REDIS_SENTINEL_NAME",
      "is required with REDIS_SENTINELS: the master group name the Sentinels monitor (`sentinel monitor <name> …` in sentinel.conf)",
    );
  }
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
    throw new ConfigError("REDIS_SENTINEL_NAME", "letters, digits, '.', '_' and '-' only");
  }
  if (redisUrl === undefined) {
    throw new ConfigError(
      "REDIS_URL",
      "is required with REDIS_SENTINELS for the password: redis://:PASSWORD@<any host>:6379 (the Sentinels name the primary; the URL's host is not used)",
    );
  }
  if (redisUrl.startsWith("rediss://")) {
    throw new ConfigError(
      "REDIS_SENTINELS",
      "TLS (rediss://) together with Sentinels is not supported yet; use redis:// on a private network, or one Redis over rediss:// without REDIS_SENTINELS",
    );
  }
  return {
    redisSentinels: sentinels,
    redisSentinelName: name,
    ...(password !== undefined && { redisSentinelPassword: password }),
  };
}

function redisPassword(url: string): string {
  try {
    return new URL(url).password;
  } catch {
    return "";
  }
}

/**
 * Reads the configuration from an environment for a role (default: all); throws
 * {@link ConfigError} naming the bad or missing variable.
 */
export function loadConfig(env: Env = process.env, opts: { role?: Role } = {}): Config {
  const role = opts.role ?? "all";
  const botToken = str(env, "SLACK_BOT_TOKEN");
  const signingSecret = str(env, "SLACK_SIGNING_SECRET");
  const appToken = str(env, "SLACK_APP_TOKEN");
  const mode: Config["mode"] = botToken === undefined ? "sandbox" : "slack";
  const runsBot = role !== "worker";
  const runsWorker = role !== "bot";
  const transportRaw = str(env, "SLACK_MODE");
  if (transportRaw !== undefined && transportRaw !== "socket" && transportRaw !== "http") {
    throw new ConfigError("SLACK_MODE", `'${transportRaw}' must be 'socket' or 'http'`);
  }
  const transport = (transportRaw ?? (appToken ? "socket" : "http")) as "socket" | "http";
  for (const name of FORBIDDEN_BY_ROLE[role]) {
    if (str(env, name) !== undefined) {
      throw new ConfigError(
        name,
        `must not be given to the ${role} role: ${name === "MIGBOT_WORKER_KEY" ? "only workers may seal fix plans" : "only the bot may sign jobs"}. Remove it from this process's environment (see the README's security section).`,
      );
    }
  }
  const redisUrl = str(env, "REDIS_URL");
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError("REDIS_URL", `must start with redis:// or rediss://`);
  }
  if (mode === "slack") {
    if (botToken !== undefined && !botToken.startsWith("xoxb-")) {
      throw new ConfigError("SLACK_BOT_TOKEN", "must be a bot token starting with xoxb-");
    }
    if (runsBot && transport === "socket" && appToken === undefined) {
      throw new ConfigError("SLACK_APP_TOKEN", "Socket Mode needs an app-level token (xapp-…)");
    }
    if (runsBot && transport === "socket" && appToken !== undefined && !appToken.startsWith("xapp-")) {
      throw new ConfigError("SLACK_APP_TOKEN", "must be an app-level token starting with xapp-");
    }
    if (runsBot && transport === "http" && signingSecret === undefined) {
      throw new ConfigError("SLACK_SIGNING_SECRET", "the HTTP receiver needs the app's signing secret");
    }
    if (redisUrl === undefined) {
      throw new ConfigError(
        "REDIS_URL",
        "is required with Slack credentials (e.g. redis://:PASSWORD@127.0.0.1:6379)",
      );
    }
    if (redisPassword(redisUrl) === "") {
      throw new ConfigError(
        "REDIS_URL",
        "has no password. Redis holds migbot's queue, approvals and audit: run it with requirepass (docker-compose.yml does) and put the password in the URL, redis://:PASSWORD@host:6379 (or rediss:// for TLS).",
      );
    }
  }
  const logLevel = (str(env, "MIGBOT_LOG_LEVEL") ?? "info") as Config["logLevel"];
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new ConfigError("MIGBOT_LOG_LEVEL", `'${logLevel}' must be debug, info, warn or error`);
  }
  const prefix = str(env, "MIGBOT_REDIS_PREFIX") ?? "migbot";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(prefix)) {
    throw new ConfigError("MIGBOT_REDIS_PREFIX", "letters, digits, '_' and '-' only");
  }
  const botSigning = key(env, "MIGBOT_BOT_SIGNING_KEY", parseBotSigningKey);
  let botVerify = key(env, "MIGBOT_BOT_VERIFY_KEY", parseBotVerifyKey);
  const workerKey = key(env, "MIGBOT_WORKER_KEY", parseWorkerKey);
  if (botSigning !== undefined) {
    const derived = verifyKeyOf(botSigning);
    if (botVerify !== undefined && !botVerify.equals(derived)) {
      throw new ConfigError(
        "MIGBOT_BOT_VERIFY_KEY",
        "is not the public half of MIGBOT_BOT_SIGNING_KEY; copy both from one `npx migbot keys` run",
      );
    }
    botVerify ??= derived;
  }
  const osEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith("OS_") && value !== undefined && value.trim() !== "") osEnv[name] = value;
  }
  const config: Config = {
    mode,
    role,
    slack: {
      transport,
      port: int(env, "PORT", DEFAULT_PORT, 1, 65535),
      ...(botToken !== undefined && { botToken }),
      ...(signingSecret !== undefined && runsBot && { signingSecret }),
      ...(appToken !== undefined && runsBot && { appToken }),
      ...(str(env, "SLACK_API_URL") !== undefined && { apiUrl: str(env, "SLACK_API_URL") }),
    },
    healthPort: int(env, "MIGBOT_HEALTH_PORT", DEFAULT_HEALTH_PORT, 0, 65535),
    ...(redisUrl !== undefined && { redisUrl }),
    ...(str(env, "REDIS_TLS_CA_FILE") !== undefined && { redisTlsCaFile: str(env, "REDIS_TLS_CA_FILE") }),
    ...sentinelConfig(env, redisUrl),
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
      env: runsWorker ? osEnv : {},
    },
    keys: {
      ...(botSigning !== undefined && runsBot && { botSigning }),
      ...(botVerify !== undefined && runsWorker && { botVerify }),
      ...(workerKey !== undefined && runsWorker && { worker: workerKey }),
    },
    ...(str(env, "SSH_AUTH_SOCK") !== undefined && runsWorker && { sshAuthSock: str(env, "SSH_AUTH_SOCK") }),
    ...(str(env, "MIGBOT_INVENTORY") !== undefined && { inventoryPath: str(env, "MIGBOT_INVENTORY") }),
    ...(str(env, "MIGBOT_KNOWN_HOSTS") !== undefined && { knownHostsPath: str(env, "MIGBOT_KNOWN_HOSTS") }),
    worker: {
      concurrency: int(env, "MIGBOT_WORKER_CONCURRENCY", DEFAULT_WORKER_CONCURRENCY, 1, 2000),
      pollIntervalMs: int(env, "MIGBOT_POLL_INTERVAL_MS", DEFAULT_POLL_INTERVAL_MS, 100, 60_000),
      lockDurationMs: int(env, "MIGBOT_JOB_LOCK_MS", DEFAULT_JOB_LOCK_MS, 1000, 600_000),
      predict: predictMode(str(env, "MIGBOT_PREDICT")),
      chartsPerMinute: int(env, "MIGBOT_CHARTS_PER_MINUTE", DEFAULT_CHARTS_PER_MINUTE, 0, 10_000),
    },
    logLevel,
    logLevelGiven: str(env, "MIGBOT_LOG_LEVEL") !== undefined,
    warnings: UNNEEDED_BY_ROLE[role]
      .filter((name) => str(env, name) !== undefined)
      .map(
        (name) =>
          `${name} is set but the ${role} role does not use it; leave it out of this process's environment so it holds less (least privilege).`,
      ),
  };
  if (mode === "slack") requireRolePieces(config, env);
  return config;
}

/** With Slack credentials, each role must have every piece it works with. */
function requireRolePieces(config: Config, env: Env): void {
  const { role } = config;
  if (role !== "worker") {
    if (config.access.channels.length === 0) {
      throw new ConfigError(
        "MIGBOT_CHANNELS",
        "is empty: migbot takes commands only in the channels listed here (it fails closed). List the channel ids (C…) you invited the bot to.",
      );
    }
    if (config.keys.botSigning === undefined) {
      throw new ConfigError(
        "MIGBOT_BOT_SIGNING_KEY",
        "is required by the bot role: it signs every job so workers can tell them from forgeries. Run `npx migbot keys` for a fresh set.",
      );
    }
  }
  if (role !== "bot") {
    if (config.inventoryPath === undefined) {
      throw new ConfigError(
        "MIGBOT_INVENTORY",
        "is required by workers with Slack credentials: the YAML list of compute hosts",
      );
    }
    if (config.keys.worker === undefined) {
      throw new ConfigError(
        "MIGBOT_WORKER_KEY",
        "is required by workers: it seals fix plans so that nothing stored in Redis can change what a fix writes. Run `npx migbot keys` for a fresh set (every worker gets the same one).",
      );
    }
    if (config.keys.botVerify === undefined) {
      throw new ConfigError(
        "MIGBOT_BOT_VERIFY_KEY",
        "is required by workers: the bot's public key, to check every job. Copy it from the `npx migbot keys` run that made the bot's MIGBOT_BOT_SIGNING_KEY.",
      );
    }
    if (str(env, "OS_CLOUD") === undefined && str(env, "OS_AUTH_URL") === undefined) {
      throw new ConfigError(
        "OS_CLOUD",
        "workers need the cloud: set OS_CLOUD to a clouds.yaml entry (with OS_CLIENT_CONFIG_FILE), or the OS_AUTH_URL/OS_USERNAME/OS_PASSWORD… variables",
      );
    }
  }
}
