/**
 * The real-OpenStack lab as a cloud the product can be pointed at: the clouds.yaml and inventory
 * `lab up --openstack` wrote, nothing in front of Nova. `startSandboxStack({ cloud })` takes it like
 * the built-in sandbox or the lab's data plane, so the bot, unchanged, runs against real Keystone,
 * real Nova and the hosts' real nova-compute. Besides the files it offers the few admin calls a
 * scenario needs to set the cloud up (boot a server from a lab image on a host, delete it), made
 * through Nova's own API with the admin token.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { HostEntry } from "../../hosts/inventory";
import { LabError } from "../errors";
import { sleep } from "../exec";
import { readLabState } from "../lab";
import type { LabState } from "../state";
import { AUTH_URL, CLOUD_NAME, GLANCE_URL, LAB_FLAVOR, NOVA_URL } from "./layout";
import { adminToken, rest } from "./rest";

/** Nova took ~2 s to spawn a lab guest idle, 10-17 s under load (docs/lab.md); room for a busy machine. */
export const SERVER_ACTIVE_TIMEOUT_MS = 180_000;
/** Deleting a server: Nova destroys the domain and removes its folder within seconds. */
export const SERVER_DELETE_TIMEOUT_MS = 120_000;
const POLL_INTERVAL_MS = 1_000;
/**
 * The microversion of the boot request: 2.74 is the first that takes `host` (boot on a named
 * compute without the admin-only availability-zone trick) and `networks: "none"` needs 2.37.
 */
const BOOT_MICROVERSION = "2.74";

/** A server booted in the lab through Nova. */
export interface LabServer {
  id: string;
  name: string;
  host: string;
  /** The libvirt domain, `instance-%08x`. */
  instanceName: string;
}

/** What the stack needs from a cloud (see `CloudLike` in src/runtime/stack.ts), plus the lab's admin calls. */
export interface OpenStackLabCloud {
  hosts: HostEntry[];
  inventoryPath: string;
  cloudsYamlPath: string;
  /** The cloud's name in clouds.yaml (`OS_CLOUD`). */
  cloudName: string;
  lab: LabState;
  /** The admin account clouds.yaml holds (Keystone v3 URL, user, password, project, domain). */
  admin: { authUrl: string; username: string; password: string; projectName: string; domainName: string };
  /** A fresh admin token (project admin), for the scenario's own calls. */
  token(): Promise<string>;
  /** Boots a server from a lab image (`migbot-dirty`, `migbot-calm`) on `host` and waits until ACTIVE. */
  bootServer(name: string, image: string, host: string): Promise<LabServer>;
  /** Deletes a server booted through this object and waits until Nova has forgotten it. */
  deleteServer(id: string): Promise<void>;
  /** Deletes the servers booted through this object and waits until Nova has forgotten them. */
  stop(): Promise<void>;
}

/** The admin password clouds.yaml holds (mode 0600, written by `up --openstack`). */
function adminPassword(cloudsYamlPath: string): string {
  const doc = parseYaml(readFileSync(cloudsYamlPath, "utf8")) as {
    clouds?: Record<string, { auth?: { password?: unknown } }>;
  };
  const password = doc.clouds?.[CLOUD_NAME]?.auth?.password;
  if (typeof password !== "string")
    throw new LabError("LAB_NOT_UP", `${cloudsYamlPath} has no password for cloud ${CLOUD_NAME}`);
  return password;
}

