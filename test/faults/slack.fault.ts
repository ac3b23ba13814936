/**
 * Slack's Web API failing while migbot posts and edits a migration's thread: 5xx answers, storms of
 * 429s, and calls that never answer (through an HTTP fault proxy in front of the Slack emulator, and
 * the emulator's own injected failures). What a person reads must not suffer: nothing lost, each
 * phase once and in order, the final state posted.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type SlackChannel, slackChannel } from "../support/slack-threads";
import { expectMovedOnce, PHASE_PREFIXES, type StartedMove, startMove, waitReply } from "./support/checks";
import { type FaultStack, memoryLog, startFaultStack } from "./support/fault-stack";
import type { SeenRequest } from "./support/http-proxy";
import { faultCase, ms } from "./support/reliability";

let stack: FaultStack;
let ops: SlackChannel;
const mem = memoryLog();

beforeAll(async () => {
  stack = await startFaultStack("faults-slack", { timeScale: 3, proxySlack: true, log: mem.log });
  ops = slackChannel(stack.slack, { timeoutMs: 120_000 });
});
afterAll(async () => {
  if (process.env.FAULTS_DEBUG) console.log(mem.lines.join("\n"));
  await stack?.stop();
});

const method = (name: string) => (r: SeenRequest) => r.path.endsWith(`/api/${name}`);

/** Phase replies of a thread in the order they were posted (by ts). */
function phaseOrder(rootTs: string): string[] {
  return [...ops.thread(rootTs)]
    .sort((a, b) => Number(a.ts) - Number(b.ts))
    .map((r) => PHASE_PREFIXES.find((p) => r.text.startsWith(p)))
    .filter((p): p is string => p !== undefined);
}

/** Completed once, phases once, and in order of their timestamps (a retried post must not reorder them). */
async function expectThreadWhole(m: StartedMove) {
  await expectMovedOnce(ops, stack.truth, m, 150_000);
  expect(phaseOrder(m.root.ts)).toEqual(PHASE_PREFIXES);
}

describe("Slack Web API faults", () => {
  test("5xx and calls that never answer, on post and on update", async (ctx) => {
    const c = faultCase(ctx, {
      fault:
        "Slack: chat.postMessage 503 ×2 and one that never answers (lost on the way); chat.update 500 ×2 and one that never answers (Slack applied it)",
      when: "from the root message through pre-copy",
      userSees: "the thread arrives a little late, complete, in order, with its final state",
      mustHold: "nothing lost (each phase once, in order), the root shows Completed, one live migration",
    });
    const proxy = stack.slackProxy!;
    proxy.inject({ match: method("chat.postMessage"), fault: { kind: "status", status: 503 }, times: 2 });
    const t0 = Date.now();
    const m = await startMove(ops, stack.truth, "vm-42", ["compute-1", "compute-3"]);
    c.measure(`root posted ${ms(Date.now() - t0)} after the command (after 2 × 503)`);
    await waitReply(ops, m.root.ts, "Pre-migration");
    proxy.inject({ match: method("chat.postMessage"), fault: { kind: "hang", forward: false } });
    proxy.inject({ match: method("chat.update"), fault: { kind: "status", status: 500 }, times: 2 });
    proxy.inject({ match: method("chat.update"), fault: { kind: "hang", forward: true } });
    await expectThreadWhole(m);
    const faulted = proxy.log.filter((l) => typeof l.outcome !== "number" || l.outcome >= 500);
    expect(faulted.length).toBeGreaterThanOrEqual(4);
    c.measure(
      `${faulted.length} faulted Slack calls (${faulted.map((f) => f.outcome).join(", ")}); completed ${ms(Date.now() - t0)} after the command; phases once, in order`,
    );
  });

  test("a storm of 429s on post and update, across two threads", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "Slack: 429 storm (Retry-After 1 s) — 20 chat.update and 8 chat.postMessage in a row",
      when: "while two migrations post and edit their threads",
      userSees: "progress edits come less often; every phase reply and both final states arrive, in order",
      mustHold:
        "nothing lost; each thread's phases once and in order; final states posted; one live migration each",
    });
    const before = { ...stack.slack.stats().rateLimited };
    stack.slack.failNext({
      method: "chat.update",
      fault: { kind: "ratelimited", retryAfterS: 1 },
      times: 20,
    });
    stack.slack.failNext({
      method: "chat.postMessage",
      fault: { kind: "ratelimited", retryAfterS: 1 },
      times: 8,
    });
    const t0 = Date.now();
    const a = await startMove(ops, stack.truth, "vm-42", ["compute-1", "compute-3"]);
    const b = await startMove(ops, stack.truth, "batch-1", ["compute-3", "compute-4"]);
    await expectThreadWhole(a);
    await expectThreadWhole(b);
    const after = stack.slack.stats().rateLimited;
    const served = Object.entries(after).reduce((n, [k, v]) => n + v - (before[k] ?? 0), 0);
    expect(served).toBeGreaterThanOrEqual(28);
    c.measure(
      `${served} 429s served; both completed ${ms(Date.now() - t0)} after the first command; phases once, in order`,
    );
  });
});
