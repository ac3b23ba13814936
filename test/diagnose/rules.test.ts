/**
 * Diagnosis rules on evidence built from real captured outputs: libvirt's host CPUs and virsh
 * transcripts, the Mitaka and Zed nova.conf fixtures, nova-compute log lines from real clouds.
 */
import { describe, expect, test } from "vitest";
import type { HostEvidence } from "../../src/diagnose/evidence";
import { cpuNotComparedWhy } from "../../src/diagnose/evidence";
import {
  cpuFeaturesOf,
  cpuModelOf,
  hostCpuXml,
  hostSizeOf,
  missingFeatures,
  readCpuCompare,
} from "../../src/diagnose/libvirt-cpu";
import { draftsOf, evaluate, type Finding } from "../../src/diagnose/rules";
import { selectVmRestarts, vmRestartDraft } from "../../src/fixes/drafts/vm-restart";
import { effectiveSettings } from "../../src/nova-conf/effective";
import { releaseByName } from "../../src/nova-conf/releases";
import { readFixture } from "../support/fixtures";
import {
  asResult,
  block,
  comparison,
  hostEvidence,
  MITAKA_CONF_PATH,
  server,
  transcript,
  vmEvidence,
} from "./evidence-fixtures";

const COMPARE = "libvirt/virsh-outputs/virsh-cpu-compare.txt";
const SUPERSET = "libvirt/virsh-outputs/virsh-cpu-compare-superset-and-hypervisor-cpu-compare.txt";
const BASELINE = "libvirt/virsh-outputs/virsh-cpu-baseline.txt";
const FAILURE_LOG = "logs/nova-compute-live-migration-failure-lines.github-issues.log";
const MITAKA_AUTO_CONVERGE_DIFF = [
  "--- a/etc/nova/nova.conf",
  "+++ b/etc/nova/nova.conf",
  "@@ -72,3 +72,5 @@",
  " # LIBVIRT",
  " [libvirt]",
  " virt_type=qemu",
  "+live_migration_flag=VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED, VIR_MIGRATE_AUTO_CONVERGE",
  "+block_migration_flag=VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED, VIR_MIGRATE_NON_SHARED_INC, VIR_MIGRATE_AUTO_CONVERGE",
  "",
].join("\n");

function find(findings: Finding[], id: string): Finding {
  const f = findings.find((x) => x.id === id);
  if (!f) throw new Error(`no finding ${id} in ${findings.map((x) => x.id).join(", ")}`);
  return f;
}

describe("libvirt CPU output", () => {
  test("the <host><cpu> element of real virsh capabilities, its model and size", () => {
    const caps = readFixture("libvirt/virsh-capabilities-Skylake-Client-noTSX-IBRS.xml");
    const xml = hostCpuXml(caps)!;
    expect(cpuModelOf(xml)).toBe("Skylake-Client-noTSX-IBRS");
    expect(cpuFeaturesOf(xml)).toContain("vmx");
    // The guest <cpu> blocks further down (in <guest>) are not the host's.
    expect(xml).not.toMatch(/<arch name=/);
    const nested = readFixture("libvirt/virsh-outputs/virsh-capabilities.nested-kvm-host-libvirt-9.0.0.xml");
    expect(cpuModelOf(hostCpuXml(nested)!)).toBe("Broadwell");
    const size = hostSizeOf(nested);
    expect(size?.memoryMb).toBeGreaterThan(0);
    expect(size?.cpus).toBeGreaterThan(0);
  });

  test("cpu-compare verdicts read from every captured block", () => {
    for (const b of transcript(COMPARE)) {
      const v = readCpuCompare(asResult(b));
      if (b.command.includes("hostcpu.xml")) expect(v.result).toBe("identical");
      else expect(v.result).toBe("incompatible");
    }
    const err = readCpuCompare(asResult(block(COMPARE, "virsh cpu-compare --error x86-cpuid-Core-i5-6600")));
    expect(err.text).toBe(
      "the CPU is incompatible with host CPU: Host CPU does not provide required features: ds, acpi, tm, pbe, dtes64, monitor, ds_cpl, vmx, smx, est, tm2, xtpr, pdcm, mpx",
    );
    expect(missingFeatures(err.text)).toContain("mpx");
    expect(readCpuCompare(asResult(block(SUPERSET, "virsh cpu-compare nova-style-westmere"))).result).toBe(
      "superset",
    );
    // virsh's own failure (not a verdict) is an error, not an incompatibility.
    expect(
      readCpuCompare({ stdout: "", stderr: "error: failed to get emulator capabilities\n", exitCode: 1 })
        .result,
    ).toBe("error");
  });

  test("the baseline model of the three host CPUs", () => {
    expect(cpuModelOf(block(BASELINE, "virsh cpu-baseline three-hosts").output)).toBe("Haswell-noTSX");
  });
});

