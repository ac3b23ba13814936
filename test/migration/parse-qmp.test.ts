import { describe, expect, it } from "vitest";
import { parseQmpQueryMigrate } from "../../src/migration/samples/qmp";
import { SampleParseError } from "../../src/migration/samples/sample";
import { readFixture } from "../support/fixtures";

describe("parseQmpQueryMigrate", () => {
  it("lab JSONL without auto-converge: 120 samples, _t as time, dirty-sync-count as iteration", () => {
    const samples = parseQmpQueryMigrate(readFixture("libvirt-lab/qmp-query-migrate-noac_bw5.jsonl"));
    expect(samples).toHaveLength(120);
    expect(samples[0]).toMatchObject({
      t: 1.02,
      source: "qmp",
      jobType: "unbounded",
      iteration: 1,
      memoryRemainingBytes: 112910336,
      memoryProcessedBytes: 5252820,
      memoryTotalBytes: 134750208,
      dataRemainingBytes: 112910336,
      pageSizeBytes: 4096,
      dirtyRatePagesPerS: 0,
      expectedDowntimeMs: 300,
    });
    // ram.mbps is megabits per second: 42.0264 Mbit/s = 5.25 MB/s (the lab's 5 MiB/s limit).
    expect(samples[0]!.bandwidthBytesPerS).toBe(5253300);
    expect(samples.at(-1)).toMatchObject({ t: 120.13, iteration: 20 });
    expect(samples.some((s) => s.throttlePercent !== undefined)).toBe(false);
  });

  it("lab JSONL with auto-converge 50/20: cpu-throttle-percentage, then completed with its downtime", () => {
    const samples = parseQmpQueryMigrate(readFixture("libvirt-lab/qmp-query-migrate-ac_bw5_50_20.jsonl"));
    expect(samples).toHaveLength(51);
    const throttles = [...new Set(samples.map((s) => s.throttlePercent).filter((v) => v !== undefined))];
    expect(throttles).toEqual([50, 70, 90, 99]);
    expect(samples.at(-1)).toMatchObject({
      jobType: "completed",
      iteration: 12,
      downtimeMs: 1,
      memoryRemainingBytes: 0,
    });
  });

  it("one completed line (noac_bw50)", () => {
    const samples = parseQmpQueryMigrate(readFixture("libvirt-lab/qmp-query-migrate-noac_bw50.jsonl"));
    expect(samples).toEqual([
      expect.objectContaining({ t: 1, jobType: "completed", downtimeMs: 8, iteration: 5 }),
    ]);
  });

  it("a JSON array of {return} wrappers and the pretty transcript give the same samples", () => {
    const fromArray = parseQmpQueryMigrate(
      readFixture("qemu/query-migrate-responses-during-autoconverge-migration.real-capture.json"),
    );
    const fromTranscript = parseQmpQueryMigrate(
      readFixture("qemu/query-migrate-responses-during-autoconverge-migration.real-capture.txt"),
    );
    expect(fromArray).toHaveLength(14);
    expect(fromTranscript).toEqual(fromArray);
    // No _t: QEMU's total-time (ms since the start) dates each reply.
    expect(fromArray[0]).toMatchObject({ t: 4.799, iteration: 1 });
    expect(fromArray.map((s) => s.throttlePercent ?? 0).slice(-6)).toEqual([20, 20, 20, 20, 30, 30]);
  });

  it("QEMU's documented examples: failed, completed, xbzrle, and QEMU 2.x without dirty-sync-count", () => {
    expect(parseQmpQueryMigrate(readFixture("qemu/query-migrate-response-failed.qapi-doc.json"))).toEqual([
      { t: 0, source: "qmp", jobType: "failed" },
    ]);
    expect(
      parseQmpQueryMigrate(readFixture("qemu/query-migrate-response-completed.qapi-doc.json"))[0],
    ).toMatchObject({
      jobType: "completed",
      t: 12.345,
      downtimeMs: 12345,
      iteration: 15,
    });
    expect(
      parseQmpQueryMigrate(readFixture("qemu/query-migrate-response-active-xbzrle.qapi-doc.json"))[0],
    ).toMatchObject({ jobType: "unbounded", memoryRemainingBytes: 1053304 });
    const old = parseQmpQueryMigrate(
      readFixture("qemu/query-migrate-response-active.real-launchpad-1535232-2016.json"),
    );
    expect(old[0]).toMatchObject({
      t: 6.613,
      memoryRemainingBytes: 323584,
      dirtyRatePagesPerS: 310,
      expectedDowntimeMs: 106,
    });
    expect(old[0]!.iteration).toBeUndefined();
    const real = parseQmpQueryMigrate(
      readFixture("qemu/query-migrate-response-completed.real-qemu-devel-2022.jsonl"),
    );
    expect(real.map((s) => s.downtimeMs)).toEqual([257, 260]);
  });

  it("skips replies without a status (before any migration, query-migrate-parameters)", () => {
    expect(
      parseQmpQueryMigrate(readFixture("qemu/query-migrate-response-before-first-migration.qapi-doc.json")),
    ).toEqual([]);
    expect(
      parseQmpQueryMigrate(readFixture("qemu/query-migrate-parameters-response.real-qemu-devel-2022.jsonl")),
    ).toEqual([]);
  });

  it("text without JSON is a coded error", () => {
    try {
      parseQmpQueryMigrate("Job type: Unbounded\n");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SampleParseError);
      expect((err as SampleParseError).code).toBe("SAMPLES_UNRECOGNISED");
    }
  });
});

// Every line starting with "{" is tried as a JSON value, and a try that never closes scans to the
// end: one per line was quadratic (40 000 lines of "{" took 22 s). Past a budget of
// FAILED_JSON_SCAN_CHARS_PER_INPUT_CHAR × the input's length, values are only looked for within
// their own line; the tests check which replies are still found.
describe("hostile QMP captures", () => {
  const MEGABYTE = 1_000_000;
  const reply = '{"return": {"status": "active", "total-time": 2000, "ram": {"remaining": 5, "total": 9}}}';

  it("after a megabyte of lines that never close, a one-line reply is still found", () => {
    const text = `${"{\n".repeat(MEGABYTE / 2)}${reply}\n`;
    expect(parseQmpQueryMigrate(text)).toEqual([
      {
        t: 2,
        source: "qmp",
        jobType: "unbounded",
        memoryRemainingBytes: 5,
        memoryTotalBytes: 9,
        dataRemainingBytes: 5,
        dataTotalBytes: 9,
      },
    ]);
  });

  it("a value nested a quarter of a million deep holds no reply and does not overflow the stack", () => {
    const text = `${"[\n".repeat(MEGABYTE / 4)}${"]".repeat(MEGABYTE / 4)}\n${reply}\n`;
    expect(parseQmpQueryMigrate(text).map((s) => s.t)).toEqual([2]);
  });

  it("openers closed only at the very end by text that is not JSON: the reply after them is found", () => {
    const text = `${"[\n".repeat(MEGABYTE / 4)}x${"]".repeat(MEGABYTE / 4)}\n${reply}\n`;
    expect(parseQmpQueryMigrate(text).map((s) => s.t)).toEqual([2]);
  });

  it("a few stray openers before a pretty-printed transcript leave it whole", () => {
    const transcript = readFixture(
      "qemu/query-migrate-responses-during-autoconverge-migration.real-capture.txt",
    );
    const samples = parseQmpQueryMigrate(`{\n[ "unclosed\n{ also not closed\n${transcript}`);
    expect(samples).toEqual(parseQmpQueryMigrate(transcript));
    expect(samples).toHaveLength(14);
  });
});
