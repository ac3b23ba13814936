import { describe, expect, it } from "vitest";
import { detectAndParse } from "../../src/migration/samples/detect";
import { parseDomjobinfo, parseDomjobinfoSeries } from "../../src/migration/samples/domjobinfo";
import { parseSizeBytes, SampleParseError } from "../../src/migration/samples/sample";
import { parseHeaderTime } from "../../src/migration/samples/timestamps";
import { readFixture } from "../support/fixtures";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

describe("parseSizeBytes", () => {
  it("reads virsh's binary units with three decimals", () => {
    expect(parseSizeBytes("0.000 B")).toBe(0);
    expect(parseSizeBytes("108.535 MiB")).toBe(Math.round(108.535 * MiB));
    expect(parseSizeBytes("1.587 GiB")).toBe(Math.round(1.587 * GiB));
    expect(parseSizeBytes("64.000 KiB")).toBe(65536);
    expect(parseSizeBytes("12 parsecs")).toBeUndefined();
  });
});

describe("parseDomjobinfo (one output)", () => {
  const run3 = readFixture("libvirt/virsh-outputs/virsh-domjobinfo-live-migration-run3-completed.txt");

  it("reads every figure of a running job, libvirt 9 labels and units", () => {
    // The first block of the capture: the in-flight poll.
    const first = run3.split("\n\n")[0]!;
    const s = parseDomjobinfo(first);
    expect(s).toMatchObject({
      source: "domjobinfo",
      jobType: "unbounded",
      t: 3.006,
      dataProcessedBytes: Math.round(1.587 * GiB),
      dataRemainingBytes: Math.round(442.617 * MiB),
      dataTotalBytes: Math.round(2.016 * GiB),
      memoryRemainingBytes: Math.round(442.617 * MiB),
      bandwidthBytesPerS: Math.round(326.6 * MiB),
      dirtyRatePagesPerS: 0,
      pageSizeBytes: 4096,
      iteration: 1,
      expectedDowntimeMs: 300,
    });
  });

  it("reads --completed output: Total downtime, Completed", () => {
    const completed = run3.slice(run3.indexOf("domjobinfo --completed"));
    const s = parseDomjobinfo(completed);
    expect(s).toMatchObject({
      jobType: "completed",
      t: 5.464,
      downtimeMs: 213,
      iteration: 6,
      memoryRemainingBytes: 0,
    });
    expect(s.expectedDowntimeMs).toBeUndefined();
  });

  it("reads `Job type: None` and rejects text without any label", () => {
    expect(parseDomjobinfo("Job type:         None        \n")).toEqual({
      t: 0,
      source: "domjobinfo",
      jobType: "none",
    });
    expect(() => parseDomjobinfo("error: failed to get domain 'labvm1'")).toThrow(SampleParseError);
  });

  it("rejects an unknown unit with the line number and a hint", () => {
    expect(() => parseDomjobinfo("Job type: Unbounded\nData remaining:   12.000 furlongs\n")).toThrow(
      /line 2: .*Data remaining/i,
    );
  });
});

describe("parseDomjobinfoSeries on the lab captures", () => {
  it("no auto-converge: 16 polls then virsh's cancel error as the final state", () => {
    const samples = parseDomjobinfoSeries(readFixture("libvirt-lab/domjobinfo-series-no-autoconverge.txt"));
    expect(samples).toHaveLength(17);
    const running = samples.slice(0, 16);
    expect(running.every((s) => s.jobType === "unbounded")).toBe(true);
    expect(running.map((s) => s.iteration)).toEqual([1, 1, 1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 6, 7, 7]);
    // t comes from the job's own `Time elapsed`, not the recorder's `== t=` header.
    expect(running[0]).toMatchObject({ t: 1.293, dataRemainingBytes: Math.round(108.535 * MiB) });
    expect(running.some((s) => s.throttlePercent !== undefined)).toBe(false);
    expect(running[3]).toMatchObject({ dirtyRatePagesPerS: 1254, expectedDowntimeMs: 6438 });
    const end = samples[16]!;
    expect(end).toMatchObject({
      jobType: "cancelled",
      errorText: "operation aborted: job 'migration out' canceled by client",
    });
    // The error has no elapsed time: it is dated by the "== abort at t=..." header above it.
    expect(end.t).toBeCloseTo(41.979, 3);
    // "error: failed to get domain 'labvm1'" (virsh list on the other host) says nothing about the job.
    expect(samples.filter((s) => s.errorText !== undefined)).toHaveLength(1);
  });

  it("auto-converge 50/20: throttle percentages, then the destination's --completed block", () => {
    const samples = parseDomjobinfoSeries(
      readFixture("libvirt-lab/domjobinfo-series-autoconverge-50-20.txt"),
    );
    expect(samples).toHaveLength(21);
    expect(samples.map((s) => s.throttlePercent ?? 0)).toEqual([
      0, 0, 0, 0, 0, 50, 50, 50, 50, 50, 70, 70, 70, 70, 70, 90, 90, 90, 90, 90, 0,
    ]);
    expect(samples.at(-1)).toMatchObject({
      jobType: "completed",
      t: 51.16,
      iteration: 14,
      downtimeMs: 25,
      pageSizeBytes: 4096,
    });
  });

  it("the real run-3 capture: `$ virsh ... # <ISO date>` headers, a not-running error that is not a failure", () => {
    const samples = parseDomjobinfoSeries(
      readFixture("libvirt/virsh-outputs/virsh-domjobinfo-live-migration-run3-completed.txt"),
    );
    expect(samples.map((s) => s.jobType)).toEqual(["unbounded", "completed", "completed"]);
    expect(samples.map((s) => s.t)).toEqual([3.006, 5.464, 5.456]);
  });

  it("dates blocks without elapsed time by `date` headers, relative to the first one", () => {
    const text = [
      "Tue Nov 25 20:45:50 UTC 2026",
      "Job type:         Unbounded   ",
      "Data remaining:   10.000 MiB",
      "Iteration:        2           ",
      "",
      "Tue Nov 25 20:45:55 UTC 2026",
      "Job type:         Unbounded   ",
      "Data remaining:   5.000 MiB",
      "Iteration:        2           ",
      "Job type:         Unbounded   ",
      "Data remaining:   4.000 MiB",
    ].join("\n");
    const samples = parseDomjobinfoSeries(text);
    expect(samples.map((s) => s.t)).toEqual([0, 5, 5]);
    expect(samples.map((s) => s.dataRemainingBytes)).toEqual([10 * MiB, 5 * MiB, 4 * MiB]);
  });
});

