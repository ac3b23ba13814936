/**
 * Stopping migbot the way docker compose does (SIGTERM, then SIGKILL after stop_grace_period), with
 * each role as the real production process (`migbot start --role …`, src/sandbox and test/ made
 * unavailable): the bot stops accepting, answers the request it holds, finishes the work behind
 * that answer and exits 0 within its grace period; a second SIGTERM exits at once. A worker's
 * /healthz, /readyz and /metrics answer on its health port and close with it. The compose files'
 * own healthcheck commands are run against them.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { resolve } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { parse } from "yaml";
import { ACTION_ABORT } from "../../bot/render/migration";
import { freeLoopbackPort } from "../../src/runtime/redis-server";
import { type SandboxStack, startSandboxStack } from "../../src/runtime/stack";
import { type SlackEmulator, startSlackEmulator } from "../../src/sandbox/slack/emulator";
import { signedHeaders } from "../../src/sandbox/slack/signing";
import { generateKeySet } from "../../src/signing/keys";
import { PROJECT_ROOT } from "../support/fixtures";
import { type PrivateRedis, startPrivateRedis } from "../support/redis-server";
import { killAllRoles, type RoleProcess, startRole } from "../support/role-processes";
import { until } from "../support/until";

const SIGNING_SECRET = "graceful-stop-test-signing-secret";
const BOT_TOKEN = "xoxb-graceful-stop-0000-token";
const ALICE = { id: "U0ALICE01", name: "alice", realName: "Alice" };
const OPS = { id: "C0OPS0001", name: "ops" };
/** A second SIGTERM is "at once": the process is gone well within this (process teardown included). */
const SECOND_SIGNAL_EXIT_MS = 2_000;
/** How long the test watches a stop held by work in flight (before it signals again, or lets the work go). */
const HELD_STOP_OBSERVED_MS = 500;
/** CLIENT PAUSE's own limit, should the test fail before it unpauses. */
const REDIS_WRITE_PAUSE_MS = 15_000;

interface Service {
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
}
const compose = parse(readFileSync(resolve(PROJECT_ROOT, "docker-compose.yml"), "utf8"), { merge: true }) as {
  services: Record<string, Service>;
};

/** Compose durations as this file writes them (`15s`, `1m30s`), in ms. */
function durationMs(text: string | undefined): number {
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(text ?? "");
  if (!m || (!m[1] && !m[2])) throw new Error(`unexpected compose duration '${text}'`);
  return (Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 1000;
}

/** Runs a service's compose healthcheck (`CMD node -e …`) here, with the container's port variables. */
function runHealthcheck(service: string, env: Record<string, string>): number | null {
  const test = compose.services[service]?.healthcheck?.test ?? [];
  expect(test.slice(0, 3)).toEqual(["CMD", "node", "-e"]);
  return spawnSync(process.execPath, ["-e", test[3]!], {
    env: { PATH: process.env.PATH ?? "", ...env },
    timeout: 10_000,
  }).status;
}

let redis: PrivateRedis;
let slack: SlackEmulator;
let stack: SandboxStack | null = null;
const sockets: Socket[] = [];

beforeAll(async () => {
  redis = await startPrivateRedis();
  slack = await startSlackEmulator({
    signingSecret: SIGNING_SECRET,
    botToken: BOT_TOKEN,
    users: [ALICE],
    channels: [OPS],
  });
});

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});

afterAll(async () => {
  await killAllRoles();
  await stack?.stop();
  await slack?.close();
  await redis?.stop();
});

async function startBotProcess(): Promise<{ bot: RoleProcess; port: number; prefix: string }> {
  const port = await freeLoopbackPort();
  const prefix = `graceful-${randomUUID()}`;
  const bot = startRole("bot", {
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_MODE: "http",
    SLACK_API_URL: slack.apiUrl,
    PORT: String(port),
    REDIS_URL: redis.url,
    MIGBOT_REDIS_PREFIX: prefix,
    MIGBOT_BOT_SIGNING_KEY: generateKeySet().MIGBOT_BOT_SIGNING_KEY,
    MIGBOT_CHANNELS: OPS.id,
    MIGBOT_OPERATORS: ALICE.id,
  });
  await bot.waitForLog(/"msg":"bot started"/);
  return { bot, port, prefix };
}

