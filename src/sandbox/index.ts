/**
 * The built-in sandbox cloud, started in-process by one call: compute hosts behind real SSH
 * (ssh2 servers on loopback, one host key each), a Keystone + Nova API on loopback, and the
 * model that drives migrations. Used by `npm start` without credentials, by tests and benchmarks.
 * How the pieces fit: README.md in this folder.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HostEntry } from "../hosts/inventory";
import { type Logger, silentLogger } from "../log";
import { maxMicroversion, releaseIntroducing } from "../nova-facts";
import {
  type SandboxAccess,
  type SandboxClientCredentials,
  sandboxAdminCredentials,
  serveSandboxNova,
} from "./client-access";
import { SandboxCloud } from "./cloud";
import { sandboxProjectId } from "./keystone";
import { SANDBOX_CLOUD_NAME } from "./nova-records";
import { DEFAULT_SEED, type SandboxSeed } from "./seed";
import { generateKeyPair, type SandboxSshServer, startSandboxSshServer } from "./ssh-server";

export { SandboxCloud } from "./cloud";
export { DEFAULT_SEED, type SandboxSeed } from "./seed";

/** Model seconds per real second unless told otherwise: a demo migration takes seconds. */
export const DEFAULT_TIME_SCALE = 10;
/** How often the real-time driver advances the model clock. */
export const CLOCK_TICK_MS = 100;
/** Highest microversion of a Zed controller (a Mitaka one tops at 2.25). */
export const ZED_MAX_MICROVERSION = maxMicroversion("zed");
export { SANDBOX_CLOUD_NAME };

export interface SandboxOptions {
  /** Model seconds per real second; 0 = manual clock (tests call `cloud.advance`). @defaultValue 10 */
  timeScale?: number;
  /** Host keys, client key, clouds.yaml and inventory go here. @defaultValue a new temp dir */
  dataDir?: string;
  /** @defaultValue {@link DEFAULT_SEED} */
  seed?: SandboxSeed;
  /** "2.93" (Zed controller) by default; "2.25" emulates a Mitaka controller. */
  novaMaxMicroversion?: string;
  log?: Logger;
}

/** The admin account and the Keystone URL it authenticates at. */
export type SandboxCredentials = SandboxClientCredentials;

export interface Sandbox extends SandboxAccess {
  /** Inventory entries: name, 127.0.0.1, port, user root, key, pinned host key, release. */
  hosts: HostEntry[];
  /** Client key (OpenSSH format, mode 0600) authorised on every host. */
  privateKeyPath: string;
  /** The live state, for tests: VMs, hosts, migrations, files, services, the clock. */
  cloud: SandboxCloud;
  /** The SSH server of each host, by name (fault tests drop connections or delay answers). */
  sshServers: Map<string, SandboxSshServer>;
  stop(): Promise<void>;
}

async function loadOrCreateKey(
  dir: string,
  name: string,
): Promise<{ privatePem: string; publicLine: string }> {
  const path = join(dir, name);
  try {
    const privatePem = await readFile(path, "utf8");
    const publicLine = (await readFile(`${path}.pub`, "utf8")).trim();
    return { privatePem, publicLine };
  } catch {
    const pair = generateKeyPair(name);
    await writeFile(path, pair.privatePem, { mode: 0o600 });
    await chmod(path, 0o600);
    await writeFile(`${path}.pub`, `${pair.publicLine}\n`);
    return pair;
  }
}

/** Starts the sandbox cloud. Stop it with `stop()`. */
export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const log = opts.log ?? silentLogger;
  const timeScale = opts.timeScale ?? DEFAULT_TIME_SCALE;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), "migbot-sandbox-")));
  await mkdir(join(dataDir, "host-keys"), { recursive: true });
  const maxMicroversion = opts.novaMaxMicroversion ?? ZED_MAX_MICROVERSION;
  const account = sandboxAdminCredentials(randomBytes(12).toString("base64url"));
  const cloud = new SandboxCloud({
    // The admin owns the servers, as in the real-OpenStack lab where it booted them: the stock
    // client then finds one by name (`openstack server show vm-42` asks `GET /servers?name=`, which
    // lists the token's own project only).
    projectId: sandboxProjectId(account),
    seed: opts.seed ?? DEFAULT_SEED,
    // The controller's release: the first whose API tops at this microversion (2.25 Mitaka, 2.93 Zed).
    controllerMajor: releaseIntroducing(maxMicroversion),
    log,
    // On real time, records and log lines carry the real time of each event (as a real Nova's
    // would), not the model's, which runs `timeScale` times faster.
    ...(timeScale > 0 && { wallClock: () => new Date() }),
  });

  const client = await loadOrCreateKey(dataDir, "id_ed25519");
  const privateKeyPath = join(dataDir, "id_ed25519");
  const sshServers = new Map<string, SandboxSshServer>();
  const hosts: HostEntry[] = [];
  const closers: (() => Promise<void>)[] = [];
  let ticker: NodeJS.Timeout | undefined;
  const stop = async () => {
    if (ticker) clearInterval(ticker);
    ticker = undefined;
    await Promise.allSettled(closers.splice(0).map((close) => close()));
  };

  try {
    for (const host of cloud.hosts.values()) {
      const hostKey = await loadOrCreateKey(join(dataDir, "host-keys"), host.name);
      const server = await startSandboxSshServer({
        hostName: host.name,
        hostKeyPem: hostKey.privatePem,
        authorizedKeys: [client.publicLine],
        handler: (command, ctx) => cloud.runCommand(host.name, command, ctx),
        log,
      });
      closers.push(() => server.close());
      sshServers.set(host.name, server);
      hosts.push({
        name: host.name,
        address: server.address,
        port: server.port,
        user: "root",
        privateKeyPath,
        hostKeyFingerprints: [server.hostKeyFingerprint],
        release: host.release.name,
        novaConfPaths: host.novaConfPaths,
      });
    }

    const { close: closeApi, ...access } = await serveSandboxNova({
      controlPlane: cloud,
      account,
      maxMicroversion,
      dataDir,
      hosts,
      log,
    });
    closers.push(closeApi);

    if (timeScale > 0) {
      let last = performance.now();
      ticker = setInterval(() => {
        const now = performance.now();
        cloud.advance(((now - last) / 1000) * timeScale);
        last = now;
      }, CLOCK_TICK_MS);
      ticker.unref();
    }
    log.info("sandbox started", { hosts: hosts.length, novaUrl: access.novaUrl, timeScale });

    return { ...access, hosts, privateKeyPath, cloud, sshServers, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
