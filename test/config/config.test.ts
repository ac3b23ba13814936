import { describe, expect, test } from "vitest";
import { ConfigError, loadConfig } from "../../src/config";
import { generateKeySet } from "../../src/signing/keys";

const KEYS = generateKeySet();
const OTHER_KEYS = generateKeySet();

/** What every role shares with Slack credentials. */
const COMMON = {
  SLACK_BOT_TOKEN: "xoxb-1-2-abc",
  REDIS_URL: "redis://:s3cret-redis@r:6379",
};
/** The bot's share: Slack transport, channels, the job signing key. */
const BOT = {
  ...COMMON,
  SLACK_SIGNING_SECRET: "s3cret",
  MIGBOT_CHANNELS: "C0OPS1",
  MIGBOT_BOT_SIGNING_KEY: KEYS.MIGBOT_BOT_SIGNING_KEY,
};
/** A worker's share: hosts, cloud, the plan key and the bot's public key. */
const WORKER = {
  ...COMMON,
  MIGBOT_INVENTORY: "/etc/migbot/hosts.yaml",
  OS_CLOUD: "prod",
  MIGBOT_WORKER_KEY: KEYS.MIGBOT_WORKER_KEY,
  MIGBOT_BOT_VERIFY_KEY: KEYS.MIGBOT_BOT_VERIFY_KEY,
};

function error(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  test("no Slack credentials means the sandbox, with documented defaults", () => {
    const c = loadConfig({});
    expect(c.mode).toBe("sandbox");
    expect(c.role).toBe("all");
    expect(c.slack.port).toBe(3000);
    expect(c.worker.pollIntervalMs).toBe(2000);
    expect(c.proposalTtlS).toBe(3600);
    expect(c.access.allowSelfApproval).toBe(false);
  });

  test("Slack mode needs the pieces of its transport, named in the error", () => {
    const base = { ...BOT, ...WORKER, SLACK_SIGNING_SECRET: undefined };
    expect(() => loadConfig(base)).toThrow(/SLACK_SIGNING_SECRET/);
    expect(() => loadConfig({ ...base, SLACK_MODE: "socket" })).toThrow(/SLACK_APP_TOKEN/);
    const http = loadConfig({ ...base, SLACK_SIGNING_SECRET: "s3cret" });
    expect(http.slack.transport).toBe("http");
    const socket = loadConfig({ ...base, SLACK_APP_TOKEN: "xapp-1-A-2-x" });
    expect(socket.slack.transport).toBe("socket");
    expect(() => loadConfig({ ...base, SLACK_SIGNING_SECRET: "s", REDIS_URL: undefined })).toThrow(
      /REDIS_URL/,
    );
  });

  test("a Redis without a password is refused, with how to set one; rediss:// is accepted", () => {
    const e = error(() => loadConfig({ ...BOT, REDIS_URL: "redis://r:6379" }, { role: "bot" }));
    expect(e.field).toBe("REDIS_URL");
    expect(e.message).toMatch(/no password.*requirepass.*redis:\/\/:PASSWORD@host:6379/);
    const tls = loadConfig({ ...BOT, REDIS_URL: "rediss://:pw@r:6380" }, { role: "bot" });
    expect(tls.redisUrl).toBe("rediss://:pw@r:6380");
  });

  test("bad values name the variable and never echo a token or a key", () => {
    const e = error(() => loadConfig({ SLACK_BOT_TOKEN: "xoxp-user-token-abc", REDIS_URL: "redis://:p@x" }));
    expect(e.message).toMatch(/^SLACK_BOT_TOKEN/);
    expect(e.message).not.toContain("xoxp-user-token-abc");
    expect(() => loadConfig({ MIGBOT_POLL_INTERVAL_MS: "fast" })).toThrow(/MIGBOT_POLL_INTERVAL_MS/);
    expect(() => loadConfig({ MIGBOT_OPERATORS: "alice" })).toThrow(/MIGBOT_OPERATORS.*not a Slack id/);
    const truncated = KEYS.MIGBOT_WORKER_KEY.slice(0, 20);
    const k = error(() => loadConfig({ ...WORKER, MIGBOT_WORKER_KEY: truncated }, { role: "worker" }));
    expect(k.field).toBe("MIGBOT_WORKER_KEY");
    expect(k.message).toMatch(/at least 32 random bytes/);
    expect(k.message).not.toContain(truncated);
    const notKey = error(() =>
      loadConfig({ ...BOT, MIGBOT_BOT_SIGNING_KEY: KEYS.MIGBOT_BOT_VERIFY_KEY }, { role: "bot" }),
    );
    expect(notKey.field).toBe("MIGBOT_BOT_SIGNING_KEY");
    expect(notKey.message).not.toContain(KEYS.MIGBOT_BOT_VERIFY_KEY);
  });

  test("operators and approvers are user or group ids", () => {
    const c = loadConfig({
      MIGBOT_OPERATORS: "U012ABC, S0OPS1",
      MIGBOT_APPROVERS: "U0BOB1",
      MIGBOT_CHANNELS: "C0OPS1",
    });
    expect(c.access.operators).toEqual(["U012ABC", "S0OPS1"]);
    expect(c.access.approvers).toEqual(["U0BOB1"]);
    expect(c.access.channels).toEqual(["C0OPS1"]);
  });
});

