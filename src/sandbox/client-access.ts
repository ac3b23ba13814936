/**
 * How a client reaches a sandbox cloud (the model's or the lab's): the admin account its Keystone
 * serves, the Keystone + Nova API in front of the cloud's control plane, and the files a user points
 * migbot or the `openstack` client at — clouds.yaml and the host inventory.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import type { HostEntry } from "../hosts/inventory";
import type { Logger } from "../log";
import type { ControlPlane } from "./control-plane";
import type { KeystoneAccount } from "./keystone";
import { startNovaApi } from "./nova-api";
import { SANDBOX_CLOUD_NAME } from "./nova-records";

/** The account with the Keystone URL it authenticates at: what clouds.yaml holds. */
export interface SandboxClientCredentials extends KeystoneAccount {
  authUrl: string;
}

/** What a client needs to use a sandbox cloud. */
export interface SandboxAccess {
  keystoneUrl: string;
  novaUrl: string;
  credentials: SandboxClientCredentials;
  /** A clouds.yaml text with one cloud named {@link SANDBOX_CLOUD_NAME}. */
  cloudsYaml: string;
  cloudsYamlPath: string;
  /** The inventory as YAML (`{ hosts: HostEntry[] }`). */
  inventoryPath: string;
}

/** The admin account every sandbox Keystone serves; only the password differs per start. */
export function sandboxAdminCredentials(password: string): KeystoneAccount {
  return {
    username: "admin",
    password,
    projectName: "admin",
    userDomainName: "Default",
    projectDomainName: "Default",
    regionName: "RegionOne",
  };
}

/**
 * Writes the files a user points migbot at: clouds.yaml (one cloud named {@link SANDBOX_CLOUD_NAME},
 * mode 0600 as it holds the password) and the inventory (`{ hosts }`), both into `dataDir`.
 */
export async function writeSandboxClientFiles(
  dataDir: string,
  credentials: SandboxClientCredentials,
  hosts: HostEntry[],
): Promise<{ cloudsYaml: string; cloudsYamlPath: string; inventoryPath: string }> {
  const cloudsYaml = stringify({
    clouds: {
      [SANDBOX_CLOUD_NAME]: {
        auth: {
          auth_url: credentials.authUrl,
          username: credentials.username,
          password: credentials.password,
          project_name: credentials.projectName,
          user_domain_name: credentials.userDomainName,
          project_domain_name: credentials.projectDomainName,
        },
        region_name: credentials.regionName,
        interface: "public",
        identity_api_version: 3,
      },
    },
  });
  const cloudsYamlPath = join(dataDir, "clouds.yaml");
  await writeFile(cloudsYamlPath, cloudsYaml, { mode: 0o600 });
  const inventoryPath = join(dataDir, "inventory.yaml");
  await writeFile(inventoryPath, stringify({ hosts }));
  return { cloudsYaml, cloudsYamlPath, inventoryPath };
}

/**
 * Serves a control plane as Keystone + Nova on loopback for `account`, and writes clouds.yaml and
 * the inventory of `hosts` into `dataDir`. `close()` stops the API.
 */
export async function serveSandboxNova(opts: {
  controlPlane: ControlPlane;
  account: KeystoneAccount;
  /** Highest microversion served: "2.93" is Zed-ish, "2.25" emulates Mitaka. */
  maxMicroversion: string;
  dataDir: string;
  hosts: HostEntry[];
  log: Logger;
}): Promise<SandboxAccess & { close(): Promise<void> }> {
  const api = await startNovaApi({
    controlPlane: opts.controlPlane,
    credentials: opts.account,
    maxMicroversion: opts.maxMicroversion,
    log: opts.log,
  });
  try {
    const credentials: SandboxClientCredentials = { authUrl: api.keystoneUrl, ...opts.account };
    const files = await writeSandboxClientFiles(opts.dataDir, credentials, opts.hosts);
    return {
      keystoneUrl: api.keystoneUrl,
      novaUrl: api.novaUrl,
      credentials,
      ...files,
      close: () => api.close(),
    };
  } catch (err) {
    await api.close();
    throw err;
  }
}
