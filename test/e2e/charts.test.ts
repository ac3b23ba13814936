/**
 * Charts in migration threads, end to end on the sandbox: the real Bolt app and worker, the notifier
 * uploading through the Slack emulator's external upload, and the PNG as a person's client gets it.
 * A completed migration's thread gets exactly one chart; db-1 (which cannot converge over its link)
 * gets one with the not-converging warning and one when it is aborted.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { saveSharedFiles } from "../../src/cli/console-chat";
import { SANDBOX_CHANNEL, type SandboxStack } from "../../src/runtime/stack";
import type { StoredMessage } from "../../src/sandbox/slack/emulator";
import { decodePng } from "../support/png";
import { settled, startTestStack } from "../support/sandbox-stack";
import { type SlackChannel, slackChannel } from "../support/slack-threads";

/** Model seconds per real second: db-1's iterations (~9 model s) take about a second each. */
const MODEL_SPEED = 10;
const CLOCK_TICK_MS = 50;
const POLL_INTERVAL_MS = 200;

let stack: SandboxStack;
let ops: SlackChannel;
let clock: NodeJS.Timeout;

beforeAll(async () => {
  stack = await startTestStack("charts", { timeScale: 0, pollIntervalMs: POLL_INTERVAL_MS });
  ops = slackChannel(stack.slack, { timeoutMs: 60_000, intervalMs: 50 });
  clock = setInterval(() => stack.sandbox.cloud.advance((CLOCK_TICK_MS / 1000) * MODEL_SPEED), CLOCK_TICK_MS);
});

afterAll(async () => {
  clearInterval(clock);
  await stack?.stop();
});

function fileReplies(rootTs: string): StoredMessage[] {
  return ops.thread(rootTs).filter((r) => (r.files?.length ?? 0) > 0);
}

/** The shared file's bytes, decoded as a PNG. */
function pngOf(reply: StoredMessage) {
  expect(reply.files).toHaveLength(1);
  const file = stack.slack.file(reply.files![0]!.id)!;
  expect(file.mimetype).toBe("image/png");
  expect(file.bytes).toBeDefined();
  return decodePng(file.bytes!);
}

describe("a chart in the thread", () => {
  test("a completed migration's thread gets exactly one PNG, after its outcome", {
    timeout: 120_000,
  }, async () => {
    const root = await ops.commandRoot("alice", "/migrate", "vm-42 to compute-3");
    await ops.waitFor("completion", () => /Completed/.test(ops.root(root.ts).text));
    const chart = await ops.waitFor("the chart", () => fileReplies(root.ts)[0]);
    await settled(stack);
    expect(fileReplies(root.ts)).toHaveLength(1);
    expect(chart.text).toMatch(/^Chart of \*vm-42\*'s migration, completed in \d+ s/);
    // It comes after the thread's last phase.
    const thread = ops.thread(root.ts);
    expect(thread.findIndex((r) => r.ts === chart.ts)).toBeGreaterThan(
      thread.findIndex((r) => r.text.startsWith("Commitment")),
    );
    expect(chart.files![0]!.title).toMatch(/^vm-42: completed in/);
    const png = pngOf(chart);
    expect([png.width, png.height]).toEqual([960, 640]);

    // The console (npm start) writes the shared PNG where the user can open it and says where.
    const dir = mkdtempSync(join(tmpdir(), "migbot-charts-test-"));
    try {
      const saved = saveSharedFiles(
        stack,
        {
          type: "post",
          channel: SANDBOX_CHANNEL.id,
          ts: chart.ts,
          thread_ts: root.ts,
          text: chart.text,
          files: chart.files,
        },
        dir,
      );
      expect(saved).toHaveLength(1);
      expect(dirname(saved[0]!.path)).toBe(dir);
      expect(saved[0]!.path).toMatch(/\/F[0-9A-F]+-migration-[A-Za-z0-9-]+-ended\.png$/);
      expect(decodePng(readFileSync(saved[0]!.path)).width).toBe(960);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("db-1, not converging: a chart with the warning, and one more when it is aborted", {
    timeout: 120_000,
  }, async () => {
    const server = await stack.nova.findServer("db-1");
    const dest = server!.host === "compute-1" ? "compute-2" : "compute-1";
    const root = await ops.commandRoot("alice", "/migrate", `db-1 to ${dest}`);
    const warning = await ops.waitFor("the not-converging warning", () =>
      ops.reply(root.ts, /is not converging/),
    );
    const first = await ops.waitFor("the warning's chart", () => fileReplies(root.ts)[0]);
    expect(first.text).toMatch(/^Chart so far of \*db-1\*/);
    expect(Number(first.ts)).toBeGreaterThan(Number(warning.ts));
    expect(first.files![0]!.title).toMatch(/^db-1: not converging at iteration \d+/);
    pngOf(first);

    await stack.slack.slashCommand({
      user: "alice",
      channel: "ops",
      command: "/migrate",
      text: "abort db-1",
    });
    await ops.waitFor("the aborted root", () => /Aborted after/.test(ops.root(root.ts).text));
    const last = await ops.waitFor("the final chart", () => fileReplies(root.ts)[1]);
    await settled(stack);
    expect(fileReplies(root.ts)).toHaveLength(2);
    expect(last.text).toMatch(/^Chart of \*db-1\*'s migration, aborted after/);
    pngOf(last);
    expect(stack.slack.files().filter((f) => f.channel === SANDBOX_CHANNEL.id)).toHaveLength(3);
  });
});
