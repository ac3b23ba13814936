/**
 * The whole sandbox stack for an end-to-end test file (the real Bolt app behind the Slack
 * emulator, Redis, BullMQ, workers, the sandbox cloud) under a key prefix of its own, and the
 * condition that says it has finished what it was asked.
 */
import { randomUUID } from "node:crypto";
import { inject } from "vitest";
import { type SandboxStack, type StackOptions, startSandboxStack } from "../../src/runtime/stack";
import { until } from "./until";

/** Starts a stack on the test run's Redis, its keys under `<name>-<uuid>`. */
export function startTestStack(
  name: string,
  opts: Omit<StackOptions, "redisUrl" | "prefix"> = {},
): Promise<SandboxStack> {
  return startSandboxStack({ ...opts, redisUrl: inject("redisUrl"), prefix: `${name}-${randomUUID()}` });
}

/**
 * Waits until the stack has nothing left to do: no job waiting, active or delayed in any queue,
 * every job this process took settled, and every Slack call it queued delivered. What the jobs
 * posted is then all there is to see. Not covered: the diagnosis a tracker starts in the background
 * when it judges a migration not converging (it is no job); wait for its messages by name.
 */
export async function settled(stack: SandboxStack, timeoutMs = 60_000): Promise<void> {
  await until(
    "the stack to finish its jobs",
    async () => {
      if ((await stack.queueCounts()) > 0) return false;
      await stack.workers?.idle();
      await stack.notifier.flush();
      // A settled job may have queued another (a diagnosis after a failure): look again.
      return (await stack.queueCounts()) === 0;
    },
    { timeoutMs, intervalMs: 50 },
  );
}
