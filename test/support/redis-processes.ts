/**
 * Real Redis processes for the tests that break Redis: a redis-server with AOF persistence that can
 * be restarted on its port, and a Sentinel deployment (a primary, a replica and three
 * `redis-sentinel` processes). Everything listens on loopback, keeps its files in a private (0700)
 * folder, requires a password that sits in a config file (never on a command line), and every wait
 * is bounded.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort, requireProgram } from "./programs";
import { until } from "./until";

/** A redis-server or redis-sentinel answers PING within this after it is started. */
export const REDIS_PROCESS_READY_TIMEOUT_MS = 15_000;
/** A stopped process is gone within this (SIGTERM: AOF flushed; SIGKILL: at once). */
export const REDIS_PROCESS_EXIT_TIMEOUT_MS = 10_000;

/** One redis-server process on a fixed loopback port, restartable. */
export interface RedisNode {
  port: number;
  password: string;
  /** `redis://:PASSWORD@127.0.0.1:PORT` */
  url: string;
  dir: string;
  running(): boolean;
  /** Stops it: SIGTERM (Redis flushes its AOF and exits) or SIGKILL (nothing flushed). */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Starts it again on the same port and folder (it reloads its AOF). */
  start(): Promise<void>;
  /** A direct client, for the test's own checks. */
  client(): Redis;
  /** Stops it and removes its folder. */
  destroy(): Promise<void>;
}

