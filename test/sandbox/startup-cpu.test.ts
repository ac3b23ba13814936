/**
 * The sandbox's nova-compute checks its CPU options at start-up as each release does
 * (`_check_cpu_compatibility`, Train+), or not at all (before Train, where a guest's start fails
 * instead), with that release's exception and words, and only compares CPUs for virt_type kvm.
 */
import { describe, expect, it } from "vitest";
import type { HostCommand } from "../../src/hosts/catalogue";
import { SandboxCloud, SERVICE_CRASH_DELAY_S, SERVICE_REPORT_INTERVAL_S } from "../../src/sandbox/cloud";
import { DEFAULT_SEED, type SandboxSeed } from "../../src/sandbox/seed";

const LOG = "/var/log/nova/nova-compute.log";
const COMPUTE_CONF = "/etc/nova/nova-compute.conf";

/** The default seed with compute-5 (a Haswell host) at another nova version. */
function cloudWith(compute5Version?: string): SandboxCloud {
  const seed: SandboxSeed = compute5Version
    ? {
        ...DEFAULT_SEED,
        hosts: DEFAULT_SEED.hosts.map((h) =>
          h.name === "compute-5" ? { ...h, novaVersion: compute5Version } : h,
        ),
      }
    : DEFAULT_SEED;
  return new SandboxCloud({ seed, startTime: new Date("2026-03-01T10:00:00Z") });
}

function run(cloud: SandboxCloud, host: string, cmd: HostCommand) {
  return cloud.runCommand(host, cmd, { user: "root", sudo: false });
}

/** Adds lines to sections of a host's config file and restarts nova-compute; returns what systemd says after. */
function reconfigure(
  cloud: SandboxCloud,
  host: string,
  path: string,
  add: Record<string, string>,
  edit: (text: string) => string = (t) => t,
): string {
  let text = edit(run(cloud, host, { kind: "read-file", path }).stdout);
  for (const [section, lines] of Object.entries(add)) {
    text = text.includes(`[${section}]\n`)
      ? text.replace(`[${section}]\n`, `[${section}]\n${lines}\n`)
      : `${text}[${section}]\n${lines}\n`;
  }
  const tmp = path.replace(/\/([^/]+)$/, "/.$1.migbot-tmp-test1");
  run(cloud, host, { kind: "copy-file", from: path, to: tmp });
  expect(run(cloud, host, { kind: "write-file", path: tmp, content: text }).exitCode).toBe(0);
  expect(run(cloud, host, { kind: "rename-file", from: tmp, to: path }).exitCode).toBe(0);
  expect(run(cloud, host, { kind: "systemctl-restart", service: "nova-compute" }).exitCode).toBe(0);
  cloud.advance(Math.max(SERVICE_CRASH_DELAY_S, SERVICE_REPORT_INTERVAL_S) + 1);
  return run(cloud, host, { kind: "systemctl-is-active", service: "nova-compute" }).stdout.trim();
}

const CRITICAL = " CRITICAL nova [-] ";

/** The message nova-compute died with: oslo.log writes each of its lines as a record of its own. */
function critical(cloud: SandboxCloud, host: string): string {
  const lines = run(cloud, host, { kind: "tail-log", path: LOG, lines: 5000 }).stdout.split("\n");
  while (lines.length > 0 && !lines[lines.length - 1]!.includes(CRITICAL)) lines.pop();
  let first = lines.length;
  while (first > 0 && lines[first - 1]!.includes(CRITICAL)) first--;
  return lines
    .slice(first)
    .map((l) => l.slice(l.indexOf(CRITICAL) + CRITICAL.length))
    .join("\n");
}

