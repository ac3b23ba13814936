/**
 * The lab with real OpenStack Zed (Debian 12's packages): `lab up --openstack` → real Nova lists
 * each host's real nova-compute up → a server boots from the Glance image with `networks: none`
 * on cmp1 → `os-migrateLive` (block_migration auto) moves it to cmp2 over the hosts' qemu+ssh →
 * Nova's migration record completes, the server's host is cmp2 and cmp2's libvirt runs it → a
 * `systemctl restart nova-compute` in a host gives a new process Nova sees up → `lab down` leaves
 * no process, namespace, mount or folder behind.
 *
 * Nova is driven through migbot's own client (src/openstack) with the clouds.yaml `up` wrote,
 * except the boot, which that client has no call for (plain fetch, microversion 2.74 for `host`).
 *
 * Runs as root where namespaces are permitted and the packages are installed; elsewhere it skips
 * and prints why. With CI=true a missing package is a failure (with the install command).
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import type { HostEntry } from "../../src/hosts/inventory";
import { listDomains } from "../../src/lab/guest";
import { labDown, readLabState } from "../../src/lab/lab";
import { acquireLabLock } from "../../src/lab/lock";
import { openStackMissing } from "../../src/lab/openstack/control-plane";
import {
  CALM_IMAGE_NAME,
  CLOUD_NAME,
  DEFAULT_OPENSTACK_ROOT,
  GLANCE_URL,
  LAB_FLAVOR,
  NOVA_URL,
} from "../../src/lab/openstack/layout";
import { bindSourceDir } from "../../src/lab/plan";
import { type LabState, liveDescendants, processStartTime } from "../../src/lab/state";
import { credentialsFromCloudsYaml } from "../../src/openstack/config";
import { KeystoneAuth } from "../../src/openstack/keystone";
import { NovaClient } from "../../src/openstack/nova";
import { PROJECT_ROOT } from "../support/fixtures";
import { LAB_LOCK_WAIT_MS, labSkipReason } from "./support";

const STATE_DIR = `/run/migbot-lab-openstack-${process.pid}`;
const HOSTS = ["cmp1", "cmp2"];
/** Measured ~3 min on an idle machine (control plane ~65-110 s, computes and mapping ~60 s); room for a busy one. */
const UP_TIMEOUT_MS = 720_000;
/** `down` stops ~40 processes: SIGTERM, 5 s grace, SIGKILL. */
const DOWN_TIMEOUT_MS = 120_000;
/** Nova took ~2 s to spawn in OPENSTACK-LAB.md; scheduling, image download and a busy machine add the rest. */
const ACTIVE_TIMEOUT_MS = 180_000;
/** 128 MiB at the lab's 8 MiB/s with a calm guest: ~20-30 s; Nova's own completion timeout is 180 s here. */
const MIGRATION_TIMEOUT_MS = 300_000;
/** A restarted nova-compute reports its service within seconds (report_interval 10 s). */
const RESTART_UP_TIMEOUT_MS = 120_000;
const SSH_TIMEOUT_MS = 30_000;
/** Two hosts × two ssh calls that each start Python (`nova-compute --version`), plus `lab status`. */
const FIRST_CHECKS_TIMEOUT_MS = 90_000;
const POLL_MS = 1_000;
/** The calm guest writes one character per 4 MiB dirtied at ~1.7 MiB/s: a few per 15 s. */
const CONSOLE_GROWTH_TIMEOUT_MS = 30_000;
const timings: Record<string, number> = {};

async function openStackSkipReason(): Promise<string | null> {
  const lab = await labSkipReason();
  if (lab !== null) return lab;
  const missing = openStackMissing(DEFAULT_OPENSTACK_ROOT);
  if (missing === null) return null;
  if (process.env.CI === "true") throw new Error(missing);
  return missing;
}

const skipReason = await openStackSkipReason();
if (skipReason !== null) console.log(`[lab] skipping the OpenStack lab test: ${skipReason}`);

