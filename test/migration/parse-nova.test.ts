import { describe, expect, it } from "vitest";
import { detectAndParse } from "../../src/migration/samples/detect";
import { sampleFromNovaServerMigration } from "../../src/migration/samples/nova-api";
import {
  MAX_NOVA_LOG_LINE_CHARS,
  parseNovaComputeLog,
  parseNovaProgressLine,
} from "../../src/migration/samples/nova-log";
import { SampleParseError } from "../../src/migration/samples/sample";
import { readFixture, readJsonFixture } from "../support/fixtures";

// No verbatim progress line exists in the fixture corpus (fixtures/SOURCES.md): these are built
// from Nova's format strings, Mitaka (driver.py @ mitaka-eol) and Train+ (driver.py @ train-eol).
const UUID = "7b7edae6-f878-4756-a858-86f836d02c33";
const REQ = "req-590602d0-1d3d-4ac9-b000-cdd98a2400b4";
const prefix = (time: string, level: string, logger = "nova.virt.libvirt.driver") =>
  `2024-07-11 ${time} 2 ${level} ${logger} [${REQ} 3de117d20e5b45c1ba86c8136c841ef3 eab438b17a2a4575a3abff1f78afc4ff - - -] [instance: ${UUID}] `;
const mitaka = (secs: number, pct: number, processed: number, remaining: number, total: number) =>
  `Migration running for ${secs} secs, memory ${pct}% remaining; (bytes processed=${processed}, remaining=${remaining}, total=${total})`;
const train = (secs: number, pct: number, processed: number, remaining: number, total: number) =>
  `Migration running for ${secs} secs, memory ${pct}% remaining (bytes processed=${processed}, remaining=${remaining}, total=${total}); disk 0% remaining (bytes processed=1048576, remaining=0, total=1048576).`;

describe("parseNovaProgressLine", () => {
  it("reads the Mitaka line (memory only)", () => {
    expect(parseNovaProgressLine(mitaka(30, 24, 103809024, 32505856, 134750208))).toEqual({
      t: 30,
      source: "nova-log",
      jobType: "unbounded",
      memoryProcessedBytes: 103809024,
      memoryRemainingBytes: 32505856,
      memoryTotalBytes: 134750208,
    });
  });

  it("reads the Train+ line with its disk part (data = memory + disk)", () => {
    const s = parseNovaProgressLine(train(35, 12, 120000000, 16000000, 134750208));
    expect(s).toMatchObject({ t: 35, memoryRemainingBytes: 16000000, dataRemainingBytes: 16000000 });
    expect(s!.dataProcessedBytes).toBe(120000000 + 1048576);
    expect(s!.dataTotalBytes).toBe(134750208 + 1048576);
  });

  it("returns null for any other line", () => {
    expect(parseNovaProgressLine("Migration operation has completed")).toBeNull();
  });
});

