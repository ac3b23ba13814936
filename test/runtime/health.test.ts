/**
 * /healthz, /readyz and /metrics as an orchestrator or Prometheus sees them, over real HTTP: each
 * readiness check against the real thing where one can run here (a private redis-server, real SSH
 * servers, the Slack emulator's auth.test), and the answers an operator reads when one is missing.
 */

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { resolve } from "node:path";
import { webApi } from "@slack/bolt";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_HEALTH_PORT, loadConfig } from "../../src/config";
import { meteredHosts, QUEUE_COUNTS_TIMEOUT_MS, queueCounts } from "../../src/health/instrument";
import { createMetrics, METRIC_PREFIX } from "../../src/health/metrics";
import { hostsCheck, keystoneCheck, Readiness, redisCheck, slackAuthCheck } from "../../src/health/readiness";
import { type HealthServer, healthRoutes, startHealthServer } from "../../src/health/server";
import type { HostEntry } from "../../src/hosts/inventory";
import { silentLogger } from "../../src/log";
import { loadOpenStackCredentials } from "../../src/openstack/config";
import { KeystoneAuth } from "../../src/openstack/keystone";
import { hostsPort } from "../../src/runtime/hosts";
import { freeLoopbackPort } from "../../src/runtime/redis-server";
import { type SlackEmulator, startSlackEmulator } from "../../src/sandbox/slack/emulator";
import type { SandboxSshServer } from "../../src/sandbox/ssh-server";
import { type ClientKeys, executorFor, makeClientKeys, startHost } from "../hosts/harness";
import { PROJECT_ROOT } from "../support/fixtures";
import { type PrivateRedis, startPrivateRedis } from "../support/redis-server";
import { until } from "../support/until";

const BOT_TOKEN = "xoxb-health-test-0000-token";
/** Short bounds so a host that never answers costs the test half a second, not the production 3 s. */
const TEST_HOST_TIMEOUT_MS = 500;

interface ReadyBody {
  status: string;
  failing: string[];
  checks: Record<string, { ok: boolean; detail: string; ms: number }>;
}

let slack: SlackEmulator;
let keys: ClientKeys;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  slack = await startSlackEmulator({
    signingSecret: "health-test-signing-secret",
    botToken: BOT_TOKEN,
    users: [{ id: "U0ALICE01", name: "alice", realName: "Alice" }],
    channels: [{ id: "C0OPS0001", name: "ops" }],
  });
  keys = makeClientKeys();
});

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

afterAll(async () => {
  await slack?.close();
  keys?.dispose();
});

/** Serves `readiness` (and a fresh registry) the way a worker does, on a free port. */
async function serve(
  readiness: Readiness,
  metrics = createMetrics({ role: "worker" }),
): Promise<{ base: string; server: HealthServer }> {
  const server = await startHealthServer(
    0,
    healthRoutes({ readiness, metrics, log: silentLogger }),
    silentLogger,
  );
  cleanups.push(() => server.close());
  return { base: `http://127.0.0.1:${server.port}`, server };
}

async function readyz(base: string): Promise<{ status: number; body: ReadyBody; raw: string }> {
  const res = await fetch(`${base}/readyz`);
  const raw = await res.text();
  return { status: res.status, body: JSON.parse(raw) as ReadyBody, raw };
}

async function privateRedisClient(): Promise<{ redis: Redis; server: PrivateRedis; password: string }> {
  const server = await startPrivateRedis();
  // Reconnect quickly, so the test sees Redis come and go in milliseconds.
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  redis.on("error", () => {});
  cleanups.push(async () => {
    redis.disconnect();
    await server.stop();
  });
  await until("redis to connect", () => redis.status === "ready", { timeoutMs: 10_000 });
  return { redis, server, password: new URL(server.url).password };
}

/** A TCP port that accepts connections and never says a word: a host behind a black hole. */
async function silentPort(): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return (server.address() as { port: number }).port;
}