function cli(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(PROJECT_ROOT, "bin/migbot.mjs"), "lab", ...args],
      { cwd: PROJECT_ROOT, timeout: timeoutMs, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `ssh -F <lab ssh_config> <host> <command>`: the hosts' real sshd with pinned keys. */
function ssh(host: string, command: string) {
  return spawnSync("ssh", ["-F", join(STATE_DIR, "ssh_config"), host, command], {
    encoding: "utf8",
    timeout: SSH_TIMEOUT_MS,
  });
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

describe.skipIf(skipReason !== null)(
  "lab with real OpenStack Zed: boot and live-migrate through Nova's API",
  () => {
    let state: LabState;
    let auth: KeystoneAuth;
    let nova: NovaClient;
    let upOutput = "";
    let serverId = "";
    let releaseLock: (() => void) | undefined;

    beforeAll(
      async () => {
        releaseLock = await acquireLabLock("test/lab/openstack.test.ts", LAB_LOCK_WAIT_MS);
        const started = Date.now();
        const up = await cli(
          ["up", "--openstack", "--hosts", String(HOSTS.length), "--state-dir", STATE_DIR],
          UP_TIMEOUT_MS,
        );
        timings.upMs = Date.now() - started;
        upOutput = up.stdout;
        if (up.code !== 0) throw new Error(`lab up --openstack failed (exit ${up.code}): ${up.stderr}`);
        state = readLabState(STATE_DIR);
        const cloudsYamlPath = join(STATE_DIR, "clouds.yaml");
        auth = new KeystoneAuth({
          credentials: credentialsFromCloudsYaml({
            cloud: CLOUD_NAME,
            cloudsYaml: readFileSync(cloudsYamlPath, "utf8"),
            cloudsYamlPath,
          }),
        });
        nova = await NovaClient.connect({ auth });
      },
      LAB_LOCK_WAIT_MS + UP_TIMEOUT_MS + 30_000,
    );

    afterAll(async () => {
      // Only when a test failed before the down test ran: never leave a lab behind.
      if (existsSync(join(STATE_DIR, "state.json"))) await labDown(STATE_DIR, () => {});
      releaseLock?.();
      console.log(`[lab-openstack] measured: ${JSON.stringify(timings)}`);
    }, DOWN_TIMEOUT_MS);

    it(
      "real Nova lists each host's real nova-compute up; the host's systemctl and log are the real service's",
      async () => {
        expect(upOutput).toContain(join(STATE_DIR, "clouds.yaml"));
        const services = await nova.computeServices();
        for (const host of HOSTS) {
          expect(services.find((s) => s.host === host)).toMatchObject({
            binary: "nova-compute",
            state: "up",
            status: "enabled",
          });
          const active = ssh(host, "systemctl is-active nova-compute; nova-compute --version; hostname");
          expect(active.status, active.stderr).toBe(0);
          expect(active.stdout.split("\n").slice(0, 3)).toEqual(["active", "26.2.2", host]);
          const log = ssh(
            host,
            "grep -c 'nova.virt.libvirt.driver\\|nova.compute' /var/log/nova/nova-compute.log",
          );
          expect(Number(log.stdout.trim())).toBeGreaterThan(0);
        }
        const inventory = (
          parseYaml(readFileSync(join(STATE_DIR, "inventory.yaml"), "utf8")) as { hosts: HostEntry[] }
        ).hosts;
        expect(inventory.map((h) => [h.name, h.release])).toEqual(HOSTS.map((h) => [h, "zed"]));
        // Nova 26 (Zed) offers microversions up to 2.93; migbot's client picks the highest both know.
        expect(nova.microversion).toBe("2.93");
        const status = await cli(["status", "--state-dir", STATE_DIR], SSH_TIMEOUT_MS);
        expect(status.code, status.stdout).toBe(0);
        const control = /control plane \(real OpenStack Zed\): (.*)/.exec(status.stdout)?.[1] ?? "";
        for (const role of [
          "mariadb",
          "epmd",
          "rabbitmq",
          "keystone",
          "placement",
          "glance-api",
          "neutron-server",
        ]) {
          expect(control).toContain(`${role} up`);
        }
        for (const role of ["nova-api", "nova-conductor", "nova-scheduler"])
          expect(control).toContain(`${role} up`);
        expect(status.stdout).not.toContain("DOWN");
      },
      FIRST_CHECKS_TIMEOUT_MS,
    );

    it(
      "boots a server from the Glance image with networks none on cmp1",
      async () => {
        const token = (await auth.token()).value;
        const images = (await (
          await fetch(`${GLANCE_URL}/v2/images?name=${CALM_IMAGE_NAME}`, {
            headers: { "X-Auth-Token": token },
          })
        ).json()) as { images: { id: string }[] };
        expect(images.images).toHaveLength(1);
        const started = Date.now();
        const response = await fetch(`${NOVA_URL}/servers`, {
          method: "POST",
          headers: {
            "X-Auth-Token": token,
            "Content-Type": "application/json",
            "OpenStack-API-Version": "compute 2.74",
          },
          body: JSON.stringify({
            server: {
              name: "lab-calm-1",
              imageRef: images.images[0]!.id,
              flavorRef: LAB_FLAVOR.id,
              networks: "none",
              host: "cmp1",
            },
          }),
        });
        expect(response.status, await response.clone().text()).toBe(202);
        serverId = ((await response.json()) as { server: { id: string } }).server.id;
        const server = await until("the server ACTIVE", ACTIVE_TIMEOUT_MS, async () => {
          const s = await nova.getServer(serverId);
          if (s.status === "ERROR") throw new Error(`the server went to ERROR: ${JSON.stringify(s)}`);
          return s.status === "ACTIVE" ? s : undefined;
        });
        timings.serverActiveMs = Date.now() - started;
        expect(server.host).toBe("cmp1");
        expect(await listDomains(state, "cmp1")).toEqual({ [server.instanceName!]: "running" });
      },
      ACTIVE_TIMEOUT_MS + 30_000,
    );

    it(
      "live-migrates it to cmp2 through os-migrateLive: the migration completes and cmp2's libvirt runs it",
      async () => {
        const before = await nova.getServer(serverId);
        const domain = before.instanceName!;
        const started = Date.now();
        await nova.liveMigrate(serverId, { host: "cmp2" });
        const migration = await until("Nova's migration record completed", MIGRATION_TIMEOUT_MS, async () => {
          const [m] = await nova.listMigrations({ instanceUuid: serverId, migrationType: "live-migration" });
          if (m && (m.status === "error" || m.status === "failed" || m.status === "cancelled")) {
            throw new Error(`the live migration ended ${m.status}: ${JSON.stringify(m)}`);
          }
          return m?.status === "completed" ? m : undefined;
        });
        timings.liveMigrationMs = Date.now() - started;
        expect(migration).toMatchObject({ sourceCompute: "cmp1", destCompute: "cmp2" });
        const after = await until("the server ACTIVE on cmp2", 60_000, async () => {
          const s = await nova.getServer(serverId);
          return s.status === "ACTIVE" && s.taskState === null ? s : undefined;
        });
        expect(after.host).toBe("cmp2");
        expect(await listDomains(state, "cmp2")).toEqual({ [domain]: "running" });
        expect(await listDomains(state, "cmp1")).toEqual({});
        // Block migration: the instance folder (disk, kernel, console log) now lives in cmp2's own /var/lib/nova.
        const consoleLog = join(
          bindSourceDir(join(STATE_DIR, "cmp2"), "/var/lib/nova"),
          "instances",
          serverId,
          "console.log",
        );
        const size = () => (existsSync(consoleLog) ? statSync(consoleLog).size : 0);
        const first = size();
        await until("the guest writing to its console on cmp2", CONSOLE_GROWTH_TIMEOUT_MS, async () =>
          size() > first ? true : undefined,
        );
        const sourceLog = readFileSync(
          join(bindSourceDir(join(STATE_DIR, "cmp1"), "/var/log/nova"), "nova-compute.log"),
          "utf8",
        );
        expect(sourceLog).toMatch(/Migration operation has completed/);
      },
      MIGRATION_TIMEOUT_MS + 120_000,
    );

    it(
      "the host's own `systemctl restart nova-compute` starts a new real nova-compute that Nova sees up",
      async () => {
        const pidPath = join(STATE_DIR, "cmp1", "nova-compute.pid");
        const oldPid = Number(readFileSync(pidPath, "utf8"));
        const since = new Date().toISOString();
        const started = Date.now();
        const restart = ssh("cmp1", "systemctl restart nova-compute && systemctl is-active nova-compute");
        expect(restart.status, restart.stderr).toBe(0);
        expect(restart.stdout.trim()).toBe("active");
        const newPid = Number(readFileSync(pidPath, "utf8"));
        expect(newPid).not.toBe(oldPid);
        expect(processStartTime(oldPid)).toBeNull();
        expect(readFileSync(`/proc/${newPid}/cmdline`, "utf8").split("\0")).toContain(
          "/usr/local/sbin/nova-compute",
        );
        await until("Nova showing cmp1's restarted nova-compute up", RESTART_UP_TIMEOUT_MS, async () => {
          const s = (await nova.computeServices()).find((x) => x.host === "cmp1");
          return s?.state === "up" && s.updatedAt !== null && `${s.updatedAt}Z` > since ? true : undefined;
        });
        timings.restartUpMs = Date.now() - started;
      },
      RESTART_UP_TIMEOUT_MS + SSH_TIMEOUT_MS,
    );

    it(
      "down stops every process (the control plane's too) and leaves no namespace, mount or folder",
      async () => {
        const recorded = readLabState(STATE_DIR).processes.map((p) => p.pid);
        const all = [...recorded, ...liveDescendants(recorded)].filter(
          (pid) => processStartTime(pid) !== null,
        );
        expect(all.length).toBeGreaterThan(20);
        const started = Date.now();
        const down = await cli(["down", "--state-dir", STATE_DIR], DOWN_TIMEOUT_MS);
        timings.downMs = Date.now() - started;
        expect(down.code, down.stderr).toBe(0);
        expect(all.filter((pid) => processStartTime(pid) !== null)).toEqual([]);
        expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).not.toMatch(/^cmp\d/m);
        expect(readFileSync("/proc/mounts", "utf8")).not.toContain(STATE_DIR);
        expect(existsSync(STATE_DIR)).toBe(false);
        // Nothing listens on the bridge address any more (the bridge itself is gone).
        expect(spawnSync("ip", ["link", "show", "mgblab0"]).status).not.toBe(0);
      },
      DOWN_TIMEOUT_MS + 10_000,
    );
  },
);
