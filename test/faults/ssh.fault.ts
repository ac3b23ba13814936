/**
 * A compute host's SSH failing: unreachable when a migration starts, dropped while it is polled,
 * a command that never answers, and a host that drops in the middle of applying a fix. Each host
 * is reached through its own TCP proxy (the inventory names the proxy), so only its link breaks.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { ACTION_RETRY_APPLY } from "../../bot/render/proposal";
import type { HostCommand } from "../../src/hosts/catalogue";
import { type SlackChannel, slackChannel } from "../support/slack-threads";
import { expectMovedOnce, hostOf, startMove, threadActivity, waitReply } from "./support/checks";
import { afterHostCommands, type FaultStack, memoryLog, startFaultStack } from "./support/fault-stack";
import { backupsOf, clickApprove, fileState, postFix, proposalStatus, service } from "./support/fixes";
import { faultCase, ms } from "./support/reliability";

/** A hung command is held this long at most (migbot's evidence timeout is 10 s): the loop is bounded. */
const HANG_HOLD_MAX_MS = 20_000;
/** How long a dropped host stays away mid-poll. */
const SSH_OUTAGE_MS = 4_000;

let stack: FaultStack;
let ops: SlackChannel;
const mem = memoryLog();

beforeAll(async () => {
  // A slow clock (vm-42 ~18 s, batch-1 longer): the faults land inside pre-copy.
  stack = await startFaultStack("faults-ssh", { timeScale: 1, log: mem.log });
  ops = slackChannel(stack.slack, { timeoutMs: 90_000 });
});
afterEach(async () => {
  for (const p of stack.cloud.ssh.values()) await p.setMode("pass");
});
afterAll(async () => {
  if (process.env.FAULTS_DEBUG) console.log(mem.lines.join("\n"));
  await stack?.stop();
});

/** The pre-copy reply's text, or "" before it is posted. */
function precopyText(rootTs: string): string {
  return ops.reply(rootTs, "Iterative pre-copy")?.text ?? "";
}

