/**
 * A tenant names a VM `<!channel> <https://evil.example|re-approve here>`. End to end on the
 * sandbox (signed slash commands and clicks into the real Bolt app, Redis, BullMQ, the worker on
 * the sandbox's Nova and hosts): /diagnose finds that VM's CPU cannot move, the CPU model is
 * approved and applied, then the VM-restart proposal hard-reboots it. Nothing migbot posts,
 * edits or answers on the way pings the channel, links anywhere, or mentions anyone but the
 * people involved.
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { SANDBOX_CHANNEL, type SandboxStack } from "../../src/runtime/stack";
import { DEFAULT_SEED, type SandboxSeed } from "../../src/sandbox";
import type { SlackMessageEvent, StoredMessage } from "../../src/sandbox/slack/emulator";
import { expectInert, HOSTILE_VM } from "../support/hostile";
import { approveProposal, nextProposal } from "../support/proposals";
import { startTestStack } from "../support/sandbox-stack";
import { type SlackChannel, slackChannel } from "../support/slack-threads";

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
let ops: SlackChannel;
/** Every post, edit and ephemeral answer the Slack emulator received, in order. */
const events: SlackMessageEvent[] = [];

beforeAll(async () => {
  stack = await startTestStack("hostile", { timeScale: 20, seed: SEED });
  ops = slackChannel(stack.slack, { timeoutMs: STEP_TIMEOUT_MS });
  stack.slack.events.on("message", (e: SlackMessageEvent) => events.push(e));
});
afterAll(async () => {
  await stack?.stop();
});

const roots = () => ops.roots();
const waitFor = <T>(what: string, fn: () => T | undefined | null | false): Promise<T> =>
  ops.waitFor(what, fn);

/** The pending proposal in the thread whose notification text matches `kind`. */
function pendingProposal(rootTs: string, kind: RegExp): Promise<StoredMessage> {
  return nextProposal(ops, rootTs, new Set(), kind);
}

async function approveAndWait(m: StoredMessage): Promise<StoredMessage> {
  return (await approveProposal(ops, m, "bob")).applied;
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