export interface RedisNodeOptions {
  /** Replicate this primary. */
  replicaOf?: { port: number };
  /** @defaultValue a new random one */
  password?: string;
  /** @defaultValue true */
  appendonly?: boolean;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(`redis process ${child.pid} did not exit within ${REDIS_PROCESS_EXIT_TIMEOUT_MS} ms`),
        ),
      REDIS_PROCESS_EXIT_TIMEOUT_MS,
    );
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function answersPing(port: number, password: string | null): Promise<boolean> {
  const probe = new Redis({
    host: "127.0.0.1",
    port,
    ...(password !== null && { password }),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1_000,
  });
  probe.on("error", () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/**
 * Starts a redis-server as migbot's docker-compose runs it (AOF with fsync every second,
 * noeviction, a password), on a free loopback port.
 */
export async function startRedisNode(opts: RedisNodeOptions = {}): Promise<RedisNode> {
  const bin = requireProgram("redis-server", "redis-server");
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "migbot-redis-node-"));
  const password = opts.password ?? randomBytes(18).toString("base64url");
  const conf = join(dir, "redis.conf");
  writeFileSync(
    conf,
    [
      `port ${port}`,
      "bind 127.0.0.1",
      `dir ${dir}`,
      `requirepass ${password}`,
      // A replica authenticates to its primary; after a failover the old primary does the same.
      `masterauth ${password}`,
      `appendonly ${opts.appendonly === false ? "no" : "yes"}`,
      "appendfsync everysec",
      'save ""',
      "maxmemory-policy noeviction",
      ...(opts.replicaOf ? [`replicaof 127.0.0.1 ${opts.replicaOf.port}`] : []),
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  let child: ChildProcess | null = null;
  const onExit = () => child?.kill("SIGKILL");
  process.once("exit", onExit);

  const node: RedisNode = {
    port,
    password,
    url: `redis://:${password}@127.0.0.1:${port}`,
    dir,
    running: () => child !== null && child.exitCode === null && child.signalCode === null,
    async stop(signal = "SIGTERM") {
      if (!node.running()) return;
      const c = child!;
      c.kill(signal);
      await exited(c);
    },
    async start() {
      if (node.running()) return;
      const c = spawn(bin, [conf], { stdio: "ignore" });
      child = c;
      await until(
        `redis-server on 127.0.0.1:${port} to answer`,
        async () => {
          if (c.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${c.exitCode}`);
          return answersPing(port, password);
        },
        { timeoutMs: REDIS_PROCESS_READY_TIMEOUT_MS, intervalMs: 50 },
      );
    },
    client() {
      return new Redis(node.url, { maxRetriesPerRequest: 1 });
    },
    async destroy() {
      process.removeListener("exit", onExit);
      await node.stop("SIGKILL").catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await node.start();
  return node;
}

/** A primary, a replica and three Sentinels watching them under one master name. */
export interface SentinelDeployment {
  masterName: string;
  password: string;
  /** The nodes, in start order: index 0 starts as the primary. */
  nodes: RedisNode[];
  /** Sentinel ports on 127.0.0.1. */
  sentinelPorts: number[];
  /** The port Sentinel currently names as the primary. */
  primaryPort(): Promise<number>;
  /** Waits until the Sentinels name another primary than `oldPort`, and it accepts writes. */
  waitForNewPrimary(oldPort: number, timeoutMs?: number): Promise<number>;
  /** `SENTINEL FAILOVER <name>` on the first Sentinel. */
  failover(): Promise<void>;
  destroy(): Promise<void>;
}

/** Sentinel's timing for tests: the primary counts as down after this much silence. */
export const TEST_SENTINEL_DOWN_AFTER_MS = 1_000;
/** Sentinel's failover timeout for tests (also how long before it retries a failed failover). */
export const TEST_SENTINEL_FAILOVER_TIMEOUT_MS = 5_000;
/** Sentinels needed to agree that the primary is down. */
export const TEST_SENTINEL_QUORUM = 2;

/** Starts a primary, one replica (in sync before this returns) and three Sentinels. */
export async function startSentinelDeployment(masterName = "migbot"): Promise<SentinelDeployment> {
  const sentinelBin = requireProgram("redis-sentinel", "redis-sentinel");
  const password = randomBytes(18).toString("base64url");
  const primary = await startRedisNode({ password });
  const replica = await startRedisNode({ password, replicaOf: { port: primary.port } });
  const nodes = [primary, replica];
  const sentinels: { child: ChildProcess; port: number; dir: string }[] = [];
  const check = primary.client();
  const destroy = async () => {
    check.disconnect();
    for (const s of sentinels) {
      if (s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill("SIGKILL");
        await exited(s.child).catch(() => {});
      }
      rmSync(s.dir, { recursive: true, force: true });
    }
    for (const n of nodes) await n.destroy();
  };
  try {
    await until(
      "the replica to be in sync",
      async () => /master_link_status:up/.test(await replicaInfo(replica)),
      { timeoutMs: REDIS_PROCESS_READY_TIMEOUT_MS, intervalMs: 100 },
    );
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), "migbot-sentinel-"));
      const conf = join(dir, "sentinel.conf");
      // Sentinel rewrites its config file as it learns the topology: it must be writable and its own.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          "bind 127.0.0.1",
          `dir ${dir}`,
          // Sentinel itself requires the same password clients give it (sentinelPassword).
          `requirepass ${password}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} ${TEST_SENTINEL_QUORUM}`,
          `sentinel auth-pass ${masterName} ${password}`,
          `sentinel sentinel-pass ${password}`,
          `sentinel down-after-milliseconds ${masterName} ${TEST_SENTINEL_DOWN_AFTER_MS}`,
          `sentinel failover-timeout ${masterName} ${TEST_SENTINEL_FAILOVER_TIMEOUT_MS}`,
          `sentinel parallel-syncs ${masterName} 1`,
          "",
        ].join("\n"),
        { mode: 0o600 },
      );
      const child = spawn(sentinelBin, [conf], { stdio: "ignore" });
      sentinels.push({ child, port, dir });
      await until(
        `redis-sentinel on 127.0.0.1:${port}`,
        async () => {
          if (child.exitCode !== null) throw new Error(`redis-sentinel exited with ${child.exitCode}`);
          return answersPing(port, password);
        },
        { timeoutMs: REDIS_PROCESS_READY_TIMEOUT_MS, intervalMs: 50 },
      );
    }
    // Each Sentinel must know the replica and the other Sentinels before a failover can happen.
    await until(
      "the Sentinels to know the replica and each other",
      async () => {
        for (const s of sentinels) {
          const c = sentinelClient(s.port, password);
          try {
            const master = (await c.call("SENTINEL", "MASTER", masterName)) as string[];
            const field = (k: string) => Number(master[master.indexOf(k) + 1]);
            if (field("num-slaves") < 1 || field("num-other-sentinels") < 2) return false;
          } finally {
            c.disconnect();
          }
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  } catch (err) {
    await destroy();
    throw err;
  }

  const primaryPort = async () => {
    const c = sentinelClient(sentinels[0]!.port, password);
    try {
      const [, port] = (await c.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName)) as [string, string];
      return Number(port);
    } finally {
      c.disconnect();
    }
  };

  return {
    masterName,
    password,
    nodes,
    sentinelPorts: sentinels.map((s) => s.port),
    primaryPort,
    async waitForNewPrimary(oldPort, timeoutMs = 30_000) {
      return until(
        "Sentinel to promote a new primary",
        async () => {
          const port = await primaryPort().catch(() => oldPort);
          if (port === oldPort) return false;
          const node = nodes.find((n) => n.port === port);
          if (!node) return false;
          const c = node.client();
          c.on("error", () => {});
          try {
            return /role:master/.test(await c.info("replication")) ? port : false;
          } catch {
            return false;
          } finally {
            c.disconnect();
          }
        },
        { timeoutMs, intervalMs: 100 },
      );
    },
    async failover() {
      const c = sentinelClient(sentinels[0]!.port, password);
      try {
        await c.call("SENTINEL", "FAILOVER", masterName);
      } finally {
        c.disconnect();
      }
    },
    destroy,
  };
}

function sentinelClient(port: number, password: string): Redis {
  const c = new Redis({ host: "127.0.0.1", port, password, maxRetriesPerRequest: 1, connectTimeout: 1_000 });
  c.on("error", () => {});
  return c;
}

async function replicaInfo(node: RedisNode): Promise<string> {
  const c = node.client();
  c.on("error", () => {});
  try {
    return await c.info("replication");
  } catch {
    return "";
  } finally {
    c.disconnect();
  }
}