describe("roles hold only what they need", () => {
  test("the bot role starts with Slack, Redis and its signing key, and holds no worker secret", () => {
    const c = loadConfig(BOT, { role: "bot" });
    expect(c.keys.botSigning).toBeDefined();
    expect(c.keys.worker).toBeUndefined();
    expect(c.openstack.env).toEqual({});
    expect(c.warnings).toEqual([]);
  });

  test("a worker starts with hosts, cloud, Redis, the plan key and the bot's public key; it drops the bot's Slack secrets", () => {
    const c = loadConfig(
      { ...WORKER, SLACK_SIGNING_SECRET: "s3cret", OS_PASSWORD: "pw" },
      { role: "worker" },
    );
    expect(c.keys.worker).toBeDefined();
    expect(c.keys.botVerify).toBeDefined();
    expect(c.keys.botSigning).toBeUndefined();
    expect(c.slack.signingSecret).toBeUndefined();
    expect(c.openstack.env.OS_PASSWORD).toBe("pw");
    expect(c.warnings).toEqual([expect.stringMatching(/^SLACK_SIGNING_SECRET is set but the worker role/)]);
  });

  test("a role missing what it needs stops, naming the variable and what to do", () => {
    const missing = (env: Record<string, string | undefined>, role: "bot" | "worker") =>
      error(() => loadConfig(env, { role })).field;
    expect(missing({ ...BOT, MIGBOT_BOT_SIGNING_KEY: undefined }, "bot")).toBe("MIGBOT_BOT_SIGNING_KEY");
    expect(missing({ ...BOT, MIGBOT_CHANNELS: undefined }, "bot")).toBe("MIGBOT_CHANNELS");
    expect(missing({ ...WORKER, MIGBOT_WORKER_KEY: undefined }, "worker")).toBe("MIGBOT_WORKER_KEY");
    expect(missing({ ...WORKER, MIGBOT_BOT_VERIFY_KEY: undefined }, "worker")).toBe("MIGBOT_BOT_VERIFY_KEY");
    expect(missing({ ...WORKER, MIGBOT_INVENTORY: undefined }, "worker")).toBe("MIGBOT_INVENTORY");
    expect(missing({ ...WORKER, OS_CLOUD: undefined }, "worker")).toBe("OS_CLOUD");
    expect(error(() => loadConfig({ ...BOT, MIGBOT_CHANNELS: undefined }, { role: "bot" })).message).toMatch(
      /fails closed/,
    );
  });

  test("a secret of the other role is refused outright: the trust split depends on it", () => {
    const bot = error(() =>
      loadConfig({ ...BOT, MIGBOT_WORKER_KEY: KEYS.MIGBOT_WORKER_KEY }, { role: "bot" }),
    );
    expect(bot.field).toBe("MIGBOT_WORKER_KEY");
    expect(bot.message).toMatch(/only workers may seal fix plans/);
    const worker = error(() =>
      loadConfig({ ...WORKER, MIGBOT_BOT_SIGNING_KEY: KEYS.MIGBOT_BOT_SIGNING_KEY }, { role: "worker" }),
    );
    expect(worker.field).toBe("MIGBOT_BOT_SIGNING_KEY");
  });

  test("role all derives the public key, and refuses a public key of another pair", () => {
    const all = loadConfig({ ...BOT, ...WORKER, MIGBOT_BOT_VERIFY_KEY: undefined });
    expect(all.keys.botVerify).toBeDefined();
    const e = error(() =>
      loadConfig({ ...BOT, ...WORKER, MIGBOT_BOT_VERIFY_KEY: OTHER_KEYS.MIGBOT_BOT_VERIFY_KEY }),
    );
    expect(e.field).toBe("MIGBOT_BOT_VERIFY_KEY");
  });
});
