/**
 * Room on the destination: RAM and vCPUs against the VM's flavor, counted as Nova counts them, with
 * the destination's reserved memory and allocation ratios (src/nova-facts, read from its config).
 */
import { allocationRatioOf } from "../../nova-conf/effective";
import { capacityOptions, effectiveAllocationRatio } from "../../nova-facts";
import type { Evidence, HostEvidence } from "../evidence";
import type { Finding } from "./finding";
import type { Problems } from "./problems";

/** `[DEFAULT]` values that decide capacity: the host's nova-compute config, else its release's defaults. */
function capacityConfig(h: HostEvidence): {
  reservedMb: number;
  cpuRatio: number;
  ramRatio: number;
  from: string;
} {
  if (h.settings) {
    const s = h.settings;
    const set = s.capacity.cpuAllocationRatio !== null || s.capacity.ramAllocationRatio !== null;
    return {
      reservedMb: s.capacity.reservedHostMemoryMb,
      cpuRatio: allocationRatioOf(s, "cpu"),
      ramRatio: allocationRatioOf(s, "ram"),
      from:
        set || s.sources.reservedHostMemoryMb !== "default" ? "the host's nova config" : "nova's defaults",
    };
  }
  // Unknown release: the defaults every release migbot knows shares for reserved memory; the ratios
  // of the oldest release (the most overcommit, so a refusal here is a refusal everywhere).
  const release = h.release?.info ?? "mitaka";
  return {
    reservedMb: capacityOptions(release).reservedHostMemoryMb.default,
    cpuRatio: effectiveAllocationRatio(release, "cpu"),
    ramRatio: effectiveAllocationRatio(release, "ram"),
    from: "nova's defaults",
  };
}

/**
 * RAM still placeable on the host for a named destination, as the controller checks it. Up to
 * Mitaka the conductor's `_check_destination_has_enough_memory` (nova 13.1.4
 * nova/conductor/tasks/live_migrate.py): total × ram_allocation_ratio − used (reserved included),
 * refused when not above the VM's RAM. Later releases ask the scheduler (placement): (total −
 * reserved) × ratio − what the instances use, refused when below it. The destination's release
 * stands in for the controller's.
 */
function placeableRamMb(
  dest: HostEvidence,
  totalMb: number,
  usedWithReservedMb: number,
  cfg: { reservedMb: number; ramRatio: number },
): { freeMb: number; refusesAtEqual: boolean } {
  const conductor = (dest.release?.info.major ?? 13) <= 13;
  return conductor
    ? { freeMb: Math.floor(totalMb * cfg.ramRatio - usedWithReservedMb), refusesAtEqual: true }
    : {
        freeMb: Math.floor((totalMb - cfg.reservedMb) * cfg.ramRatio - (usedWithReservedMb - cfg.reservedMb)),
        refusesAtEqual: false,
      };
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
  let refusesAtEqual = false;
  let how: string;
  const cfg = capacityConfig(dest);
  const ratios = `ram_allocation_ratio ${cfg.ramRatio}, cpu_allocation_ratio ${cfg.cpuRatio} (${cfg.from})`;
  const hv = dest.hypervisor;
  if (hv && hv.memoryMb !== null && hv.memoryMbUsed !== null && hv.vcpus !== null && hv.vcpusUsed !== null) {
    ({ freeMb: freeRam, refusesAtEqual } = placeableRamMb(dest, hv.memoryMb, hv.memoryMbUsed, cfg));
    freeCpu = Math.floor(hv.vcpus * cfg.cpuRatio) - hv.vcpusUsed;
    how = `Nova's hypervisor record: ${hv.memoryMbUsed} of ${hv.memoryMb} MiB RAM used (${cfg.reservedMb} MiB reserved), ${hv.vcpusUsed} of ${hv.vcpus} physical CPUs allocated; ${ratios}.`;
  } else if (dest.size && dest.servers) {
    // Nova stopped reporting hypervisor usage at 2.88; add up the flavors of the servers Nova places there.
    const sizes = dest.servers.map((v) => v.flavor);
    if (sizes.some((f) => f.ramMb === undefined || f.vcpus === undefined)) {
      how = "Nova's answers carry no flavor sizes for the servers there.";
    } else {
      const usedRam = sizes.reduce((a, f) => a + f.ramMb!, 0);
      const usedCpu = sizes.reduce((a, f) => a + f.vcpus!, 0);
      ({ freeMb: freeRam, refusesAtEqual } = placeableRamMb(
        dest,
        dest.size.memoryMb,
        usedRam + cfg.reservedMb,
        cfg,
      ));
      freeCpu = Math.floor(dest.size.cpus * cfg.cpuRatio) - usedCpu;
      how = `${dest.size.memoryMb} MiB RAM and ${dest.size.cpus} CPUs (virsh capabilities), ${cfg.reservedMb} MiB reserved, ${dest.servers.length} servers using ${usedRam} MiB and ${usedCpu} vCPUs (Nova); ${ratios}.`;
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
  const ramOk = refusesAtEqual ? freeRam > needRam : freeRam >= needRam;
  // Mitaka's conductor checks only memory for a named destination; the scheduler also counts vCPUs.
  const cpuChecked = !refusesAtEqual;
  const cpuOk = !cpuChecked || freeCpu >= needCpu;
  if (!cpuChecked) evidence.push("Mitaka's conductor checks only RAM for a named destination, not vCPUs.");
  evidence.unshift(
    `Needs ${needRam} MiB RAM and ${needCpu} vCPUs; ${dest.name} has ${freeRam} MiB RAM and ${freeCpu} vCPUs free, as Nova counts them (with overcommit).`,
  );
  if (!ramOk || !cpuOk) {
    evidence.push(
      `Not enough ${!ramOk ? "RAM" : "vCPUs"}: Nova would refuse. Pick another destination or free room on ${dest.name}.`,
    );
  }
  return { id: "destination-capacity", title, status: ramOk && cpuOk ? "pass" : "fail", evidence };
}
