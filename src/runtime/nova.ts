/** The Nova client the workers use, from the config's clouds.yaml entry or OS_* variables. */
import { homedir } from "node:os";
import { Agent, fetch as undiciFetch } from "undici";
import type { Config } from "../config";
import type { Logger } from "../log";
import { loadOpenStackCredentials, readFileIfExists } from "../openstack/config";
import type { FetchLike } from "../openstack/http";
import { KeystoneAuth } from "../openstack/keystone";
import { NovaClient } from "../openstack/nova";
import type { NovaPort } from "../openstack/port";

/**
 * Connections a worker keeps open to one OpenStack endpoint at most. Without a bound, fetch opens a
 * socket per concurrent request: a worker following 400 migrations held ~560 sockets (and their
 * buffers) to Nova — memory the worker needs for the migrations, and load a real nova-api with a
 * few workers should not get from one client. Requests beyond it wait their turn.
 */
export const OPENSTACK_MAX_CONNECTIONS_PER_ORIGIN = 16;
/** How long an idle kept-alive connection to an OpenStack endpoint stays open. */
export const OPENSTACK_KEEPALIVE_MS = 4_000;

/** fetch over a connection pool bounded per origin (undici's Agent; why: see OPENSTACK_MAX_CONNECTIONS_PER_ORIGIN). */
export function boundedFetch(connections: number = OPENSTACK_MAX_CONNECTIONS_PER_ORIGIN): FetchLike {
  const dispatcher = new Agent({ connections, keepAliveTimeout: OPENSTACK_KEEPALIVE_MS });
  return ((input: Parameters<FetchLike>[0], init?: RequestInit) =>
    undiciFetch(input as Parameters<typeof undiciFetch>[0], {
      ...(init as Parameters<typeof undiciFetch>[1]),
      dispatcher,
    }) as unknown as Promise<Response>) as FetchLike;
}

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
