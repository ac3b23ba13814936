/**
 * migbot roles as real production processes (`migbot start --role bot|worker`, src/sandbox and
 * test/ made unavailable to them), for cases that kill one: SIGKILL at a chosen step, SIGTERM.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { PROJECT_ROOT } from "../../support/fixtures";
import { until } from "../../support/until";

/** A role process starts (tsx, config, Redis, SSH pool) within this. */
export const ROLE_START_TIMEOUT_MS = 30_000;

export interface RoleProcess {
  child: ChildProcess;
  /** Its log so far (JSON lines on stderr). */
  log(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  alive(): boolean;
  /** Sends the signal and waits for the exit. */
  kill(signal: NodeJS.Signals): Promise<number | null>;
  /** Waits until the log matches `re` (the text after `from`, when given). */
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
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
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
      until(`${role} log to show ${re}`, () => re.test(log.slice(from)), {
        timeoutMs,
        intervalMs: 50,
        explain: () => `--- ${role} log ---\n${log.slice(-3000)}`,
      }).then(() => undefined),
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