describe("live-migration settings", () => {
  test("Mitaka source without auto-converge: warn, and a draft that appends the flag to the default list", () => {
    const src = hostEvidence("compute-1", "mitaka", "Haswell-noTSX");
    const dst = hostEvidence("compute-2", "mitaka", "Broadwell");
    const findings = evaluate(vmEvidence(server("db-1", "compute-1"), "compute-2", [src, dst]));
    const f = find(findings, "settings");
    expect(f.status).toBe("warn");
    expect(f.evidence.join("\n")).toMatch(
      /compute-1 \(mitaka \(13\.1\.4, newest point release assumed\)\): auto-converge for live migrations OFF \(default\), for block migrations OFF \(default\)/,
    );
    expect(f.evidence.join("\n")).toMatch(/max downtime 500 ms in 10 steps every 75 s/);
    expect(f.evidence.join("\n")).toMatch(/progress timeout 150 s/);
    const d = f.draft!;
    expect(d.kind).toBe("auto-converge");
    expect(d.serviceRestarts).toEqual(["compute-1", "compute-2"]);
    const c1 = d.changes.find((c) => c.host === "compute-1")!;
    expect(c1.path).toBe(MITAKA_CONF_PATH);
    // The file's own `key=value` style is kept; oslo.config has no `+=`, so the whole list is written.
    expect(c1.diff).toBe(MITAKA_AUTO_CONVERGE_DIFF);
    expect(c1.changedKeys).toEqual(["[libvirt] live_migration_flag", "[libvirt] block_migration_flag"]);
    expect(d.reasoning).toMatch(
      /compute-1 \(mitaka\): VIR_MIGRATE_AUTO_CONVERGE appended to \[libvirt\] live_migration_flag and block_migration_flag/,
    );
    expect(d.blockers).toEqual([]);
  });

  test("Mitaka with auto-converge in live_migration_flag only: a VM on a local disk moves as a block migration, without it", () => {
    const liveOnly =
      "live_migration_flag=VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_AUTO_CONVERGE\n";
    const mitaka = (name: string) => {
      const h = hostEvidence(name, "mitaka", "Haswell-noTSX");
      h.config!.files[0]!.text += liveOnly;
      h.settings = effectiveSettings(h.config!.files, h.release!.info);
      return h;
    };
    const local = server("db-1", "compute-1", { bootedFromImage: true });
    const findings = evaluate(vmEvidence(local, "compute-2", [mitaka("compute-1"), mitaka("compute-2")]));
    const f = find(findings, "settings");
    expect(f.status).toBe("warn");
    expect(f.evidence.join("\n")).toMatch(
      /db-1 booted from an image, so its disk is local and Nova moves it \(block_migration auto\) as a block migration: on compute-1 \(mitaka\) that takes the block_migration_flag list, where auto-converge is OFF/,
    );
    const c1 = f.draft!.changes.find((c) => c.host === "compute-1")!;
    expect(c1.changedKeys).toEqual(["[libvirt] block_migration_flag"]);

    // Booted from a volume: a live migration, which has auto-converge already.
    const volume = server("db-1", "compute-1", { bootedFromImage: false });
    const g = find(
      evaluate(vmEvidence(volume, "compute-2", [mitaka("compute-1"), mitaka("compute-2")])),
      "settings",
    );
    expect(g.status).toBe("pass");
    expect(g.evidence.join("\n")).toMatch(
      /as a live migration .*live_migration_flag list, where auto-converge is ON/,
    );
  });

  test("Zed destination with post-copy permitted: the warning says post-copy wins, the draft sets permit_auto_converge", () => {
    const src = hostEvidence("compute-3", "zed", "Skylake-Client");
    const dst = hostEvidence("compute-4", "zed", "Skylake-Client", {
      extraComputeConf: "live_migration_permit_post_copy = true\n",
    });
    const f = find(evaluate(vmEvidence(server("web-7", "compute-3"), "compute-4", [src, dst])), "settings");
    expect(f.status).toBe("warn");
    expect(f.evidence.join("\n")).toMatch(
      /compute-4: post-copy is permitted, and nova then leaves auto-converge off/,
    );
    const d = f.draft!;
    const zed = d.changes.filter((c) => c.host === "compute-3");
    expect(zed.map((c) => c.diff).join("\n")).toMatch(/\+live_migration_permit_auto_converge = true/);
    expect(d.warnings.join("\n")).toMatch(/compute-4: Post-copy is also permitted/);
  });

  test("a migration in flight on a host blocks the restart, except the stuck one aborted first", () => {
    const src = hostEvidence("compute-1", "mitaka", "Haswell-noTSX");
    const vm = server("db-1", "compute-1");
    const other = {
      id: 7,
      status: "running",
      sourceCompute: "compute-1",
      destCompute: "compute-2",
      memoryTotalBytes: null,
      memoryProcessedBytes: null,
      memoryRemainingBytes: null,
      createdAt: "2024-01-01T00:00:00Z",
      updatedAt: null,
    };
    const ev = vmEvidence(vm, null, [src], {
      migrationsInFlight: [
        { ...other, serverId: vm.id },
        { ...other, id: 8, serverId: "someone-else" },
      ],
    });
    const d = find(
      evaluate(ev, {
        focus: "convergence",
        abortFirst: { jobId: "j1", vm: "db-1" },
        retry: { vm: "db-1", destination: null },
      }),
      "settings",
    ).draft!;
    expect(d.abortFirst).toEqual({ jobId: "j1", vm: "db-1" });
    expect(d.retry).toEqual({ vm: "db-1", destination: null });
    expect(d.blockers).toHaveLength(1);
    expect(d.blockers[0]).toMatch(/Live migration 8 \(compute-1 → compute-2, running\) is in flight/);
  });

  test("a VM being migrated right now is fine when diagnosing that migration, not before one", () => {
    const src = hostEvidence("compute-1", "mitaka", "Haswell-noTSX");
    const vm = { ...server("db-1", "compute-1"), status: "MIGRATING", taskState: "migrating" };
    expect(find(evaluate(vmEvidence(vm, null, [src]), { focus: "convergence" }), "vm").status).toBe("pass");
    expect(find(evaluate(vmEvidence(vm, null, [src])), "vm").status).toBe("fail");
  });

  test("auto-converge already on: pass, no draft", () => {
    const src = hostEvidence("compute-3", "zed", "Skylake-Client", {
      extraComputeConf: "live_migration_permit_auto_converge = true\n",
    });
    const f = find(evaluate(vmEvidence(server("web-7", "compute-3"), null, [src])), "settings");
    expect(f.status).toBe("pass");
    expect(f.draft).toBeUndefined();
    expect(f.evidence[0]).toMatch(/auto-converge ON \(\/etc\/nova\/nova-compute.conf:10\)/);
  });
});

