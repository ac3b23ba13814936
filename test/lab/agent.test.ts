/**
 * The lab's nova-compute agent and host programs without a lab: the virsh flags derived from real
 * nova.conf files (the lab's and the captured Mitaka/Zed ones), Nova's timeouts, virsh's error
 * text, a config nova would refuse, the declared-CPU comparison and capabilities rewrite on the
 * captured libvirt outputs, and the hosts' systemctl / nova-compute scripts run by /bin/sh.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cpuFeaturesOf, cpuModelOf, hostCpuXml } from "../../src/diagnose/libvirt-cpu";
import {
  AgentConfigError,
  libvirtMessage,
  NovaComputeAgent,
  novaMigrationFlags,
  novaTimeouts,
  virshMigrateArgsFor,
} from "../../src/lab/agent";
import { type AgentHeartbeat, agentSocketPath, socketRequest } from "../../src/lab/agent-protocol";
import {
  capabilitiesWithDeclaredCpu,
  compareExpanded,
  featuresOfBaseline,
  hostTypeCpuXml,
} from "../../src/lab/declared-cpu";
import { renderNovaCompute, renderSystemctl } from "../../src/lab/host-scripts";
import { LAB_MITAKA_MIGRATION_BANDWIDTH_MIBPS, planLab, renderNovaConf } from "../../src/lab/plan";
import { effectiveSettings } from "../../src/nova-conf/effective";
import { releaseByName } from "../../src/nova-conf/releases";
import { parseCpuXml } from "../../src/sandbox/cpu";
import { readSandboxData } from "../../src/sandbox/data-files";
import { readFixture } from "../support/fixtures";

const plan = planLab({ stateDir: "/run/x-lab" });
const [cmp1, cmp2] = plan.hosts as [(typeof plan.hosts)[0], (typeof plan.hosts)[0]];
const MITAKA = releaseByName("mitaka");
const ZED = releaseByName("zed");
const scratch = mkdtempSync(join(tmpdir(), "lab-agent-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function settings(text: string, release = MITAKA) {
  return effectiveSettings([{ path: "/etc/nova/nova.conf", text }], release, { unknownFlags: "ignore" });
}

describe("virsh migrate flags, as nova-compute's libvirt driver derives them", () => {
  it("Mitaka lab host: its live_migration_flag list, no auto-converge, the lab's bandwidth cap", () => {
    const args = virshMigrateArgsFor(settings(renderNovaConf(cmp1)), "instance-00000101", "cmp2");
    // libvirt's flag bit order (Nova ORs them together), as src/nova-facts lists them.
    expect(args).toEqual([
      "migrate",
      "--live",
      "--p2p",
      "--undefinesource",
      "--persistent",
      "--bandwidth",
      String(LAB_MITAKA_MIGRATION_BANDWIDTH_MIBPS),
      "instance-00000101",
      "qemu+ssh://cmp2/system",
    ]);
  });

  it("Mitaka: VIR_MIGRATE_AUTO_CONVERGE added to the list is what turns --auto-converge on", () => {
    const fixed = renderNovaConf(cmp1).replace(
      /^live_migration_flag = (.*)$/m,
      "live_migration_flag = $1, VIR_MIGRATE_AUTO_CONVERGE",
    );
    expect(virshMigrateArgsFor(settings(fixed), "d", "cmp2")).toContain("--auto-converge");
  });

  it("Mitaka's default flag list (the captured example config) tunnels the migration", () => {
    const text = readFixture("nova-conf/nova.conf.config-reference-example-liberty-mitaka-era.conf");
    const args = virshMigrateArgsFor(settings(text), "d", "cmp2");
    expect(args).toContain("--tunnelled");
    expect(args).toContain("--p2p");
    expect(args).not.toContain("--auto-converge");
  });

  it("Newton+ lab host: permit_auto_converge decides, and post-copy wins when both are permitted", () => {
    const base = renderNovaConf(cmp2);
    const off = virshMigrateArgsFor(settings(base, ZED), "d", "cmp1");
    expect(off.slice(0, 5)).toEqual(["migrate", "--live", "--p2p", "--persistent", "--undefinesource"]);
    expect(off).not.toContain("--auto-converge");
    const on = base.replace(
      "live_migration_permit_auto_converge = false",
      "live_migration_permit_auto_converge = true",
    );
    expect(virshMigrateArgsFor(settings(on, ZED), "d", "cmp1")).toContain("--auto-converge");
    const both = on.replace(
      "live_migration_permit_post_copy = false",
      "live_migration_permit_post_copy = true",
    );
    const args = virshMigrateArgsFor(settings(both, ZED), "d", "cmp1");
    expect(args).toContain("--postcopy");
    expect(args).not.toContain("--auto-converge");
  });

  it("Newton has no PERSIST_DEST (from Ocata), and live_migration_tunnelled adds --tunnelled", () => {
    const newton = settings("[libvirt]\nlive_migration_tunnelled = true\n", releaseByName("newton"));
    expect(novaMigrationFlags(newton)).toEqual([
      "VIR_MIGRATE_LIVE",
      "VIR_MIGRATE_PEER2PEER",
      "VIR_MIGRATE_TUNNELLED",
      "VIR_MIGRATE_UNDEFINE_SOURCE",
    ]);
    // --persistent stays: the lab lets libvirt define the domain on the destination (a lab choice).
    expect(virshMigrateArgsFor(newton, "d", "cmp2")).toEqual([
      "migrate",
      "--live",
      "--p2p",
      "--tunnelled",
      "--undefinesource",
      "--persistent",
      "d",
      "qemu+ssh://cmp2/system",
    ]);
  });

  it("a Mitaka block migration takes block_migration_flag: --copy-storage-inc, and auto-converge only if that list has it", () => {
    const liveOnly = renderNovaConf(cmp1).replace(
      /^live_migration_flag = (.*)$/m,
      "live_migration_flag = $1, VIR_MIGRATE_AUTO_CONVERGE",
    );
    const block = virshMigrateArgsFor(settings(liveOnly), "d", "cmp2", "block");
    expect(block).toContain("--copy-storage-inc");
    expect(block).not.toContain("--auto-converge");
    expect(virshMigrateArgsFor(settings(liveOnly), "d", "cmp2", "live")).toContain("--auto-converge");
  });

  it("Nova's timeouts for the 128 MiB guest: at least 2 GiB counted, so completion is twice the per-GiB value", () => {
    expect(novaTimeouts(settings(renderNovaConf(cmp1)), 128)).toMatchObject({
      progressTimeoutS: 60,
      completionTimeoutS: 120,
      dataGiB: 2,
    });
    // Mitaka's exponential stages over the lab's 500 ms / 10 steps / 75 s per GiB, 2 GiB counted.
    expect(novaTimeouts(settings(renderNovaConf(cmp1)), 128).stages.at(-1)).toEqual({
      atS: 1500,
      downtimeMs: 500,
    });
    // Zed has no progress timeout any more (removed in Stein).
    expect(novaTimeouts(settings(renderNovaConf(cmp2), ZED), 128).progressTimeoutS).toBe(0);
  });

  it("takes libvirt's message out of virsh's output, as Nova logs it", () => {
    const captured = readFixture("libvirt/virsh-outputs/virsh-migrate-verbose-stdout-run1-aborted.txt");
    const stderr = captured.slice(captured.indexOf("error: ")).split("\n\n")[0]!;
    expect(libvirtMessage(stderr)).toBe("operation aborted: job 'migration out' canceled by client");
  });
});

describe("the agent's start", () => {
  function agentIn(dir: string, confText: string): NovaComputeAgent {
    mkdirSync(join(dir, "cmp1"), { recursive: true });
    writeFileSync(join(dir, "nova.conf"), confText);
    return new NovaComputeAgent({
      host: "cmp1",
      stateDir: dir,
      release: "mitaka",
      declaredCpuPath: join(dir, "cpu.xml"),
      configPaths: [join(dir, "nova.conf")],
      logPath: join(dir, "nova-compute.log"),
    });
  }

  it("refuses a config nova cannot parse: CRITICAL in its log, and it never serves", async () => {
    const dir = mkdtempSync(join(scratch, "bad-"));
    const agent = agentIn(dir, `${renderNovaConf(cmp1)}\n[libvirt\nlive_migration_bandwidth = 8\n`);
    await expect(agent.start()).rejects.toBeInstanceOf(AgentConfigError);
    const log = readFileSync(join(dir, "nova-compute.log"), "utf8");
    expect(log).toMatch(/^\S+ \S+ \d+ INFO nova\.service \[-\] Starting compute node \(version 13\.1\.4\)$/m);
    expect(log).toMatch(/ CRITICAL nova \[-\] /);
  });

  it("serves its state on its socket: release, version and the flags it derived", async () => {
    const dir = mkdtempSync(join(scratch, "good-"));
    const agent = agentIn(dir, renderNovaConf(cmp1));
    await agent.start();
    try {
      const state = await socketRequest<AgentHeartbeat>(
        agentSocketPath(dir, "cmp1"),
        "GET",
        "/state",
        undefined,
        20_000,
      );
      expect(state).toMatchObject({
        host: "cmp1",
        version: "13.1.4",
        release: "mitaka",
        autoConverge: false,
        bandwidthMiBps: LAB_MITAKA_MIGRATION_BANDWIDTH_MIBPS,
        migrations: [],
      });
      expect(readFileSync(join(dir, "cmp1", "nova-compute.unit"), "utf8").trim()).toBe("active");
    } finally {
      await agent.stop();
    }
    expect(readFileSync(join(dir, "nova-compute.log"), "utf8")).toContain(
      "Caught SIGTERM, stopping children",
    );
  });
});

describe("declared CPUs", () => {
  const haswell = readSandboxData("cputestdata/x86-cpuid-Core-i7-4600U-host.xml");

  it("turns a guest CPU (custom model, policies) into the host form cpu-baseline accepts", () => {
    const guest = parseCpuXml(
      "<cpu mode='custom' match='exact'><model fallback='forbid'>Haswell</model><feature policy='require' name='pcid'/><feature policy='disable' name='rtm'/><feature policy='optional' name='vmx'/></cpu>",
    )[0]!;
    expect(hostTypeCpuXml(guest)).toBe(
      "<cpu>\n  <arch>x86_64</arch>\n  <model>Haswell</model>\n  <feature name='pcid'/>\n</cpu>\n",
    );
  });

  it("reads the features of `virsh cpu-baseline --features` output (the captured one)", () => {
    const captured = readFixture("libvirt/virsh-outputs/virsh-cpu-baseline.txt");
    const expanded = captured.slice(captured.indexOf("$ virsh cpu-baseline --features"));
    const features = featuresOfBaseline(expanded);
    // The model's own features are listed too once expanded: 70 for the three hosts' common CPU.
    expect(features).toHaveLength(70);
    expect(features).toEqual(expect.arrayContaining(["sse2", "vme", "invtsc"]));
  });

  it("compares like libvirt's x86 driver: missing features in CPUID order, vendor, forbidden, identical vs superset", () => {
    const host = { vendor: "Intel", features: new Set(["sse2", "avx", "avx2"]), forbidden: [] };
    expect(
      compareExpanded(host, { vendor: null, features: new Set(["sse2", "avx"]), forbidden: [] }),
    ).toEqual({
      result: "superset",
    });
    expect(
      compareExpanded(host, { vendor: "Intel", features: new Set(host.features), forbidden: [] }),
    ).toEqual({
      result: "identical",
    });
    expect(
      compareExpanded(host, { vendor: null, features: new Set(["avx512f", "sse2", "rtm"]), forbidden: [] }),
    ).toEqual({
      result: "incompatible",
      reason: "Host CPU does not provide required features: rtm, avx512f",
    });
    expect(compareExpanded(host, { vendor: "AMD", features: new Set(), forbidden: [] })).toMatchObject({
      result: "incompatible",
      reason: "host CPU vendor does not match required CPU vendor AMD",
    });
    expect(compareExpanded(host, { vendor: null, features: new Set(["sse2"]), forbidden: ["avx"] })).toEqual({
      result: "incompatible",
      reason: "Host CPU provides forbidden features: avx",
    });
  });

  it("virsh capabilities shows the declared CPU in <host><cpu>, keeps the machine's topology and the rest", () => {
    const real = readFixture("libvirt/virsh-outputs/virsh-capabilities.nested-kvm-host-libvirt-9.0.0.xml");
    const shown = capabilitiesWithDeclaredCpu(real, haswell);
    const cpu = hostCpuXml(shown)!;
    expect(cpuModelOf(cpu)).toBe("Haswell-noTSX");
    expect(cpuFeaturesOf(cpu)).toEqual(parseCpuXml(haswell)[0]!.features.map((f) => f.name));
    expect(cpu).toMatch(/<topology sockets=/);
    expect(cpu).not.toMatch(/<microcode|<signature/);
    // Everything outside the host CPU is the real output, untouched.
    expect(shown.slice(shown.indexOf("</cpu>"))).toBe(real.slice(real.indexOf("</cpu>")));
  });
});

describe("the hosts' systemctl and nova-compute", () => {
  const stateDir = mkdtempSync(join(scratch, "state-"));
  const bin = join(stateDir, "bin");
  mkdirSync(join(stateDir, "cmp1"), { recursive: true });
  mkdirSync(bin);
  const ctx = { stateDir, releases: { cmp1: "mitaka", cmp2: "zed" } };
  writeFileSync(join(bin, "systemctl"), renderSystemctl(ctx));
  writeFileSync(join(bin, "nova-compute"), renderNovaCompute(ctx));
  // The scripts ask `hostname` which host they are on; here a stand-in answers for cmp1 or cmp2.
  const run = (host: string, argv: string[]) => {
    writeFileSync(join(bin, "hostname"), `#!/bin/sh\necho ${host}\n`);
    for (const f of ["systemctl", "nova-compute", "hostname"]) chmodSync(join(bin, f), 0o755);
    return spawnSync(join(bin, argv[0]!), argv.slice(1), {
      encoding: "utf8",
      env: { PATH: `${bin}:/usr/bin:/bin` },
    });
  };

  it("is-active: inactive (exit 3) with no agent, failed (exit 3) after a config failure", () => {
    expect(run("cmp1", ["systemctl", "is-active", "nova-compute"])).toMatchObject({
      stdout: "inactive\n",
      status: 3,
    });
    writeFileSync(join(stateDir, "cmp1", "nova-compute.unit"), "failed\n");
    expect(run("cmp1", ["systemctl", "is-active", "nova-compute"])).toMatchObject({
      stdout: "failed\n",
      status: 3,
    });
    // An agent that died without a clean stop also counts as failed.
    writeFileSync(join(stateDir, "cmp1", "nova-compute.unit"), "active\n");
    expect(run("cmp1", ["systemctl", "is-active", "nova-compute"])).toMatchObject({
      stdout: "failed\n",
      status: 3,
    });
  });

  it("answers for units a lab host does not have as systemd would", () => {
    expect(run("cmp1", ["systemctl", "restart", "openstack-nova-compute"])).toMatchObject({
      status: 5,
      stderr:
        "Failed to restart openstack-nova-compute.service: Unit openstack-nova-compute.service not found.\n",
    });
    expect(run("cmp1", ["systemctl", "is-active", "openstack-nova-compute"])).toMatchObject({
      stdout: "inactive\n",
      status: 3,
    });
  });

  it("nova-compute --version: Mitaka prints on stderr (Python 2.7 argparse), Zed on stdout", () => {
    expect(run("cmp1", ["nova-compute", "--version"])).toMatchObject({
      stdout: "",
      stderr: "13.1.4\n",
      status: 0,
    });
    expect(run("cmp2", ["nova-compute", "--version"])).toMatchObject({
      stdout: "26.2.2\n",
      stderr: "",
      status: 0,
    });
  });
});
