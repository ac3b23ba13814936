/** The Nova client the workers use, from the config's clouds.yaml entry or OS_* variables. */
import { homedir } from "node:os";
import type { Config } from "../config";
import type { Logger } from "../log";
import { loadOpenStackCredentials, readFileIfExists } from "../openstack/config";
import { KeystoneAuth } from "../openstack/keystone";
import { NovaClient } from "../openstack/nova";
import type { NovaPort } from "../openstack/port";

/** Nova from `OS_CLOUD` + clouds.yaml (`OS_CLIENT_CONFIG_FILE` first) or the `OS_*` variables. */
export async function createNova(openstack: Config["openstack"], log: Logger): Promise<NovaPort> {
  const credentials = loadOpenStackCredentials({
    env: openstack.env,
    ...(openstack.cloud !== undefined && { cloud: openstack.cloud }),
    ...(openstack.cloudsFile !== undefined && { cloudsYamlPath: openstack.cloudsFile }),
    readFile: readFileIfExists,
    cwd: process.cwd(),
    home: homedir(),
  });
  const auth = new KeystoneAuth({ credentials, log });
  return NovaClient.connect({ auth, log });
}