describe("a compute host's SSH", () => {
  test("unreachable when the migration starts: Nova's figures, the thread says so; others carry on", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "source host's SSH unreachable (connection refused)",
      when: "before /migrate, for the whole migration",
      userSees:
        "the pre-copy reply names its source: Nova's API memory counters, because the host is unreachable over SSH; the migration completes",
      mustHold:
        "one live migration; phases once; a migration from another host is not slowed (it completes meanwhile)",
    });
    const src = await hostOf(stack.truth, "vm-42");
    await stack.cloud.ssh.get(src)!.setMode("refuse");
    const a = await startMove(ops, stack.truth, "vm-42", ["compute-1", "compute-3"]);
    const b = await startMove(ops, stack.truth, "batch-1", ["compute-3", "compute-4"]);
    await waitReply(ops, a.root.ts, "Iterative pre-copy");
    const said = await ops.waitFor("the pre-copy reply to name its source", () =>
      /unreachable over SSH/.test(precopyText(a.root.ts)) ? precopyText(a.root.ts) : undefined,
    );
    c.measure(`pre-copy says: "${/figures from[^.]*\)/.exec(said)?.[0] ?? said.slice(0, 140)}"`);
    expect(said).toMatch(/Nova's API memory counters|nova-compute's progress log/);
    await expectMovedOnce(ops, stack.truth, b);
    await expectMovedOnce(ops, stack.truth, a);
    c.measure("both completed, 1 live migration each, phases once");
  });

  test("dropped mid-poll: falls back, says so, reconnects when the host is back", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "source host's SSH dropped (connections cut, port refused)",
      when: `mid-pre-copy, for ${SSH_OUTAGE_MS / 1000} s`,
      userSees:
        "the pre-copy reply switches to Nova's figures and says the host is unreachable over SSH; completes",
      mustHold: "one live migration; phases once; migbot connects to the host again after it is back",
    });
    const m = await startMove(ops, stack.truth, "vm-42", ["compute-1", "compute-3"]);
    const src = m.to === "compute-3" ? "compute-1" : "compute-3";
    const proxy = stack.cloud.ssh.get(src)!;
    await waitReply(ops, m.root.ts, "Iterative pre-copy");
    const acceptedBefore = proxy.accepted;
    const t0 = Date.now();
    await proxy.setMode("refuse");
    const said = await ops.waitFor(
      "the pre-copy reply to say the host is unreachable",
      () => (/unreachable over SSH/.test(precopyText(m.root.ts)) ? precopyText(m.root.ts) : undefined),
      30_000,
    );
    c.measure(`fallback shown ${ms(Date.now() - t0)} after the drop`);
    expect(said).toMatch(/Nova's API memory counters/);
    await new Promise((r) => setTimeout(r, Math.max(0, SSH_OUTAGE_MS - (Date.now() - t0))));
    await proxy.setMode("pass");
    await expectMovedOnce(ops, stack.truth, m);
    // The next migration from that host reads its figures over SSH again: a new connection.
    expect(src, "vm-42 left compute-3 (case 1 brought it there)").toBe("compute-3");
    const next = await startMove(ops, stack.truth, "web-7", ["compute-3", "compute-4"]);
    await expectMovedOnce(ops, stack.truth, next);
    const again = proxy.accepted - acceptedBefore;
    expect(again).toBeGreaterThan(0);
    c.measure(
      `completed; the next migration from ${src} connected again (${again} new SSH connection(s)), its figures from ${/figures from ([^·(]*)/.exec(precopyText(next.root.ts))?.[1]?.trim() ?? "?"}`,
    );
  });

  test("a command that hangs: times out, falls back; another migration is not blocked", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "a command on the source host never answers (virsh domjobinfo hangs)",
      when: "mid-pre-copy",
      userSees: "the pre-copy reply falls back to Nova's figures and says why; completes",
      mustHold:
        "one live migration; phases once; a second migration (another source host) keeps getting updates while the command hangs",
    });
    const m = await startMove(ops, stack.truth, "vm-42", ["compute-1", "compute-3"]);
    const src = m.to === "compute-3" ? "compute-1" : "compute-3";
    await waitReply(ops, m.root.ts, "Iterative pre-copy");
    const other = await startMove(ops, stack.truth, "batch-1", ["compute-3", "compute-4"]);
    let hungAt: number | null = null;
    let released: (() => void) | null = null;
    const unhook = afterHostCommands(stack.cloud.sandbox, (h, cmd: HostCommand) => {
      if (h !== src || cmd.kind !== "virsh-domjobinfo" || hungAt !== null) return;
      hungAt = Date.now();
      return new Promise<void>((r) => {
        released = r;
        setTimeout(r, HANG_HOLD_MAX_MS);
      });
    });
    try {
      await ops.waitFor("a domjobinfo to hang", () => hungAt !== null, 30_000);
      const otherBefore = threadActivity(ops, other.root.ts);
      const moved = await ops.waitFor(
        "the other migration's thread to move while the command hangs",
        () =>
          threadActivity(ops, other.root.ts) > otherBefore ||
          /Completed|Failed/.test(ops.root(other.root.ts).text),
        15_000,
      );
      expect(moved).toBe(true);
      c.measure(`other thread updated ${ms(Date.now() - hungAt!)} into the hang`);
      await expectMovedOnce(ops, stack.truth, m);
      const text = precopyText(m.root.ts);
      c.measure(`pre-copy reply: "${/figures from[^.]*\)/.exec(text)?.[0] ?? "(domjobinfo)"}"`);
      await expectMovedOnce(ops, stack.truth, other);
    } finally {
      (released as (() => void) | null)?.();
      unhook();
    }
  });

  test("an apply whose host drops mid-way: file old or new, the proposal ends with a clear outcome", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "the host's SSH drops while a nova.conf fix is applied",
      when: "right after the temp file is written (its answer lost), back after a few seconds",
      userSees: "the proposal ends applied, rolled back, or failed with the reason and a Retry button",
      mustHold:
        "the file is the old or the new one, never partial; a backup exists if it changed; the proposal never stays applying; nova-compute runs",
    });
    const host = "compute-5";
    const fix = await postFix(stack, ops, [host]);
    const change = fix.changes[0]!;
    const proxy = stack.cloud.ssh.get(host)!;
    let droppedAt: number | null = null;
    const unhook = afterHostCommands(stack.cloud.sandbox, (h, cmd) => {
      if (h !== host || droppedAt !== null || cmd.kind !== "write-file" || !cmd.path.includes(".migbot-tmp-"))
        return;
      droppedAt = Date.now();
      void proxy.setMode("refuse");
      setTimeout(() => void proxy.setMode("pass"), SSH_OUTAGE_MS);
    });
    try {
      await clickApprove(ops, fix.message);
      const status = await ops.waitFor(
        "the proposal to end",
        async () => {
          const st = await proposalStatus(stack, fix.proposal.id);
          return st === "applied" || st === "failed" ? st : undefined;
        },
        120_000,
      );
      expect(droppedAt).not.toBeNull();
      const file = fileState(stack, change);
      c.measure(`proposal ${status} ${ms(Date.now() - droppedAt!)} after the drop; file ${file}`);
      expect(["old", "new"]).toContain(file);
      if (file === "new") expect(backupsOf(stack, change).some((b) => b.original)).toBe(true);
      expect(service(stack, host).unit).toBe("active");
      const msg = await ops.waitFor("the proposal message to show the outcome", () => {
        const m = ops.message(fix.message.ts)!;
        return /applying…/.test(JSON.stringify(m.blocks)) ? undefined : m;
      });
      const blocks = JSON.stringify(msg.blocks);
      if (status === "failed") {
        expect(blocks).toMatch(/Retry apply/);
        const reason = /writing failed \(([^)]*\))/.exec(blocks)?.[1] ?? "";
        c.measure(`failed with the reason ("${reason.slice(0, 90)}…") and a Retry apply button`);
        // The host is back: the approver presses Retry apply, and the fix goes through.
        await ops.waitFor("the host to be reachable again", () => proxy.mode === "pass");
        const t1 = Date.now();
        await ops.slack.clickButton({
          user: "bob",
          channel: ops.id,
          messageTs: fix.message.ts,
          actionId: ACTION_RETRY_APPLY,
        });
        // The click is acknowledged before it is handled: wait for the retry to be taken first.
        await ops.waitFor(
          "the retry to be taken",
          async () => ((await stack.proposals.get(fix.proposal.id))?.applyRetries ?? 0) > 0,
        );
        const again = await ops.waitFor(
          "the retried apply to end",
          async () => {
            const st = await proposalStatus(stack, fix.proposal.id);
            return st === "applied" || st === "failed" ? st : undefined;
          },
          120_000,
        );
        const after = await stack.proposals.get(fix.proposal.id);
        expect(again, JSON.stringify({ results: after?.results, progress: after?.progress?.slice(-3) })).toBe(
          "applied",
        );
        expect(fileState(stack, change)).toBe("new");
        expect(backupsOf(stack, change).some((b) => b.original)).toBe(true);
        expect(service(stack, host)).toMatchObject({ unit: "active", autoConverge: true });
        c.measure(
          `Retry apply: applied ${ms(Date.now() - t1)} after the click; file new, backup of the original, nova-compute active`,
        );
      } else {
        expect(file).toBe("new");
        expect(service(stack, host).autoConverge).toBe(true);
        c.measure(`message: "${msg.text.slice(0, 120)}"`);
      }
    } finally {
      unhook();
    }
  });
});
