/**
 * migbot roles as real production processes (`migbot start --role bot|worker`, src/sandbox and
 * test/ made unavailable to them), for tests that stop or kill one: SIGKILL at a chosen step,
 * SIGTERM (test/e2e/graceful-stop.test.ts, the fault suite).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { PROJECT_ROOT } from "./fixtures";
import { until } from "./until";

/** A role process starts (tsx, config, Redis, SSH pool) within this. */
export const ROLE_START_TIMEOUT_MS = 30_000;

/** How a role process ended, and when (ms since the epoch). */
export interface RoleExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

export interface RoleProcess {
  child: ChildProcess;
  /** Its log so far (JSON lines on stderr). */
  log(): string;
  /** Resolves at exit: the code (null when killed by a signal), the signal, and when. */
  exited: Promise<RoleExit>;
  alive(): boolean;
  /** Sends the signal and waits for the exit. */
  kill(signal: NodeJS.Signals): Promise<RoleExit>;
  /** Waits until the log matches `re` (the text after `from`, when given); fails at once if the process exits first. */
  waitForLog(re: RegExp, timeoutMs?: number, from?: number): Promise<void>;
}

const running = new Set<RoleProcess>();

/** Starts a role with exactly `env` (plus PATH and HOME), as docker compose would. */
export function startRole(role: "bot" | "worker", env: Record<string, string>): RoleProcess {
  const child = spawn(
    process.execPath,
    [
      "--import",
      resolve(PROJECT_ROOT, "test/support/forbid-sandbox.mjs"),
      resolve(PROJECT_ROOT, "bin/migbot.mjs"),
      "start",
      "--role",
      role,
    ],
    {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/", MIGBOT_LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let log = "";
  child.stderr?.on("data", (d: Buffer) => {
    log += d.toString();
  });
  const exited = new Promise<RoleExit>((r) =>
    child.once("exit", (code, signal) => r({ code, signal, at: Date.now() })),
  );
  const proc: RoleProcess = {
    child,
    log: () => log,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    async kill(signal) {
      if (proc.alive()) child.kill(signal);
      return exited;
    },
    waitForLog: (re, timeoutMs = ROLE_START_TIMEOUT_MS, from = 0) =>
      until(
        `${role} log to show ${re}`,
        () => {
          if (re.test(log.slice(from))) return true;
          // Exited, and its last words read (stderr closed): the line will not come.
          if (!proc.alive() && child.stderr?.readableEnded !== false)
            throw new Error(
              `the ${role} exited (${child.exitCode ?? child.signalCode}):\n${log.slice(-3000)}`,
            );
          return false;
        },
        {
          timeoutMs,
          intervalMs: 50,
          explain: () => `--- ${role} log ---\n${log.slice(-3000)}`,
        },
      ).then(() => undefined),
  };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

/** Starts a worker and waits until it takes jobs. */
export async function startWorker(env: Record<string, string>): Promise<RoleProcess> {
  const w = startRole("worker", env);
  await w.waitForLog(/"worker started"/);
  return w;
}

/** SIGKILLs every role process a case left running (afterEach/afterAll). */
export async function killAllRoles(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill("SIGKILL")));
}