/** The real-OpenStack lab in `stateDir` (brought up with `lab up --openstack`) as a cloud. */
export function openStackLabCloud(stateDir: string): OpenStackLabCloud {
  const lab = readLabState(stateDir);
  if (lab.openstack === undefined) {
    throw new LabError(
      "LAB_NOT_UP",
      `the lab in ${stateDir} runs without OpenStack — bring it up with \`npm run lab -- up --openstack --state-dir ${stateDir}\``,
    );
  }
  const inventoryPath = join(stateDir, "inventory.yaml");
  const cloudsYamlPath = join(stateDir, "clouds.yaml");
  for (const path of [inventoryPath, cloudsYamlPath]) {
    if (!existsSync(path))
      throw new LabError("LAB_NOT_UP", `${path} is missing — run \`npm run lab -- up --openstack\` again`);
  }
  const hosts = (parseYaml(readFileSync(inventoryPath, "utf8")) as { hosts: HostEntry[] }).hosts;
  const password = adminPassword(cloudsYamlPath);
  const booted: string[] = [];
  const token = () => adminToken(password);

  async function imageId(t: string, name: string): Promise<string> {
    const answer = await rest(`${GLANCE_URL}/v2/images?name=${encodeURIComponent(name)}`, { token: t });
    const id = (answer.body as { images?: { id?: unknown }[] }).images?.[0]?.id;
    if (typeof id !== "string") throw new LabError("LAB_COMMAND_FAILED", `Glance has no image ${name}`);
    return id;
  }

  async function bootServer(name: string, image: string, host: string): Promise<LabServer> {
    const t = await token();
    const created = await rest(`${NOVA_URL}/servers`, {
      token: t,
      computeMicroversion: BOOT_MICROVERSION,
      body: {
        server: { name, imageRef: await imageId(t, image), flavorRef: LAB_FLAVOR.id, networks: "none", host },
      },
    });
    const id = (created.body as { server?: { id?: unknown } }).server?.id;
    if (typeof id !== "string")
      throw new LabError("LAB_COMMAND_FAILED", `Nova created no server id: ${JSON.stringify(created.body)}`);
    booted.push(id);
    const deadline = Date.now() + SERVER_ACTIVE_TIMEOUT_MS;
    for (;;) {
      const s = (await rest(`${NOVA_URL}/servers/${id}`, { token: t })).body as {
        server: Record<string, unknown>;
      };
      const status = s.server.status;
      if (status === "ACTIVE") {
        return {
          id,
          name,
          host: String(s.server["OS-EXT-SRV-ATTR:host"]),
          instanceName: String(s.server["OS-EXT-SRV-ATTR:instance_name"]),
        };
      }
      if (status === "ERROR" || Date.now() > deadline) {
        throw new LabError(
          status === "ERROR" ? "LAB_COMMAND_FAILED" : "LAB_TIMEOUT",
          `server ${name} is ${String(status)} (fault ${JSON.stringify(s.server.fault ?? null)}) — see the hosts' /var/log/nova/nova-compute.log`,
        );
      }
      await sleep(POLL_INTERVAL_MS);
    }
  }

  async function deleteServer(id: string): Promise<void> {
    const t = await token();
    const at = booted.indexOf(id);
    if (at >= 0) booted.splice(at, 1);
    await rest(`${NOVA_URL}/servers/${id}`, {
      token: t,
      method: "DELETE",
      ok: (s) => s === 204 || s === 404,
    });
    const deadline = Date.now() + SERVER_DELETE_TIMEOUT_MS;
    for (;;) {
      const answer = await rest(`${NOVA_URL}/servers/${id}`, { token: t, ok: (s) => s === 200 || s === 404 });
      if (answer.status === 404) return;
      if (Date.now() > deadline) {
        throw new LabError(
          "LAB_TIMEOUT",
          `Nova still lists server ${id} ${SERVER_DELETE_TIMEOUT_MS} ms after its deletion`,
        );
      }
      await sleep(POLL_INTERVAL_MS);
    }
  }

  async function stop(): Promise<void> {
    for (const id of [...booted]) await deleteServer(id);
  }

  return {
    hosts,
    inventoryPath,
    cloudsYamlPath,
    cloudName: CLOUD_NAME,
    lab,
    admin: { authUrl: AUTH_URL, username: "admin", password, projectName: "admin", domainName: "Default" },
    token,
    bootServer,
    deleteServer,
    stop,
  };
}