/** A signed `/migrate` from Slack, as raw HTTP parts. */
function slashCommand(text: string): { head: string; body: string } {
  const body = new URLSearchParams({
    token: "unused-verification-token",
    team_id: "T0SANDBOX",
    channel_id: OPS.id,
    channel_name: OPS.name,
    user_id: ALICE.id,
    user_name: ALICE.name,
    command: "/migrate",
    text,
    trigger_id: `trigger-${randomUUID()}`,
    response_url: `${slack.apiUrl.replace(/\/api\/$/, "")}/response/graceful`,
  }).toString();
  const headers = signedHeaders(SIGNING_SECRET, body);
  const head = [
    "POST /slack/events HTTP/1.1",
    "Host: 127.0.0.1",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    `Content-Length: ${Buffer.byteLength(body)}`,
    // The server says "100 Continue" once it has read the headers: from then on the request is its.
    "Expect: 100-continue",
    "Connection: close",
    "",
    "",
  ].join("\r\n");
  return { head, body };
}

/** Sends a request's headers and waits until the server holds it (its 100 Continue); the body comes later. */
async function requestInFlight(
  port: number,
  head: string,
): Promise<{ socket: Socket; received: () => string }> {
  const socket = connect(port, "127.0.0.1");
  sockets.push(socket);
  let received = "";
  socket.on("data", (d: Buffer) => {
    received += d.toString();
  });
  socket.on("error", () => {});
  await new Promise<void>((r, j) => {
    socket.once("connect", () => r());
    socket.once("error", j);
  });
  socket.write(head);
  await until(
    "the server to take the request (100 Continue)",
    () => /^HTTP\/1\.1 100 Continue/.test(received),
    {
      timeoutMs: 10_000,
    },
  );
  return { socket, received: () => received };
}

/** Whether a new TCP connection to the port is accepted. */
function accepts(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      r(true);
    });
    s.once("error", () => r(false));
  });
}

it("bot: SIGTERM stops accepting, answers the request in flight, finishes its enqueue, and exits 0 within the compose grace period", async () => {
  const graceMs = durationMs(compose.services.bot?.stop_grace_period);
  const { bot, port, prefix } = await startBotProcess();
  // Compose's healthcheck passes (HTTP mode: on the receiver's port; nothing on the health port).
  const closedPort = await freeLoopbackPort();
  expect(runHealthcheck("bot", { PORT: String(port), MIGBOT_HEALTH_PORT: String(closedPort) })).toBe(0);

  const { head, body } = slashCommand("vm-42 to compute-3");
  const inFlight = await requestInFlight(port, head);
  const signalledAt = Date.now();
  bot.child.kill("SIGTERM");
  await bot.waitForLog(/shutting down/);
  // No new connection is taken...
  expect(await accepts(port)).toBe(false);
  // ...but the request it holds is answered, with the work behind the answer done.
  // (Written, not ended: a client that half-closes its side has given up on the answer.)
  inFlight.socket.write(body);
  const response = await until(
    "the answer to the request in flight",
    () => (/\r\n\r\n[\s\S]*On it/.test(inFlight.received()) ? inFlight.received() : undefined),
    {
      timeoutMs: 15_000,
      explain: () => `${inFlight.received()}\n--- bot log ---\n${bot.log().slice(-3000)}`,
    },
  );
  expect(response).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
  expect(response).toContain("On it: live-migrating vm-42 to compute-3");

  const exit = await bot.exited;
  expect(exit.code).toBe(0);
  expect(exit.at - signalledAt).toBeLessThan(graceMs);
  expect(bot.log()).toMatch(/"msg":"stopped"/);
  expect(bot.log()).not.toMatch(/"level":"error"/);

  // The job the answer promised is in the queue for a worker.
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue("migrations", { connection, prefix: `${prefix}:bull` });
  try {
    expect(await queue.getJobCounts("waiting")).toEqual({ waiting: 1 });
  } finally {
    await queue.close();
    connection.disconnect();
  }
  // Stopped: compose's healthcheck now fails.
  expect(runHealthcheck("bot", { PORT: String(port), MIGBOT_HEALTH_PORT: String(closedPort) })).toBe(1);
}, 60_000);

