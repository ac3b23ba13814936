/**
 * Room on the destination: RAM and vCPUs against the VM's flavor, counted as Nova counts them: from
 * Placement's inventories and usages where the cloud has Placement, else (Mitaka) from the
 * hypervisor record with the destination's reserved memory and allocation ratios (src/nova-facts,
 * read from its config).
 */
import { allocationRatioOf } from "../../nova-conf/effective";
import {
  capacityOptions,
  effectiveAllocationRatio,
  PLACEMENT_RESOURCE_CLASSES,
  placementFree,
  placementRefusal,
} from "../../nova-facts";
import type { ProviderCapacity, ProviderResource } from "../../openstack/placement";
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

const PLACEMENT_REFUSAL_TEXT: Record<NonNullable<ReturnType<typeof placementRefusal>>, string> = {
  capacity: "more than (total − reserved) × allocation_ratio − used leaves",
  max_unit: "more than max_unit, the most one allocation may take",
  min_unit: "less than min_unit",
  step_size: "not a multiple of step_size",
};

/**
 * Room as Placement counts it, from the destination's resource provider: per class
 * `(total − reserved) × allocation_ratio − used`, and the request within min_unit/max_unit/step_size
 * (src/nova-facts/placement.ts). Null when the provider lacks MEMORY_MB or VCPU.
 */
function placementCapacityFinding(
  title: string,
  dest: HostEvidence,
  provider: ProviderCapacity,
  need: { ramMb: number | undefined; vcpus: number | undefined },
  taken: string[],
): Finding | null {
  const ram = provider.resources[PLACEMENT_RESOURCE_CLASSES.ram];
  const cpu = provider.resources[PLACEMENT_RESOURCE_CLASSES.cpu];
  if (!ram || !cpu) return null;
  const describe = (rc: string, r: ProviderResource) =>
    `${rc} total ${r.total}, reserved ${r.reserved}, allocation_ratio ${r.allocationRatio}, max_unit ${r.maxUnit}, used ${r.used}`;
  const evidence = [
    `Placement's resource provider ${provider.name} (${provider.uuid}): ${describe("MEMORY_MB", ram)}; ${describe("VCPU", cpu)}.`,
    ...taken,
  ];
  if (need.ramMb === undefined || need.vcpus === undefined) {
    evidence.push(
      "The VM's flavor size is unknown (Nova before microversion 2.47 gives only the flavor id).",
    );
    return { id: "destination-capacity", title, status: "warn", evidence };
  }
  const freeRam = Math.floor(placementFree(ram, ram.used));
  const freeCpu = Math.floor(placementFree(cpu, cpu.used));
  evidence.unshift(
    `Needs ${need.ramMb} MiB RAM and ${need.vcpus} vCPUs; ${dest.name} has ${freeRam} MiB RAM and ${freeCpu} vCPUs free, as Placement counts them (with overcommit).`,
  );
  const refusals = [
    ["RAM", need.ramMb, placementRefusal(ram, ram.used, need.ramMb)],
    ["vCPUs", need.vcpus, placementRefusal(cpu, cpu.used, need.vcpus)],
  ] as const;
  const failed = refusals.filter(([, , why]) => why !== null);
  for (const [what, amount, why] of failed) {
    evidence.push(
      `Not enough ${what}: ${amount} is ${PLACEMENT_REFUSAL_TEXT[why!]}, so the scheduler refuses ${dest.name}. Pick another destination or free room on ${dest.name}.`,
    );
  }
  return { id: "destination-capacity", title, status: failed.length === 0 ? "pass" : "fail", evidence };
}

/** The `destination-capacity` finding; `ev.server` must be set (a VM diagnosis). */
export function capacityFinding(ev: Evidence, dest: HostEvidence, problems: Problems): Finding {
  const title = `Room on ${dest.name}`;
  const s = ev.server!;
  const needRam = s.flavor.ramMb;
  const needCpu = s.flavor.vcpus;
  const taken = problems.take(["hypervisors", "servers", "placement"], dest.name);
  if (dest.placement?.kind === "provider") {
    const f = placementCapacityFinding(
      title,
      dest,
      dest.placement.provider,
      { ramMb: needRam, vcpus: needCpu },
      taken,
    );
    if (f) return f;
  }
  if (dest.placement?.kind === "no-provider") {
    taken.push(
      `Placement has no resource provider named ${dest.placement.name}; counted from Nova's hypervisor record instead.`,
    );
  }
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