describe("nova-compute's start-up CPU check, per release", () => {
  it("Zed (26.2.2): a model the host cannot run stops it, in 26.2.1+'s words (model and flags together, InvalidCPUInfo, libvirt's 0)", () => {
    const cloud = cloudWith();
    expect(
      reconfigure(cloud, "compute-5", COMPUTE_CONF, {
        libvirt: "cpu_mode = custom\ncpu_models = Skylake-Client",
      }),
    ).toBe("failed");
    expect(critical(cloud, "compute-5")).toMatch(
      /^InvalidCPUInfo: Configured CPU model: Skylake-Client and CPU Flags \[\] ar not compatible with host CPU\. Please correct your config and try again\. Unacceptable CPU info: CPU doesn't have compatibility\.\n\n0\n\nRefer to http:\/\/libvirt\.org\/html\/libvirt-libvirt-host\.html#virCPUCompareResult/,
    );
  });

  it("Zed: the extra flags are compared with the model; one the host lacks stops it", () => {
    const cloud = cloudWith();
    expect(
      reconfigure(cloud, "compute-5", COMPUTE_CONF, {
        libvirt: "cpu_mode = custom\ncpu_models = Haswell-noTSX\ncpu_model_extra_flags = avx512f",
      }),
    ).toBe("failed");
    expect(critical(cloud, "compute-5")).toMatch(
      /^InvalidCPUInfo: Configured CPU model: Haswell-noTSX and CPU Flags \['avx512f'\] ar not compatible/,
    );
    // A flag it has, and one disabled with '-' (23.0.0+), are fine.
    expect(
      reconfigure(cloudWith(), "compute-5", COMPUTE_CONF, {
        libvirt: "cpu_mode = custom\ncpu_models = Haswell-noTSX\ncpu_model_extra_flags = pcid, -avx2",
      }),
    ).toBe("active");
  });

  it("Zed: custom without a model is Invalid; skip_cpu_compare_at_startup (26.2.1+) skips the comparison, not the option checks", () => {
    const cloud = cloudWith();
    expect(reconfigure(cloud, "compute-5", COMPUTE_CONF, { libvirt: "cpu_mode = custom" })).toBe("failed");
    expect(critical(cloud, "compute-5")).toBe(
      "Invalid: The cpu_models option is required when cpu_mode=custom",
    );
    const skipping = cloudWith();
    expect(
      reconfigure(skipping, "compute-5", COMPUTE_CONF, {
        libvirt: "cpu_mode = custom\ncpu_models = Skylake-Client",
        workarounds: "skip_cpu_compare_at_startup = true",
      }),
    ).toBe("active");
  });

  it("virt_type = qemu: nova compares nothing, so an impossible model does not stop it", () => {
    const cloud = cloudWith();
    expect(
      reconfigure(
        cloud,
        "compute-5",
        COMPUTE_CONF,
        { libvirt: "cpu_mode = custom\ncpu_models = Skylake-Client" },
        (t) => t.replace("virt_type=kvm", "virt_type=qemu"),
      ),
    ).toBe("active");
  });

  it("Train (20.x) looks the model up first: an unknown name is 'not correct' (sic: suuport); Ussuri+ asks libvirt", () => {
    const train = cloudWith("20.6.1");
    expect(
      reconfigure(train, "compute-5", COMPUTE_CONF, {
        libvirt: "cpu_mode = custom\ncpu_models = NoSuchModel",
      }),
    ).toBe("failed");
    expect(critical(train, "compute-5")).toBe(
      "InvalidCPUInfo: Configured CPU model: NoSuchModel is not correct, or your host CPU arch does not suuport this model. Please correct your config and try again.",
    );
    const ussuri = cloudWith("21.2.4");
    expect(
      reconfigure(ussuri, "compute-5", COMPUTE_CONF, {
        libvirt: "cpu_mode = custom\ncpu_models = NoSuchModel",
      }),
    ).toBe("failed");
    expect(critical(ussuri, "compute-5")).toMatch(
      /^InvalidCPUInfo: Configured CPU model: NoSuchModel is not compatible with host CPU\. Please correct your config and try again\. Unacceptable CPU info: CPU doesn't have compatibility\.\n\ninternal error: Unknown CPU model NoSuchModel\n/,
    );
  });

  it("before Train nova-compute starts with any CPU options; the guest's start fails instead", () => {
    const cloud = cloudWith();
    // compute-1 is Mitaka (13.1.4): cpu_mode = custom without a model.
    expect(reconfigure(cloud, "compute-1", "/etc/nova/nova.conf", { libvirt: "cpu_mode=custom" })).toBe(
      "active",
    );
    const vm = cloud.vmByName("vm-42")!;
    cloud.hardReboot(vm.uuid);
    cloud.advance(30);
    expect(cloud.getServer(vm.uuid)).toMatchObject({ status: "ERROR" });
    expect(cloud.vms.get(vm.uuid)!.fault).toBe(
      "Config requested a custom CPU model, but no model name was provided",
    );
  });
});