it("bot: SIGTERM waits for a button's work that runs after its ack, which then reaches the queue, and exits 0", async () => {
  const { bot, port, prefix } = await startBotProcess();
  const admin = new Redis(redis.url);
  const jobId = `job-${randomUUID()}`;
  // The migration the Abort button belongs to, as a worker would have recorded it.
  await admin.set(
    `${prefix}:migration:${jobId}`,
    JSON.stringify({ view: { jobId, vm: "vm-42", channel: OPS.id } }),
  );
  const body = new URLSearchParams({
    payload: JSON.stringify({
      type: "block_actions",
      user: { id: ALICE.id, username: ALICE.name, team_id: "T0SANDBOX" },
      team: { id: "T0SANDBOX", domain: "sandbox" },
      channel: { id: OPS.id, name: OPS.name },
      container: { type: "message", message_ts: "1700000000.000100", channel_id: OPS.id },
      trigger_id: `trigger-${randomUUID()}`,
      response_url: `${slack.apiUrl.replace(/\/api\/$/, "")}/response/graceful`,
      actions: [
        {
          action_id: ACTION_ABORT,
          block_id: "controls",
          type: "button",
          value: jobId,
          action_ts: "1700000001.000200",
        },
      ],
    }),
  }).toString();
  // Redis holds every write (the click's enqueue is a BullMQ script); reads and the ack go through.
  await admin.call("CLIENT", "PAUSE", String(REDIS_WRITE_PAUSE_MS), "WRITE");
  try {
    const acked = await fetch(`http://127.0.0.1:${port}/slack/events`, {
      method: "POST",
      headers: signedHeaders(SIGNING_SECRET, body),
      body,
    });
    expect(acked.status).toBe(200);
    bot.child.kill("SIGTERM");
    await bot.waitForLog(/shutting down/);
    await new Promise((r) => setTimeout(r, HELD_STOP_OBSERVED_MS));
    // Still there: the click's work is not done, and stopping would lose it.
    expect(bot.child.exitCode).toBeNull();
  } finally {
    await admin.call("CLIENT", "UNPAUSE");
  }
  const exit = await bot.exited;
  expect(exit.code).toBe(0);
  expect(bot.log()).not.toMatch(/"level":"error"/);
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue("actions", { connection, prefix: `${prefix}:bull` });
  try {
    const jobs = await queue.getJobs(["waiting"]);
    expect(jobs.map((j) => j.name)).toEqual(["abort"]);
  } finally {
    await queue.close();
    connection.disconnect();
    admin.disconnect();
  }
}, 60_000);

it("bot: a second SIGTERM during a stop held by a request in flight exits at once", async () => {
  const { bot, port } = await startBotProcess();
  const { head } = slashCommand("vm-42 to compute-3");
  // Headers only: the request stays in flight and holds the stop (up to the bot's drain time).
  await requestInFlight(port, head);
  bot.child.kill("SIGTERM");
  await bot.waitForLog(/shutting down/);
  await new Promise((r) => setTimeout(r, HELD_STOP_OBSERVED_MS));
  expect(bot.child.exitCode).toBeNull();

  const again = Date.now();
  bot.child.kill("SIGTERM");
  const exit = await bot.exited;
  expect(exit.at - again).toBeLessThan(SECOND_SIGNAL_EXIT_MS);
  expect(exit.code).toBe(130);
  expect(bot.log()).toMatch(/second SIGTERM: exiting now/);
}, 60_000);

it("worker: /healthz, /readyz and /metrics answer on its health port, compose's healthcheck passes, and all close when SIGTERM stops it", async () => {
  const graceMs = durationMs(compose.services.worker?.stop_grace_period);
  stack = await startSandboxStack({
    redisUrl: redis.url,
    prefix: `graceful-${randomUUID()}`,
    workers: false,
  });
  const worker = startRole("worker", stack.workerEnv);
  await worker.waitForLog(/"msg":"worker started"/);
  const port = Number(/"msg":"health server listening"[^\n]*"port":(\d+)/.exec(worker.log())?.[1]);
  expect(port).toBeGreaterThan(0);
  const base = `http://127.0.0.1:${port}`;

  expect(runHealthcheck("worker", { MIGBOT_HEALTH_PORT: String(port) })).toBe(0);
  const ready = await fetch(`${base}/readyz`);
  const report = (await ready.json()) as { status: string; checks: Record<string, { ok: boolean }> };
  expect(ready.status).toBe(200);
  expect(Object.keys(report.checks)).toEqual(["redis", "slack", "nova", "hosts"]);
  expect(Object.values(report.checks).every((c) => c.ok)).toBe(true);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  expect(metrics).toMatch(/^migbot_migrations_active\{role="worker"\} 0$/m);
  expect(metrics).toMatch(
    /^migbot_ssh_commands_total\{host="compute-1",kind="systemctl-is-active",role="worker"\} 1$/m,
  );

  const signalledAt = Date.now();
  worker.child.kill("SIGTERM");
  const exit = await worker.exited;
  expect(exit.code).toBe(0);
  expect(exit.at - signalledAt).toBeLessThan(graceMs);
  expect(await accepts(port)).toBe(false);
  expect(runHealthcheck("worker", { MIGBOT_HEALTH_PORT: String(port) })).toBe(1);
}, 90_000);
