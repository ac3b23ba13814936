import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixturePath, PROJECT_ROOT } from "../support/fixtures";

// Each spawn starts node + tsx; keep a generous but bounded limit per run.
const CLI_TIMEOUT_MS = 20_000;
const VERDICTS = ["converging", "not-converging", "stalled", "throttling", "completed", "failed"];

function migbot(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["bin/migbot.mjs", "analyze", ...args],
      { cwd: PROJECT_ROOT, timeout: CLI_TIMEOUT_MS },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const NOAC_VIRSH = fixturePath("libvirt-lab/domjobinfo-series-no-autoconverge.txt");
const NOAC_QMP = fixturePath("libvirt-lab/qmp-query-migrate-noac_bw5.jsonl");
const AC_QMP = fixturePath("libvirt-lab/qmp-query-migrate-ac_bw5_50_20.jsonl");

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "migbot-analyze-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("migbot analyze", () => {
  it("prints the verdict with its numbers in aligned plain text", async () => {
    const { code, stdout, stderr } = await migbot([NOAC_QMP]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines.map((l) => l.slice(0, l.indexOf(":")))).toEqual([
      "file",
      "verdict",
      "iterations",
      "min remaining/iter",
      "remaining at sync",
      "transfer vs dirty",
      "downtime",
      "ETA",
      "throttle",
      "elapsed",
      "reason",
    ]);
    // Values start in one column.
    const columns = new Set(lines.map((l) => l.search(/(?<=:\s+)\S/)));
    expect(columns.size).toBe(1);
    expect(stdout).toMatch(/^verdict:\s+not-converging$/m);
    expect(stdout).toMatch(/^iterations:\s+20$/m);
    expect(stdout).toMatch(/^transfer vs dirty:\s+5\.01 MiB\/s sent, ≥ 4\.99 MiB\/s dirtied$/m);
    expect(stdout).toMatch(
      /^downtime:\s+expected 6387 ms, allowed 300 ms \(QEMU default assumed\), final 300 ms$/m,
    );
    expect(stdout).toMatch(/^reason:\s+Not converging: after 20 iterations/m);
  });

  it("--json prints one object with a verdict among the six, iterations and the figures", async () => {
    const { code, stdout } = await migbot([
      "--json",
      "--downtime-ms",
      "100",
      "--final-downtime-ms=500",
      NOAC_VIRSH,
    ]);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]!);
    expect(VERDICTS).toContain(report.verdict);
    expect(report).toMatchObject({
      verdict: "failed",
      precopyVerdict: "not-converging",
      iterations: 7,
      downtimeLimitMs: 100,
      finalDowntimeMs: 500,
      format: "domjobinfo",
      samples: 17,
      file: NOAC_VIRSH,
    });
    expect(report.minRemainingPerIteration).toHaveLength(7);
    expect(typeof report.transferRateBytesPerS).toBe("number");
    expect(typeof report.reason).toBe("string");
  });

  it("several files: one JSON object per line, in argument order", async () => {
    const { code, stdout } = await migbot(["--json", AC_QMP, NOAC_QMP]);
    expect(code).toBe(0);
    const reports = stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(reports.map((r) => [r.verdict, r.iterations])).toEqual([
      ["completed", 12],
      ["not-converging", 20],
    ]);
  });

  it("garbage input: a clear error naming the file and what was expected, exit code 2", async () => {
    const garbage = join(dir, "garbage.bin");
    await writeFile(garbage, Buffer.from([0, 1, 2, 255, 254, 10, 65, 66]));
    const { code, stdout, stderr } = await migbot([garbage]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain(garbage);
    expect(stderr).toMatch(
      /SAMPLES_UNRECOGNISED: .*expected a series of `virsh domjobinfo` outputs, QMP `query-migrate` JSON/,
    );
  });

  it("a missing file among good ones: the good ones are reported, exit code 2", async () => {
    const missing = join(dir, "nope.txt");
    const { code, stdout, stderr } = await migbot(["--json", missing, AC_QMP]);
    expect(code).toBe(2);
    expect(JSON.parse(stdout.trim()).verdict).toBe("completed");
    expect(stderr).toContain(`${missing}: ANALYZE_READ_FAILED`);
  });

  it("bad usage exits 2 with the usage; --help exits 0", async () => {
    const none = await migbot([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no FILE given[\s\S]*usage: migbot analyze/);
    const badMs = await migbot(["--downtime-ms", "soon", AC_QMP]);
    expect(badMs.code).toBe(2);
    expect(badMs.stderr).toContain("--downtime-ms needs a whole number of milliseconds");
    const help = await migbot(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("usage: migbot analyze [--json]");
  });
});
