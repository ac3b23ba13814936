/**
 * `npm run bench [-- NAME]`: runs the benchmark scenarios and prints a table; with a NAME, runs one
 * and its last line is that scenario's figure (e.g. `ack p99: 12 ms`). The scenarios live in
 * src/bench/ and run against the sandbox on this machine.
 */
import type { CliCommand } from "./main";

export interface BenchResult {
  /** The scenario's figure in its fixed form, e.g. `ssh pooled speedup: 9.3x`. */
  lastLine: string;
  /** Named measurements for the table. */
  rows: Record<string, number | string>;
}

const SCENARIOS: Record<string, { about: string; load: () => Promise<() => Promise<BenchResult>> }> = {
  ack: {
    about: "200 signed slash commands in 10 s against the bot: ack latency",
    load: async () => (await import("../../src/bench/ack")).runAckBench,
  },
  slack: {
    about: "50 concurrent migrations in one channel: 429s and Slack calls per migration",
    load: async () => (await import("../../src/bench/slack")).runSlackBench,
  },
  track: {
    about: "one worker following 500 concurrent sandbox migrations: RSS and CPU",
    load: async () => (await import("../../src/bench/track")).runTrackBench,
  },
  ssh: {
    about: "200 commands over one pooled SSH connection vs a connection each",
    load: async () => (await import("../../src/bench/ssh")).runSshBench,
  },
  verdicts: {
    about: "260 model migrations and the real captures judged as the tracker does: right, missed aborts",
    load: async () => (await import("../../src/bench/verdicts")).runVerdictsBench,
  },
  predict: {
    about: "the verdicts grid predicted before each migration starts, against how it ended",
    load: async () => (await import("../../src/bench/predict")).runPredictBench,
  },
};

export const command: CliCommand = {
  summary: "run the benchmarks",
  async run(argv) {
    const names = argv.filter((a) => !a.startsWith("-"));
    if (argv.includes("--help")) {
      console.log(
        `usage: migbot bench [NAME]\n\n${Object.entries(SCENARIOS)
          .map(
            ([n, s]) => `  ${n.padEnd(Math.max(...Object.keys(SCENARIOS).map((k) => k.length)))} ${s.about}`,
          )
          .join("\n")}`,
      );
      return 0;
    }
    for (const n of names) {
      if (!(n in SCENARIOS)) {
        console.error(`migbot bench: unknown scenario '${n}' (known: ${Object.keys(SCENARIOS).join(", ")})`);
        return 2;
      }
    }
    const chosen = names.length > 0 ? names : Object.keys(SCENARIOS);
    const results: [string, BenchResult][] = [];
    for (const name of chosen) {
      const run = await SCENARIOS[name]!.load();
      const result = await run();
      results.push([name, result]);
      if (chosen.length === 1) {
        for (const [k, v] of Object.entries(result.rows)) console.log(`${k}: ${v}`);
        console.log(result.lastLine);
        return 0;
      }
    }
    console.log(`\n| scenario | figure | details |\n|---|---|---|`);
    for (const [name, r] of results) {
      const details = Object.entries(r.rows)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ");
      console.log(`| ${name} | ${r.lastLine} | ${details} |`);
    }
    return 0;
  },
};
