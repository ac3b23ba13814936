/**
 * A tenant names a VM `<!channel> <https://evil.example|re-approve here>`. End to end on the
 * sandbox (signed slash commands and clicks into the real Bolt app, Redis, BullMQ, the worker on
 * the sandbox's Nova and hosts): /diagnose finds that VM's CPU cannot move, the CPU model is
 * approved and applied, then the VM-restart proposal hard-reboots it. Nothing migbot posts,
 * edits or answers on the way pings the channel, links anywhere, or mentions anyone but the
 * people involved.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, inject, test } from "vitest";
import { ACTION_APPROVE } from "../../bot/render/proposal";
import { SANDBOX_CHANNEL, type SandboxStack, startSandboxStack } from "../../src/runtime/stack";
import { DEFAULT_SEED, type SandboxSeed } from "../../src/sandbox";
import type { SlackMessageEvent, StoredMessage } from "../../src/sandbox/slack/emulator";
import { until } from "../support/until";
import { expectInert, HOSTILE_VM } from "./hostile";

const ALICE = "U0ALICE01";
const BOB = "U0BOB0001";
/** Each step is bounded: the sandbox runs 20 model seconds per real second. */
const STEP_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 240_000;

/** The default cloud plus the hostile VM, on a Skylake host whose CPU the Haswell hosts cannot run. */
const HOSTILE_UUID = "5a1dc0de-7e57-4b1d-9c1a-0000000000e1";
const SEED: SandboxSeed = {
  ...DEFAULT_SEED,
  vms: [
    ...DEFAULT_SEED.vms,
    {
      name: HOSTILE_VM,
      uuid: HOSTILE_UUID,
      instanceId: 0xe1,
      host: "compute-4",
      flavor: { name: "m1.small", ramMb: 2048, vcpus: 1, diskGb: 20 },
      dirtyRateMiBps: 1,
      workingSetMiB: 16,
      zeroPageFraction: 0.7,
    },
  ],
};

let stack: SandboxStack;
/** Every post, edit and ephemeral answer the Slack emulator received, in order. */
const events: SlackMessageEvent[] = [];

beforeAll(async () => {
  stack = await startSandboxStack({
    redisUrl: inject("redisUrl"),
    prefix: `hostile-${randomUUID()}`,
    timeScale: 20,
    seed: SEED,
  });
  stack.slack.events.on("message", (e: SlackMessageEvent) => events.push(e));
});
afterAll(async () => {
  await stack?.stop();
});

function roots(): StoredMessage[] {
  return stack.slack.messages(SANDBOX_CHANNEL.id);
}

function byTs(ts: string): StoredMessage | undefined {
  for (const r of roots()) for (const m of [r, ...r.replies]) if (m.ts === ts) return m;
  return undefined;
}

function waitFor<T>(
  what: string,
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
): Promise<T> {
  return until(what, fn, {
    timeoutMs: STEP_TIMEOUT_MS,
    explain: () =>
      roots()
        .slice(-2)
        .map((r) => [r, ...r.replies].map((m) => `${m.ts} ${m.text.slice(0, 200)}`).join("\n  "))
        .join("\n"),
  });
}

/** The pending proposal in the thread whose notification text matches `kind`. */
function pendingProposal(rootTs: string, kind: RegExp): Promise<StoredMessage> {
  return waitFor(`a ${kind} proposal`, () =>
    stack.slack
      .findButtons(SANDBOX_CHANNEL.id)
      .filter((b) => b.threadTs === rootTs && b.actionId === ACTION_APPROVE)
      .map((b) => byTs(b.messageTs))
      .find((m) => m !== undefined && kind.test(m.text)),
  );
}

async function approveAndWait(m: StoredMessage): Promise<StoredMessage> {
  await stack.slack.clickButton({ user: "bob", channel: "ops", messageTs: m.ts, actionId: ACTION_APPROVE });
  return waitFor("the proposal applied", () => {
    const now = byTs(m.ts);
    if (now && /not applied in full/.test(now.text)) throw new Error(`not applied: ${JSON.stringify(now)}`);
    return now && /applied\./.test(now.text) ? now : undefined;
  });
}

test("a VM named to ping the channel is diagnosed, hard-rebooted by an approved proposal, and nothing posted pings or links", {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const before = roots().length;
  const res = await stack.slack.slashCommand({
    user: "alice",
    channel: "ops",
    command: "/diagnose",
    text: `${HOSTILE_UUID} to compute-5`,
  });
  expect(res.status).toBe(200);
  const root = await waitFor("the diagnosis root message", () => roots()[before]);

  const cpu = await pendingProposal(root.ts, /CPU model.*baseline, preferred/);
  // The proposal names the VM (escaped), so the approver sees which VM could not move.
  expect(JSON.stringify(cpu.blocks)).toContain(
    "&lt;!channel&gt; &lt;https://evil.example|re-approve here&gt;",
  );
  await approveAndWait(cpu);

  const restart = await pendingProposal(root.ts, /VM restart/);
  const restarted = await approveAndWait(restart);
  const shown = JSON.stringify(restarted.blocks);
  expect(shown).toContain("hard-rebooting *&lt;!channel&gt; &lt;https://evil.example|re-approve here&gt;*");
  expect(shown).toMatch(/:white_check_mark: \*&lt;!channel&gt; [^*]*\*: ACTIVE again after/);
  const vm = stack.sandbox.cloud.vms.get(HOSTILE_UUID)!;
  expect({ status: vm.status, mode: vm.cpuMode, model: vm.cpuModel }).toEqual({
    status: "ACTIVE",
    mode: "custom",
    model: "Haswell-noTSX",
  });

  // The audit answer quotes the reboot of that VM, privately, and inert too.
  await stack.slack.slashCommand({ user: "alice", channel: "ops", command: "/migrate", text: "audit 50" });
  const audit = await waitFor("the audit answer", () =>
    stack.slack
      .ephemeralMessages(ALICE, SANDBOX_CHANNEL.id)
      .find((m) => /audit entries, newest first/.test(m.text)),
  );
  expect(audit.text).toMatch(/\*vm-restart\* on `compute-4`: hard reboot of &lt;!channel&gt;/);

  // Everything migbot sent on the way: roots, thread replies, every edit, every private answer.
  expect(events.filter((e) => e.type === "update").length).toBeGreaterThan(0);
  expect(
    events.some(
      (e) =>
        e.text.includes("&lt;!channel&gt;") || JSON.stringify(e.blocks ?? []).includes("&lt;!channel&gt;"),
    ),
  ).toBe(true);
  for (const e of events) expectInert({ text: e.text, blocks: e.blocks ?? [] }, [ALICE, BOB]);
  expectInert(roots(), [ALICE, BOB]);
});
