/**
 * Evidence gathering and rules against the sandbox cloud: its Nova API over HTTP (the real Nova
 * client), its five compute hosts over real SSH (the real executor), their own nova.conf, CPUs
 * and logs. Outcomes follow from the seed (releases, CPUs, sizes), never from a VM's name.
 */

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type EvidenceDeps, gatherEvidence } from "../../src/diagnose/evidence";
import { draftsOf, evaluate, type Finding } from "../../src/diagnose/rules";
import { SshExecutor } from "../../src/hosts/executor";
import { silentLogger } from "../../src/log";
import type { NovaPort } from "../../src/openstack/port";
import { hostsPort, novaForSandbox } from "../../src/runtime/stack";
import { type Sandbox, startSandbox } from "../../src/sandbox";
import { sha256Hex } from "../../src/signing/signatures";

let sandbox: Sandbox;
let deps: EvidenceDeps & { hosts: { close(): Promise<void> } };
let nova: NovaPort;

beforeAll(async () => {
  // timeScale 0: the model clock only moves when a test says so; nothing migrates behind our back.
  sandbox = await startSandbox({ timeScale: 0 });
  const exec = new SshExecutor(sandbox.hosts, { log: silentLogger });
  nova = await novaForSandbox(sandbox, silentLogger);
  deps = { nova, hosts: hostsPort(sandbox.hosts, exec), inventory: sandbox.hosts };
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

async function diagnoseVm(vm: string, destination: string | null) {
  const server = await nova.findServer(vm);
  expect(server).not.toBeNull();
  const ev = await gatherEvidence({ kind: "vm", server: server!, destination }, deps);
  return { ev, findings: evaluate(ev, { retry: { vm, destination } }) };
}

describe("diagnosis on the sandbox", () => {
  test("the Nova client lists the servers on one host (admin host filter)", async () => {
    const onC3 = await nova.listServers!({ host: "compute-3" });
    expect(onC3.map((s) => s.name).sort()).toEqual(["app-1", "app-2", "app-3", "web-7"]);
    expect(onC3.every((s) => s.flavor.ramMb !== undefined)).toBe(true);
    expect(await nova.listServers!({ host: "no-such-host" })).toEqual([]);
  });

  test("db-1: auto-converge is off on compute-1 (Mitaka), with the exact Mitaka diff", async () => {
    const { ev, findings } = await diagnoseVm("db-1", null);
    expect(ev.hosts["compute-1"]!.release).toMatchObject({
      info: { name: "mitaka", major: 13 },
      from: "inventory",
    });
    const settings = find(findings, "settings");
    expect(settings.status).toBe("warn");
    expect(settings.evidence[0]).toMatch(
      /^compute-1 \(mitaka \(13\.1\.4, newest point release assumed\)\): auto-converge for live migrations OFF \(default\), for block migrations OFF \(default\)/,
    );
    const draft = settings.draft!;
    expect(draft.kind).toBe("auto-converge");
    expect(draft.serviceRestarts).toEqual(["compute-1"]);
    expect(draft.changes).toHaveLength(1);
    expect(draft.changes[0]!.path).toBe("/etc/nova/nova.conf");
    expect(draft.changes[0]!.diff).toBe(
      [
        "--- a/etc/nova/nova.conf",
        "+++ b/etc/nova/nova.conf",
        "@@ -72,3 +72,5 @@",
        " # LIBVIRT",
        " [libvirt]",
        " virt_type=qemu",
        "+live_migration_flag=VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED, VIR_MIGRATE_AUTO_CONVERGE",
        "+block_migration_flag=VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED, VIR_MIGRATE_NON_SHARED_INC, VIR_MIGRATE_AUTO_CONVERGE",
        "",
      ].join("\n"),
    );
    // The plan starts from the file as it is on the host right now.
    expect(draft.changes[0]!.beforeSha256).toBe(
      sha256Hex(sandbox.cloud.hosts.get("compute-1")!.fs.get("/etc/nova/nova.conf")!.content),
    );
    // The draft keeps no file text (Redis must not hold nova.conf's passwords), only how to redo it.
    expect(JSON.stringify(draft)).not.toContain("connection =");
    expect(draft.recipes).toEqual([expect.objectContaining({ host: "compute-1", fix: "auto-converge" })]);
    expect(find(findings, "vm").status).toBe("pass");
    expect(find(findings, "source-service").status).toBe("pass");
    // No destination: the Haswell source CPU is checked on every other host that compares CPUs
    // (Zed's compareCPU), and runs on all of them; Mitaka's compute-2 runs virt_type = qemu.
    const cpu = find(findings, "cpu");
    expect(cpu.status).toBe("pass");
    expect(cpu.evidence[0]).toBe(
      "Runs on compute-3 (cpu-compare), compute-4 (cpu-compare), compute-5 (cpu-compare): each asked the way its nova-compute asks.",
    );
    expect(cpu.evidence[1]).toMatch(
      /^Not compared: virt_type = qemu on compute-2: nova compares CPUs only for kvm guests/,
    );
  });

  test("web-7 without a destination: warns which hosts the scheduler could pick in vain", async () => {
    const { findings } = await diagnoseVm("web-7", null);
    const cpu = find(findings, "cpu");
    expect(cpu.status).toBe("warn");
    expect(cpu.evidence[0]).toBe(
      "Runs on compute-4 (cpu-compare): each asked the way its nova-compute asks.",
    );
    // The Mitaka hosts (virt_type = qemu) accept any guest CPU; only compute-5 would refuse.
    expect(cpu.evidence.join("\n")).toMatch(/if it picks compute-5, the pre-check refuses/);
    expect(cpu.draft).toBeUndefined();
  });

  test("web-7 to compute-5: CPU fail in libvirt's words, cpu-model drafts covering every host by release", async () => {
    const { ev, findings } = await diagnoseVm("web-7", "compute-5");
    const cpu = find(findings, "cpu");
    expect(cpu.status).toBe("fail");
    expect(cpu.evidence[0]).toMatch(
      /^compute-3's CPU \(Skylake-Client\) on compute-5: libvirt cpu-compare says "the CPU is incompatible with host CPU: Host CPU does not provide required features: .+"$/,
    );
    expect(ev.fleet?.baseline?.model).toBeTruthy();
    const drafts = draftsOf(findings).filter((d) => d.kind === "cpu-model");
    expect(drafts.length).toBeGreaterThanOrEqual(1);
    expect(drafts.map((d) => d.cpuModel)).toContain("kvm64");
    for (const d of drafts) {
      expect(d.next).toBe("vm-restart");
      expect(d.retry).toEqual({ vm: "web-7", destination: "compute-5" });
      expect([...new Set(d.changes.map((c) => c.host))].sort()).toEqual([
        "compute-1",
        "compute-2",
        "compute-3",
        "compute-4",
        "compute-5",
      ]);
      for (const c of d.changes) {
        const mitaka = c.host === "compute-1" || c.host === "compute-2";
        expect(c.diff).toMatch(
          new RegExp(`\\n\\+${mitaka ? "cpu_model" : "cpu_models"} ?= ?${d.cpuModel}\\n`),
        );
        if (mitaka) expect(c.diff).not.toMatch(/cpu_models/);
      }
      // web-7 first, then every running VM on a host whose CPU some other host lacks (Broadwell and
      // Skylake are not runnable on the Haswell hosts); VMs on the Haswell hosts already move anywhere.
      expect(d.vmRestarts[0]!.name).toBe("web-7");
      expect(d.vmRestarts.map((v) => v.name).sort()).toEqual([
        "analytics-1",
        "app-1",
        "app-2",
        "app-3",
        "cache-1",
        "web-7",
      ]);
    }
    // The hosts' baseline is preferred (it keeps what kvm64 drops) once libvirt accepted it on every host.
    expect(ev.fleet!.baseline).toMatchObject({ model: "Haswell-noTSX", command: "cpu-baseline" });
    // Each model was checked on the hosts that compare CPUs (the Zed ones), and passed there.
    for (const check of ev.fleet!.checks) {
      expect(check.refusedBy).toEqual([]);
      expect(check.acceptedBy.sort()).toEqual(["compute-3", "compute-4", "compute-5"]);
    }
    expect(ev.fleet!.notCompared.map((n) => n.host)).toEqual(["compute-1", "compute-2"]);
    expect(drafts.map((d) => d.cpuModel)).toEqual(["Haswell-noTSX", "kvm64"]);
    expect(ev.fleet!.notRunnableOn["compute-3"]!.map((r) => r.on).sort()).toEqual(["compute-5"]);
    expect(ev.fleet!.notRunnableOn["compute-1"]).toBeUndefined();
  });

  test("cpu_model_extra_flags are checked with each model: a flag no host has leaves no model to offer", async () => {
    const path = "/etc/nova/nova-compute.conf";
    const host = sandbox.cloud.hosts.get("compute-4")!;
    const before = host.fs.get(path)!.content;
    host.fs.put(
      path,
      before.replace("[libvirt]\n", "[libvirt]\ncpu_model_extra_flags = avx512f\n"),
      "root",
      "nova",
      0o640,
    );
    try {
      const { ev, findings } = await diagnoseVm("web-7", "compute-5");
      for (const check of ev.fleet!.checks) {
        expect(check.extraFlags).toEqual(["avx512f"]);
        // None of the Skylake and Haswell hosts has AVX-512.
        expect(check.refusedBy.map((r) => r.host).sort()).toEqual(["compute-3", "compute-4", "compute-5"]);
        expect(check.refusedBy[0]!.text).toMatch(/does not provide required features: avx512f/);
      }
      expect(draftsOf(findings).filter((d) => d.kind === "cpu-model")).toEqual([]);
      const cpu = find(findings, "cpu");
      expect(cpu.evidence.join("\n")).toMatch(
        /Haswell-noTSX with cpu_model_extra_flags avx512f is refused by compute-3/,
      );
      expect(cpu.evidence.join("\n")).toMatch(/No CPU model passed the check on every host/);
    } finally {
      host.fs.put(path, before, "root", "nova", 0o640);
    }
  });

  test("vm-42 to compute-3: VM, services, room, CPU and logs pass; only auto-converge (off on Mitaka) warns", async () => {
    const { findings } = await diagnoseVm("vm-42", "compute-3");
    const byId = Object.fromEntries(findings.map((f) => [f.id, f.status]));
    expect(byId).toEqual({
      vm: "pass",
      "source-service": "pass",
      "destination-service": "pass",
      "destination-capacity": "pass",
      cpu: "pass",
      settings: "warn",
      "log-failures": "pass",
    });
    expect(find(findings, "cpu").evidence[0]).toMatch(
      /Host CPU is a superset of CPU described in \/dev\/stdin/,
    );
    expect(find(findings, "destination-capacity").evidence[0]).toMatch(
      /^Needs 2048 MiB RAM and 2 vCPUs; compute-3 has \d+ MiB RAM/,
    );
  });

  test("a host whose nova-compute is down fails, with systemd's and Nova's views", async () => {
    const host = sandbox.cloud.hosts.get("compute-2")!;
    const saved = host.service;
    host.service = { unit: "failed", upFromS: null, pid: saved.pid };
    try {
      const ev = await gatherEvidence({ kind: "host", host: "compute-2" }, deps);
      const f = find(evaluate(ev), "host-service");
      expect(f.status).toBe("fail");
      expect(f.evidence.join("\n")).toMatch(/nova-compute on compute-2 is down and enabled/);
      expect(f.evidence.join("\n")).toMatch(/systemd: nova-compute is failed/);
    } finally {
      host.service = saved;
    }
  });

  test("an unreachable host becomes a warning with the SSH error's code, not a crash", async () => {
    const entry = sandbox.hosts.find((h) => h.name === "compute-4")!;
    const broken = { ...entry, port: 1 };
    const exec = new SshExecutor([...sandbox.hosts.filter((h) => h !== entry), broken], {
      log: silentLogger,
      connectTimeoutMs: 2000,
    });
    const local = { ...deps, hosts: hostsPort(sandbox.hosts, exec), commandTimeoutMs: 3000 };
    try {
      const ev = await gatherEvidence({ kind: "host", host: "compute-4" }, local);
      const findings = evaluate(ev);
      const settings = find(findings, "settings");
      expect(settings.status).toBe("warn");
      expect(settings.evidence.join("\n")).toMatch(
        /Could not read (release|config) on compute-4 \[HOST_UNREACHABLE\]/,
      );
    } finally {
      await exec.close();
    }
  });
});
