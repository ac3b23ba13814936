import { NovaFactsError } from "./errors";
import { type NovaReleaseRef, novaRelease } from "./releases";

/**
 * Host capacity and live-migration concurrency options: [DEFAULT] reserved_host_memory_mb,
 * cpu/ram/disk_allocation_ratio (and from Stein initial_*_allocation_ratio),
 * max_concurrent_live_migrations, and [libvirt] live_migration_bandwidth.
 */

export type AllocationResource = "cpu" | "ram" | "disk";

export interface AllocationRatioOption {
  /** [DEFAULT] cpu_allocation_ratio etc. */
  option: string;
  /** Its default: 0.0 up to Rocky, None (unset) from Stein (19.0.0). */
  default: number | null;
  /** [DEFAULT] initial_*_allocation_ratio, Stein+. */
  initialOption: string | null;
  initialDefault: number | null;
  /**
   * The ratio a compute node gets when the option is left at its default: Mitaka–Rocky fill 0.0
   * with 16.0 / 1.5 / 1.0 (`ComputeNode._from_db_object`, nova/objects/compute_node.py); Stein–Zed
   * give a new node initial_* = 16.0 / 1.5 / 1.0; 2023.1 (27.0.0) lowered those to 4.0 / 1.0 / 1.0
   * (nova commit 1260cdd492 "update default overcommit").
   */
  defaultInEffect: number;
}

// Mitaka–Rocky fallbacks hard-coded in ComputeNode._from_db_object (13.0.0–18.x).
const LEGACY_FALLBACK: Record<AllocationResource, number> = { cpu: 16.0, ram: 1.5, disk: 1.0 };
// initial_*_allocation_ratio defaults: 19.0.0–26.x, then 27.0.0+ (nova/conf/compute.py).
const INITIAL_UNTIL_ZED: Record<AllocationResource, number> = { cpu: 16.0, ram: 1.5, disk: 1.0 };
const INITIAL_FROM_ANTELOPE: Record<AllocationResource, number> = { cpu: 4.0, ram: 1.0, disk: 1.0 };

/** One allocation ratio option of a release. */
export function allocationRatioOption(
  release: NovaReleaseRef,
  resource: AllocationResource,
): AllocationRatioOption {
  const r = novaRelease(release);
  const option = `${resource}_allocation_ratio`;
  if (r.major <= 18) {
    return {
      option,
      default: 0.0,
      initialOption: null,
      initialDefault: null,
      defaultInEffect: LEGACY_FALLBACK[resource],
    };
  }
  const initial = (r.major >= 27 ? INITIAL_FROM_ANTELOPE : INITIAL_UNTIL_ZED)[resource];
  return {
    option,
    default: null,
    initialOption: `initial_${option}`,
    initialDefault: initial,
    defaultInEffect: initial,
  };
}

export interface RatioInput {
  /** The [DEFAULT] *_allocation_ratio nova-compute reads; null/undefined = not set. */
  configured?: number | null;
  /** Stein+: [DEFAULT] initial_*_allocation_ratio as configured; undefined = its default. */
  configuredInitial?: number;
  /**
   * Stein+: the ratio already stored on an existing compute node (what os-hypervisors/placement
   * show), kept when the option is unset or 0.0. Undefined = a node created now, which gets the
   * initial ratio.
   */
  existingNodeRatio?: number;
}

/**
 * The ratio Nova uses for a host. Mitaka–Rocky: the option, or the 16.0 / 1.5 / 1.0 fallback when it
 * is 0.0. From Stein (resource_tracker `_copy_resources`): the option when set to anything but 0.0,
 * else the node's stored ratio, which a new node takes from initial_*_allocation_ratio.
 */
export function effectiveAllocationRatio(
  release: NovaReleaseRef,
  resource: AllocationResource,
  input: RatioInput = {},
): number {
  const opt = allocationRatioOption(release, resource);
  const configured = input.configured ?? null;
  if (configured !== null && (!Number.isFinite(configured) || configured < 0)) {
    throw new NovaFactsError(
      "NOVA_FACTS_INVALID_INPUT",
      `${opt.option} = ${configured} is not a ratio migbot can reason about; give 0.0 or more (from Ocata oslo.config refuses a negative one, min=0.0).`,
    );
  }
  if (opt.initialOption === null)
    return configured !== null && configured !== 0 ? configured : opt.defaultInEffect;
  if (configured !== null && configured !== 0) return configured;
  if (input.existingNodeRatio !== undefined && input.existingNodeRatio !== 0) return input.existingNodeRatio;
  return input.configuredInitial ?? opt.defaultInEffect;
}

export interface CapacityOptions {
  /** [DEFAULT] reserved_host_memory_mb: 512 at every tag (13.0.0 resource_tracker.py, then nova/conf/compute.py); min=0 from 14.0.0. */
  reservedHostMemoryMb: { default: number; min: number | null };
  /**
   * [DEFAULT] max_concurrent_live_migrations: 1 at every tag; 0 (and before Train any negative
   * value) means unlimited (compute manager: `max(CONF.max_concurrent_live_migrations, 0) != 0`,
   * 20.0.0+ `> 0`, with min=0).
   */
  maxConcurrentLiveMigrations: { default: number; min: number | null; zeroMeans: "unlimited" };
  /**
   * [libvirt] live_migration_bandwidth: 0 at every tag, in MiB/s (passed to libvirt's migrate call;
   * libvirt include/libvirt/libvirt-domain.h VIR_MIGRATE_PARAM_BANDWIDTH: "in MiB/s … If set to 0 or
   * omitted, libvirt will choose a suitable default").
   */
  liveMigrationBandwidth: { defaultMiBps: number; zeroMeans: "libvirt-default" };
}

const RESERVED_HOST_MEMORY_MB_DEFAULT = 512;
const MAX_CONCURRENT_LIVE_MIGRATIONS_DEFAULT = 1;
const LIVE_MIGRATION_BANDWIDTH_DEFAULT_MIBPS = 0;

/** The capacity and concurrency options of a release. */
export function capacityOptions(release: NovaReleaseRef): CapacityOptions {
  const r = novaRelease(release);
  return {
    reservedHostMemoryMb: { default: RESERVED_HOST_MEMORY_MB_DEFAULT, min: r.major >= 14 ? 0 : null },
    maxConcurrentLiveMigrations: {
      default: MAX_CONCURRENT_LIVE_MIGRATIONS_DEFAULT,
      min: r.major >= 20 ? 0 : null,
      zeroMeans: "unlimited",
    },
    liveMigrationBandwidth: {
      defaultMiBps: LIVE_MIGRATION_BANDWIDTH_DEFAULT_MIBPS,
      zeroMeans: "libvirt-default",
    },
  };
}

/** How many live migrations a source runs at once for a max_concurrent_live_migrations value (Infinity = no limit). */
export function liveMigrationConcurrency(release: NovaReleaseRef, configured?: number): number {
  const opts = capacityOptions(release).maxConcurrentLiveMigrations;
  const value = configured ?? opts.default;
  if (!Number.isSafeInteger(value) || (opts.min !== null && value < opts.min)) {
    throw new NovaFactsError(
      "NOVA_FACTS_INVALID_INPUT",
      `max_concurrent_live_migrations = ${value} is not accepted on this release: use a whole number${opts.min !== null ? ` of ${opts.min} or more` : ""} (0 = unlimited).`,
    );
  }
  return value > 0 ? value : Number.POSITIVE_INFINITY;
}
