/**
 * src/cli: the `migbot` commands (main.ts dispatches): start, sandbox, console chat, lab, bench,
 * keys, nova-conf and analyze. Each verb loads only what it needs (production start never loads
 * the sandbox).
 *
 * This file: `migbot analyze`, the analyzer's verdict on captured samples, for a post-mortem.
 */
import { readFile } from "node:fs/promises";
import { analyzeConvergence, type ConvergenceReport } from "../migration/convergence";
import { detectAndParse } from "../migration/samples/detect";
import { formatBytes, SampleParseError } from "../migration/samples/sample";
import type { CliCommand } from "./main";

/** Exit code for bad usage or unreadable input. */
const EXIT_BAD_INPUT = 2;

const USAGE = `usage: migbot analyze [--json] [--downtime-ms N] [--final-downtime-ms N] FILE...

Judges captured live-migration samples, one series per FILE ("-" = standard input), for a post-mortem:
  - virsh domjobinfo outputs as polled (blocks separated by blank lines or "==" header lines,
    with or without timestamps; interleaved virsh errors count as the job's end),
  - QMP query-migrate replies (one JSON object per line, a JSON array, or {"return": ...}),
  - nova-compute log lines ("Migration running for N secs, memory N% remaining ...").

Prints the verdict (converging, not-converging, stalled, throttling, completed, failed) with its
numbers: iterations, the smallest remaining per iteration, transfer vs dirty rate, expected vs
allowed downtime, ETA, auto-converge throttle and a one-sentence reason.

options:
  --json                  one JSON object per FILE, one per line (JSON Lines), with "verdict",
                          "iterations" and the figures behind them
  --downtime-ms N         the downtime allowed now, in ms (default: QEMU's 300 ms)
  --final-downtime-ms N   the largest downtime Nova will allow, in ms (its last
                          live_migration_downtime step; default: the --downtime-ms value)
  -h, --help              this text

exit codes: 0 = every FILE analyzed, 2 = bad usage or a FILE could not be read or understood.`;

interface Args {
  json: boolean;
  downtimeMs?: number;
  finalDowntimeMs?: number;
  files: string[];
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Args | "help" {
  const args: Args = { json: false, files: [] };
  const msValue = (flag: string, value: string | undefined): number => {
    const n = Number(value);
    if (value === undefined || !/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
      throw new UsageError(`${flag} needs a whole number of milliseconds, e.g. ${flag} 500`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? arg.split("=", 2) : [arg, undefined];
    switch (flag) {
      case "-h":
      case "--help":
        return "help";
      case "--json":
        args.json = true;
        break;
      case "--downtime-ms":
        args.downtimeMs = msValue(flag, inline ?? argv[++i]);
        break;
      case "--final-downtime-ms":
        args.finalDowntimeMs = msValue(flag, inline ?? argv[++i]);
        break;
      case "--":
        args.files.push(...argv.slice(i + 1));
        i = argv.length;
        break;
      default:
        if (arg.startsWith("-") && arg !== "-") throw new UsageError(`unknown option '${arg}'`);
        args.files.push(arg);
    }
  }
  if (args.files.length === 0) throw new UsageError("no FILE given");
  return args;
}

const orDash = (v: string | null) => v ?? "—";
const bytesOrDash = (v: number | null) => orDash(v === null ? null : formatBytes(v));
const rateOrDash = (v: number | null) => orDash(v === null ? null : `${formatBytes(v)}/s`);
const msOrDash = (v: number | null) => orDash(v === null ? null : `${v} ms`);

/** The plain-text report: a few aligned lines a person reads top to bottom. */
export function formatReport(file: string, format: string, samples: number, r: ConvergenceReport): string {
  const list = (values: number[]) =>
    values.length === 0 ? "—" : values.map((v) => formatBytes(v)).join(", ");
  const rows: [string, string][] = [
    ["file", `${file} (${format}, ${samples} sample${samples === 1 ? "" : "s"})`],
    ["verdict", r.verdict],
    ["iterations", String(r.iterations)],
    ["min remaining/iter", list(r.minRemainingPerIteration)],
    ["remaining at sync", list(r.remainingAtSyncPerIteration)],
    [
      "transfer vs dirty",
      `${rateOrDash(r.transferRateBytesPerS)} sent, ${r.dirtyRateBytesPerS === null ? "— (not measured)" : `≥ ${rateOrDash(r.dirtyRateBytesPerS)}`} dirtied`,
    ],
    [
      "downtime",
      `expected ${msOrDash(r.expectedDowntimeMs)}, allowed ${msOrDash(r.downtimeLimitMs)}${r.downtimeLimitAssumed ? " (QEMU default assumed)" : ""}, final ${msOrDash(r.finalDowntimeMs)}${r.downtimeMs !== null ? `, actual ${r.downtimeMs} ms` : ""}`,
    ],
    ["ETA", r.etaSeconds === null ? "—" : `${Math.round(r.etaSeconds)} s`],
    ["throttle", r.throttlePercent === null || r.throttlePercent === 0 ? "none" : `${r.throttlePercent}%`],
    ["elapsed", `${r.elapsedS.toFixed(1)} s, ${bytesOrDash(r.dataProcessedBytes)} sent`],
    ["reason", r.reason],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}${v}`).join("\n");
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function analyzeFile(
  file: string,
  args: Args,
): Promise<{ ok: true; text: string } | { ok: false; error: string }> {
  let text: string;
  try {
    text = file === "-" ? await readStdin() : await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "EIO";
    return {
      ok: false,
      error: `${file}: ANALYZE_READ_FAILED: cannot read the file (${code}); check the path and permissions`,
    };
  }
  try {
    const detected = detectAndParse(text);
    const report = analyzeConvergence(detected.samples, {
      ...(args.downtimeMs !== undefined ? { downtimeLimitMs: args.downtimeMs } : {}),
      ...(args.finalDowntimeMs !== undefined ? { finalDowntimeMs: args.finalDowntimeMs } : {}),
    });
    if (args.json) {
      const { verdict, iterations, ...figures } = report;
      return {
        ok: true,
        text: JSON.stringify({
          verdict,
          iterations,
          ...figures,
          file,
          format: detected.format,
          samples: detected.samples.length,
        }),
      };
    }
    return { ok: true, text: formatReport(file, detected.format, detected.samples.length, report) };
  } catch (err) {
    if (err instanceof SampleParseError) return { ok: false, error: `${file}: ${err.code}: ${err.message}` };
    throw err;
  }
}

export const command: CliCommand = {
  summary: "judge a captured series of virsh domjobinfo / QMP query-migrate outputs",
  async run(argv) {
    let args: Args;
    try {
      const parsed = parseArgs(argv);
      if (parsed === "help") {
        console.log(USAGE);
        return 0;
      }
      args = parsed;
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      console.error(`migbot analyze: ${err.message}\n\n${USAGE}`);
      return EXIT_BAD_INPUT;
    }
    let exit = 0;
    const blocks: string[] = [];
    for (const file of args.files) {
      const result = await analyzeFile(file, args);
      if (result.ok) {
        if (args.json) console.log(result.text);
        else blocks.push(result.text);
      } else {
        console.error(`migbot analyze: ${result.error}`);
        exit = EXIT_BAD_INPUT;
      }
    }
    if (!args.json && blocks.length > 0) console.log(blocks.join("\n\n"));
    return exit;
  },
};
