/**
 * Sandbox seeds for the scale scenarios (`slack`, `track`, the slack-scale e2e test): many small VMs
 * spread over pairs of compute hosts, each VM moving from its source to its paired destination.
 * Every figure is an ordinary cloud's (Zed hosts, 1 GbE links, 2–4 GiB guests writing a few tens of
 * MiB/s); how long each migration takes comes from the sandbox's pre-copy model, not from here.
 */
import type { Sandbox } from "../sandbox";
import type { SandboxSeed, SeedHost, SeedVm } from "../sandbox/seed";

/** Zed's nova-compute: no progress timeout, so a slow guest is judged, not aborted. */
const ZED_VERSION = "26.2.2";
/** A 1 GbE link's usable rate for migration traffic (as in the default seed). */
const GBE_1_MIBPS = 112;
/** Instance ids of fleet VMs start here, clear of the default seed's (0x07…0x81). */
const FIRST_INSTANCE_ID = 0x1000;
/** Model seconds a restarted nova-compute needs before Nova sees it up (report interval + margin). */
const SERVICE_UP_WAIT_S = 11;

export interface FleetOptions {
  /** How many VMs (and so migrations). */
  vms: number;
  /** Source hosts; each has a paired destination host. VM i lives on source i mod `pairs`. */
  pairs: number;
  /** RAM of each host, MiB. @defaultValue 262144 (256 GiB) */
  hostMemoryMb?: number;
  /** Multiplies every guest's RAM (a 4x fleet moves 8–16 GiB guests, each for about two minutes). @defaultValue 1 */
  ramFactor?: number;
}

export interface Fleet {
  seed: SandboxSeed;
  /** `[vm, destination]` per VM, in order: what `/migrate <vm> to <destination>` asks for. */
  moves: [string, string][];
  sources: string[];
}

/**
 * Guests of three kinds, in turn: idle-ish 2 GiB, a 2 GiB web server, a 4 GiB app server writing
 * 20–40 MiB/s. On 1 GbE they converge in roughly 14 to 30 model seconds.
 */
function guestFor(
  i: number,
): Pick<SeedVm, "flavor" | "dirtyRateMiBps" | "workingSetMiB" | "zeroPageFraction"> {
  switch (i % 3) {
    case 0:
      return {
        flavor: { name: "m1.small", ramMb: 2048, vcpus: 1, diskGb: 20 },
        dirtyRateMiBps: 8,
        workingSetMiB: 64,
        zeroPageFraction: 0.6,
      };
    case 1:
      return {
        flavor: { name: "m1.small", ramMb: 2048, vcpus: 1, diskGb: 20 },
        dirtyRateMiBps: 20,
        workingSetMiB: 256,
        zeroPageFraction: 0.5,
      };
    default:
      return {
        flavor: { name: "m1.medium", ramMb: 4096, vcpus: 2, diskGb: 40 },
        dirtyRateMiBps: 40,
        workingSetMiB: 512,
        zeroPageFraction: 0.4,
      };
  }
}

/** Builds a fleet seed: `pairs` source hosts, `pairs` destination hosts, `vms` guests. */
export function fleetSeed(opts: FleetOptions): Fleet {
  const memoryMb = opts.hostMemoryMb ?? 256 * 1024;
  const hosts: SeedHost[] = [];
  const sources: string[] = [];
  for (let p = 0; p < opts.pairs; p++) {
    for (const [side, octet] of [
      ["src", 0],
      ["dst", 1],
    ] as const) {
      hosts.push({
        name: `${side}-${String(p + 1).padStart(2, "0")}`,
        cpuModel: "Skylake-Client",
        novaVersion: ZED_VERSION,
        memoryMb,
        vcpus: 256,
        hostIp: `10.1.${octet}.${p + 1}`,
      });
    }
    sources.push(`src-${String(p + 1).padStart(2, "0")}`);
  }
  const vms: SeedVm[] = [];
  const moves: [string, string][] = [];
  for (let i = 0; i < opts.vms; i++) {
    const instanceId = FIRST_INSTANCE_ID + i;
    const pair = String((i % opts.pairs) + 1).padStart(2, "0");
    const name = `fleet-${String(i + 1).padStart(3, "0")}`;
    const guest = guestFor(i);
    const ramMb = guest.flavor.ramMb * (opts.ramFactor ?? 1);
    vms.push({
      name,
      uuid: `5a1dc0de-7e57-4b1d-9c1a-${instanceId.toString(16).padStart(12, "0")}`,
      instanceId,
      host: `src-${pair}`,
      ...guest,
      flavor: { ...guest.flavor, name: `${guest.flavor.name}.x${opts.ramFactor ?? 1}`, ramMb },
    });
    moves.push([name, `dst-${pair}`]);
  }
  return { seed: { hosts, vms, defaultLinkMiBps: GBE_1_MIBPS, links: [] }, moves, sources };
}

/**
 * Sets `[DEFAULT] max_concurrent_live_migrations` on the given hosts and restarts their nova-compute,
 * as an operator would (Nova's default is 1 per source host; 0 means no limit on Zed), then moves the
 * model clock past the restart so Nova sees the services up again.
 */
export function setMaxConcurrentMigrations(sandbox: Sandbox, hosts: string[], max: number): void {
  const root = { user: "root", sudo: false };
  for (const name of hosts) {
    const host = sandbox.cloud.hosts.get(name);
    if (!host) throw new Error(`no sandbox host ${name}`);
    // nova-compute.conf is read after nova.conf, so a [DEFAULT] section appended there wins.
    const path = host.novaConfPaths.at(-1)!;
    const current = sandbox.cloud.runCommand(name, { kind: "read-file", path }, root);
    const text = `${current.stdout.replace(/\n*$/, "\n")}\n[DEFAULT]\nmax_concurrent_live_migrations = ${max}\n`;
    const wrote = sandbox.cloud.runCommand(name, { kind: "write-file", path, content: text }, root);
    const restarted = sandbox.cloud.runCommand(
      name,
      { kind: "systemctl-restart", service: "nova-compute" },
      root,
    );
    if (wrote.exitCode !== 0 || restarted.exitCode !== 0) {
      throw new Error(
        `${name}: could not set max_concurrent_live_migrations: ${wrote.stderr}${restarted.stderr}`,
      );
    }
  }
  sandbox.cloud.advance(SERVICE_UP_WAIT_S);
  for (const name of hosts) {
    const host = sandbox.cloud.hosts.get(name)!;
    if (host.settings?.maxConcurrent !== max || !sandbox.cloud.serviceUp(host)) {
      throw new Error(`${name}: nova-compute did not come back with max_concurrent_live_migrations = ${max}`);
    }
  }
}
