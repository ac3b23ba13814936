/**
 * Deployment files: docker-compose.yml (checked by `docker compose config` where the plugin exists,
 * and structurally everywhere), the Dockerfile, and .env.example against what the config module reads.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../src/config";
import { generateKeySet } from "../src/signing/keys";

const ROOT = resolve(import.meta.dirname, "..");
const read = (name: string) => readFileSync(resolve(ROOT, name), "utf8");
/** `docker compose config` renders the file without an engine; a few seconds is plenty. */
const COMPOSE_CONFIG_TIMEOUT_MS = 20_000;

interface Service {
  image?: string;
  profiles?: string[];
  build?: unknown;
  command?: string[];
  container_name?: string;
  ports?: string[];
  volumes?: string[];
  env_file?: unknown;
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(read("docker-compose.yml"), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};

const composePlugin = spawnSync("docker", ["compose", "version"], { encoding: "utf8" });
const hasComposePlugin = composePlugin.status === 0;
if (!hasComposePlugin) {
  console.warn(
    "compose.test: `docker compose` (the Compose plugin) is not installed, so `docker compose config` is skipped; " +
      "the structural checks below still run. Install docker-compose-plugin to run it.",
  );
}

describe("docker-compose.yml", () => {
  it.skipIf(!hasComposePlugin)("passes `docker compose config`", () => {
    const res = spawnSync("docker", ["compose", "-f", "docker-compose.yml", "config", "--format", "json"], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: COMPOSE_CONFIG_TIMEOUT_MS,
    });
    expect(res.stderr).not.toMatch(/error/i);
    expect(res.status).toBe(0);
    const rendered = JSON.parse(res.stdout) as { services: Record<string, Service> };
    expect(Object.keys(rendered.services).sort()).toEqual(["bot", "redis", "worker"]);
  });

  it("runs Redis 7 with AOF persistence, noeviction, a password, a volume and a health check", () => {
    const redis = compose.services.redis!;
    expect(redis.image).toMatch(/^redis:7\.\d+\.\d+-bookworm$/);
    const cmd = redis.command!.join(" ");
    expect(cmd).toContain("--appendonly yes");
    expect(cmd).toContain("--maxmemory-policy noeviction");
    expect(cmd).toContain('--requirepass "$$REDIS_PASSWORD"');
    // Compose refuses to start without a password rather than running an open Redis.
    expect(redis.environment?.REDIS_PASSWORD).toMatch(/^\$\{REDIS_PASSWORD:\?/);
    expect(redis.volumes).toEqual(["redis-data:/data"]);
    expect(compose.volumes).toHaveProperty("redis-data");
    expect(redis.healthcheck?.test.join(" ")).toMatch(/REDISCLI_AUTH=.*redis-cli ping/);
    // Only migbot's containers reach Redis.
    expect(redis.ports).toBeUndefined();
  });

  it("runs the bot and scalable workers from the same image, after Redis is healthy", () => {
    const { bot, worker } = compose.services;
    expect(bot!.command).toEqual(["node", "bin/migbot.mjs", "start", "--role", "bot"]);
    // The heap cap keeps a busy worker's RSS within its budget, and a 16 MB young generation keeps
    // per-poll garbage from being promoted and collected at full cost (BENCHMARKS.md, `track`).
    expect(worker!.command).toEqual([
      "node",
      "--max-old-space-size=192",
      "--max-semi-space-size=16",
      "bin/migbot.mjs",
      "start",
      "--role",
      "worker",
    ]);
    for (const s of [bot!, worker!]) {
      expect(s.build).toBe(".");
      expect(s.depends_on?.redis?.condition).toBe("service_healthy");
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose's own interpolation syntax.
      expect(s.environment?.REDIS_URL).toBe("redis://:${REDIS_PASSWORD}@redis:6379");
      // The whole .env would hand both roles every secret.
      expect(s.env_file).toBeUndefined();
    }
    // `docker compose up --scale worker=3` fails with a fixed name or a published port.
    expect(worker!.container_name).toBeUndefined();
    expect(worker!.ports).toBeUndefined();
    // The HTTP receiver is published on loopback only, for a TLS proxy in front.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose's own interpolation syntax.
    expect(bot!.ports).toEqual(["127.0.0.1:${PORT:-3000}:3000"]);
  });

  it("gives each role exactly its share: the bot no cloud, hosts or worker key; workers no Slack secrets or signing key", () => {
    const { bot, worker } = compose.services;
    const botVars = Object.keys(bot!.environment!);
    const workerVars = Object.keys(worker!.environment!);
    for (const name of botVars) {
      expect(name, `the bot gets ${name}`).not.toMatch(
        /^OS_|^MIGBOT_WORKER_KEY$|^MIGBOT_INVENTORY$|^MIGBOT_KNOWN_HOSTS$|^MIGBOT_BOT_VERIFY_KEY$/,
      );
    }
    expect(bot!.volumes).toBeUndefined();
    for (const name of ["SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "MIGBOT_BOT_SIGNING_KEY"]) {
      expect(workerVars, `workers get ${name}`).not.toContain(name);
    }
    expect(worker!.volumes).toEqual(["./config:/etc/migbot:ro", "./keys:/etc/migbot/keys:ro"]);
    for (const name of ["MIGBOT_INVENTORY", "MIGBOT_KNOWN_HOSTS", "OS_CLIENT_CONFIG_FILE"]) {
      expect(worker!.environment?.[name]).toMatch(/^\/etc\/migbot\//);
    }
  });

  it("what compose passes each role is enough for it to start, with nothing it would warn about", () => {
    const keys = generateKeySet();
    const values: Record<string, string> = {
      SLACK_BOT_TOKEN: "xoxb-1-2-abc",
      SLACK_SIGNING_SECRET: "secret",
      SLACK_MODE: "http",
      REDIS_PASSWORD: "pw",
      MIGBOT_CHANNELS: "C0OPS1",
      OS_CLOUD: "prod",
      ...keys,
    };
    const envOf = (s: Service): Record<string, string> =>
      Object.fromEntries(
        Object.entries(s.environment!).map(([k, v]) => [
          k,
          v.replace(/\$\{([A-Z0-9_]+)[^}]*\}/g, (_m, name: string) => values[name] ?? ""),
        ]),
      );
    const bot = loadConfig(envOf(compose.services.bot!), { role: "bot" });
    expect(bot.warnings).toEqual([]);
    const worker = loadConfig(envOf(compose.services.worker!), { role: "worker" });
    expect(worker.warnings).toEqual([]);
    expect(worker.keys.worker).toBeDefined();
  });
});

describe("docker-compose.yml's optional `ha` profile (Redis Sentinel)", () => {
  const ha = ["redis-replica", "redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3"];

  it("adds a replica and three Sentinels only under the profile, each with its own volume", () => {
    for (const name of ha) {
      const s = compose.services[name]!;
      expect(s.profiles, name).toEqual(["ha"]);
      expect(s.image).toBe(compose.services.redis!.image);
      expect(s.volumes).toHaveLength(1);
      expect(compose.volumes).toHaveProperty(s.volumes![0]!.split(":")[0]!);
    }
    // Plain `docker compose up` still starts exactly redis, bot and worker.
    const always = Object.entries(compose.services).filter(([, s]) => s.profiles === undefined);
    expect(always.map(([n]) => n).sort()).toEqual(["bot", "redis", "worker"]);
  });

  it("keeps BullMQ's requirements on the replica, which becomes a primary after a failover", () => {
    const cmd = compose.services["redis-replica"]!.command!.join(" ");
    expect(cmd).toContain("--maxmemory-policy noeviction");
    expect(cmd).toContain("--appendonly yes");
    expect(cmd).toContain("--replicaof redis 6379");
    expect(cmd).toContain('--masterauth "$$REDIS_PASSWORD"');
  });

  it("has the Sentinels watch the compose Redis as `migbot` with a quorum of 2, behind the Redis password", () => {
    const script = compose.services["redis-sentinel-1"]!.command!.join("\n");
    expect(script).toContain("sentinel monitor migbot redis 6379 2");
    expect(script).toContain("requirepass $$REDIS_PASSWORD");
    expect(script).toContain("exec redis-sentinel");
    for (const name of ["redis-sentinel-2", "redis-sentinel-3"])
      expect(compose.services[name]!.command).toEqual(compose.services["redis-sentinel-1"]!.command);
  });

  it("passes the Sentinel settings to both roles", () => {
    for (const role of ["bot", "worker"]) {
      for (const name of ["REDIS_SENTINELS", "REDIS_SENTINEL_NAME", "REDIS_SENTINEL_PASSWORD"])
        expect(compose.services[role]!.environment?.[name], `${role} ${name}`).toBe(`\${${name}:-}`);
    }
  });
});

describe("Dockerfile", () => {
  const dockerfile = read("Dockerfile");
  it("builds on a pinned Node.js LTS with production dependencies only, tsx among them, and runs unprivileged", () => {
    // An exact release of an even (LTS) major, and the README/Dockerfile say how to add the digest.
    const from = /^FROM node:(\d+)\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/m.exec(dockerfile);
    expect(from, "FROM must name an exact node release").not.toBeNull();
    expect(Number(from![1]) % 2).toBe(0);
    expect(Number(from![1])).toBeGreaterThanOrEqual(22);
    expect(dockerfile).toMatch(/docker buildx imagetools inspect/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    const pkg = JSON.parse(read("package.json")) as { dependencies: Record<string, string> };
    // No build step: the image runs TypeScript through tsx, so it must survive --omit=dev.
    expect(Object.keys(pkg.dependencies)).toContain("tsx");
  });

  it("keeps secrets and keys out of the build context", () => {
    const ignored = read(".dockerignore").split("\n");
    for (const entry of [".env", "keys", "config", ".git", "node_modules"]) expect(ignored).toContain(entry);
  });
});

describe(".env.example", () => {
  const lines = read(".env.example").split("\n");
  /** Variables listed, set (`X=`) or shown commented out (`# X=`), each with the line above it. */
  const listed = new Map<string, string>();
  lines.forEach((line, i) => {
    const m = /^(?:# )?([A-Z][A-Z0-9_]+)=/.exec(line);
    if (m?.[1]) listed.set(m[1], lines[i - 1] ?? "");
  });

  it("lists every variable the config module reads, each under a comment", () => {
    const configSource = read("src/config.ts");
    const read_ = [...configSource.matchAll(/\(env, "([A-Z0-9_]+)"/g)].map((m) => m[1]!);
    expect(read_.length).toBeGreaterThan(10);
    for (const name of new Set(read_)) {
      expect(
        listed.has(name),
        `${name} is read by src/config.ts but missing from .env.example: add it there with a comment`,
      ).toBe(true);
    }
  });

  it("lists the deployment variables, each under a comment", () => {
    const expected = [
      "SLACK_BOT_TOKEN",
      "SLACK_SIGNING_SECRET",
      "SLACK_APP_TOKEN",
      "SLACK_MODE",
      "PORT",
      "REDIS_URL",
      "MIGBOT_OPERATORS",
      "MIGBOT_APPROVERS",
      "MIGBOT_CHANNELS",
      "MIGBOT_ALLOW_SELF_APPROVAL",
      "MIGBOT_PROPOSAL_TTL_S",
      "OS_CLOUD",
      "OS_CLIENT_CONFIG_FILE",
      "OS_AUTH_URL",
      "OS_USERNAME",
      "OS_PASSWORD",
      "OS_PROJECT_NAME",
      "OS_USER_DOMAIN_NAME",
      "OS_PROJECT_DOMAIN_NAME",
      "OS_REGION_NAME",
      "MIGBOT_INVENTORY",
      "MIGBOT_KNOWN_HOSTS",
      "SSH_AUTH_SOCK",
      "MIGBOT_WORKER_CONCURRENCY",
      "MIGBOT_POLL_INTERVAL_MS",
      "MIGBOT_LOG_LEVEL",
    ];
    for (const name of expected) {
      expect(listed.has(name), `${name} missing`).toBe(true);
    }
    for (const [name, above] of listed) {
      expect(above.startsWith("#"), `${name} has no comment above it`).toBe(true);
    }
  });

  it("holds no secret values", () => {
    for (const name of ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "OS_PASSWORD"]) {
      const line = lines.find((l) => l.startsWith(`${name}=`));
      expect(line).toBe(`${name}=`);
    }
  });
});
