/** The Nova client the workers use, from the config's clouds.yaml entry or OS_* variables. */

import type { IncomingHttpHeaders } from "node:http";
import { homedir } from "node:os";
import { Agent, type Dispatcher, request } from "undici";
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

/**
 * A fetch over a connection pool bounded per origin (undici's Agent; why: see
 * OPENSTACK_MAX_CONNECTIONS_PER_ORIGIN), made with `undici.request` rather than undici's fetch.
 * The OpenStack clients read only `status`, `ok`, `headers` and `text()` of an answer
 * (src/openstack/http.ts `exchange`), and fetch's WHATWG layer (Request and Response objects, web
 * streams for bodies, header guards) cost more than the HTTP exchange itself: Nova's polls were
 * ~20 % of the worker's busy time in src/bench/track.ts, most of it in that layer. Failures are
 * reported the way fetch reports them (a `TypeError` whose `cause` is the socket error, or the
 * signal's reason), so callers tell them apart as before.
 */
export function boundedFetch(connections: number = OPENSTACK_MAX_CONNECTIONS_PER_ORIGIN): FetchLike {
  const dispatcher = new Agent({ connections, keepAliveTimeout: OPENSTACK_KEEPALIVE_MS });
  return (async (input: Parameters<FetchLike>[0], init: RequestInit = {}) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const signal = init.signal ?? undefined;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        dispatcher,
        method: (init.method ?? "GET").toUpperCase() as Dispatcher.HttpMethod,
        headers: init.headers as Record<string, string> | undefined,
        body: (init.body as string | undefined) ?? null,
        ...(signal && { signal }),
      });
    } catch (err) {
      throw fetchStyleError(err, signal);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw fetchStyleError(err, signal);
    }
    return lightResponse(res.statusCode, res.headers, text);
  }) as FetchLike;
}

/** What fetch would have thrown: the signal's reason when it fired, else `TypeError("fetch failed")` with the cause. */
function fetchStyleError(err: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason;
  return new TypeError("fetch failed", { cause: err });
}

/** The part of a `Response` the OpenStack clients read, for a body already read whole. */
function lightResponse(status: number, raw: IncomingHttpHeaders, text: string): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.append(name, value);
  }
  const answer = {
    status,
    ok: status >= 200 && status < 300,
    headers,
    text: async () => text,
    json: async () => JSON.parse(text) as unknown,
  };
  return answer as unknown as Response;
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
