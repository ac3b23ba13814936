/**
 * The sandbox's Keystone v3 + Nova HTTP API: a `node:http` server on loopback answering in the
 * shapes of Nova's and Keystone's API samples (`../shared/fixtures/nova-api-samples*`,
 * `keystone-api-samples`), built from the cloud's {@link ControlPlane}. This file is the server and
 * Nova's front door (version discovery, token check, microversion negotiation); Keystone is
 * `keystone.ts`, the routes `nova-routes.ts`, the JSON per microversion `nova-views.ts`.
 *
 * Microversions behave like Nova's: each response carries only the fields the sample for that
 * microversion carries, endpoints newer than the request's microversion answer 404, and an
 * out-of-range version answers 406. With `maxMicroversion: "2.25"` it behaves like Mitaka, which
 * also means it ignores the `OpenStack-API-Version` header (added in 2.27) and reads only
 * `X-OpenStack-Nova-API-Version`, and its catalog carries the project id in the compute URL as
 * Mitaka-era deployments registered it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type Logger, silentLogger } from "../log";
import { type NovaReleaseRef, novaRelease, PLACEMENT_FIRST_MAJOR, releaseIntroducing } from "../nova-facts";
import {
  atLeast,
  compareMicroversions,
  formatMicroversion,
  MV,
  parseMicroversion,
} from "../openstack/microversion";
import {
  type ApiResult,
  FAULT_CONTENT_TYPE,
  HttpError,
  newApiRequestId,
  notFound,
  novaFault,
  sendJson,
} from "./api-common";
import { type ControlPlane, ControlPlaneError } from "./control-plane";
import { handleGlance } from "./glance";
import { DEFAULT_TOKEN_TTL_SECONDS, Keystone, type SandboxCredentials } from "./keystone";
import { NovaRoutes } from "./nova-routes";
import { handlePlacement } from "./placement";

export {
  DEFAULT_TOKEN_TTL_SECONDS,
  type KeystoneAccount,
  type SandboxCredentials,
  sandboxProjectId,
} from "./keystone";

export interface NovaApiOptions {
  controlPlane: ControlPlane;
  credentials: SandboxCredentials;
  /** Highest microversion served: "2.93" is Zed-ish, "2.25" emulates Mitaka. */
  maxMicroversion: string;
  /**
   * The controller's Nova release (os-migrations filters, abort rules).
   * @defaultValue the first release whose API serves `maxMicroversion` (nova-facts `releaseIntroducing`)
   */
  release?: NovaReleaseRef;
  /** Lifetime of an issued token. @defaultValue {@link DEFAULT_TOKEN_TTL_SECONDS} */
  tokenTtlSeconds?: number;
  log?: Logger;
  /** Port on 127.0.0.1; 0 or absent picks a free one. */
  port?: number;
}

export interface NovaApi {
  /** e.g. `http://127.0.0.1:PORT/identity/v3` — what goes into clouds.yaml as `auth_url`. */
  keystoneUrl: string;
  /** e.g. `http://127.0.0.1:PORT/compute/v2.1` */
  novaUrl: string;
  close(): Promise<void>;
  stats(): { requests: number; tokensIssued: number };
}

const MIN_MICROVERSION = MV.BASE;

