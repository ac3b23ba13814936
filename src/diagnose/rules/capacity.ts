/** Room on the destination: free RAM and vCPUs against the VM's flavor, as Nova's pre-check counts them. */
import { parseNovaConf } from "../../nova-conf/document";
import { findEffectiveAssignment } from "../../nova-conf/effective";
import type { Evidence, HostEvidence } from "../evidence";
import type { Finding } from "./finding";
import type { Problems } from "./problems";

/** nova's `reserved_host_memory_mb` default (all releases migbot knows). */
export const DEFAULT_RESERVED_HOST_MEMORY_MB = 512;
/** nova's `cpu_allocation_ratio` default (16.0; `initial_cpu_allocation_ratio` from Stein on). */
export const DEFAULT_CPU_ALLOCATION_RATIO = 16;

/** `[DEFAULT]` values that decide capacity, read from the host's nova-compute config files. */
function capacityConfig(h: HostEvidence): { reservedMb: number; cpuRatio: number; from: string } {
  let reservedMb = DEFAULT_RESERVED_HOST_MEMORY_MB;
  let cpuRatio = DEFAULT_CPU_ALLOCATION_RATIO;
  let from = "nova defaults";
  if (h.config) {
    try {
      const docs = h.config.files.map((f) => parseNovaConf(f.text, f.path));
      const r = findEffectiveAssignment(docs, "DEFAULT", ["reserved_host_memory_mb"]);
      const c = findEffectiveAssignment(docs, "DEFAULT", ["cpu_allocation_ratio"]);
      if (r && /^\d+$/.test(r.assignment.value.trim())) reservedMb = Number(r.assignment.value.trim());
      if (c && Number(c.assignment.value) > 0) cpuRatio = Number(c.assignment.value);
      if (r || c) from = "the host's nova config";
    } catch {
      // A config that does not parse is reported by the settings check.
    }
  }
  return { reservedMb, cpuRatio, from };
}

/** The `destination-capacity` finding; `ev.server` must be set (a VM diagnosis). */
export function capacityFinding(ev: Evidence, dest: HostEvidence, problems: Problems): Finding {
  const title = `Room on ${dest.name}`;
  const s = ev.server!;
  const needRam = s.flavor.ramMb;
  const needCpu = s.flavor.vcpus;
  const taken = problems.take(["hypervisors", "servers"], dest.name);
  let freeRam: number | null = null;
  let freeCpu: number | null = null;
  let how: string;
  const hv = dest.hypervisor;
  if (hv && hv.freeRamMb !== null && hv.vcpus !== null && hv.vcpusUsed !== null) {
    freeRam = hv.freeRamMb;
    const { cpuRatio } = capacityConfig(dest);
    freeCpu = Math.floor(hv.vcpus * cpuRatio) - hv.vcpusUsed;
    how = `Nova's hypervisor record: ${hv.freeRamMb} MiB RAM free, ${hv.vcpusUsed} of ${hv.vcpus} physical CPUs × ${cpuRatio} allocated.`;
  } else if (dest.size && dest.servers) {
    // Nova stopped reporting hypervisor usage at 2.88; add up the flavors of the servers Nova places there.
    const { reservedMb, cpuRatio, from } = capacityConfig(dest);
    const sizes = dest.servers.map((v) => v.flavor);
    if (sizes.some((f) => f.ramMb === undefined || f.vcpus === undefined)) {
      how = "Nova's answers carry no flavor sizes for the servers there.";
    } else {
      const usedRam = sizes.reduce((a, f) => a + f.ramMb!, 0);
      const usedCpu = sizes.reduce((a, f) => a + f.vcpus!, 0);
      freeRam = dest.size.memoryMb - reservedMb - usedRam;
      freeCpu = Math.floor(dest.size.cpus * cpuRatio) - usedCpu;
      how = `${dest.size.memoryMb} MiB RAM and ${dest.size.cpus} CPUs (virsh capabilities), ${reservedMb} MiB reserved and CPU ratio ${cpuRatio} (${from}), ${dest.servers.length} servers using ${usedRam} MiB and ${usedCpu} vCPUs (Nova).`;
    }
  } else {
    how = "Neither Nova's hypervisor usage nor the host's size and server list could be read.";
  }
  const evidence = [how, ...taken];
  if (needRam === undefined || needCpu === undefined) {
    evidence.push(
      `The VM's flavor size is unknown (Nova before microversion 2.47 gives only the flavor id ${s.flavor.id ?? "?"}).`,
    );
    return { id: "destination-capacity", title, status: "warn", evidence };
  }
  if (freeRam === null || freeCpu === null)
    return { id: "destination-capacity", title, status: "warn", evidence };
  // Nova's live-migration pre-check refuses when free RAM is not strictly above the VM's RAM.
  const ramOk = freeRam > needRam;
  const cpuOk = freeCpu >= needCpu;
  evidence.unshift(
    `Needs ${needRam} MiB RAM and ${needCpu} vCPUs; ${dest.name} has ${freeRam} MiB RAM and ${freeCpu} vCPUs free.`,
  );
  if (!ramOk || !cpuOk) {
    evidence.push(
      `Not enough ${!ramOk ? "RAM" : "vCPUs"}: Nova's pre-check would refuse. Pick another destination or free room on ${dest.name}.`,
    );
  }
  return { id: "destination-capacity", title, status: ramOk && cpuOk ? "pass" : "fail", evidence };
}
