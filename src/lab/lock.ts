/**
 * One lab at a time: the bridge, namespace names and subnet are fixed, so two lab tests (or a test
 * and an operator's `lab up`) cannot run side by side. Tests take this lock before `up` and give it
 * back after `down`; a lock whose owner process is gone is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LabError } from "./errors";
import { processStartTime } from "./state";

/** A directory: mkdir is atomic, so exactly one process creates it. */
export const LAB_LOCK_DIR = "/run/migbot-lab.lock";
const LOCK_POLL_INTERVAL_MS = 1_000;

interface LockOwner {
  pid: number;
  startTime: string | null;
  what: string;
}

function readOwner(dir: string): LockOwner | null {
  try {
    return JSON.parse(readFileSync(join(dir, "owner.json"), "utf8")) as LockOwner;
  } catch {
    return null;
  }
}

/**
 * Waits (at most `timeoutMs`) until this process holds the lab lock; returns the release function.
 * Throws LAB_ALREADY_UP naming the holder when the wait runs out.
 */
export async function acquireLabLock(
  what: string,
  timeoutMs: number,
  dir: string = LAB_LOCK_DIR,
): Promise<() => void> {
  const me: LockOwner = { pid: process.pid, startTime: processStartTime(process.pid), what };
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, "owner.json"), JSON.stringify(me));
      return () => {
        const owner = readOwner(dir);
        if (owner?.pid === me.pid && owner.startTime === me.startTime)
          rmSync(dir, { recursive: true, force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = readOwner(dir);
    // An owner that is gone (or never wrote its file and is older than one poll) leaves a stale lock.
    const stale =
      owner === null
        ? attempt > 0
        : processStartTime(owner.pid) === null || processStartTime(owner.pid) !== owner.startTime;
    if (stale) {
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() - started > timeoutMs) {
      throw new LabError(
        "LAB_ALREADY_UP",
        `the lab is in use by ${owner?.what ?? "another process"} (pid ${owner?.pid}) for over ${timeoutMs} ms — wait for it, or remove ${dir} if that process is gone`,
      );
    }
    await new Promise((r) => setTimeout(r, LOCK_POLL_INTERVAL_MS));
  }
}