describe("parseNovaComputeLog", () => {
  it("real ERROR lines: failure reasons, aborted, post-migration failure, with time, uuid and request id", () => {
    const { events, samples } = parseNovaComputeLog(
      readFixture("logs/nova-compute-live-migration-failure-lines.github-issues.log"),
    );
    expect(samples).toEqual([]);
    expect(events.map((e) => e.kind)).toEqual([
      "failure",
      "post-migration-failed",
      "failure",
      "failure",
      "aborted",
      "failure",
    ]);
    // Through a journald/syslog prefix, with the colour code at the end stripped.
    expect(events[0]).toMatchObject({
      timestamp: "2024-07-11 22:10:59.946",
      level: "ERROR",
      logger: "nova.virt.libvirt.driver",
      instanceUuid: UUID,
      requestId: REQ,
      // The line repeats the message after `: libvirt.libvirtError: `; the reason keeps it once.
      reason: "operation failed: domain is not running",
    });
    expect(events[1]).toMatchObject({
      destination: "compute-2.ci-rdo.local",
      logger: "nova.compute.manager",
    });
    expect(events[4]).toMatchObject({
      message: "Migration operation has aborted",
      instanceUuid: "45cc9aa4-eafd-4fa4-babe-68f3d9fca7cf",
      requestId: "req-4856de26-8128-4079-a229-b04674fced35",
    });
    // Folsom-era line: no pid, "[-]" context.
    expect(events[5]).toMatchObject({
      timestamp: "2012-10-31 18:12:19",
      instanceUuid: "fa46a443-9b13-4b81-a2f2-f6ef7cb1e51d",
    });
    expect(events[5]!.requestId).toBeUndefined();
  });

  it("Nova's admin doc: the completion timeout, message wrapped onto the next line", () => {
    const { events } = parseNovaComputeLog(readFixture("logs/nova-doc-admin-live-migration-usage.rst"));
    expect(events).toEqual([
      expect.objectContaining({
        kind: "completion-timeout",
        seconds: 1800,
        logger: "nova.virt.libvirt.migration",
      }),
    ]);
  });

  it("prose quoting the messages (commit messages) yields no events", () => {
    expect(
      parseNovaComputeLog(readFixture("logs/nova-commit-messages-with-live-migration-log-lines.txt")).events,
    ).toEqual([]);
  });

  it("a Mitaka run that gets stuck: progress samples, downtime steps, stuck, aborted", () => {
    const log = [
      `${prefix("10:00:00.100", "INFO")}Increasing downtime to 46 ms after 0 sec elapsed time`,
      prefix("10:00:05.100", "DEBUG") + mitaka(5, 70, 40000000, 94000000, 134750208),
      prefix("10:00:10.100", "DEBUG") + mitaka(10, 24, 70000000, 32505856, 134750208),
      `2024-07-11 10:00:20.000 2 DEBUG nova.virt.libvirt.driver [${REQ} - - - - -] [instance: 11111111-2222-3333-4444-555555555555] ${mitaka(5, 90, 1, 2, 3)}`,
      prefix("10:00:15.100", "DEBUG") + mitaka(15, 12, 96000000, 16000000, 134750208),
      prefix("10:00:15.100", "DEBUG") +
        "Data remaining 33554432 bytes, low watermark 16000000 bytes 5 seconds ago",
      `${prefix("10:02:40.100", "WARNING")}Live migration stuck for 150 sec`,
      `${prefix("10:02:40.600", "ERROR")}Migration operation has aborted`,
    ].join("\n");
    const { samples, events } = parseNovaComputeLog(log, { instanceUuid: UUID });
    expect(samples.map((s) => [s.t, s.memoryRemainingBytes])).toEqual([
      [5, 94000000],
      [10, 32505856],
      [15, 16000000],
    ]);
    expect(events.map((e) => e.kind)).toEqual([
      "downtime-increase",
      "progress",
      "progress",
      "progress",
      "progress",
      "low-watermark",
      "stuck",
      "aborted",
    ]);
    expect(events[0]).toMatchObject({ downtimeMs: 46, seconds: 0 });
    expect(events[5]).toMatchObject({ dataRemainingBytes: 33554432, watermarkBytes: 16000000, seconds: 5 });
    expect(events[6]).toMatchObject({ seconds: 150, level: "WARNING", timestamp: "2024-07-11 10:02:40.100" });
    // Without the filter, every instance's progress counts.
    expect(parseNovaComputeLog(log).samples).toHaveLength(4);

    // detectAndParse turns the outcome lines into a final failed sample carrying Nova's reason.
    const detected = detectAndParse(log);
    expect(detected.format).toBe("nova-log");
    expect(detected.instanceUuid).toBe(UUID);
    expect(detected.samples.map((s) => s.t)).toEqual([5, 10, 15, 15]);
    expect(detected.samples.at(-1)).toMatchObject({
      jobType: "failed",
      errorText: "Live migration stuck for 150 sec",
    });
  });

  it("a Train run that finishes: pre-check error is recognised, completed + finished successfully", () => {
    const log = [
      prefix("11:00:00.000", "ERROR", "nova.compute.manager") +
        "Migration pre-check error: CPU doesn't have compatibility.",
      prefix("11:05:05.000", "INFO") + train(5, 40, 80000000, 54000000, 134750208),
      `${prefix("11:05:09.000", "INFO")}Migration operation has completed`,
      prefix("11:05:10.000", "INFO", "nova.compute.manager") +
        "Migrating instance to cmp2 finished successfully.",
    ].join("\n");
    const { events } = parseNovaComputeLog(log);
    expect(events.map((e) => e.kind)).toEqual(["pre-check-error", "progress", "completed", "finished"]);
    expect(events[0]!.reason).toBe("CPU doesn't have compatibility.");
    expect(events[3]!.destination).toBe("cmp2");
    expect(detectAndParse(log).samples.at(-1)).toMatchObject({ jobType: "completed" });
  });
});

describe("sampleFromNovaServerMigration", () => {
  it("reads Nova's server-migration record (API sample v2.23): memory and memory+disk", () => {
    const { migration } = readJsonFixture<{ migration: Record<string, never> }>(
      "nova-api-samples/server-migrations/v2.23/migrations-get.json",
    );
    expect(sampleFromNovaServerMigration(migration, 12)).toEqual({
      t: 12,
      source: "nova-api",
      jobType: "unbounded",
      memoryRemainingBytes: 111111,
      memoryProcessedBytes: 12345,
      memoryTotalBytes: 123456,
      dataRemainingBytes: 111111 + 211111,
      dataProcessedBytes: 12345 + 23456,
      dataTotalBytes: 123456 + 234567,
    });
  });
});

