/**
 * The sandbox set up as the real-OpenStack lab is, so one conformance scenario fits both: three Zed
 * hosts cmp1-cmp3 on an 8 MiB/s migration link (the lab's `live_migration_bandwidth`), `calm-1`
 * (idle) and `dirty-1` (128 MiB, rewriting a 32 MiB working set far faster than the link sends it)
 * on cmp1.
 */
import { type Sandbox, type SandboxSeed, startSandbox } from "../../src/sandbox";
import type { ConformanceTarget } from "./nova-calls";

/** The lab's migration bandwidth (`live_migration_bandwidth`, MiB/s). */
const LAB_LINK_MIBPS = 8;
const ZED = "26.2.2";
const TINY = { name: "migbot.tiny", ramMb: 128, vcpus: 1, diskGb: 1 };

function host(name: string, index: number): SandboxSeed["hosts"][number] {
  return {
    name,
    cpuModel: "Broadwell",
    novaVersion: ZED,
    memoryMb: 7130,
    vcpus: 2,
    hostIp: `10.99.0.1${index}`,
  };
}

/** The lab's hosts and servers as a sandbox seed. */
export const CONFORMANCE_SEED: SandboxSeed = {
  hosts: [host("cmp1", 1), host("cmp2", 2), host("cmp3", 3)],
  vms: [
    {
      name: "calm-1",
      uuid: "5a1dc0de-7e57-4b1d-9c1a-000000000101",
      instanceId: 0x101,
      host: "cmp1",
      flavor: TINY,
      dirtyRateMiBps: 1.7,
      workingSetMiB: 32,
      zeroPageFraction: 0.7,
    },
    {
      name: "dirty-1",
      uuid: "5a1dc0de-7e57-4b1d-9c1a-000000000102",
      instanceId: 0x102,
      host: "cmp1",
      flavor: TINY,
      dirtyRateMiBps: 27,
      workingSetMiB: 32,
      zeroPageFraction: 0.7,
    },
  ],
  defaultLinkMiBps: LAB_LINK_MIBPS,
  links: [],
};

/** Model seconds per real second: a migration gets going within a second, a wait stays short. */
export const CONFORMANCE_TIME_SCALE = 5;

/** Starts the sandbox with {@link CONFORMANCE_SEED}; returns it and the scenario's view of it. */
export async function startConformanceSandbox(): Promise<{ sandbox: Sandbox; target: ConformanceTarget }> {
  const sandbox = await startSandbox({ seed: CONFORMANCE_SEED, timeScale: CONFORMANCE_TIME_SCALE });
  const c = sandbox.credentials;
  return {
    sandbox,
    target: {
      name: "sandbox",
      authUrl: c.authUrl,
      username: c.username,
      password: c.password,
      projectName: c.projectName,
      domainName: c.userDomainName,
      servers: { calm: "calm-1", dirty: "dirty-1" },
      hosts: { source: "cmp1", destination: "cmp2", refused: "cmp3" },
      waitTimeoutMs: 60_000,
      pollMs: 200,
    },
  };
}
