/**
 * Reading one instance's lines from nova-compute's log: its progress samples, the lines that
 * explain how its latest migration ended, and that explanation as a code (real lines from the
 * fixture corpus, and a synthetic log for earlier migrations' progress lines).
 */
import { describe, expect, it } from "vitest";
import { explainNovaEnd, explanationText, readInstanceLog } from "../../src/migration/instance-log";
import { readFixture } from "../support/fixtures";

const DB1_UUID = "5a1dc0de-7e57-4b1d-9c1a-000000000031";

describe("reading nova-compute's log for one instance (real lines from the fixture corpus)", () => {
  const log = readFixture("logs/nova-compute-live-migration-failure-lines.github-issues.log");

  it("quotes only that instance's lines and explains the failure with a code", () => {
    const { explaining } = readInstanceLog(log, "45cc9aa4-eafd-4fa4-babe-68f3d9fca7cf");
    expect(explaining.map((x) => x.event.kind)).toEqual(["failure", "aborted"]);
    expect(explaining.every((x) => x.text.includes("45cc9aa4-eafd-4fa4-babe-68f3d9fca7cf"))).toBe(true);
    // oslo.log repeats the message after the exception's type; the reason says it once.
    expect(explainNovaEnd(explaining, "compute-1")).toEqual({
      code: "MIGRATION_FAILED",
      message: "authentication failed: Failed to verify peer's certificate",
    });
  });

  it("follows a syslog-wrapped sosreport line to its instance", () => {
    const { explaining } = readInstanceLog(log, "7b7edae6-f878-4756-a858-86f836d02c33");
    expect(explaining.map((x) => x.event.kind)).toEqual(["failure", "post-migration-failed"]);
    const why = explainNovaEnd(explaining, null)!;
    expect(why.code).toBe("MIGRATION_FAILED");
    expect(explanationText(why)).toMatch(/^MIGRATION_FAILED: operation failed: domain is not running/);
  });

  it("progress lines of an earlier, finished migration are not taken for the current one", () => {
    const line = (secs: number, remaining: number, tail = "") =>
      `2024-07-11 22:10:${String(secs % 60).padStart(2, "0")}.000 2 INFO nova.virt.libvirt.driver [req-00000000-0000-0000-0000-00000000000${tail || "1"} - - - - -] [instance: ${DB1_UUID}] Migration running for ${secs} secs, memory 50% remaining; (bytes processed=1, remaining=${remaining}, total=8589934592)`;
    const earlier = [
      line(30, 4000),
      `2024-07-11 22:11:00.000 2 INFO nova.virt.libvirt.driver [req-00000000-0000-0000-0000-000000000001 - - - - -] [instance: ${DB1_UUID}] Migration operation has completed`,
    ];
    expect(readInstanceLog(earlier.join("\n"), DB1_UUID).samples).toEqual([]);
    const now = [...earlier, line(30, 3000, "2"), line(60, 2000, "2")];
    expect(readInstanceLog(now.join("\n"), DB1_UUID).samples.map((s) => s.memoryRemainingBytes)).toEqual([
      3000, 2000,
    ]);
  });
});
