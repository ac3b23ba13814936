/** The Nova client the workers use, from the config's clouds.yaml entry or OS_* variables. */
import { homedir } from "node:os";
import type { Config } from "../config";
import type { Logger } from "../log";
import { loadOpenStackCredentials, readFileIfExists } from "../openstack/config";
import type { FetchLike } from "../openstack/http";
import { KeystoneAuth } from "../openstack/keystone";
import { NovaClient } from "../openstack/nova";
import type { NovaPort } from "../openstack/port";

/** Nova from `OS_CLOUD` + clouds.yaml (`OS_CLIENT_CONFIG_FILE` first) or the `OS_*` variables. */
export async function createNova(openstack: Config["openstack"], log: Logger): Promise<NovaPort> {
  return (await connectNova(openstack, log)).nova;
}

/**
 * Nova and the Keystone session under it (readiness asks it for a token), each over its own fetch
 * (the composition root counts their requests).
 */
export async function connectNova(
  openstack: Config["openstack"],
  log: Logger,
  fetches: { keystone?: FetchLike; nova?: FetchLike } = {},
): Promise<{ nova: NovaPort; auth: KeystoneAuth }> {
  const credentials = loadOpenStackCredentials({
    env: openstack.env,
    ...(openstack.cloud !== undefined && { cloud: openstack.cloud }),
    ...(openstack.cloudsFile !== undefined && { cloudsYamlPath: openstack.cloudsFile }),
    readFile: readFileIfExists,
    cwd: process.cwd(),
    home: homedir(),
  });
  const auth = new KeystoneAuth({ credentials, log, ...(fetches.keystone && { fetch: fetches.keystone }) });
  const nova = await NovaClient.connect({ auth, log, ...(fetches.nova && { fetch: fetches.nova }) });
  return { nova, auth };
}
