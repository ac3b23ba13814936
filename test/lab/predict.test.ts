/**
 * The convergence prediction on real libvirt 9 and QEMU (the lab): /diagnose through the Slack
 * emulator and the real bot, the worker measuring each guest with `virsh domdirtyrate-calc` /
 * `domstats --dirtyrate` over the lab hosts' real sshd, the link from each host's real nova.conf
 * (`live_migration_bandwidth`: 5 MiB/s on the Mitaka host, 8 on the Zed one).
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { labDown, labUp } from "../../src/lab/lab";
import { acquireLabLock } from "../../src/lab/lock";
import { SANDBOX_CHANNEL } from "../../src/runtime/stack";
import type { StoredMessage } from "../../src/sandbox/slack/emulator";
import { type LabStack, startLabStack } from "./lab-stack";
import { LAB_LOCK_WAIT_MS, labSkipReason } from "./support";

const STATE_DIR = `/run/migbot-lab-predict-${process.pid}`;
const UP_TIMEOUT_MS = 120_000;
const DOWN_TIMEOUT_MS = 60_000;
/** Evidence over SSH, then 1 s + 2 s of measurement and the link: well under a minute. */
const PREDICTION_TIMEOUT_MS = 90_000;
const POLL_MS = 250;

const skipReason = await labSkipReason();
if (skipReason !== null) console.log(`[lab] skipping the lab prediction: ${skipReason}`);

let stack: LabStack;
let releaseLock: (() => void) | undefined;
const measured: Record<string, string> = {};

function roots(): StoredMessage[] {
  return stack.slack.messages(SANDBOX_CHANNEL.id);
}

async function predictionFor(target: string): Promise<StoredMessage> {
  const before = new Set(roots().map((r) => r.ts));
  const res = await stack.slack.slashCommand({
    user: "alice",
    channel: "ops",
    command: "/diagnose",
    text: target,
  });
  expect(res.status).toBe(200);
  const deadline = Date.now() + PREDICTION_TIMEOUT_MS;
  for (;;) {
    const root = roots().find((r) => !before.has(r.ts));
    const p = root?.replies.find(
      (m) => /converge|cannot be predicted/.test(m.text) && !/^(Fix proposal|Checklist)/.test(m.text),
    );
    if (p) return p;
    if (Date.now() > deadline)
      throw new Error(`no prediction for /diagnose ${target} in ${PREDICTION_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function figures(m: StoredMessage): string {
  return JSON.stringify((m as { blocks?: unknown }).blocks ?? []);
}

describe.skipIf(skipReason !== null)("the prediction on real libvirt 9 / QEMU 7.2", () => {
  beforeAll(async () => {
    releaseLock = await acquireLabLock("test/lab/predict.test.ts", LAB_LOCK_WAIT_MS);
    await labUp({ hosts: 2, stateDir: STATE_DIR }, () => {});
    stack = await startLabStack({
      redisUrl: inject("redisUrl"),
      prefix: `lab-predict-${randomUUID()}`,
      cloud: { labStateDir: STATE_DIR },
    });
  }, LAB_LOCK_WAIT_MS + UP_TIMEOUT_MS);

  afterAll(async () => {
    await stack?.stop();
    if (existsSync(join(STATE_DIR, "state.json"))) await labDown(STATE_DIR, () => {});
    releaseLock?.();
    console.log(`[lab-predict] measured: ${JSON.stringify(measured)}`);
  }, DOWN_TIMEOUT_MS);

  test(
    "dirty-1 on the Mitaka host: a real measurement against its 5 MiB/s live_migration_bandwidth",
    async () => {
      const p = await predictionFor("dirty-1 to cmp2");
      measured.dirty = p.text;
      expect(p.text).toMatch(
        /dirty-1 (dirties ~?\d+(\.\d+)? MiB\/s|rewrites .+ faster than once a second) against a 5 MiB\/s link: /,
      );
      expect(figures(p)).toMatch(/measured \d+ MiB\/s over 1 s \(`virsh domdirtyrate-calc` on `cmp1`\)/);
      expect(figures(p)).toMatch(/link from `live_migration_bandwidth`/);
    },
    PREDICTION_TIMEOUT_MS + 10_000,
  );

  test(
    "calm-1 on the Zed host: will converge at 8 MiB/s",
    async () => {
      const p = await predictionFor("calm-1 to cmp1");
      measured.calm = p.text;
      expect(p.text).toMatch(/calm-1 dirties ~?\d MiB\/s against a 8 MiB\/s link: will converge$/);
    },
    PREDICTION_TIMEOUT_MS + 10_000,
  );
});
