/** Builds the Nova client the workers use: from clouds.yaml / OS_* in production, or for the sandbox. */

import { homedir } from "node:os";
import type { Logger } from "../log";
import type { NovaPort } from "../migration/ports";
import { loadOpenStackCredentials, readFileIfExists } from "../openstack/config";
import { KeystoneAuth } from "../openstack/keystone";
import { NovaClient } from "../openstack/nova";
import type { Sandbox } from "../sandbox";
import { SANDBOX_CLOUD_NAME } from "../sandbox/nova-records";

/** Nova from `OS_CLOUD` + clouds.yaml (`OS_CLIENT_CONFIG_FILE` first) or the `OS_*` variables. */
export async function createNovaFromEnv(
  env: Record<string, string | undefined>,
  log: Logger,
): Promise<NovaPort> {
  const credentials = loadOpenStackCredentials({
    env,
    ...(env.OS_CLOUD ? { cloud: env.OS_CLOUD } : {}),
    ...(env.OS_CLIENT_CONFIG_FILE ? { cloudsYamlPath: env.OS_CLIENT_CONFIG_FILE } : {}),
    readFile: readFileIfExists,
    cwd: process.cwd(),
    home: homedir(),
  });
  const auth = new KeystoneAuth({ credentials, log });
  return NovaClient.connect({ auth, log });
}

/** Nova for the built-in sandbox, through the same clouds.yaml a user would use. */
export async function createNovaForSandbox(
  sandbox: Pick<Sandbox, "cloudsYamlPath">,
  log: Logger,
): Promise<NovaPort> {
  return createNovaFromEnv(
    { OS_CLOUD: SANDBOX_CLOUD_NAME, OS_CLIENT_CONFIG_FILE: sandbox.cloudsYamlPath },
    log,
  );
}