describe("detectAndParse", () => {
  it("recognises each fixture's format", () => {
    expect(detectAndParse(readFixture("libvirt-lab/domjobinfo-series-no-autoconverge.txt")).format).toBe(
      "domjobinfo",
    );
    expect(detectAndParse(readFixture("libvirt-lab/qmp-query-migrate-noac_bw5.jsonl")).format).toBe("qmp");
    expect(
      detectAndParse(
        readFixture("qemu/query-migrate-responses-during-autoconverge-migration.real-capture.txt"),
      ).format,
    ).toBe("qmp");
    expect(
      detectAndParse(readFixture("logs/nova-compute-live-migration-failure-lines.github-issues.log")).format,
    ).toBe("nova-log");
  });

  it("unreadable input gets a coded error saying what was expected", () => {
    const codeOf = (text: string) => {
      try {
        detectAndParse(text);
        return "no error";
      } catch (err) {
        expect(err).toBeInstanceOf(SampleParseError);
        expect((err as Error).message).toMatch(/expected|capture|enable/);
        return (err as SampleParseError).code;
      }
    };
    expect(codeOf("")).toBe("SAMPLES_EMPTY");
    expect(codeOf(readFixture("logs/libvirt-cpu-incompatibility-errors.log"))).toBe("SAMPLES_UNRECOGNISED");
    expect(codeOf(readFixture("qemu/query-migrate-response-before-first-migration.qapi-doc.json"))).toBe(
      "SAMPLES_EMPTY",
    );
    expect(codeOf("\u0000\u0001 binary garbage \u00ff")).toBe("SAMPLES_UNRECOGNISED");
  });
});

// A crafted line that made the former one-regex header parser quadratic: every "INFO nova [" was a
// new start scanning to the end for a "]" (440 KB took 27 s, 1 MB 150 s on the dev machine). The
// header is now read in pieces, and a line is cut at MAX_NOVA_LOG_LINE_CHARS before any regex: the
// tests check what a user gets from such lines (they would time out long before with the old code).
describe("hostile log lines", () => {
  const HOSTILE = "INFO nova [";
  const MEGABYTE = 1_000_000;

  it("a 1 MB line of repeated level-logger-bracket has no header, and the lines around it still parse", () => {
    const text = [
      `${prefix("10:00:00.000", "INFO")}${mitaka(30, 24, 1, 2, 3)}`,
      HOSTILE.repeat(Math.ceil(MEGABYTE / HOSTILE.length)),
      `${prefix("10:00:30.000", "ERROR")}Live Migration failure: operation aborted`,
    ].join("\n");
    const { events, samples } = parseNovaComputeLog(text);
    expect(events.map((e) => [e.kind, e.line])).toEqual([
      ["progress", 1],
      ["failure", 3],
    ]);
    expect(samples).toHaveLength(1);
  });

  it("a 1 MB failure line is read up to the cap: the event, its time and instance, the reason's start", () => {
    const filler = HOSTILE.repeat(Math.ceil(MEGABYTE / HOSTILE.length));
    const line = `${prefix("10:00:30.000", "ERROR")}Live Migration failure: ${filler}`;
    const [event] = parseNovaComputeLog(line).events;
    expect(event).toMatchObject({
      kind: "failure",
      timestamp: "2024-07-11 10:00:30.000",
      instanceUuid: UUID,
    });
    const reasonStart = line.indexOf("Live Migration failure: ") + "Live Migration failure: ".length;
    expect(event!.reason).toBe(line.slice(reasonStart, MAX_NOVA_LOG_LINE_CHARS));
  });

  it("a real line just under the cap is read whole", () => {
    const reason = `internal error: ${"x".repeat(MAX_NOVA_LOG_LINE_CHARS - 400)}`;
    const line = `${prefix("10:00:30.000", "ERROR")}Live Migration failure: ${reason}`;
    expect(line.length).toBeLessThan(MAX_NOVA_LOG_LINE_CHARS);
    expect(parseNovaComputeLog(line).events[0]).toMatchObject({ kind: "failure", reason, requestId: REQ });
  });

  it("long blank and digit runs inside the cap neither hide the header nor lose the timestamp", () => {
    const blanks = " ".repeat(12_000);
    const [spaced] = parseNovaComputeLog(
      `2024-07-11 10:00:00.000${blanks}4242${blanks}WARNING${blanks}nova.virt.libvirt.migration${blanks}[req-x] Live migration not completed after 800 sec`,
    ).events;
    expect(spaced).toMatchObject({
      kind: "completion-timeout",
      seconds: 800,
      level: "WARNING",
      timestamp: "2024-07-11 10:00:00.000",
    });
    const [digits] = parseNovaComputeLog(
      `${"1".repeat(50_000)} INFO nova.compute.manager [-] Migrating instance to c-2 finished successfully.`,
    ).events;
    expect(digits).toMatchObject({ kind: "finished", destination: "c-2" });
    expect(digits!.timestamp).toBeUndefined();
  });
});
