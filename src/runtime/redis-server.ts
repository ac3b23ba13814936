/**
 * A private redis-server child process, for `npm start` on the sandbox (when REDIS_URL is unset)
 * and for the test command. No persistence, loopback only, a free port.
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { CodedError } from "../errors";

export const REDIS_READY_TIMEOUT_MS = 10_000;

export class ProgramMissingError extends CodedError<"PROGRAM_MISSING"> {
  constructor(
    readonly program: string,
    readonly debianPackage: string,
    /** What else the user can do, e.g. "or set REDIS_URL to a Redis you already run". */
    hint?: string,
  ) {
    const sudo = process.getuid?.() === 0 ? "" : "sudo ";
    super(
      "PROGRAM_MISSING",
      `${program} is not installed: run \`${sudo}apt-get install -y ${debianPackage}\` (Debian/Ubuntu)${hint ? `, ${hint}` : ""}`,
      { retryable: false },
    );
  }
}

/** Finds a program on PATH or in the sbin folders; throws {@link ProgramMissingError} naming its package. */
export function findProgram(name: string, debianPackage: string, hint?: string): string {
  for (const dir of (process.env.PATH ?? "")
    .split(":")
    .concat(["/usr/sbin", "/sbin", "/usr/bin", "/usr/local/bin"])) {
    const candidate = `${dir}/${name}`;
    if (dir && spawnSync("test", ["-x", candidate]).status === 0) return candidate;
  }
  throw new ProgramMissingError(name, debianPackage, hint);
}

/** A free TCP port on loopback. */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") return reject(new Error("no port"));
      server.close(() => resolve(address.port));
    });
  });
}

export interface PrivateRedis {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts a throwaway redis-server on a free loopback port with no persistence. It requires a
 * random password, as every Redis migbot uses should: the password sits in a config file in a
 * private (0700) folder, not on the command line where `ps` would show it.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const bin = findProgram("redis-server", "redis-server", "or set REDIS_URL to a Redis you already run");
  const port = await freeLoopbackPort();
  const dir = mkdtempSync(join(tmpdir(), "migbot-redis-"));
  const password = randomBytes(18).toString("base64url");
  const conf = join(dir, "redis.conf");
  writeFileSync(conf, `requirepass ${password}\n`, { mode: 0o600 });
  const child: ChildProcess = spawn(
    bin,
    [conf, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
    { stdio: "ignore" },
  );
  const url = `redis://:${password}@127.0.0.1:${port}`;
  const deadline = Date.now() + REDIS_READY_TIMEOUT_MS;
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on("error", () => {});
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      break;
    } catch {
      probe.disconnect();
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill("SIGKILL");
        throw new Error(
          `redis-server did not answer on 127.0.0.1:${port} within ${REDIS_READY_TIMEOUT_MS} ms`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const onExit = () => child.kill("SIGKILL");
  process.once("exit", onExit);
  return {
    url,
    async stop() {
      process.removeListener("exit", onExit);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
