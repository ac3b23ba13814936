/**
 * The prediction end to end through the sandbox: /diagnose from the Slack emulator into the real
 * Bolt app, Redis, the worker, the sandbox's Nova over HTTP and its hosts over SSH answering
 * `virsh domdirtyrate-calc` / `domstats --dirtyrate` in libvirt 9's format with the model's rate.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { SandboxStack } from "../../src/runtime/stack";
import type { StoredMessage } from "../../src/sandbox/slack/emulator";
import { settled, startTestStack } from "../support/sandbox-stack";
import { type SlackChannel, slackChannel } from "../support/slack-threads";

let stack: SandboxStack;
let ops: SlackChannel;

beforeAll(async () => {
  stack = await startTestStack("predict-e2e", { timeScale: 0 });
  ops = slackChannel(stack.slack);
});

afterAll(async () => {
  await stack?.stop();
});

function allText(m: StoredMessage): string {
  const blocks =
    (m as { blocks?: { text?: { text?: string }; elements?: { text?: string }[] }[] }).blocks ?? [];
  return blocks.map((b) => b.text?.text ?? b.elements?.map((e) => e.text ?? "").join(" ") ?? "").join("\n");
}

async function diagnose(target: string): Promise<StoredMessage> {
  const before = ops.roots().length;
  await ops.command("alice", "/diagnose", target);
  const root = await ops.waitFor("the root message", () => ops.roots()[before]);
  await settled(stack);
  const prediction = ops
    .root(root.ts)
    .replies.find(
      (m) =>
        /converge|cannot be predicted/.test(m.text) &&
        !m.text.startsWith("Fix proposal") &&
        !m.text.startsWith("Checklist"),
    );
  expect(prediction, `no prediction in the thread of /diagnose ${target}`).toBeDefined();
  return prediction!;
}

describe("/diagnose shows the convergence prediction", () => {
  test("db-1 (300 MiB/s on Mitaka compute-1, no auto-converge, 1 GbE): will not converge without auto-converge", async () => {
    const p = await diagnose("db-1 to compute-2");
    expect(p.text).toMatch(
      /db-1 dirties ~?300 MiB\/s against a 119 MiB\/s link: will not converge without auto-converge \(enabled on neither host\)/,
    );
    const body = allText(p);
    expect(body).toMatch(/measured 300 MiB\/s over 1 s \(`virsh domdirtyrate-calc` on `compute-1`\)/);
    expect(body).toMatch(/link from NIC `eth0` at 1000 Mbit\/s/);
  });

  test("vm-42 (8 MiB/s): will converge", async () => {
    const p = await diagnose("vm-42");
    expect(p.text).toMatch(/vm-42 dirties ~?8 MiB\/s against a 119 MiB\/s link: will converge$/);
  });
});
