import { describe, expect, it } from "vitest";
import {
  cpuFeaturesOf,
  cpuModelOf,
  hostCpuXml,
  hostSizeOf,
  missingFeatures,
} from "../../src/diagnose/libvirt-cpu";
import { readFixture } from "../support/fixtures";

// `virsh capabilities` and `cpu-compare` come from the hosts. Lazy regexes such as
// `<host>([\s\S]*?)<\/host>` were retried from every opening tag that has no closing one: 480 KB of
// "<host>" took 34 s. The elements are now found with indexOf; these tests check the answers for a
// megabyte of such text (the old code would not have returned in the test's time).
describe("libvirt CPU text from a hostile host", () => {
  const MEGABYTE = 1_000_000;
  const caps = readFixture("libvirt/virsh-capabilities-Skylake-Client-noTSX-IBRS.xml");

  it("a megabyte of opening tags without their closing ones finds nothing", () => {
    expect(hostCpuXml("<host>".repeat(MEGABYTE / 6))).toBeNull();
    expect(hostCpuXml(`<host>${"<cpu ".repeat(MEGABYTE / 5)}</host>`)).toBeNull();
    expect(hostSizeOf("<topology>".repeat(MEGABYTE / 10))).toBeNull();
    expect(cpuModelOf("<model ".repeat(MEGABYTE / 7))).toBeNull();
    expect(cpuFeaturesOf("<feature ".repeat(MEGABYTE / 9))).toEqual([]);
    expect(missingFeatures(`Host CPU does not provide required features:${" ".repeat(MEGABYTE)}\r`)).toEqual(
      [],
    );
  });

  it("the real capabilities after a megabyte of junk tags still give the host CPU", () => {
    const xml = hostCpuXml(`${"<cpu ".repeat(MEGABYTE / 5)}${caps}`)!;
    expect(cpuModelOf(xml)).toBe("Skylake-Client-noTSX-IBRS");
    expect(cpuModelOf(`${"<model ".repeat(MEGABYTE / 7)}>x y</model><model>Haswell</model>`)).toBe("Haswell");
    expect(
      missingFeatures(
        `${"does not provide required features: x\n".repeat(MEGABYTE / 40)}does not provide required features: vmx, avx`,
      ),
    ).toEqual(["vmx", "avx"]);
  });
});
