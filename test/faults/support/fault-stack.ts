/**
 * The sandbox stack with a fault proxy on every link migbot has: a TCP proxy in front of each
 * compute host's sshd (the inventory names the proxy), an HTTP proxy in front of Keystone + Nova
 * (clouds.yaml names it; the catalog is rewritten through it), and optionally a TCP proxy in front
 * of Redis and an HTTP proxy in front of the Slack Web API. migbot is the real thing, configured
 * through the environment exactly as in production; only the wires are ours.
 */

import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";
import type { HostCommand } from "../../../src/hosts/catalogue";
import type { HostEntry } from "../../../src/hosts/inventory";
import type { Logger } from "../../../src/log";
import { createLogger, silentLogger } from "../../../src/log";
import type { NovaPort } from "../../../src/openstack/port";
import {
  novaForSandbox,
  type SandboxStack,
  type StackOptions,
  startSandboxStack,
} from "../../../src/runtime/stack";
import { type Sandbox, startSandbox } from "../../../src/sandbox";
import { writeSandboxClientFiles } from "../../../src/sandbox/client-access";
import type { CommandContext, CommandResult } from "../../../src/sandbox/ssh-server";
import { type HttpFaultProxy, startHttpFaultProxy } from "./http-proxy";
import { startTcpProxy, type TcpFaultProxy } from "./tcp-proxy";

/** The sandbox cloud behind proxies: what the stack's `cloud` option gets. */
export interface ProxiedCloud {
  sandbox: Sandbox;
  /** One proxy per compute host, by host name. */
  ssh: Map<string, TcpFaultProxy>;
  /** Keystone + Nova. */
  nova: HttpFaultProxy;
  /** Inventory entries naming the proxies (what migbot reads). */
  hosts: HostEntry[];
  inventoryPath: string;
  cloudsYamlPath: string;
  stop(): Promise<void>;
}

export interface FaultStackOptions
  extends Omit<StackOptions<ProxiedCloud>, "redisUrl" | "prefix" | "cloud" | "seed"> {
  /** Redis for the stack; default: the test run's shared redis-server. */
  redisUrl?: string;
  /** Put a TCP proxy between migbot and Redis. @defaultValue false */
  proxyRedis?: boolean;
  /**
   * Put an HTTP proxy between migbot and the Slack Web API (answers through response_url then go
   * by chat.postEphemeral: migbot posts only to Slack's own origins). @defaultValue false
   */
  proxySlack?: boolean;
}

export interface FaultStack extends SandboxStack<ProxiedCloud> {
  cloud: ProxiedCloud;
  /** The proxy between migbot and Redis, when asked for. */
  redisProxy: TcpFaultProxy | null;
  /** The proxy between migbot and the Slack Web API, when asked for. */
  slackProxy: HttpFaultProxy | null;
  /** Nova straight from the sandbox (no proxy): the truth to check against. */
  truth: NovaPort;
}

