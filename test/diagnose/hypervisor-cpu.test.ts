/**
 * CPU diagnosis where the hosts run nova 2023.1 (27.x): the sandbox seeded with its Zed hosts at
 * 27.1.0, answered over real SSH by the real executor. Nova 27 asks libvirt compareHypervisorCPU
 * (the CPU the hypervisor offers guests, `virsh domcapabilities`' host-model) instead of compareCPU,
 * so diagnosis must ask `virsh hypervisor-cpu-compare`, compute the baseline with `virsh
 * hypervisor-cpu-baseline`, and check each offered model the same way on every host.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type EvidenceDeps, gatherEvidence } from "../../src/diagnose/evidence";
import { draftsOf, evaluate, type Finding } from "../../src/diagnose/rules";
import type { HostCommand } from "../../src/hosts/catalogue";
import { SshExecutor } from "../../src/hosts/executor";
import type { HostsPort } from "../../src/hosts/port";
import { silentLogger } from "../../src/log";
import { hostsPort, novaForSandbox } from "../../src/runtime/stack";
import { type Sandbox, startSandbox } from "../../src/sandbox";
import { DEFAULT_SEED, type SandboxSeed } from "../../src/sandbox/seed";

/** A 2023.1 (Antelope) point release: the Zed hosts of the default seed, upgraded. */
const ANTELOPE = "27.1.0";

const SEED: SandboxSeed = {
  ...DEFAULT_SEED,
  hosts: DEFAULT_SEED.hosts.map((h) =>
    h.novaVersion.startsWith("26.") ? { ...h, novaVersion: ANTELOPE } : h,
  ),
};

let sandbox: Sandbox;
let deps: EvidenceDeps & { hosts: HostsPort & { close(): Promise<void> } };
/** Every catalogue command diagnosis sent, by host. */
const sent: { host: string; kind: HostCommand["kind"] }[] = [];

beforeAll(async () => {
  sandbox = await startSandbox({ timeScale: 0, seed: SEED });
  const exec = new SshExecutor(sandbox.hosts, { log: silentLogger });
  const port = hostsPort(sandbox.hosts, exec);
  const recording: HostsPort & { close(): Promise<void> } = Object.assign(Object.create(port), {
    run(host: string, cmd: HostCommand, opts?: Parameters<HostsPort["run"]>[2]) {
      sent.push({ host, kind: cmd.kind });
      return port.run(host, cmd, opts);
    },
    close: () => port.close(),
  });
  deps = { nova: await novaForSandbox(sandbox, silentLogger), hosts: recording, inventory: sandbox.hosts };
});

afterAll(async () => {
  await deps?.hosts.close();
  await sandbox?.stop();
});

function find(findings: Finding[], id: string): Finding {
  const f = findings.find((x) => x.id === id);
  if (!f) throw new Error(`no finding ${id} in ${findings.map((x) => `${x.id}:${x.status}`).join(", ")}`);
  return f;
}

describe("CPU checks on 2023.1 hosts", () => {
  test("the hosts run 27.1.0, whose nova-compute compares with compareHypervisorCPU", () => {
    const host = sandbox.cloud.hosts.get("compute-5")!;
    expect(host.release).toMatchObject({ major: 27, version: [27, 1, 0] });
    expect(host.settings).toMatchObject({ virtType: "kvm", comparesCpuAsDestination: true });
  });

  test("web-7 to compute-5: asked with hypervisor-cpu-compare, refused, with nova bug 2039803 explained; the model proposals are hypervisor-checked", async () => {
    sent.length = 0;
    const server = (await deps.nova.findServer("web-7"))!;
    const ev = await gatherEvidence({ kind: "vm", server, destination: "compute-5" }, deps);
    const findings = evaluate(ev, { retry: { vm: "web-7", destination: "compute-5" } });
    const cpu = find(findings, "cpu");
    expect(cpu.status).toBe("fail");
    expect(cpu.evidence[0]).toMatch(
      /^compute-3's CPU \(Skylake-Client\) on compute-5: libvirt hypervisor-cpu-compare says "the CPU is incompatible with host CPU: Host CPU does not provide required features: .+"$/,
    );
    expect(cpu.evidence.join("\n")).toMatch(
      /compute-5's nova-compute \(antelope\) asks libvirt's compareHypervisorCPU/,
    );
    expect(cpu.evidence.join("\n")).toMatch(/nova bug 2039803/);

    // The 2023.1 hosts were asked the 2023.1 way (and read their hypervisor's CPU); nobody was
    // asked with cpu-compare or cpu-baseline, and the Mitaka hosts (virt_type qemu) not at all.
    const kinds = (host: string) => new Set(sent.filter((s) => s.host === host).map((s) => s.kind));
    for (const host of ["compute-3", "compute-4", "compute-5"])
      expect(kinds(host).has("virsh-domcapabilities")).toBe(true);
    expect(sent.some((s) => s.kind === "virsh-cpu-compare" || s.kind === "virsh-cpu-baseline")).toBe(false);
    expect(sent.filter((s) => s.kind === "virsh-hypervisor-cpu-baseline").map((s) => s.host)).toEqual([
      "compute-5",
    ]);
    for (const host of ["compute-1", "compute-2"]) {
      expect(kinds(host).has("virsh-hypervisor-cpu-compare")).toBe(false);
      expect(kinds(host).has("virsh-domcapabilities")).toBe(false);
    }

    const fleet = ev.fleet!;
    expect(fleet.baseline).toMatchObject({ command: "hypervisor-cpu-baseline", ranOn: "compute-5" });
    expect(fleet.notCompared.map((n) => n.host)).toEqual(["compute-1", "compute-2"]);
    // compareHypervisorCPU refuses every host's full CPU, even on an identical host (the bug).
    expect(fleet.notRunnableOn["compute-3"]!.map((r) => r.on).sort()).toEqual(["compute-4", "compute-5"]);
    for (const check of fleet.checks) {
      expect(check.acceptedBy.length + check.refusedBy.length).toBe(3);
    }
    const offered = draftsOf(findings).filter((d) => d.kind === "cpu-model");
    expect(offered.length).toBeGreaterThan(0);
    for (const d of offered) {
      const check = fleet.checks.find((c) => c.model === d.cpuModel)!;
      expect(check.refusedBy).toEqual([]);
      expect(check.acceptedBy.sort()).toEqual(["compute-3", "compute-4", "compute-5"]);
    }
  });

  test("a model one hypervisor cannot give is refused there and not offered", async () => {
    // Skylake-Client is what compute-3's CPU is, but its hypervisor (libvirt's cputestdata host model
    // of that machine) expands to Broadwell: hypervisor-cpu-compare refuses it, cpu-compare would not.
    const out = await deps.hosts.run(
      "compute-3",
      {
        kind: "virsh-hypervisor-cpu-compare",
        cpuXml:
          "<cpu mode='custom' match='exact'>\n  <model fallback='forbid'>Skylake-Client</model>\n</cpu>\n",
      },
      { allowNonZeroExit: true },
    );
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toMatch(
      /^error: Failed to compare hypervisor CPU with \/dev\/stdin\nerror: the CPU is incompatible with host CPU: Host CPU does not provide required features: /,
    );
    const old = await deps.hosts.run(
      "compute-3",
      {
        kind: "virsh-cpu-compare",
        cpuXml:
          "<cpu mode='custom' match='exact'>\n  <model fallback='forbid'>Skylake-Client</model>\n</cpu>\n",
      },
      { allowNonZeroExit: true },
    );
    expect(old.exitCode).toBe(0);
  });
});
