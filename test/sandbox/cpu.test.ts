import { describe, expect, it } from "vitest";
import {
  baselineCpuXml,
  compareCpu,
  guestCpuFor,
  hostCpu,
  incompatibleText,
  parseCpuXml,
} from "../../src/sandbox/cpu";
import { readFixture } from "../support/fixtures";

const CPUTEST = {
  haswell: "libvirt/cputestdata/x86-cpuid-Core-i7-4600U-host.xml",
  broadwell: "libvirt/cputestdata/x86-cpuid-Core-i7-5600U-host.xml",
  skylake: "libvirt/cputestdata/x86-cpuid-Core-i5-6600-host.xml",
};

/** The block of a captured virsh transcript that follows `$ <command>` up to the `[exit status]` line. */
function transcriptBlock(file: string, command: string): string {
  const text = readFixture(file);
  const start = text.indexOf(`$ ${command}`);
  if (start < 0) throw new Error(`no '${command}' in ${file}`);
  const body = text.slice(text.indexOf("\n", start) + 1);
  return body.slice(0, body.indexOf("\n[exit status"));
}

describe("libvirt CPU logic against captured virsh output", () => {
  it("cpu-baseline of the three cputestdata hosts prints exactly what libvirt 9 printed", () => {
    const input = Object.values(CPUTEST).map(readFixture).join("\n");
    const expected = transcriptBlock(
      "libvirt/virsh-outputs/virsh-cpu-baseline.txt",
      "virsh cpu-baseline three-hosts.xml",
    );
    expect(baselineCpuXml(parseCpuXml(input)).trim()).toBe(expected.trim());
  });

  it("cpu-compare --error names the same missing features, in the same order, as libvirt did", () => {
    const capabilities = readFixture(
      "libvirt/virsh-outputs/virsh-capabilities.nested-kvm-host-libvirt-9.0.0.xml",
    );
    const host = parseCpuXml(capabilities)[0]!;
    for (const [file, name] of [
      [CPUTEST.haswell, "x86-cpuid-Core-i7-4600U-host.xml"],
      [CPUTEST.skylake, "x86-cpuid-Core-i5-6600-host.xml"],
    ] as const) {
      const verdict = compareCpu(host, parseCpuXml(readFixture(file))[0]!);
      expect(verdict.result).toBe("incompatible");
      const captured = transcriptBlock(
        "libvirt/virsh-outputs/virsh-cpu-compare.txt",
        `virsh cpu-compare --error ${name}`,
      );
      const lastLine = captured.trim().split("\n").pop()!;
      expect(`error: ${incompatibleText((verdict as { reason: string }).reason)}`).toBe(lastLine);
    }
  });

  it("a host's own CPU is identical to it; an older named model is a subset (superset wording)", () => {
    const capabilities = readFixture(
      "libvirt/virsh-outputs/virsh-capabilities.nested-kvm-host-libvirt-9.0.0.xml",
    );
    const host = parseCpuXml(capabilities)[0]!;
    expect(compareCpu(host, host)).toEqual({ result: "identical" });
    const westmereInput = readFixture(
      "libvirt/virsh-outputs/virsh-cpu-compare-superset-and-hypervisor-cpu-compare.txt",
    );
    const xml = westmereInput.slice(westmereInput.indexOf("<cpu>"), westmereInput.indexOf("</cpu>") + 6);
    expect(compareCpu(host, parseCpuXml(xml)[0]!)).toEqual({ result: "superset" });
  });

  it("a host-model guest from Skylake cannot run on Haswell; a kvm64 guest runs on all three", () => {
    const skylake = hostCpu("Skylake-Client");
    const haswell = hostCpu("Haswell-noTSX");
    const broadwell = hostCpu("Broadwell");
    const verdict = compareCpu(haswell, guestCpuFor(skylake, "host-model", null));
    expect(verdict.result).toBe("incompatible");
    expect((verdict as { reason: string }).reason).toMatch(
      /^Host CPU does not provide required features: .*\bmpx\b/,
    );
    // Older to newer is fine, as the seed's vm-42 (Haswell → Skylake) relies on.
    expect(compareCpu(skylake, haswell).result).not.toBe("incompatible");
    expect(compareCpu(broadwell, haswell).result).not.toBe("incompatible");
    for (const host of [skylake, haswell, broadwell]) {
      expect(compareCpu(host, guestCpuFor(host, "custom", "kvm64")).result).toBe("superset");
    }
  });
});