/** Starts the sandbox cloud with a proxy in front of each of its hosts and of its API. */
async function startProxiedCloud(timeScale: number, log: Logger): Promise<ProxiedCloud> {
  const sandbox = await startSandbox({ timeScale, log });
  const ssh = new Map<string, TcpFaultProxy>();
  const dir = await mkdtemp(join(tmpdir(), "migbot-faults-"));
  let nova: HttpFaultProxy | null = null;
  const stop = async () => {
    for (const p of ssh.values()) await p.close();
    await nova?.close();
    await sandbox.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const hosts: HostEntry[] = [];
    for (const entry of sandbox.hosts) {
      const proxy = await startTcpProxy({ host: entry.address, port: entry.port! });
      ssh.set(entry.name, proxy);
      hosts.push({ ...entry, port: proxy.port });
    }
    nova = await startHttpFaultProxy(new URL(sandbox.keystoneUrl).origin);
    const authUrl = `${nova.origin}${new URL(sandbox.keystoneUrl).pathname}`;
    const files = await writeSandboxClientFiles(dir, { ...sandbox.credentials, authUrl }, hosts);
    return {
      sandbox,
      ssh,
      nova,
      hosts,
      inventoryPath: files.inventoryPath,
      cloudsYamlPath: files.cloudsYamlPath,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Starts the whole stack (bot, Redis, workers unless told not to) behind fault proxies. */
export async function startFaultStack(name: string, opts: FaultStackOptions = {}): Promise<FaultStack> {
  const { proxyRedis, proxySlack, redisUrl: given, ...stackOpts } = opts;
  const redisUrl = given ?? inject("redisUrl");
  let redisProxy: TcpFaultProxy | null = null;
  let slackProxy: HttpFaultProxy | null = null;
  let stackRedisUrl = redisUrl;
  if (proxyRedis) {
    const u = new URL(redisUrl);
    redisProxy = await startTcpProxy({ host: u.hostname, port: Number(u.port) });
    u.port = String(redisProxy.port);
    stackRedisUrl = u.toString();
  }
  // The emulator starts inside startSandboxStack, after the config is written: the proxy learns
  // where it listens once it does.
  let slackOrigin = "http://127.0.0.1:1";
  if (proxySlack) slackProxy = await startHttpFaultProxy(() => slackOrigin);
  let stack: SandboxStack<ProxiedCloud>;
  try {
    stack = await startSandboxStack<ProxiedCloud>({
      ...stackOpts,
      ...(slackProxy && { env: { ...stackOpts.env, SLACK_API_URL: `${slackProxy.origin}/api/` } }),
      redisUrl: stackRedisUrl,
      prefix: `${name}-${randomUUID()}`,
      cloud: (log) => startProxiedCloud(opts.timeScale ?? 10, log),
    });
  } catch (err) {
    await redisProxy?.close();
    await slackProxy?.close();
    throw err;
  }
  slackOrigin = new URL(stack.slack.apiUrl).origin;
  const truth = await novaForSandbox(stack.sandbox.sandbox, silentLogger);
  const stop = stack.stop;
  return {
    ...stack,
    cloud: stack.sandbox,
    redisProxy,
    slackProxy,
    truth,
    async stop() {
      await stop();
      await slackProxy?.close();
      await redisProxy?.close();
    },
  };
}

/**
 * Sees every catalogue command a sandbox host runs, after it ran and before its answer goes back
 * over SSH: `after(host, command)` may kill a process, or return a promise the answer waits for
 * (stop Redis first, say), so that the step is done on the host and what follows meets the fault.
 * Returns a function that removes the hook.
 */
export function afterHostCommands(
  sandbox: Sandbox,
  after: (host: string, command: HostCommand) => void | Promise<void>,
): () => void {
  const cloud = sandbox.cloud;
  const original = cloud.runCommand.bind(cloud);
  type Result = ReturnType<typeof original>;
  cloud.runCommand = (host: string, command: HostCommand, ctx: Parameters<typeof original>[2]): Result => {
    const result = original(host, command, ctx);
    const waiting = after(host, command);
    // The sandbox's SSH server awaits its handler, so a promise here holds the answer back.
    return (waiting ? waiting.then(() => result) : result) as Result;
  };
  return () => {
    cloud.runCommand = original;
  };
}

export type { CommandContext, CommandResult };

/** A logger that keeps migbot's JSON lines in memory, to explain a failed case. */
export function memoryLog(level: "debug" | "info" | "warn" = "info"): {
  log: Logger;
  lines: string[];
  tail(n?: number): string;
} {
  const lines: string[] = [];
  const log = createLogger(
    "migbot",
    {},
    (line) => {
      lines.push(line);
      if (lines.length > 20_000) lines.splice(0, 5_000);
    },
    level,
  );
  return { log, lines, tail: (n = 60) => lines.slice(-n).join("\n") };
}