describe("/healthz", () => {
  it("answers 200 while the event loop turns, whatever the dependencies say", async () => {
    const readiness = new Readiness();
    readiness.add("redis", async () => {
      throw new Error("Redis is not connected (reconnecting)");
    });
    const { base } = await serve(readiness);
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
    expect((await readyz(base)).status).toBe(503);
  });
});

describe("/readyz", () => {
  it("answers 200 while Redis answers PING, 503 naming redis at once when it is gone, never with its password", async () => {
    const { redis, server, password } = await privateRedisClient();
    const readiness = new Readiness([password]);
    readiness.add("redis", redisCheck(redis));
    readiness.started();
    const { base } = await serve(readiness);

    const up = await readyz(base);
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ status: "ready", failing: [], checks: { redis: { ok: true } } });

    await server.stop();
    const down = await until(
      "readyz to fail",
      async () => {
        const r = await readyz(base);
        return r.status === 503 ? r : undefined;
      },
      { timeoutMs: 10_000 },
    );
    expect(down.body.status).toBe("not ready");
    expect(down.body.failing).toEqual(["redis"]);
    expect(down.body.checks.redis!.detail).toMatch(/Redis/);
    expect(down.raw).not.toContain(password);
    // Bounded: a Redis that is gone is reported at once, not after a client's retry budget.
    expect(down.body.checks.redis!.ms).toBeLessThan(2_000);
  });

  it("answers 503 naming each host that does not answer over SSH, and why; the hosts that answer are not named", async () => {
    const handled: string[] = [];
    const up: { server: SandboxSshServer; entry: HostEntry } = await startHost(
      keys,
      (command) => {
        handled.push(command.kind);
        // nova-compute being down is not the worker's readiness: only that the host answered.
        return { stdout: "inactive\n", stderr: "", exitCode: 3 };
      },
      {},
      "cmp-up",
    );
    cleanups.push(() => up.server.close());
    const inventory: HostEntry[] = [
      up.entry,
      { ...up.entry, name: "cmp-refused", port: await freeLoopbackPort() },
      { ...up.entry, name: "cmp-silent", port: await silentPort() },
    ];
    const exec = executorFor(inventory);
    cleanups.push(() => exec.close());
    const hosts = meteredHosts(hostsPort(inventory, exec), createMetrics({ role: "worker" }));
    const readiness = new Readiness();
    readiness.add(
      "hosts",
      hostsCheck(hosts, {
        names: inventory.map((h) => h.name),
        serviceFor: () => "nova-compute",
        lastAnsweredAt: (h) => hosts.lastAnsweredAt(h),
        timeoutMs: TEST_HOST_TIMEOUT_MS,
        cacheMs: 60_000,
      }),
    );
    readiness.started();
    const { base } = await serve(readiness);

    const started = Date.now();
    const r = await readyz(base);
    const tookMs = Date.now() - started;
    expect(r.status).toBe(503);
    expect(r.body.failing).toEqual(["hosts"]);
    const detail = r.body.checks.hosts!.detail;
    expect(detail).toMatch(/^2 of 3 hosts do not answer over SSH/);
    expect(detail).toMatch(/cmp-refused \(cannot reach cmp-refused over SSH/);
    expect(detail).toMatch(/cmp-silent \(cmp-silent \(SSH\) did not answer within 500 ms\)/);
    expect(detail).not.toMatch(/cmp-up/);
    expect(handled).toEqual(["systemctl-is-active"]);
    // The probes run side by side: the answer takes about one timeout, not one per host.
    expect(tookMs).toBeLessThan(TEST_HOST_TIMEOUT_MS * 4);

    // Cached: a second probe within the cache time asks no host again.
    const again = await readyz(base);
    expect(again.body.checks.hosts!.detail).toBe(detail);
    expect(handled).toEqual(["systemctl-is-active"]);
  });

  it("counts a host that just ran a command as up without probing it again", async () => {
    const handled: string[] = [];
    const up = await startHost(keys, (command) => {
      handled.push(command.kind);
      return { stdout: "active\n", stderr: "", exitCode: 0 };
    });
    cleanups.push(() => up.server.close());
    const exec = executorFor([up.entry]);
    cleanups.push(() => exec.close());
    const hosts = meteredHosts(hostsPort([up.entry], exec), createMetrics({ role: "worker" }));
    await hosts.run(up.entry.name, { kind: "virsh-list" });
    const readiness = new Readiness();
    readiness.add(
      "hosts",
      hostsCheck(hosts, {
        names: [up.entry.name],
        serviceFor: () => "nova-compute",
        lastAnsweredAt: (h) => hosts.lastAnsweredAt(h),
        cacheMs: 60_000,
      }),
    );
    readiness.started();
    const { base } = await serve(readiness);
    const r = await readyz(base);
    expect(r.status).toBe(200);
    expect(r.body.checks.hosts).toMatchObject({ ok: true, detail: "1 of 1 hosts answer over SSH" });
    expect(handled).toEqual(["virsh-list"]);
  });

  it("answers 503 naming slack when Slack refuses the token, without the token", async () => {
    const wrong = "xoxb-health-test-9999-wrong";
    const client = new webApi.WebClient(wrong, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
    const readiness = new Readiness([wrong]);
    readiness.add(
      "slack",
      slackAuthCheck(() => client.auth.test()),
    );
    readiness.started();
    const { base } = await serve(readiness);
    const r = await readyz(base);
    expect(r.status).toBe(503);
    expect(r.body.failing).toEqual(["slack"]);
    expect(r.body.checks.slack!.detail).toBe("Slack refused auth.test: invalid_auth");
    expect(r.raw).not.toContain(wrong);

    const right = new webApi.WebClient(BOT_TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
    const ok = new Readiness();
    ok.add(
      "slack",
      slackAuthCheck(() => right.auth.test()),
    );
    ok.started();
    const served = await serve(ok);
    const good = await readyz(served.base);
    expect(good.status).toBe(200);
    expect(good.body.checks.slack!.detail).toMatch(/bot user U\w+, team T\w+/);
  });

  it("answers 503 naming nova when Keystone refuses the credentials, without the password", async () => {
    const password = "hunter2-health-test-password";
    const credentials = loadOpenStackCredentials({
      env: {
        OS_AUTH_URL: "http://127.0.0.1:1/v3",
        OS_USERNAME: "migbot",
        OS_PASSWORD: password,
        OS_PROJECT_NAME: "admin",
        OS_USER_DOMAIN_NAME: "Default",
        OS_PROJECT_DOMAIN_NAME: "Default",
      },
      readFile: () => undefined,
      cwd: "/nonexistent",
      home: "/nonexistent",
    });
    // Keystone itself cannot run here (the lab has the real one); this is its documented 401.
    const auth = new KeystoneAuth({
      credentials,
      fetch: async () =>
        new Response(
          JSON.stringify({
            error: {
              code: 401,
              title: "Unauthorized",
              message: "The request you have made requires authentication.",
            },
          }),
          { status: 401, headers: { "content-type": "application/json" } },
        ),
    });
    const readiness = new Readiness([password]);
    readiness.add("nova", keystoneCheck(auth));
    readiness.started();
    const { base } = await serve(readiness);
    const r = await readyz(base);
    expect(r.status).toBe(503);
    expect(r.body.failing).toEqual(["nova"]);
    expect(r.body.checks.nova!.detail).toMatch(/Keystone .* refused user "migbot"/);
    expect(r.raw).not.toContain(password);
  });

  it("is not ready before the process has started or once it is stopping", async () => {
    const readiness = new Readiness();
    readiness.add("redis", async () => "PING answered in 0 ms");
    const { base } = await serve(readiness);
    const starting = await readyz(base);
    expect(starting.status).toBe(503);
    expect(starting.body.failing).toEqual(["process"]);
    expect(starting.body.checks.process!.detail).toMatch(/^starting/);
    readiness.started();
    expect((await readyz(base)).status).toBe(200);
    readiness.stopping();
    const stopping = await readyz(base);
    expect(stopping.status).toBe(503);
    expect(stopping.body.checks.process!.detail).toMatch(/^shutting down/);
    expect(stopping.body.checks.redis!.ok).toBe(true);
  });
});

describe("/metrics", () => {
  it("serves the registry in Prometheus' text format with the process's role on every series", async () => {
    const { base } = await serve(new Readiness());
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/^# TYPE migbot_migrations_total counter$/m);
    expect(text).toMatch(/^# TYPE migbot_queue_wait_seconds histogram$/m);
    expect(text).toMatch(/^migbot_migrations_active\{role="worker"\} 0$/m);
    expect(text).toMatch(/^process_resident_memory_bytes\{role="worker"\} \d+/m);
  });

  it("reads the queues' depth from BullMQ at each scrape, and still answers within its bound when Redis is gone", async () => {
    const { redis, server } = await privateRedisClient();
    const bullPrefix = `health-${randomUUID()}:bull`;
    const queue = new Queue("migrations", { connection: redis, prefix: bullPrefix });
    queue.on("error", () => {});
    const counts = queueCounts(redis, bullPrefix);
    cleanups.push(async () => {
      await counts.close();
      await queue.close();
    });
    await queue.add("migrate", { vm: "vm-1" });
    await queue.add("migrate", { vm: "vm-2" });
    const metrics = createMetrics({ role: "bot" });
    metrics.setQueueCounts(() => counts.read());
    const { base } = await serve(new Readiness(), metrics);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^migbot_queue_jobs\{queue="migrations",state="waiting",role="bot"\} 2$/m);
    expect(text).toMatch(/^migbot_queue_jobs\{queue="actions",state="waiting",role="bot"\} 0$/m);

    await server.stop();
    const started = Date.now();
    const res = await fetch(`${base}/metrics`);
    const without = await res.text();
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(QUEUE_COUNTS_TIMEOUT_MS + 1_000);
    expect(without).not.toMatch(/^migbot_queue_jobs\{/m);
    expect(without).toMatch(/^migbot_migrations_active\{role="bot"\} 0$/m);
  });

  it("names every metric it registers in the README's table", async () => {
    const readme = readFileSync(resolve(PROJECT_ROOT, "README.md"), "utf8");
    const names = createMetrics({ role: "bot" })
      .registry.getMetricsAsArray()
      .map((m) => m.name)
      .filter((n) => n.startsWith(METRIC_PREFIX));
    expect(names.length).toBeGreaterThan(10);
    for (const name of names) expect(readme, `${name} is not in the README`).toContain(`| \`${name}\` |`);
  });

  it("answers 404 naming the paths it serves", async () => {
    const { base } = await serve(new Readiness());
    const res = await fetch(`${base}/slack/events`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ paths: ["/healthz", "/readyz", "/metrics"] });
  });
});

describe("MIGBOT_HEALTH_PORT", () => {
  it("defaults to 9464, takes 0 for a free port, and names itself when it is not a port", () => {
    expect(loadConfig({}).healthPort).toBe(DEFAULT_HEALTH_PORT);
    expect(DEFAULT_HEALTH_PORT).toBe(9464);
    expect(loadConfig({ MIGBOT_HEALTH_PORT: "0" }).healthPort).toBe(0);
    expect(loadConfig({ MIGBOT_HEALTH_PORT: "9100" }).healthPort).toBe(9100);
    expect(() => loadConfig({ MIGBOT_HEALTH_PORT: "70000" })).toThrow(ConfigError);
    expect(() => loadConfig({ MIGBOT_HEALTH_PORT: "metrics" })).toThrow(
      /^MIGBOT_HEALTH_PORT: 'metrics' is not a whole number/,
    );
  });

  it("says so when the port is taken, naming the variable", async () => {
    const first = await startHealthServer(0, [], silentLogger);
    cleanups.push(() => first.close());
    await expect(startHealthServer(first.port, [], silentLogger)).rejects.toThrow(
      `MIGBOT_HEALTH_PORT: port ${first.port} is already in use`,
    );
  });
});