describe("CPU compatibility", () => {
  function cpuCase() {
    const src = hostEvidence("compute-3", "zed", "Skylake-Client");
    const dst = hostEvidence("compute-5", "zed", "Haswell-noTSX");
    const c1 = hostEvidence("compute-1", "mitaka", "Haswell-noTSX");
    const c2 = hostEvidence("compute-2", "mitaka", "Broadwell");
    const c4 = hostEvidence("compute-4", "zed", "Skylake-Client");
    const web7 = server("web-7", "compute-3");
    src.servers = [web7, server("app-1", "compute-3"), server("app-2", "compute-3", { status: "SHUTOFF" })];
    c4.servers = [server("analytics-1", "compute-4")];
    const cmp = comparison(
      COMPARE,
      "virsh cpu-compare --error x86-cpuid-Core-i5-6600",
      "compute-3",
      "compute-5",
      "Skylake-Client",
    );
    const baselineOut = block(BASELINE, "virsh cpu-baseline three-hosts").output;
    return vmEvidence(web7, "compute-5", [src, dst, c1, c2, c4], {
      cpuComparisons: [cmp],
      fleet: {
        hosts: ["compute-1", "compute-2", "compute-3", "compute-4", "compute-5"],
        notRunnableOn: {
          "compute-3": [{ on: "compute-5", text: cmp.verdict.text }],
          "compute-4": [{ on: "compute-5", text: cmp.verdict.text }],
        },
        notCompared: ["compute-1", "compute-2"].map((host) => ({
          host,
          why: `virt_type = qemu on ${host}: nova compares CPUs only for kvm guests`,
        })),
        baseline: {
          model: cpuModelOf(baselineOut)!,
          xml: baselineOut,
          ranOn: "compute-5",
          command: "cpu-baseline",
        },
        checks: [cpuModelOf(baselineOut)!, "kvm64"].map((model) => ({
          model,
          extraFlags: [],
          acceptedBy: ["compute-3", "compute-4", "compute-5"],
          refusedBy: [],
          unknown: [],
        })),
      },
    });
  }

  test("incompatible: fail with libvirt's words and cpu-model drafts on every host, by release", () => {
    const findings = evaluate(cpuCase(), { retry: { vm: "web-7", destination: "compute-5" } });
    const f = find(findings, "cpu");
    expect(f.status).toBe("fail");
    expect(f.evidence[0]).toContain(
      'libvirt cpu-compare says "the CPU is incompatible with host CPU: Host CPU does not provide required features: ds, acpi, tm, pbe, dtes64, monitor, ds_cpl, vmx, smx, est, tm2, xtpr, pdcm, mpx"',
    );
    const [preferred, fallback] = draftsOf(findings).filter((d) => d.kind === "cpu-model");
    expect(preferred!.cpuModel).toBe("Haswell-noTSX");
    expect(preferred!.title).toMatch(/baseline, preferred/);
    expect(fallback!.cpuModel).toBe("kvm64");
    for (const d of [preferred!, fallback!]) {
      expect(d.next).toBe("vm-restart");
      expect(d.retry).toEqual({ vm: "web-7", destination: "compute-5" });
      expect(d.serviceRestarts.sort()).toEqual([
        "compute-1",
        "compute-2",
        "compute-3",
        "compute-4",
        "compute-5",
      ]);
      const mitaka = d.changes.filter((c) => c.host === "compute-1");
      const zed = d.changes.filter((c) => c.host === "compute-3");
      expect(mitaka.map((c) => c.diff).join("\n")).toMatch(new RegExp(`\\+cpu_model ?= ?${d.cpuModel}\\n`));
      expect(mitaka.map((c) => c.diff).join("\n")).not.toMatch(/cpu_models/);
      expect(zed.map((c) => c.diff).join("\n")).toMatch(new RegExp(`\\+cpu_models ?= ?${d.cpuModel}\\n`));
      expect(d.changes.every((c) => /\+cpu_mode ?= ?custom\n/.test(c.diff))).toBe(true);
      // The follow-up restarts travel with the model change (src/fixes proposes them once it is applied).
      expect(d.vmRestarts.map((v) => v.name)).toEqual(["web-7", "app-1", "analytics-1"]);
    }
    expect(f.evidence.join("\n")).toMatch(
      /need a hard reboot.*web-7 \(compute-3\).*app-1 \(compute-3\).*analytics-1 \(compute-4\)/,
    );
  });

  test("vm-restart: the affected VM first, then ACTIVE VMs on hosts whose CPU does not run everywhere", () => {
    const d = vmRestartDraft({ model: "Haswell-noTSX", selection: selectVmRestarts(cpuCase()) });
    expect(d.vmRestarts.map((v) => v.name)).toEqual(["web-7", "app-1", "analytics-1"]);
    expect(d.warnings.join("\n")).toMatch(/app-2 \(SHUTOFF\) picks the model up at its next start/);
    expect(d.reasoning).toMatch(/compute-3 \(Skylake-Client\): its CPU is not runnable on compute-5/);
    expect(d.reasoning).toMatch(/VMs on compute-1, compute-2, compute-5 are left alone/);
  });

  test("a baseline refused by a host leaves only kvm64, which warns about x86-64-v2", () => {
    const ev = cpuCase();
    ev.fleet!.checks[0]!.refusedBy = [
      { host: "compute-5", text: "the CPU is incompatible with host CPU: …" },
    ];
    const findings = evaluate(ev);
    const drafts = draftsOf(findings).filter((d) => d.kind === "cpu-model");
    expect(drafts.map((d) => d.cpuModel)).toEqual(["kvm64"]);
    expect(drafts[0]!.warnings[0]).toMatch(
      /kvm64 lacks SSSE3, SSE4\.1, SSE4\.2, POPCNT, LAHF_LM: guests that need x86-64-v2/,
    );
    expect(find(findings, "cpu").evidence.join("\n")).toMatch(/Haswell-noTSX is refused by compute-5/);
  });

  test("a model refused everywhere is never offered: no draft, and the finding says what to do", () => {
    const ev = cpuCase();
    for (const c of ev.fleet!.checks) c.refusedBy = [{ host: "compute-5", text: "no" }];
    const findings = evaluate(ev);
    expect(draftsOf(findings).filter((d) => d.kind === "cpu-model")).toEqual([]);
    expect(find(findings, "cpu").evidence.join("\n")).toMatch(/No CPU model passed the check on every host/);
  });

  test("the hosts' extra flags are named where the model was checked with them", () => {
    const ev = cpuCase();
    for (const c of ev.fleet!.checks) c.extraFlags = ["pcid"];
    const [preferred] = draftsOf(evaluate(ev)).filter((d) => d.kind === "cpu-model");
    expect(preferred!.reasoning).toMatch(
      /libvirt accepted it with cpu_model_extra_flags pcid on compute-3, compute-4, compute-5/,
    );
  });

  test("a destination that does not compare CPUs (virt_type = qemu) passes and gets no CPU fix", () => {
    const src = hostEvidence("compute-3", "zed", "Skylake-Client");
    const dst = hostEvidence("compute-1", "mitaka", "Haswell-noTSX");
    const ev = vmEvidence(server("web-7", "compute-3"), "compute-1", [src, dst], {
      cpuNotCompared: [{ on: "compute-1", why: cpuNotComparedWhy(dst)! }],
    });
    const findings = evaluate(ev);
    const f = find(findings, "cpu");
    expect(f.status).toBe("pass");
    expect(f.evidence[0]).toMatch(
      /^Nova does not compare CPUs here: virt_type = qemu on compute-1: nova compares CPUs only for kvm guests/,
    );
    expect(draftsOf(findings).filter((d) => d.kind === "cpu-model")).toEqual([]);
  });

  test("a host whose config could not be read blocks the cpu-model fix", () => {
    const ev = cpuCase();
    ev.hosts["compute-2"]!.config = null;
    ev.hosts["compute-2"]!.problems.push({
      piece: "config",
      host: "compute-2",
      code: "HOST_TIMEOUT",
      message: "timed out",
    });
    const d = draftsOf(evaluate(ev)).find((x) => x.kind === "cpu-model")!;
    expect(d.blockers.join("\n")).toMatch(
      /compute-2's nova-compute config could not be read \(.*HOST_TIMEOUT/,
    );
  });

  test("superset: pass with libvirt's wording", () => {
    const src = hostEvidence("compute-1", "mitaka", "Haswell-noTSX");
    const dst = hostEvidence("compute-3", "zed", "Skylake-Client");
    const ev = vmEvidence(server("vm-42", "compute-1"), "compute-3", [src, dst], {
      cpuComparisons: [
        comparison(
          SUPERSET,
          "virsh cpu-compare nova-style-westmere",
          "compute-1",
          "compute-3",
          "Haswell-noTSX",
        ),
      ],
    });
    const f = find(evaluate(ev), "cpu");
    expect(f.status).toBe("pass");
    expect(f.evidence[0]).toMatch(/Host CPU is a superset of CPU described in nova-style-westmere.xml/);
  });
});

