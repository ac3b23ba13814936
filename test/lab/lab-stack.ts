/**
 * The product as `startSandboxStack` wires it — Redis, the Slack emulator, the real Bolt app, BullMQ
 * workers with fixes and diagnosis — with the lab data plane (`startLabCloud`) as the cloud: the
 * worker reaches Nova over HTTP and the lab hosts' real sshd with the lab inventory.
 */

import { type LabCloudOptions, type LabSandbox, startLabCloud } from "../../src/lab/data-plane";
import type { Logger } from "../../src/log";
import { type SandboxStack, startSandboxStack } from "../../src/runtime/stack";

/** The tracker polls Nova and `virsh domjobinfo` this often (the agents poll every 0.5 s, like Nova). */
export const LAB_POLL_INTERVAL_MS = 1_000;
/**
 * A restarted agent loads node and its config in ~1.5 s, and one that cannot load its config is
 * gone within that; a restart counts as good once Nova has shown it up for this long.
 */
const LAB_SERVICE_SETTLE_MS = 3_000;

export type LabStack = SandboxStack<LabSandbox>;

/** Starts the stack over a lab brought up with `labUp`; `stack.sandbox` is the lab cloud. */
export function startLabStack(opts: {
  redisUrl: string;
  prefix: string;
  cloud: LabCloudOptions;
  log?: Logger;
}): Promise<LabStack> {
  return startSandboxStack({
    redisUrl: opts.redisUrl,
    prefix: opts.prefix,
    cloud: (log) => startLabCloud({ ...opts.cloud, log }),
    pollIntervalMs: LAB_POLL_INTERVAL_MS,
    serviceSettleMs: LAB_SERVICE_SETTLE_MS,
    ...(opts.log && { log: opts.log }),
  });
}
