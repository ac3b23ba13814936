/**
 * `rediss://` works end to end: a real redis-server with TLS and a password, migbot's config and
 * connection options, and a BullMQ queue and worker passing a job over it.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, test } from "vitest";
import { loadConfig } from "../../src/config";
import { redisTlsOptions } from "../../src/runtime/redis-options";
import { bullConnection } from "../../src/runtime/stack";
import { freePort, requireProgram } from "../support/programs";
import { until } from "../support/until";

let dir: string;
let server: ChildProcess;
let port: number;
const PASSWORD = "tls-test-password";

beforeAll(async () => {
  const openssl = requireProgram("openssl", "openssl");
  const redisServer = requireProgram("redis-server", "redis-server");
  dir = mkdtempSync(join(tmpdir(), "migbot-redis-tls-"));
  execFileSync(
    openssl,
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  port = await freePort();
  writeFileSync(join(dir, "redis.conf"), `requirepass ${PASSWORD}\n`, { mode: 0o600 });
  server = spawn(
    redisServer,
    [
      join(dir, "redis.conf"),
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--tls-cert-file",
      join(dir, "cert.pem"),
      "--tls-key-file",
      join(dir, "key.pem"),
      "--tls-ca-cert-file",
      join(dir, "cert.pem"),
      "--tls-auth-clients",
      "no",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
    ],
    { stdio: "ignore" },
  );
});

afterAll(() => {
  server?.kill("SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("migbot's config reaches a TLS Redis with a password, and BullMQ runs a job over it", async () => {
  const config = loadConfig({
    REDIS_URL: `rediss://:${PASSWORD}@127.0.0.1:${port}`,
    REDIS_TLS_CA_FILE: join(dir, "cert.pem"),
  });
  const tls = redisTlsOptions(config);
  const redis = new Redis(config.redisUrl!, { ...tls, maxRetriesPerRequest: 1 });
  await until("redis answers over TLS", async () => (await redis.ping().catch(() => null)) === "PONG");
  const connect = bullConnection(config.redisUrl!, tls);
  const queue = new Queue("tls-check", { connection: connect() });
  const seen: string[] = [];
  const worker = new Worker("tls-check", async (job) => void seen.push(job.data.hello), {
    connection: connect(),
  });
  try {
    await queue.add("j", { hello: "over tls" });
    await until("the worker ran the job", () => seen.length === 1);
    expect(seen).toEqual(["over tls"]);
  } finally {
    await worker.close();
    await queue.close();
    await connect.closeAll();
    redis.disconnect();
  }
});

test("without the CA the server's certificate is refused, and the wrong password is refused", async () => {
  const url = `rediss://:${PASSWORD}@127.0.0.1:${port}`;
  const noCa = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  const errors: string[] = [];
  noCa.on("error", (err) => errors.push(String(err)));
  await expect(noCa.connect()).rejects.toThrow();
  expect(errors.join("\n")).toMatch(/self[- ]signed certificate/);
  noCa.disconnect();
  const tls = redisTlsOptions({ redisUrl: url, redisTlsCaFile: join(dir, "cert.pem") });
  const wrong = new Redis(`rediss://:wrong@127.0.0.1:${port}`, {
    ...tls,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    lazyConnect: true,
  });
  const wrongErrors: string[] = [];
  wrong.on("error", (err) => wrongErrors.push(String(err)));
  await wrong.connect().catch(() => {});
  await until("the password is refused", () =>
    /WRONGPASS|invalid username-password/.test(wrongErrors.join("\n")),
  );
  wrong.disconnect();
});