describe("services, capacity, logs, problems", () => {
  test("destination nova-compute down: fail, and says what to do", () => {
    const src = hostEvidence("compute-1", "mitaka", "Haswell-noTSX");
    const dst = hostEvidence("compute-2", "mitaka", "Broadwell", { state: "down" });
    const f = find(
      evaluate(vmEvidence(server("vm-42", "compute-1"), "compute-2", [src, dst])),
      "destination-service",
    );
    expect(f.status).toBe("fail");
    expect(f.evidence.join("\n")).toMatch(/is down and enabled/);
    expect(f.evidence.join("\n")).toMatch(/systemd: nova-compute is inactive/);
    expect(f.evidence.join("\n")).toMatch(/systemctl start nova-compute/);
  });

  test("capacity from Nova's hypervisor record, and from the host size when Nova hides it (2.88+), with Nova's overcommit", () => {
    const src = hostEvidence("compute-1", "mitaka", "Haswell-noTSX");
    const dst = hostEvidence("compute-2", "mitaka", "Broadwell");
    const record = {
      hostname: "compute-2",
      serviceHost: "compute-2",
      state: "up",
      status: "enabled",
      vcpus: 16,
      vcpusUsed: 4,
      freeRamMb: 4096,
      memoryMb: 32768,
      memoryMbUsed: 28672,
    };
    dst.hypervisor = record;
    const vm = server("db-1", "compute-1", { flavor: { name: "m1.large", ramMb: 8192, vcpus: 4 } });
    // Mitaka's conductor: 32768 × 1.5 (ram_allocation_ratio 0.0 → 1.5) − 28672 = 20480 MiB.
    const pass = find(evaluate(vmEvidence(vm, "compute-2", [src, dst])), "destination-capacity");
    expect(pass.status).toBe("pass");
    expect(pass.evidence[0]).toBe(
      "Needs 8192 MiB RAM and 4 vCPUs; compute-2 has 20480 MiB RAM and 252 vCPUs free, as Nova counts them (with overcommit).",
    );
    expect(pass.evidence[1]).toMatch(
      /ram_allocation_ratio 1\.5, cpu_allocation_ratio 16 \(nova's defaults\)/,
    );

    // The operator's ram_allocation_ratio = 1.0 leaves 4096 MiB, not above the VM's 8192: refused.
    dst.config!.files[0]!.text = dst.config!.files[0]!.text.replace(
      "[DEFAULT]\n",
      "[DEFAULT]\nram_allocation_ratio = 1.0\n",
    );
    dst.settings = effectiveSettings(dst.config!.files, dst.release!.info);
    const fail = find(evaluate(vmEvidence(vm, "compute-2", [src, dst])), "destination-capacity");
    expect(fail.status).toBe("fail");
    expect(fail.evidence[0]).toMatch(/compute-2 has 4096 MiB RAM/);
    expect(fail.evidence.at(-1)).toMatch(/^Not enough RAM: Nova would refuse/);

    dst.hypervisor = null;
    dst.size = { memoryMb: 65536, cpus: 16 };
    dst.servers = [server("a", "compute-2"), server("b", "compute-2")];
    const size = find(evaluate(vmEvidence(vm, "compute-2", [src, dst])), "destination-capacity");
    expect(size.status).toBe("pass");
    // 65536 × 1.0 − (2 × 4096 + 512 reserved) = 56832.
    expect(size.evidence[0]).toMatch(/compute-2 has 56832 MiB RAM and 252 vCPUs free/);
  });

  test("capacity on Zed and 2023.1: placement's (total − reserved) × ratio, and 2023.1's lower default ratios", () => {
    const vm = server("db-1", "compute-3", { flavor: { name: "m1.large", ramMb: 8192, vcpus: 4 } });
    const record = (h: HostEvidence) => {
      h.hypervisor = {
        hostname: h.name,
        serviceHost: h.name,
        state: "up",
        status: "enabled",
        vcpus: 8,
        vcpusUsed: 8,
        freeRamMb: 32768 - 512 - 24576,
        memoryMb: 32768,
        memoryMbUsed: 512 + 24576,
      };
      return h;
    };
    const src = hostEvidence("compute-3", "zed", "Skylake-Client");
    const zed = record(hostEvidence("compute-4", "zed", "Skylake-Client"));
    // (32768 − 512) × 1.5 − 24576 = 23808 MiB; 8 × 16 − 8 = 120 vCPUs.
    const ok = find(evaluate(vmEvidence(vm, "compute-4", [src, zed])), "destination-capacity");
    expect(ok.status).toBe("pass");
    expect(ok.evidence[0]).toMatch(/compute-4 has 23808 MiB RAM and 120 vCPUs free/);
    // The same host on 2023.1 defaults (ram 1.0, cpu 4.0): 7680 MiB and 24 vCPUs.
    const antelope = record(hostEvidence("compute-4", "zed", "Skylake-Client"));
    antelope.release = { info: releaseByName("2023.1"), from: "inventory" };
    antelope.settings = effectiveSettings(antelope.config!.files, antelope.release.info);
    const refused = find(evaluate(vmEvidence(vm, "compute-4", [src, antelope])), "destination-capacity");
    expect(refused.status).toBe("fail");
    expect(refused.evidence[0]).toMatch(/compute-4 has 7680 MiB RAM and 24 vCPUs free/);
  });

  test("capacity from Placement where the cloud has it: its inventories and usages, max_unit included", () => {
    // 8 vCPUs on an 8-CPU host: Nova's hypervisor record and the ratios would pass it (120 free).
    const vm = server("big-1", "compute-3", { flavor: { name: "m1.huge", ramMb: 8192, vcpus: 12 } });
    const src = hostEvidence("compute-3", "zed", "Skylake-Client");
    const dest = hostEvidence("compute-4", "zed", "Skylake-Client");
    dest.hypervisor = {
      hostname: "compute-4",
      serviceHost: "compute-4",
      state: "up",
      status: "enabled",
      vcpus: 8,
      vcpusUsed: 8,
      freeRamMb: 32768 - 512 - 24576,
      memoryMb: 32768,
      memoryMbUsed: 512 + 24576,
    };
    const inv = (total: number, reserved: number, allocationRatio: number, used: number) => ({
      total,
      reserved,
      allocationRatio,
      minUnit: 1,
      maxUnit: total,
      stepSize: 1,
      used,
    });
    dest.placement = {
      kind: "provider",
      provider: {
        uuid: "3f0a9a57-7c5a-4f4e-9d0b-2a2c1f0b8c11",
        name: "compute-4",
        // An operator set ram_allocation_ratio 1.0 through placement: the config would say 1.5.
        resources: { MEMORY_MB: inv(32768, 512, 1.0, 24576), VCPU: inv(8, 0, 16.0, 8) },
      },
    };
    const f = find(evaluate(vmEvidence(vm, "compute-4", [src, dest])), "destination-capacity");
    expect(f.status).toBe("fail");
    // (32768 − 512) × 1.0 − 24576 = 7680 MiB; 8 × 16 − 8 = 120 vCPUs, but one VM may take 8 at most.
    expect(f.evidence[0]).toMatch(/compute-4 has 7680 MiB RAM and 120 vCPUs free, as Placement counts them/);
    expect(f.evidence.join("\n")).toMatch(/Not enough vCPUs: 12 is more than max_unit/);
    expect(f.evidence.join("\n")).toMatch(/Placement's resource provider compute-4/);

    // A cloud without Placement (Mitaka): the hypervisor record and the configured ratios.
    dest.placement = { kind: "no-placement" };
    const fallback = find(evaluate(vmEvidence(vm, "compute-4", [src, dest])), "destination-capacity");
    expect(fallback.evidence[0]).toMatch(/as Nova counts them/);
    expect(fallback.evidence.join("\n")).toMatch(/Nova's hypervisor record/);
  });

  test("recent failures are quoted with their timestamps, newest first", () => {
    const src = hostEvidence("compute-1", "zed", "Skylake-Client", { log: readFixture(FAILURE_LOG) });
    const ev = vmEvidence(server("vm-x", "compute-1"), null, [src]);
    ev.server!.id = "45cc9aa4-eafd-4fa4-babe-68f3d9fca7cf";
    const f = find(evaluate(ev), "log-failures");
    expect(f.status).toBe("warn");
    expect(f.evidence[0]).toBe("2025-04-30 13:11:48.626 compute-1 ERROR Migration operation has aborted");
    expect(f.evidence[1]).toMatch(
      /^2025-04-30 13:11:48.184 compute-1 ERROR Live Migration failure: authentication failed: Failed to verify peer's certificate/,
    );
    expect(f.evidence.join("\n")).toMatch(/failure line\(s\) about other instances were left out/);
  });

  test("a clean log passes; an unreadable one is a warning with the error's code", () => {
    const src = hostEvidence("compute-1", "zed", "Skylake-Client", { log: "" });
    const dst = hostEvidence("compute-4", "zed", "Skylake-Client");
    dst.problems.push({
      piece: "log",
      host: "compute-4",
      code: "HOST_TIMEOUT",
      message: "tail-log on compute-4 did not finish within 15000 ms",
    });
    const findings = evaluate(vmEvidence(server("vm-x", "compute-1"), "compute-4", [src, dst]));
    const f = find(findings, "log-failures");
    expect(f.status).toBe("warn");
    expect(f.evidence.join("\n")).toMatch(/Could not read log on compute-4 \[HOST_TIMEOUT\]/);
    expect(findings.find((x) => x.id === "evidence")).toBeUndefined();
  });
});
