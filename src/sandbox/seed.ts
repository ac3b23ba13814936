/**
 * What the sandbox cloud starts with: hosts (CPU, release, size), VMs (size, how they write
 * memory) and the links between hosts. Documented in README.md; every outcome follows from these
 * numbers through the pre-copy model, never from a name.
 */

export type SeedCpuModel = "Haswell-noTSX" | "Broadwell" | "Skylake-Client";

export interface SeedHost {
  name: string;
  cpuModel: SeedCpuModel;
  /** `nova-compute --version`: 13.x is Mitaka, 26.x is Zed. */
  novaVersion: string;
  memoryMb: number;
  vcpus: number;
  /** The address Nova records for the host (`host_ip`, `dest_host`). */
  hostIp: string;
  /** `virsh version`'s library. @defaultValue "9.0.0" (the lab's; 7.2.0 is the first that measures dirty rates) */
  libvirtVersion?: string;
}

export interface SeedVm {
  name: string;
  uuid: string;
  /** Nova's instance id: the libvirt domain is `instance-%08x` of it. */
  instanceId: number;
  host: string;
  flavor: { name: string; ramMb: number; vcpus: number; diskGb: number };
  /** How fast the guest writes memory with no throttle, MiB/s. */
  dirtyRateMiBps: number;
  /** Memory the guest keeps rewriting, MiB. */
  workingSetMiB: number;
  /** Share of RAM that is zero pages (cheap to send in the first pass). */
  zeroPageFraction: number;
  /** The Glance image it booted from. @defaultValue {@link DEFAULT_IMAGE} */
  image?: { name: string; sizeBytes: number };
}

/** The image of seed VMs that name none: Ubuntu 22.04's cloud image (its qcow2 is about 650 MiB). */
export const DEFAULT_IMAGE = { name: "ubuntu-22.04-server-cloudimg-amd64", sizeBytes: 680_525_824 };

export interface SeedLink {
  a: string;
  b: string;
  bandwidthMiBps: number;
}

export interface SandboxSeed {
  hosts: SeedHost[];
  vms: SeedVm[];
  /** Bandwidth between hosts without an explicit link, MiB/s. */
  defaultLinkMiBps: number;
  links: SeedLink[];
}

const MITAKA = "13.1.4";
const ZED = "26.2.2";
/** A 1 GbE link's usable rate for migration traffic. */
const GBE_1_MIBPS = 112;
/** A 10 GbE link's usable rate. */
const GBE_10_MIBPS = 1120;

function vm(
  name: string,
  instanceId: number,
  host: string,
  flavor: SeedVm["flavor"],
  load: { dirtyRateMiBps: number; workingSetMiB: number; zeroPageFraction: number },
): SeedVm {
  const hex = instanceId.toString(16).padStart(12, "0");
  return { name, uuid: `5a1dc0de-7e57-4b1d-9c1a-${hex}`, instanceId, host, flavor, ...load };
}

const SMALL = { name: "m1.small", ramMb: 2048, vcpus: 1, diskGb: 20 };
const MEDIUM = { name: "m1.medium", ramMb: 4096, vcpus: 2, diskGb: 40 };
const LARGE = { name: "m1.large", ramMb: 8192, vcpus: 4, diskGb: 80 };
const IDLE = { dirtyRateMiBps: 1, workingSetMiB: 16, zeroPageFraction: 0.7 };

/** The default cloud: see the table in `src/sandbox/README.md`. */
export const DEFAULT_SEED: SandboxSeed = {
  hosts: [
    {
      name: "compute-1",
      cpuModel: "Haswell-noTSX",
      novaVersion: MITAKA,
      memoryMb: 65536,
      vcpus: 16,
      hostIp: "10.0.0.11",
    },
    {
      name: "compute-2",
      cpuModel: "Broadwell",
      novaVersion: MITAKA,
      memoryMb: 32768,
      vcpus: 16,
      hostIp: "10.0.0.12",
    },
    {
      name: "compute-3",
      cpuModel: "Skylake-Client",
      novaVersion: ZED,
      memoryMb: 65536,
      vcpus: 16,
      hostIp: "10.0.0.13",
    },
    {
      name: "compute-4",
      cpuModel: "Skylake-Client",
      novaVersion: ZED,
      memoryMb: 32768,
      vcpus: 8,
      hostIp: "10.0.0.14",
    },
    {
      name: "compute-5",
      cpuModel: "Haswell-noTSX",
      novaVersion: ZED,
      memoryMb: 65536,
      vcpus: 16,
      hostIp: "10.0.0.15",
    },
  ],
  vms: [
    vm(
      "vm-42",
      0x2a,
      "compute-1",
      { ...SMALL, vcpus: 2 },
      { dirtyRateMiBps: 8, workingSetMiB: 64, zeroPageFraction: 0.5 },
    ),
    vm("db-1", 0x31, "compute-1", LARGE, { dirtyRateMiBps: 300, workingSetMiB: 1024, zeroPageFraction: 0.6 }),
    vm("web-7", 0x07, "compute-3", MEDIUM, { dirtyRateMiBps: 20, workingSetMiB: 128, zeroPageFraction: 0.5 }),
    vm("app-1", 0x51, "compute-3", SMALL, IDLE),
    vm("app-2", 0x52, "compute-3", SMALL, IDLE),
    vm("app-3", 0x53, "compute-3", SMALL, IDLE),
    vm("cache-1", 0x61, "compute-2", MEDIUM, {
      dirtyRateMiBps: 40,
      workingSetMiB: 512,
      zeroPageFraction: 0.3,
    }),
    vm("analytics-1", 0x71, "compute-4", { name: "m1.xxlarge", ramMb: 24576, vcpus: 8, diskGb: 160 }, IDLE),
    vm("batch-1", 0x81, "compute-5", MEDIUM, IDLE),
  ],
  defaultLinkMiBps: GBE_1_MIBPS,
  links: [
    { a: "compute-3", b: "compute-4", bandwidthMiBps: GBE_10_MIBPS },
    { a: "compute-3", b: "compute-5", bandwidthMiBps: GBE_10_MIBPS },
  ],
};