describe("parseHeaderTime", () => {
  it("knows the recorder's t=, ISO, date(1), date -R and epoch seconds", () => {
    expect(parseHeaderTime("== t=2.004304581")).toEqual({ kind: "relative", seconds: 2.004304581 });
    expect(parseHeaderTime("$ virsh domjobinfo x    # 2026-11-25T20:45:53Z")).toEqual({
      kind: "absolute",
      epochMs: Date.UTC(2026, 10, 25, 20, 45, 53),
    });
    expect(parseHeaderTime("Tue Nov 25 20:45:53 UTC 2026")).toEqual({
      kind: "absolute",
      epochMs: Date.UTC(2026, 10, 25, 20, 45, 53),
    });
    expect(parseHeaderTime("Tue, 25 Nov 2026 21:45:53 +0100")).toEqual({
      kind: "absolute",
      epochMs: Date.UTC(2026, 10, 25, 20, 45, 53),
    });
    expect(parseHeaderTime("== 1764103553.5")).toEqual({ kind: "absolute", epochMs: 1764103553500 });
    expect(parseHeaderTime("== cmp1: labvm1 instance-0000002a  running")).toBeUndefined();
  });
});

// Lines a host (or a pasted capture) could send to make the former regexes backtrack: a label line
// whose value ran into a CR took 8 s at 2 000 blanks (cubic), long digit runs in a figure and blank
// runs in a size were quadratic, and so was counting labels over a megabyte of blank lines. The
// tests check the results; with the old regexes they never got that far.
describe("hostile captures", () => {
  const MEGABYTE = 1_000_000;
  const blanks = " ".repeat(MEGABYTE);
  const run3 = readFixture("libvirt/virsh-outputs/virsh-domjobinfo-live-migration-run3-completed.txt");
  const firstBlock = run3.split("\n\n")[0]!;

  it("a 1 MB label or error line broken by a CR is neither a label nor an error, as before", () => {
    const text = `${firstBlock}\nerror:${blanks}a\rb\nJob type:${blanks}x\ry\n`;
    const samples = parseDomjobinfoSeries(text);
    expect(samples).toHaveLength(1);
    expect(samples[0]).toMatchObject(parseDomjobinfo(firstBlock));
  });

  it("a 1 MB blank run inside a value is trimmed like any blank", () => {
    const s = parseDomjobinfo(
      `Job type:${blanks}Unbounded${blanks}\nMemory remaining:${blanks}1.5 MiB${blanks}\n`,
    );
    expect(s).toMatchObject({ jobType: "unbounded", memoryRemainingBytes: Math.round(1.5 * MiB) });
    expect(parseSizeBytes(`1${blanks}x1`)).toBeUndefined();
    expect(parseSizeBytes(`${blanks}2${blanks}KiB${blanks}`)).toBe(2048);
  });

  it("a 1 MB figure that is not a number is refused with a short message", () => {
    const err = (() => {
      try {
        parseDomjobinfo(`Job type: Unbounded\nTime elapsed: ${"1".repeat(MEGABYTE)} a b\n`);
      } catch (e) {
        return e as SampleParseError;
      }
      throw new Error("expected a SampleParseError");
    })();
    expect(err.code).toBe("SAMPLES_BAD_VALUE");
    expect(err.message).toMatch(/^line 2: cannot read "time elapsed: 1{80}…"/);
    expect(err.message.length).toBeLessThan(400);
  });

  it("a megabyte of blank lines is not a capture of anything", () => {
    const err = (() => {
      try {
        detectAndParse(`${"\n".repeat(MEGABYTE)}x`);
      } catch (e) {
        return e as SampleParseError;
      }
      throw new Error("expected a SampleParseError");
    })();
    expect(err.code).toBe("SAMPLES_UNRECOGNISED");
  });
});
