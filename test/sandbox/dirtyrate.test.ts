/**
 * The sandbox hosts answer the prediction's commands as libvirt 9.0.0 and iproute2 answered them in
 * the lab (test/fixtures/libvirt-dirtyrate): the same bytes where the numbers agree, the same shape
 * (digits masked) where they are the sandbox's own, and the pre-copy model's figure as the rate.
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { parseDomstatsDirtyRate } from "../../src/predict/parse";
import {
  dirtyRateSecondsRefusal,
  formatDirtyRateCalcStarted,
  formatDomstatsDirtyRate,
  formatRouteGet,
  formatVirshVersion,
  nicSpeedMbpsForLink,
} from "../../src/sandbox/dirtyrate";
import { transcript } from "../predict/transcript";

const MiB = 1024 ** 2;
const digitsMasked = (text: string) => text.replace(/\d+/g, "#");
/** A transcript section's stdout, without the extra newline the last section of a file gets. */
const section = (file: string, i: number) => transcript(file)[i]!.stdout;

describe("sandbox virsh and iproute2 output against the lab capture", () => {
  test("virsh version is byte for byte the lab's", () => {
    expect(`${formatVirshVersion()}\n`).toBe(section("virsh-version.txt", 0));
  });

  test("domdirtyrate-calc's message and its refusal of 61 s are the lab's", () => {
    const dirty = transcript("dirty-guest.txt");
    expect(dirty[1]!.command).toBe("virsh domdirtyrate-calc instance-00000101 --seconds 1");
    expect(formatDirtyRateCalcStarted()).toBe(dirty[1]!.stdout);
    const refusal = readStderr("domdirtyrate-calc-seconds-61.txt");
    expect(dirtyRateSecondsRefusal(61).stderr.trimEnd()).toBe(refusal.trimEnd());
    expect(dirtyRateSecondsRefusal(61).stdout).toBe(section("domdirtyrate-calc-seconds-61.txt", 0));
  });

  test("domstats --dirtyrate: unstarted exactly, measuring and measured in the lab's shape", () => {
    const lab = transcript("dirty-guest.txt").filter((o) => o.command.startsWith("virsh domstats"));
    const guest = { dirtyRateBytesPerS: 300 * MiB, workingSetBytes: 1024 * MiB };
    expect(formatDomstatsDirtyRate("instance-00000101", undefined, 0, guest)).toBe(lab[0]!.stdout);
    const calc = { startS: 10, periodS: 1 };
    const measuring = formatDomstatsDirtyRate("instance-00000101", calc, 10.5, guest);
    const measured = formatDomstatsDirtyRate("instance-00000101", calc, 11, guest);
    expect(digitsMasked(measuring)).toBe(digitsMasked(lab[1]!.stdout));
    expect(digitsMasked(measured)).toBe(digitsMasked(lab[2]!.stdout));
    // The model's figure: 300 MiB/s of new pages in a 1 GiB hot set, over 1 s.
    expect(parseDomstatsDirtyRate(measured)).toMatchObject({ status: "measured", periodS: 1, mibPerS: 300 });
    // Over 4 s the 1 GiB set caps it: 256 MiB/s.
    const four = formatDomstatsDirtyRate("instance-00000101", { startS: 0, periodS: 4 }, 5, guest);
    expect(parseDomstatsDirtyRate(four)?.mibPerS).toBe(256);
  });

  test("ip -o route get and the NIC speed look like the lab's", () => {
    const lab = section("ip-route-get.txt", 0);
    expect(digitsMasked(`${formatRouteGet("10.99.0.12", "eth0", "10.99.0.11")}\n`)).toBe(digitsMasked(lab));
    expect(`${nicSpeedMbpsForLink(1120)}\n\n`).toBe(section("nic-speed.txt", 0));
    expect(nicSpeedMbpsForLink(112)).toBe(1000);
  });
});

function readStderr(file: string): string {
  // The transcript keeps stdout; stderr follows its `# stderr:` line.
  const text = readFileSync(new URL(`../fixtures/libvirt-dirtyrate/${file}`, import.meta.url), "utf8");
  return text.slice(text.indexOf("# stderr:\n") + "# stderr:\n".length);
}
