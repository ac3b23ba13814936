/**
 * virsh's text output, byte for byte in the formats of libvirt 9 (see fixtures/libvirt*):
 * `domjobinfo` (labels padded to 17 columns, integers to 12, sizes with three decimals in binary
 * units), `list --all`, `capabilities`.
 */
import { type CpuDef, hostCpuXml } from "./cpu";

/** One job's statistics as virDomainGetJobStats reports them. */
export interface JobStats {
  type: "Unbounded" | "Completed" | "Failed" | "Cancelled";
  operation: "Outgoing migration" | "Incoming migration";
  timeElapsedMs: number;
  /** Only on completed jobs. */
  timeElapsedNoNetworkMs?: number;
  dataProcessed: number;
  dataRemaining: number;
  dataTotal: number;
  memoryBandwidthBytesPerS: number;
  dirtyRatePagesPerS: number;
  pageSizeBytes: number;
  iteration: number;
  postcopyRequests: number;
  constantPages: number;
  normalPages: number;
  normalData: number;
  /** Running jobs report the expected downtime, completed ones the real one. */
  expectedDowntimeMs?: number;
  totalDowntimeMs?: number;
  setupTimeMs: number;
  autoConvergeThrottle: number;
}

/** vshPrettyCapacity: the value in the largest binary unit that keeps it at or above 1. */
export function prettyCapacity(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value.toFixed(3)} ${units[i]}`;
}

const label = (text: string) => text.padEnd(17);
const num = (n: number, width = 12) => String(Math.max(0, Math.round(n))).padEnd(width);

/** `virsh domjobinfo` for a domain with this job, or `Job type: None` without one. */
export function formatDomJobInfo(job: JobStats | null): string {
  if (job === null) return `${label("Job type:")} ${"None".padEnd(12)}\n\n`;
  const lines: string[] = [];
  const line = (name: string, value: string) => lines.push(`${label(name)} ${value}`);
  line("Job type:", job.type.padEnd(12));
  line("Operation:", job.operation.padEnd(12));
  line("Time elapsed:", `${num(job.timeElapsedMs)} ms`);
  if (job.timeElapsedNoNetworkMs !== undefined) {
    line("Time elapsed w/o network:", `${num(job.timeElapsedNoNetworkMs)} ms`);
  }
  if (job.operation === "Incoming migration" && job.type === "Unbounded") return `${lines.join("\n")}\n\n`;
  line("Data processed:", prettyCapacity(job.dataProcessed));
  line("Data remaining:", prettyCapacity(job.dataRemaining));
  line("Data total:", prettyCapacity(job.dataTotal));
  line("Memory processed:", prettyCapacity(job.dataProcessed));
  line("Memory remaining:", prettyCapacity(job.dataRemaining));
  line("Memory total:", prettyCapacity(job.dataTotal));
  line("Memory bandwidth:", `${prettyCapacity(job.memoryBandwidthBytesPerS)}/s`);
  line("Dirty rate:", `${num(job.dirtyRatePagesPerS)} pages/s`);
  line("Page size:", `${num(job.pageSizeBytes)} bytes`);
  line("Iteration:", num(job.iteration));
  line("Postcopy requests:", num(job.postcopyRequests));
  line("Constant pages:", num(job.constantPages));
  line("Normal pages:", num(job.normalPages));
  line("Normal data:", prettyCapacity(job.normalData));
  if (job.totalDowntimeMs !== undefined) {
    line("Total downtime:", `${num(job.totalDowntimeMs)} ms`);
    line("Downtime w/o network:", `${num(Math.max(0, job.totalDowntimeMs - 1))} ms`);
  } else if (job.expectedDowntimeMs !== undefined) {
    line("Expected downtime:", `${num(job.expectedDowntimeMs)} ms`);
  }
  line("Setup time:", `${num(job.setupTimeMs)} ms`);
  if (job.autoConvergeThrottle > 0) line("Auto converge throttle:", num(job.autoConvergeThrottle, 13));
  return `${lines.join("\n")}\n\n`;
}

export interface DomainRow {
  /** Running domains have an id; shut-off ones show `-`. */
  id: number | null;
  name: string;
  state: "running" | "paused" | "shut off";
}

/** `virsh list --all` as vshTable prints it. */
export function formatDomainList(rows: DomainRow[]): string {
  const table = [
    ["Id", "Name", "State"],
    ...rows.map((r) => [r.id === null ? "-" : String(r.id), r.name, r.state]),
  ];
  const widths = [0, 1, 2].map((c) => Math.max(...table.map((row) => row[c]!.length)));
  const render = (row: string[]) => ` ${row.map((cell, c) => cell.padEnd(widths[c]!)).join("   ")}`.trimEnd();
  const width = 1 + widths.reduce((a, b) => a + b, 0) + 3 * (widths.length - 1) + 1;
  const out = [render(table[0]!), "-".repeat(width), ...table.slice(1).map(render)];
  return `${out.join("\n")}\n\n`;
}

export interface CapabilitiesHost {
  uuid: string;
  cpu: CpuDef;
  memoryKiB: number;
  cpus: number;
}

/** `virsh capabilities` of a KVM host (the layout of libvirt 9's output). */
export function formatCapabilities(host: CapabilitiesHost): string {
  const cpuLines = hostCpuXml(host.cpu, "    ").split("\n");
  const cpuBlock = [
    ...cpuLines,
    "      <pages unit='KiB' size='4'/>",
    "      <pages unit='KiB' size='2048'/>",
    "      <pages unit='KiB' size='1048576'/>",
    "    </cpu>",
  ];
  // Insert topology after <vendor>, where libvirt puts it.
  const vendorAt = cpuBlock.findIndex((l) => l.includes("<vendor>"));
  cpuBlock.splice(
    vendorAt + 1,
    0,
    `      <topology sockets='1' dies='1' cores='${Math.max(1, Math.floor(host.cpus / 2))}' threads='2'/>`,
  );
  const cpuIds = Array.from({ length: host.cpus }, (_, i) => {
    const core = i % Math.max(1, Math.floor(host.cpus / 2));
    const half = Math.floor(host.cpus / 2);
    return `            <cpu id='${i}' socket_id='0' die_id='0' core_id='${core}' siblings='${core},${core + half}'/>`;
  });
  return [
    "<capabilities>",
    "",
    "  <host>",
    `    <uuid>${host.uuid}</uuid>`,
    ...cpuBlock,
    "    <power_management/>",
    "    <iommu support='no'/>",
    "    <migration_features>",
    "      <live/>",
    "      <uri_transports>",
    "        <uri_transport>tcp</uri_transport>",
    "        <uri_transport>rdma</uri_transport>",
    "      </uri_transports>",
    "    </migration_features>",
    "    <topology>",
    "      <cells num='1'>",
    "        <cell id='0'>",
    `          <memory unit='KiB'>${host.memoryKiB}</memory>`,
    `          <pages unit='KiB' size='4'>${Math.floor(host.memoryKiB / 4)}</pages>`,
    "          <pages unit='KiB' size='2048'>0</pages>",
    "          <pages unit='KiB' size='1048576'>0</pages>",
    "          <distances>",
    "            <sibling id='0' value='10'/>",
    "          </distances>",
    `          <cpus num='${host.cpus}'>`,
    ...cpuIds,
    "          </cpus>",
    "        </cell>",
    "      </cells>",
    "    </topology>",
    "    <secmodel>",
    "      <model>none</model>",
    "      <doi>0</doi>",
    "    </secmodel>",
    "    <secmodel>",
    "      <model>dac</model>",
    "      <doi>0</doi>",
    "      <baselabel type='kvm'>+64055:+64055</baselabel>",
    "      <baselabel type='qemu'>+64055:+64055</baselabel>",
    "    </secmodel>",
    "  </host>",
    "",
    "  <guest>",
    "    <os_type>hvm</os_type>",
    "    <arch name='x86_64'>",
    "      <wordsize>64</wordsize>",
    "      <emulator>/usr/bin/qemu-system-x86_64</emulator>",
    "      <domain type='qemu'/>",
    "      <domain type='kvm'/>",
    "    </arch>",
    "    <features>",
    "      <acpi default='on' toggle='yes'/>",
    "      <apic default='on' toggle='no'/>",
    "      <cpuselection/>",
    "      <deviceboot/>",
    "      <disksnapshot default='on' toggle='no'/>",
    "    </features>",
    "  </guest>",
    "",
    "</capabilities>",
    "",
  ].join("\n");
}
