/**
 * Builds diagnosis evidence from the real captured outputs in ../shared/fixtures: virsh
 * transcripts, libvirt's host CPU files, the nova.conf fixtures and nova-compute log lines.
 */
import type { CpuComparison, Evidence, HostEvidence } from "../../src/diagnose/evidence";
import { cpuModelOf, readCpuCompare } from "../../src/diagnose/libvirt-cpu";
import { effectiveSettings } from "../../src/nova-conf/effective";
import { releaseByName } from "../../src/nova-conf/releases";
import type { NovaServer } from "../../src/openstack/port";
import { readFixture } from "../support/fixtures";

export interface TranscriptBlock {
  command: string;
  output: string;
  exitCode: number;
}

/** Splits a `$ command` / output / `[exit status N]` transcript (fixtures/libvirt/virsh-outputs). */
export function transcript(relative: string): TranscriptBlock[] {
  const blocks: TranscriptBlock[] = [];
  let current: { command: string; lines: string[] } | null = null;
  for (const line of readFixture(relative).split("\n")) {
    if (line.startsWith("$ ")) {
      current = { command: line.slice(2), lines: [] };
      continue;
    }
    const exit = /^\[exit status (\d+)\]$/.exec(line);
    if (exit && current) {
      blocks.push({ command: current.command, output: current.lines.join("\n"), exitCode: Number(exit[1]) });
      current = null;
      continue;
    }
    current?.lines.push(line);
  }
  return blocks;
}

/** The block whose command starts with `prefix`. */
export function block(relative: string, prefix: string): TranscriptBlock {
  const b = transcript(relative).find((x) => x.command.startsWith(prefix));
  if (!b) throw new Error(`${relative}: no block for '${prefix}'`);
  return b;
}

/** A captured block as the executor would return it: errors on stderr when the exit status is not 0. */
export function asResult(b: TranscriptBlock) {
  return b.exitCode === 0
    ? { stdout: b.output, stderr: "", exitCode: 0 }
    : { stdout: "", stderr: b.output, exitCode: b.exitCode };
}

export const MITAKA_CONF_PATH = "/etc/nova/nova.conf";
export const CPU_FILES = {
  "Haswell-noTSX": "libvirt/cputestdata/x86-cpuid-Core-i7-4600U-host.xml",
  Broadwell: "libvirt/cputestdata/x86-cpuid-Core-i7-5600U-host.xml",
  "Skylake-Client": "libvirt/cputestdata/x86-cpuid-Core-i5-6600-host.xml",
} as const;

export type Release = "mitaka" | "zed";

/** A compute host as the gatherer would have read it, from the fixture config of its release. */
export function hostEvidence(
  name: string,
  release: Release,
  cpu: keyof typeof CPU_FILES,
  opts: { extraComputeConf?: string; log?: string; state?: "up" | "down"; systemd?: string } = {},
): HostEvidence {
  const files =
    release === "mitaka"
      ? [
          {
            path: MITAKA_CONF_PATH,
            text: readFixture("nova-conf/nova.conf.config-reference-example-liberty-mitaka-era.conf"),
          },
        ]
      : [
          {
            path: "/etc/nova/nova.conf",
            text: readFixture("nova-conf/nova.conf.sample-zed-26.2.2-debian-bookworm.conf"),
          },
          {
            path: "/etc/nova/nova-compute.conf",
            text:
              readFixture("nova-conf/nova-compute.conf-zed-26.2.2-debian-kvm.conf") +
              (opts.extraComputeConf ?? ""),
          },
        ];
  const info = releaseByName(release);
  const xml = readFixture(CPU_FILES[cpu]);
  const state = opts.state ?? "up";
  return {
    name,
    inInventory: true,
    service: { host: name, binary: "nova-compute", state, status: "enabled" },
    hypervisor: null,
    systemd: opts.systemd ?? (state === "up" ? "active" : "inactive"),
    release: { info, from: "inventory" },
    config: { files, missing: [] },
    settings: effectiveSettings(files, info),
    cpu: { xml, model: cpuModelOf(xml) },
    hypervisorCpu: null,
    size: { memoryMb: 65536, cpus: 16 },
    servers: [],
    log: opts.log === undefined ? null : { path: "/var/log/nova/nova-compute.log", text: opts.log },
    problems: [],
  };
}

export function server(name: string, host: string, extra: Partial<NovaServer> = {}): NovaServer {
  return {
    id: `5a1dc0de-7e57-4b1d-9c1a-${name.padStart(12, "0").replace(/[^0-9a-f]/g, "0")}`,
    name,
    status: "ACTIVE",
    host,
    hypervisorHostname: host,
    instanceName: "instance-0000002a",
    taskState: null,
    vmState: "active",
    flavor: { name: "m1.medium", ramMb: 4096, vcpus: 2 },
    ...extra,
  };
}

/** The CPU verdict of a captured `virsh cpu-compare` block. */
export function comparison(
  relative: string,
  prefix: string,
  from: string,
  on: string,
  model: string | null,
): CpuComparison {
  return {
    subject: "host-cpu",
    model,
    from,
    on,
    command: "cpu-compare",
    extraFlags: [],
    verdict: readCpuCompare(asResult(block(relative, prefix))),
  };
}

export function vmEvidence(
  srv: NovaServer,
  destination: string | null,
  hosts: HostEvidence[],
  extra: Partial<Evidence> = {},
): Evidence {
  return {
    kind: "vm",
    target: srv.name,
    server: srv,
    source: srv.host,
    destination,
    hosts: Object.fromEntries(hosts.map((h) => [h.name, h])),
    cpuComparisons: [],
    cpuNotCompared: [],
    fleet: null,
    migrationsInFlight: [],
    problems: [],
    gatheredAt: 0,
    ...extra,
  };
}
