/**
 * What each fault case says about itself for RELIABILITY.md: the fault, when it hits, what the
 * user sees, what must hold, and what the run measured. Kept in the test's meta, which vitest hands
 * to the reporter (test/faults/support/reporter.ts) whether the case passed or failed.
 */
import type { TestContext } from "vitest";

export interface ReliabilityRow {
  /** Short name of the fault, e.g. "Redis restarted (AOF on)". */
  fault: string;
  /** When it hits, e.g. "while two migrations are tracked". */
  when: string;
  /** What a person in Slack sees. */
  userSees: string;
  /** What must hold (the assertions, in words). */
  mustHold: string;
  /** What this run measured (filled in as the case goes). */
  measured: string[];
}

declare module "vitest" {
  interface TaskMeta {
    reliability?: ReliabilityRow;
  }
}

/** Names a fault case; `measure` appends a measured fact to its row. */
export function faultCase(
  ctx: Pick<TestContext, "task">,
  row: Omit<ReliabilityRow, "measured">,
): { measure(fact: string): void } {
  const full: ReliabilityRow = { ...row, measured: [] };
  ctx.task.meta.reliability = full;
  return {
    measure(fact) {
      full.measured.push(fact);
    },
  };
}

/** Milliseconds as a person reads them: "850 ms", "4.2 s". */
export function ms(value: number): string {
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;
}