/** Starts the sandbox's Keystone + Nova API on 127.0.0.1. */
export async function startNovaApi(opts: NovaApiOptions): Promise<NovaApi> {
  const maxVersion = parseMicroversion(opts.maxMicroversion);
  if (!maxVersion)
    throw new Error(`maxMicroversion ${JSON.stringify(opts.maxMicroversion)} is not like "2.93"`);
  const maxMicroversion = formatMicroversion(maxVersion);
  const log = opts.log ?? silentLogger;
  const readsGenericHeader = atLeast(maxMicroversion, MV.GENERIC_VERSION_HEADER);
  const mitakaStyleCatalog = compareMicroversions(maxMicroversion, MV.BLOCK_MIGRATION_AUTO) <= 0;
  let baseUrl = "";
  let requests = 0;

  const release = novaRelease(opts.release ?? releaseIntroducing(maxMicroversion));
  const keystone = new Keystone({
    account: opts.credentials,
    tokenTtlMs: (opts.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS) * 1000,
    baseUrl: () => baseUrl,
    mitakaStyleCatalog,
    placement: release.major >= PLACEMENT_FIRST_MAJOR && opts.controlPlane.resourceProviders !== undefined,
  });
  const { projectId } = keystone;
  const routes = new NovaRoutes(opts.controlPlane, () => ({ baseUrl, projectId }), release);
  // Placement where the release has one and the control plane models it (the model's Zed-era clouds).
  const resourceProviders =
    release.major >= PLACEMENT_FIRST_MAJOR
      ? opts.controlPlane.resourceProviders?.bind(opts.controlPlane)
      : undefined;

  const server = createServer((req, res) => {
    requests++;
    handle(req, res).catch((err: unknown) => {
      log.error("sandbox api: unexpected error", { err });
      if (!res.headersSent)
        sendJson(res, 500, { computeFault: { code: 500, message: "Unexpected API Error." } });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const path = url.pathname.replace(/\/+$/, "");
    const method = req.method ?? "GET";
    const extraHeaders: Record<string, string> = {};
    const under = (prefix: string) => path === prefix || path.startsWith(`${prefix}/`);
    const service = under("/identity")
      ? "keystone"
      : under("/compute")
        ? "nova"
        : under("/image")
          ? "glance"
          : under("/placement") && resourceProviders !== undefined
            ? "placement"
            : null;
    let status = 500;
    try {
      let result: ApiResult;
      if (service === "keystone") {
        extraHeaders["x-openstack-request-id"] = newApiRequestId();
        extraHeaders.Vary = "X-Auth-Token";
        result = await keystone.handle(method, path.slice("/identity".length), req);
      } else if (service === "nova") {
        result = await nova(method, path.slice("/compute".length), url.searchParams, req, extraHeaders);
      } else if (service === "glance") {
        const sub = path.slice("/image".length);
        // Glance lists its versions to anyone; everything else passes keystonemiddleware first.
        if (!(method === "GET" && (sub === "" || sub === "/versions"))) {
          extraHeaders["x-openstack-request-id"] = newApiRequestId();
          keystone.authenticate(req);
        }
        result = handleGlance(method, sub, url.searchParams, () => opts.controlPlane.images(), baseUrl);
      } else if (service === "placement") {
        extraHeaders["x-openstack-request-id"] = newApiRequestId();
        const header = req.headers["openstack-api-version"];
        result = handlePlacement(
          method,
          path.slice("/placement".length),
          url.searchParams,
          Array.isArray(header) ? header.join(",") : header,
          resourceProviders!,
          () => keystone.authenticate(req),
          baseUrl,
        );
      } else {
        throw notFound();
      }
      status = result.status;
      sendJson(res, result.status, result.body, { ...extraHeaders, ...result.headers }, service === "nova");
    } catch (err) {
      if (err instanceof HttpError) {
        status = err.status;
        const headers = { ...extraHeaders };
        if (err.status === 401) headers["WWW-Authenticate"] = `Keystone uri="${baseUrl}/identity"`;
        // Nova's own faults carry webob's charset; keystonemiddleware's 401 and Glance's errors do not.
        else if (service === "nova") headers["Content-Type"] = FAULT_CONTENT_TYPE;
        sendJson(res, err.status, err.body, headers);
      } else if (err instanceof ControlPlaneError) {
        status = err.status;
        sendJson(res, err.status, novaFault(err.status, err.message).body, {
          ...extraHeaders,
          "Content-Type": FAULT_CONTENT_TYPE,
        });
      } else {
        throw err;
      }
    } finally {
      // Method, path and status only: headers carry the token and bodies the password.
      log.debug("sandbox api request", { method, path, status });
    }
  }

  function versionEntry() {
    return {
      id: "v2.1",
      links: [{ href: `${baseUrl}/compute/v2.1/`, rel: "self" }],
      status: "CURRENT",
      version: maxMicroversion,
      min_version: MIN_MICROVERSION,
      updated: "2013-07-23T11:33:21Z",
    };
  }

  /** One request under `/compute` (`path` without that prefix); sets the version headers in `headers`. */
  async function nova(
    method: string,
    path: string,
    query: URLSearchParams,
    req: IncomingMessage,
    headers: Record<string, string>,
  ): Promise<ApiResult> {
    // Version discovery needs no token, as in Nova.
    if (method === "GET" && path === "") {
      return {
        status: 200,
        body: {
          versions: [
            {
              id: "v2.0",
              links: [{ href: `${baseUrl}/compute/v2/`, rel: "self" }],
              status: mitakaStyleCatalog ? "SUPPORTED" : "DEPRECATED",
              version: "",
              min_version: "",
              updated: mitakaStyleCatalog ? "2011-01-21T11:33:21Z" : "2025-07-04T12:00:00Z",
            },
            versionEntry(),
          ],
        },
      };
    }
    const requestId = newApiRequestId();
    headers["x-compute-request-id"] = requestId;
    headers["x-openstack-request-id"] = requestId;
    if (method === "GET" && path === "/v2.1") {
      setVersionHeaders(headers, MIN_MICROVERSION);
      const entry = versionEntry();
      return {
        status: 200,
        body: {
          version: {
            id: entry.id,
            links: [
              ...entry.links,
              { href: "http://docs.openstack.org/", rel: "describedby", type: "text/html" },
            ],
            "media-types": [
              { base: "application/json", type: "application/vnd.openstack.compute+json;version=2.1" },
            ],
            status: entry.status,
            version: entry.version,
            min_version: entry.min_version,
            updated: entry.updated,
          },
        },
      };
    }
    if (!path.startsWith("/v2.1/")) throw notFound();

    keystone.authenticate(req);
    const mv = requestedMicroversion(req, headers);
    setVersionHeaders(headers, mv);

    const segments = path.slice("/v2.1/".length).split("/").filter(Boolean);
    // Mitaka-era catalogs carry the project id in the URL; Nova accepts both forms.
    if (segments[0] === projectId) segments.shift();
    return routes.dispatch(method, segments, query, req, mv);
  }

  /** The microversion headers of an answer at `mv` (the generic one only where the API reads it). */
  function setVersionHeaders(headers: Record<string, string>, mv: string): void {
    headers["X-OpenStack-Nova-API-Version"] = mv;
    if (readsGenericHeader) headers["OpenStack-API-Version"] = `compute ${mv}`;
    headers.Vary = readsGenericHeader
      ? "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
      : "X-OpenStack-Nova-API-Version";
  }

  /**
   * The microversion the request asks for: the generic header (2.27+), else Nova's own, else 2.1.
   * An out-of-range one is refused with 406, its own version in the answer's headers (as real Zed
   * does); a malformed one with 400 and no version headers.
   */
  function requestedMicroversion(req: IncomingMessage, headers: Record<string, string>): string {
    let raw: string | undefined;
    const generic = req.headers["openstack-api-version"];
    if (readsGenericHeader && typeof generic === "string") {
      for (const part of generic.split(",")) {
        const [service, version] = part.trim().split(/\s+/);
        if (service?.toLowerCase() === "compute" && version) raw = version;
      }
    }
    const legacy = req.headers["x-openstack-nova-api-version"];
    if (raw === undefined && typeof legacy === "string") raw = legacy.trim();
    if (raw === undefined) return MIN_MICROVERSION;
    if (raw.toLowerCase() === "latest") return maxMicroversion;
    const parsed = parseMicroversion(raw);
    if (!parsed) {
      throw novaFault(
        400,
        `API Version String ${raw} is of invalid format. Must be of format MajorNum.MinorNum.`,
      );
    }
    const version = formatMicroversion(parsed);
    if (
      compareMicroversions(version, MIN_MICROVERSION) < 0 ||
      compareMicroversions(version, maxMicroversion) > 0
    ) {
      setVersionHeaders(headers, version);
      throw novaFault(
        406,
        `Version ${version} is not supported by the API. Minimum is ${MIN_MICROVERSION} and maximum is ${maxMicroversion}.`,
      );
    }
    return version;
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;
  log.info("sandbox api listening", { keystoneUrl: `${baseUrl}/identity/v3`, maxMicroversion });

  return {
    keystoneUrl: `${baseUrl}/identity/v3`,
    novaUrl: `${baseUrl}/compute/v2.1`,
    stats: () => ({ requests, tokensIssued: keystone.tokensIssued }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
