/**
 * The fault suite's reporter: writes RELIABILITY.md (one row per case: the fault, when it hits,
 * what the user sees, what must hold, what this run measured, and whether it held) and prints the
 * run's last line, `faults: <N> cases, <F> failed`.
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Reporter, TestCase, TestModule } from "vitest/node";
import type { ReliabilityRow } from "./reliability";

const ROOT = resolve(import.meta.dirname, "../../..");

/** Table cells: one line each, pipes escaped. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\s*\n\s*/g, " ");
}

export default class ReliabilityReporter implements Reporter {
  private started = Date.now();

  onTestRunStart(): void {
    this.started = Date.now();
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const rows: { file: string; row: ReliabilityRow; state: string; durationMs: number; error?: string }[] =
      [];
    let cases = 0;
    let failed = 0;
    for (const mod of modules) {
      for (const test of mod.children.allTests()) {
        const t = test as TestCase;
        const result = t.result();
        if (result.state === "skipped" || result.state === "pending") continue;
        cases++;
        if (result.state === "failed") failed++;
        const row = t.meta().reliability ?? {
          fault: t.name,
          when: "",
          userSees: "",
          mustHold: "",
          measured: [],
        };
        const error = result.state === "failed" ? result.errors?.[0]?.message?.split("\n")[0] : undefined;
        rows.push({
          file: mod.relativeModuleId.replace(/^test\/faults\//, ""),
          row,
          state: result.state,
          durationMs: t.diagnostic()?.duration ?? 0,
          ...(error !== undefined && { error }),
        });
      }
    }
    const totalS = Math.round((Date.now() - this.started) / 1000);
    const lines = [
      "# Reliability: what migbot does when its parts fail",
      "",
      "Written by `npm run faults` (test/faults/): each case breaks one link on the real stack — real",
      "Redis, real SSH (the sandbox's hosts), the real Bolt app on signed requests, the sandbox's Nova",
      "and the Slack emulator — through fault proxies and killed processes, and measures what a person",
      "would notice. Regenerated on every run; the numbers below are from the last one.",
      "",
      "Known limits, by design or not yet handled:",
      "",
      "- A `chat.postMessage` that Slack carried out but whose answer never came is posted again when",
      "  retried (Slack's API has no idempotency key); the cases time out only posts Slack never got,",
      "  and edits (`chat.update`), which are safe to repeat.",
      "- Killing the Redis primary (not a planned `SENTINEL FAILOVER`) can lose the writes it had not",
      "  replicated yet: Redis replication is asynchronous.",
      "- A worker SIGKILLed after the temp file was written may leave that temp file beside nova.conf",
      "  (`.nova.conf.migbot-tmp-*`, same owner and mode as the file); the case reports it.",
      "",
      `Last run: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${cases} cases, ${failed} failed, ${totalS} s.`,
      "",
      "| # | Fault | When it hits | What the user sees | What must hold | Measured | Held |",
      "|---|---|---|---|---|---|---|",
      ...rows.map(
        (r, i) =>
          `| ${i + 1} | ${cell(r.row.fault)} | ${cell(r.row.when)} | ${cell(r.row.userSees)} | ${cell(r.row.mustHold)} | ${cell(
            [...r.row.measured, `case ${Math.round(r.durationMs / 1000)} s`].join("; "),
          )} | ${r.state === "passed" ? "yes" : `**NO**: ${cell(r.error ?? r.state)}`} |`,
      ),
      "",
      `faults: ${cases} cases, ${failed} failed`,
      "",
    ];
    writeFileSync(resolve(ROOT, "RELIABILITY.md"), lines.join("\n"));
    process.stdout.write(`faults: ${cases} cases, ${failed} failed\n`);
  }
}
