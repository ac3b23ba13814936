/**
 * /diagnose end to end: a signed slash command from the Slack emulator into the real Bolt app, a
 * BullMQ job in real Redis, the worker reading the sandbox's Nova over HTTP and its hosts over SSH,
 * the checklist in a thread and the fixes posted for approval by src/fixes.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { SANDBOX_CHANNEL, type SandboxStack, startSandboxStack } from "../../src/runtime/stack";
import type { StoredMessage } from "../../src/sandbox/slack/emulator";
import { until } from "../support/until";

/** Generous: the whole stack shares two cores with other suites in CI. */
const WAIT_MS = 30_000;

let stack: SandboxStack;

beforeAll(async () => {
  stack = await startSandboxStack({
    redisUrl: inject("redisUrl"),
    prefix: `diag-e2e-${randomUUID()}`,
    // The model clock stands still: nothing moves while the hosts are read.
    timeScale: 0,
  });
});

afterAll(async () => {
  await stack?.stop();
});

function roots(): StoredMessage[] {
  return stack.slack.messages(SANDBOX_CHANNEL.id);
}

function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
): Promise<T> {
  return until(what, fn, { timeoutMs: WAIT_MS });
}

function blockTexts(m: StoredMessage): string {
  const blocks =
    (m as { blocks?: { text?: { text?: string }; elements?: { text?: string }[] }[] }).blocks ?? [];
  return blocks.map((b) => b.text?.text ?? b.elements?.map((e) => e.text ?? "").join(" ") ?? "").join("\n");
}

describe("/diagnose through the real bot, Redis and worker", () => {
  test("web-7 to compute-5: root message, checklist in its thread with the CPU failure, fixes posted for approval", async () => {
    const before = roots().length;
    const res = await stack.slack.slashCommand({
      user: "alice",
      channel: "ops",
      command: "/diagnose",
      text: "web-7 to compute-5",
    });
    expect(res.status).toBe(200);
    expect(res.ackMs).toBeLessThan(3000);
    expect(res.responseText).toMatch(/Diagnosing web-7 → compute-5/);

    const root = await waitFor("the root message", () => roots()[before]);
    expect(root.text).toMatch(/^Diagnosis of web-7 → compute-5/);
    const done = await waitFor("the checklist and two proposals", () => {
      const r = roots().find((m) => m.ts === root.ts);
      return r && r.replies.length >= 3 && /checklist is in the thread/.test(r.text) ? r : undefined;
    });
    expect(done.text).toMatch(/❌ 1 failing/);
    const checklist = done.replies.find((m) => m.text.startsWith("Checklist for web-7 → compute-5"))!;
    expect(checklist).toBeDefined();
    const body = blockTexts(checklist);
    expect(body).toMatch(/✅ \*VM found and running\*/);
    expect(body).toMatch(/❌ \*CPU of compute-3 runnable on compute-5\*/);
    expect(body).toMatch(
      /libvirt cpu-compare says "the CPU is incompatible with host CPU: Host CPU does not provide required features: /,
    );
    expect(body).toMatch(/⚠️ \*Live-migration settings\*/);
    // The proposals are their own messages in the same thread, preferred model first.
    const proposals = done.replies.filter((m) => m !== checklist);
    expect(proposals.map((m) => m.text)).toEqual([
      expect.stringMatching(
        /^Fix proposal \(CPU model\): Give guests the Haswell-noTSX CPU model on all 5 compute hosts \(hosts' baseline, preferred\)/,
      ),
      expect.stringMatching(
        /^Fix proposal \(CPU model\): Give guests the kvm64 CPU model on all 5 compute hosts \(fallback\)/,
      ),
    ]);
    // Each carries Approve and Reject buttons holding only the opaque proposal id.
    for (const m of proposals) {
      const actions = (
        (m as { blocks?: { type: string; elements?: { action_id: string }[] }[] }).blocks ?? []
      ).find((b) => b.type === "actions");
      expect(actions?.elements?.map((e) => e.action_id)).toEqual(["proposal_approve", "proposal_reject"]);
    }
  });

  test("an unknown name gets a private answer and nothing is posted", async () => {
    const before = roots().length;
    const res = await stack.slack.slashCommand({
      user: "alice",
      channel: "ops",
      command: "/diagnose",
      text: "no-such-vm",
    });
    expect(res.status).toBe(200);
    const answer = await waitFor("the private answer", () =>
      stack.slack
        .ephemeralMessages("U0ALICE01", SANDBOX_CHANNEL.id)
        .map((m) => m.text)
        .find((t) => /can't find a VM or compute host named `no-such-vm`/.test(t)),
    );
    expect(answer).toMatch(/openstack server list --all-projects --name no-such-vm/);
    await new Promise((r) => setTimeout(r, 300));
    expect(roots().length).toBe(before);
  });
});
