/** The prediction's parsers against real libvirt 9.0.0 / iproute2 output captured in the lab (test/fixtures/libvirt-dirtyrate). */
import { describe, expect, test } from "vitest";
import { libvirtMeasuresDirtyRate } from "../../src/nova-facts/libvirt-dirtyrate";
import {
  parseDomstatsDirtyRate,
  parseLibvirtVersion,
  parseNicSpeedMbps,
  parseRouteDevice,
} from "../../src/predict/parse";
import { transcript } from "./transcript";

describe("domstats --dirtyrate (libvirt 9.0.0)", () => {
  test("the dirty guest: unstarted, measuring, then each measured figure in order", () => {
    const stats = transcript("dirty-guest.txt")
      .filter((o) => o.command.startsWith("virsh domstats"))
      .map((o) => parseDomstatsDirtyRate(o.stdout));
    expect(stats[0]).toEqual({
      domain: "instance-00000101",
      status: "unstarted",
      startTime: 0,
      periodS: 0,
      mode: "page-sampling",
      mibPerS: null,
    });
    expect(stats.filter((s) => s?.status === "measuring").every((s) => s?.mibPerS === null)).toBe(true);
    const measured = stats.filter((s) => s?.status === "measured");
    expect(measured.map((s) => [s?.periodS, s?.mibPerS])).toEqual([
      [1, 6],
      [2, 4],
      [1, 8],
      [4, 4],
    ]);
    expect(measured[0]!.startTime).toBeGreaterThan(0);
  });

  test("the calm guest measures at most 1 MiB/s", () => {
    const rates = transcript("calm-guest.txt")
      .map((o) => parseDomstatsDirtyRate(o.stdout))
      .filter((s) => s?.status === "measured")
      .map((s) => s!.mibPerS);
    expect(rates).toEqual([0, 1, 0, 0]);
  });

  test("what is not a domstats record is refused", () => {
    expect(
      parseDomstatsDirtyRate("Start to calculate domain's memory dirty rate successfully.\n"),
    ).toBeNull();
    expect(parseDomstatsDirtyRate("Domain: 'x'\n  dirtyrate.calc_status=7\n")).toBeNull();
    expect(parseDomstatsDirtyRate("")).toBeNull();
  });
});

describe("versions, routes, NIC speed", () => {
  test("virsh version: library 9.0.0 measures; 7.1.0 cannot, 7.2.0 can", () => {
    const v = parseLibvirtVersion(transcript("virsh-version.txt")[0]!.stdout);
    expect(v).toEqual({ major: 9, minor: 0, micro: 0 });
    expect(libvirtMeasuresDirtyRate(v!)).toBe(true);
    expect(libvirtMeasuresDirtyRate({ major: 7, minor: 1, micro: 0 })).toBe(false);
    expect(libvirtMeasuresDirtyRate({ major: 7, minor: 2, micro: 0 })).toBe(true);
    expect(libvirtMeasuresDirtyRate({ major: 6, minor: 10, micro: 0 })).toBe(false);
    expect(parseLibvirtVersion("Compiled against library: libvirt 9.0.0\n")).toBeNull();
  });

  test("ip -o route get names the interface; its speed is 10000 Mbit/s", () => {
    expect(parseRouteDevice(transcript("ip-route-get.txt")[0]!.stdout)).toBe("eth0");
    expect(parseNicSpeedMbps(transcript("nic-speed.txt")[0]!.stdout)).toBe(10_000);
    expect(parseNicSpeedMbps("-1\n")).toBeNull();
    expect(parseRouteDevice("RTNETLINK answers: Network is unreachable\n")).toBeNull();
  });
});
