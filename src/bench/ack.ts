/**
 * ack: a burst of 200 signed slash commands in 10 s against the real Bolt app on the sandbox,
 * measured by the Slack emulator from request to HTTP answer. Workers are off so that only the
 * ack path (parse, authorize, Redis, enqueue) is measured.
 */
import type { BenchResult } from "../cli/bench";
import { startSandboxStack } from "../runtime/stack";

export const ACK_BENCH_COMMANDS = 200;
export const ACK_BENCH_WINDOW_MS = 10_000;

function percentile(sorted: number[], p: number): number {
  const idx = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, idx)]!;
}

export async function runAckBench(): Promise<BenchResult> {
  const stack = await startSandboxStack({ workers: false, prefix: `bench-ack-${Date.now()}` });
  try {
    const gap = ACK_BENCH_WINDOW_MS / ACK_BENCH_COMMANDS;
    const started = Date.now();
    const pending: Promise<{ ackMs: number; status: number }>[] = [];
    for (let i = 0; i < ACK_BENCH_COMMANDS; i++) {
      const due = started + i * gap;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const vm = ["vm-42", "db-1", "web-7"][i % 3]!;
      pending.push(
        stack.slack.slashCommand({
          user: "alice",
          channel: "ops",
          command: "/migrate",
          text: `${vm} to compute-3`,
        }),
      );
    }
    const results = await Promise.all(pending);
    const failed = results.filter((r) => r.status !== 200).length;
    const acks = results.map((r) => r.ackMs).sort((a, b) => a - b);
    const p50 = percentile(acks, 50);
    const p99 = percentile(acks, 99);
    return {
      lastLine: `ack p99: ${Math.round(p99)} ms`,
      rows: {
        commands: ACK_BENCH_COMMANDS,
        failed,
        "p50 ms": Math.round(p50),
        "p99 ms": Math.round(p99),
        "max ms": Math.round(acks.at(-1)!),
      },
    };
  } finally {
    await stack.stop();
  }
}
