import { describe, expect, it } from "vitest";
import {
  formatDomainList,
  formatDomJobInfo,
  type JobStats,
  prettyCapacity,
} from "../../src/sandbox/virsh-format";
import { readFixture } from "../support/fixtures";

/** `label: value` lines of one domjobinfo block in a capture, as [label, raw line]. */
function blocks(file: string): string[][] {
  return readFixture(file)
    .split(/\n(?=\$ )/)
    .filter((b) => b.includes("Job type:"))
    .map((b) => b.split("\n").filter((l) => /^[A-Z][A-Za-z /]+: /.test(l)));
}

const label = (line: string) => line.slice(0, line.indexOf(":") + 1);

const running: JobStats = {
  type: "Unbounded",
  operation: "Outgoing migration",
  timeElapsedMs: 3006,
  dataProcessed: 1.587 * 1024 ** 3,
  dataRemaining: 442.617 * 1024 ** 2,
  dataTotal: 2.016 * 1024 ** 3,
  memoryBandwidthBytesPerS: 326.6 * 1024 ** 2,
  dirtyRatePagesPerS: 0,
  pageSizeBytes: 4096,
  iteration: 1,
  postcopyRequests: 0,
  constantPages: 56,
  normalPages: 415163,
  normalData: 1.584 * 1024 ** 3,
  expectedDowntimeMs: 300,
  setupTimeMs: 2,
  autoConvergeThrottle: 0,
};

describe("virsh output formats", () => {
  const file = "libvirt/virsh-outputs/virsh-domjobinfo-live-migration-run3-completed.txt";

  it("domjobinfo during a migration: same labels, order, padding and units as the capture", () => {
    const captured = blocks(file)[0]!;
    const ours = formatDomJobInfo(running).trimEnd().split("\n");
    expect(ours.map(label)).toEqual(captured.map(label));
    // Byte-identical where the numbers are the same.
    expect(ours).toEqual(captured);
  });

  it("domjobinfo --completed: Total downtime instead of Expected downtime, with the capture's labels", () => {
    const captured = blocks(file)[2]!;
    const ours = formatDomJobInfo({
      ...running,
      type: "Completed",
      timeElapsedMs: 5464,
      timeElapsedNoNetworkMs: 5463,
      expectedDowntimeMs: undefined,
      totalDowntimeMs: 213,
    })
      .trimEnd()
      .split("\n");
    expect(ours.map(label)).toEqual(captured.map(label));
    expect(ours).toContain("Total downtime:   213          ms");
  });

  it("the auto-converge throttle line is padded like the lab's capture", () => {
    const lab = readFixture("libvirt-lab/domjobinfo-series-autoconverge-50-20.txt")
      .split("\n")
      .find((l) => l.startsWith("Auto converge throttle:"))!;
    const ours = formatDomJobInfo({ ...running, autoConvergeThrottle: 50 }).split("\n");
    expect(ours).toContain(lab);
  });

  it("no job prints Job type None; sizes use virsh's binary units", () => {
    expect(formatDomJobInfo(null)).toBe("Job type:         None        \n\n");
    expect(prettyCapacity(0)).toBe("0.000 B");
    expect(prettyCapacity(5.01 * 1024 * 1024)).toBe("5.010 MiB");
  });

  it("list --all shows ids, names and states in virsh's table", () => {
    const out = formatDomainList([
      { id: 1, name: "instance-0000002a", state: "running" },
      { id: null, name: "instance-00000007", state: "shut off" },
    ]);
    const lines = out.split("\n");
    expect(lines[0]).toBe(" Id   Name                State");
    expect(lines[1]).toMatch(/^-+$/);
    expect(lines[2]).toBe(" 1    instance-0000002a   running");
    expect(lines[3]).toBe(" -    instance-00000007   shut off");
  });
});
