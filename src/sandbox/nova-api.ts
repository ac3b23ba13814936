/**
 * The sandbox's Keystone v3 + Nova HTTP API: a `node:http` server on loopback answering in the
 * shapes of Nova's and Keystone's API samples (`../shared/fixtures/nova-api-samples*`,
 * `keystone-api-samples`), built from the cloud's {@link ControlPlane}.
 *
 * Microversions behave like Nova's: each response carries only the fields the sample for that
 * microversion carries, endpoints newer than the request's microversion answer 404, and an
 * out-of-range version answers 406. With `maxMicroversion: "2.25"` it behaves like Mitaka, which
 * also means it ignores the `OpenStack-API-Version` header (added in 2.27) and reads only
 * `X-OpenStack-Nova-API-Version`, and its catalog carries the project id in the compute URL as
 * Mitaka-era deployments registered it.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type Logger, silentLogger } from "../log";
import {
  atLeast,
  compareMicroversions,
  formatMicroversion,
  MV,
  parseMicroversion,
} from "../openstack/microversion";
import {
  type CloudHypervisor,
  type CloudMigration,
  type CloudServer,
  type CloudService,
  type ControlPlane,
  ControlPlaneError,
  type LiveMigrateRequest,
} from "./control-plane";

export interface SandboxCredentials {
  authUrl?: string;
  username: string;
  password: string;
  projectName: string;
  userDomainName: string;
  projectDomainName: string;
  regionName: string;
}

export interface NovaApiOptions {
  controlPlane: ControlPlane;
  credentials: SandboxCredentials;
  /** Highest microversion served: "2.93" is Zed-ish, "2.25" emulates Mitaka. */
  maxMicroversion: string;
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

/** Keystone's default token lifetime (`[token] expiration`). */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;
/** Request bodies above this are refused; Nova's own limit (`max_request_body_size`) is 112 KiB. */
const MAX_REQUEST_BODY_BYTES = 112 * 1024;
/** Nova's `[api] max_limit`: the most items one list page holds. */
const NOVA_MAX_LIMIT = 1000;
const MIN_MICROVERSION = MV.BASE;
/** Live-migration statuses Nova counts as in progress (`GET /servers/{id}/migrations`). */
const IN_PROGRESS_STATUSES = new Set(["queued", "preparing", "running", "post-migrating"]);

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}`);
  }
}

/** Nova's fault names by status (nova/api/openstack/wsgi.py `Fault._fault_names`). */
const NOVA_FAULT_NAMES: Record<number, string> = {
  400: "badRequest",
  401: "unauthorized",
  403: "forbidden",
  404: "itemNotFound",
  405: "badMethod",
  409: "conflictingRequest",
  413: "overLimit",
  415: "badMediaType",
  429: "overLimit",
  501: "notImplemented",
  503: "serviceUnavailable",
};

function novaFault(status: number, message: string): HttpError {
  return new HttpError(status, { [NOVA_FAULT_NAMES[status] ?? "computeFault"]: { code: status, message } });
}

const KEYSTONE_TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
};

function keystoneError(status: number, message: string): HttpError {
  return new HttpError(status, {
    error: { code: status, message, title: KEYSTONE_TITLES[status] ?? "Error" },
  });
}

/** keystonemiddleware's answer to a missing or invalid token, on every Nova route. */
const UNAUTHORIZED_MESSAGE = "The request you have made requires authentication.";

function hexId(seed: string): string {
  return createHash("md5").update(seed).digest("hex");
}

/** A stable UUID derived from a seed, for ids Nova shows as UUIDs from 2.53 on. */
function uuidFrom(seed: string): string {
  const h = hexId(seed);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Keystone's "Default" domain has the id "default"; others get hex ids. */
function domainId(name: string): string {
  return name === "Default" ? "default" : hexId(`domain:${name}`);
}

/** Keystone's timestamps carry microseconds: `2015-11-07T02:58:43.578887Z`. */
function keystoneTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "000Z");
}

/** Nova's DB timestamps: `2016-01-29T13:42:02.000000`. */
function novaDbTime(iso: string): string {
  return new Date(iso).toISOString().replace(/Z$/, "000");
}

/** Server `created`/`updated`: `2013-09-03T04:01:32Z`. */
function novaServerTime(iso: string): string {
  return new Date(iso).toISOString().replace(/\.\d{3}Z$/, "Z");
}

const NOVA_BOOLEAN_TRUE = new Set(["true", "1", "on", "yes"]);
const NOVA_BOOLEAN_FALSE = new Set(["false", "0", "off", "no"]);

/** Nova's `parameter_types.boolean`: JSON booleans or their usual string spellings. */
function novaBoolean(value: unknown): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (typeof value === "string") {
    const lower = value.toLowerCase();
    if (NOVA_BOOLEAN_TRUE.has(lower)) return true;
    if (NOVA_BOOLEAN_FALSE.has(lower)) return false;
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The Keystone project id the sandbox's token is scoped to. Servers whose `tenantId` is this show
 * in `GET /servers/detail` without `all_tenants`, as a project's own servers do in Nova.
 */
export function sandboxProjectId(
  credentials: Pick<SandboxCredentials, "projectName" | "projectDomainName">,
): string {
  return hexId(`project:${credentials.projectDomainName}/${credentials.projectName}`);
}

/** Starts the sandbox's Keystone + Nova API on 127.0.0.1. */
export async function startNovaApi(opts: NovaApiOptions): Promise<NovaApi> {
  const { controlPlane, credentials } = opts;
  const maxVersion = parseMicroversion(opts.maxMicroversion);
  if (!maxVersion)
    throw new Error(`maxMicroversion ${JSON.stringify(opts.maxMicroversion)} is not like "2.93"`);
  const maxMicroversion = formatMicroversion(maxVersion);
  const tokenTtlMs = (opts.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS) * 1000;
  const log = opts.log ?? silentLogger;
  const readsGenericHeader = atLeast(maxMicroversion, MV.GENERIC_VERSION_HEADER);
  const mitakaStyleCatalog = compareMicroversions(maxMicroversion, MV.BLOCK_MIGRATION_AUTO) <= 0;

  const projectId = sandboxProjectId(credentials);
  const userId = hexId(`user:${credentials.userDomainName}/${credentials.username}`);
  const tokens = new Map<string, { expiresAtMs: number }>();
  const counters = { requests: 0, tokensIssued: 0 };
  let baseUrl = "";

  const server = createServer((req, res) => {
    counters.requests++;
    handle(req, res).catch((err: unknown) => {
      log.error("sandbox api: unexpected error", { err });
      if (!res.headersSent) send(res, 500, { computeFault: { code: 500, message: "Unexpected API Error." } });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const path = url.pathname.replace(/\/+$/, "");
    const method = req.method ?? "GET";
    const extraHeaders: Record<string, string> = {};
    let status = 500;
    try {
      let result: { status: number; body?: unknown; headers?: Record<string, string> };
      if (path === "/identity" || path.startsWith("/identity/")) {
        result = await keystone(method, path.slice("/identity".length), req);
      } else if (path === "/compute" || path.startsWith("/compute/")) {
        result = await nova(method, path.slice("/compute".length), url.searchParams, req, extraHeaders);
      } else {
        throw novaFault(404, "The resource could not be found.");
      }
      status = result.status;
      send(res, result.status, result.body, { ...extraHeaders, ...result.headers });
    } catch (err) {
      if (err instanceof HttpError) {
        status = err.status;
        const headers = { ...extraHeaders };
        if (err.status === 401) headers["WWW-Authenticate"] = `Keystone uri="${baseUrl}/identity"`;
        send(res, err.status, err.body, headers);
      } else if (err instanceof ControlPlaneError) {
        status = err.status;
        send(res, err.status, novaFault(err.status, err.message).body, extraHeaders);
      } else {
        throw err;
      }
    } finally {
      // Method, path and status only: headers carry the token and bodies the password.
      log.debug("sandbox api request", { method, path, status });
    }
  }

  // ---------------------------------------------------------------- Keystone

  async function keystone(method: string, path: string, req: IncomingMessage) {
    if (method === "GET" && (path === "/v3" || path === "")) {
      return {
        status: 200,
        body: {
          version: {
            id: "v3.14",
            status: "stable",
            updated: "2020-04-07T00:00:00Z",
            links: [{ rel: "self", href: `${baseUrl}/identity/v3/` }],
            "media-types": [{ base: "application/json", type: "application/vnd.openstack.identity-v3+json" }],
          },
        },
      };
    }
    if (path !== "/v3/auth/tokens") throw keystoneError(404, "The resource could not be found.");
    if (method !== "POST") throw keystoneError(404, "The resource could not be found.");
    const body = await readJson(req, (m) => keystoneError(400, m));
    const auth = isObject(body) && isObject(body.auth) ? body.auth : undefined;
    const identity = auth && isObject(auth.identity) ? auth.identity : undefined;
    if (!identity) throw keystoneError(400, "'identity' is a required property");
    const methods = identity.methods;
    if (!Array.isArray(methods) || !methods.includes("password")) {
      throw keystoneError(401, UNAUTHORIZED_MESSAGE);
    }
    const user =
      isObject(identity.password) && isObject(identity.password.user) ? identity.password.user : {};
    const userDomain = isObject(user.domain) ? user.domain : {};
    const userOk =
      user.name === credentials.username &&
      user.password === credentials.password &&
      (userDomain.name === credentials.userDomainName ||
        userDomain.id === domainId(credentials.userDomainName));
    const scope =
      auth && isObject(auth.scope) && isObject(auth.scope.project) ? auth.scope.project : undefined;
    const scopeDomain = scope && isObject(scope.domain) ? scope.domain : {};
    const scopeOk =
      scope !== undefined &&
      (scope.id === projectId ||
        (scope.name === credentials.projectName &&
          (scopeDomain.name === credentials.projectDomainName ||
            scopeDomain.id === domainId(credentials.projectDomainName))));
    // Keystone answers the same 401 for a wrong user, password or project, so nothing leaks.
    if (!userOk || !scopeOk) throw keystoneError(401, UNAUTHORIZED_MESSAGE);

    const now = Date.now();
    const expiresAtMs = now + tokenTtlMs;
    // Fernet-looking tokens: the project's logger redacts this shape should one ever be logged.
    const token = `gAAAAA${randomBytes(48).toString("base64url")}`;
    tokens.set(token, { expiresAtMs });
    counters.tokensIssued++;
    for (const [t, v] of tokens) if (v.expiresAtMs < now) tokens.delete(t);

    const computeUrl = mitakaStyleCatalog
      ? `${baseUrl}/compute/v2.1/${projectId}`
      : `${baseUrl}/compute/v2.1`;
    const endpoint = (iface: string, url: string, kind: string) => ({
      region_id: credentials.regionName,
      url,
      region: credentials.regionName,
      interface: iface,
      id: hexId(`endpoint:${kind}:${iface}`),
    });
    const userDomainId = domainId(credentials.userDomainName);
    return {
      status: 201,
      headers: { "X-Subject-Token": token },
      body: {
        token: {
          methods: ["password"],
          roles: [{ id: hexId("role:admin"), name: "admin" }],
          expires_at: keystoneTime(expiresAtMs),
          project: {
            domain: { id: domainId(credentials.projectDomainName), name: credentials.projectDomainName },
            id: projectId,
            name: credentials.projectName,
          },
          is_domain: false,
          catalog: [
            {
              endpoints: ["public", "admin", "internal"].map((i) =>
                endpoint(i, `${baseUrl}/identity/v3`, "identity"),
              ),
              type: "identity",
              id: hexId("service:identity"),
              name: "keystone",
            },
            {
              endpoints: ["admin", "internal", "public"].map((i) => endpoint(i, computeUrl, "compute")),
              type: "compute",
              id: hexId("service:compute"),
              name: "nova",
            },
          ],
          extras: {},
          user: {
            domain: { id: userDomainId, name: credentials.userDomainName },
            id: userId,
            name: credentials.username,
          },
          audit_ids: [randomBytes(16).toString("base64url").slice(0, 22)],
          issued_at: keystoneTime(now),
        },
      },
    };
  }

  // ---------------------------------------------------------------- Nova

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

  async function nova(
    method: string,
    path: string,
    query: URLSearchParams,
    req: IncomingMessage,
    headers: Record<string, string>,
  ) {
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
    if (method === "GET" && path === "/v2.1") {
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
    if (!path.startsWith("/v2.1/")) throw novaFault(404, "The resource could not be found.");

    authenticate(req);
    const mv = requestedMicroversion(req);
    headers["X-OpenStack-Nova-API-Version"] = mv;
    if (readsGenericHeader) headers["OpenStack-API-Version"] = `compute ${mv}`;
    headers.Vary = readsGenericHeader
      ? "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
      : "X-OpenStack-Nova-API-Version";

    const segments = path.slice("/v2.1/".length).split("/").filter(Boolean);
    // Mitaka-era catalogs carry the project id in the URL; Nova accepts both forms.
    if (segments[0] === projectId) segments.shift();
    return route(method, segments, query, req, mv);
  }

  function authenticate(req: IncomingMessage): void {
    const token = req.headers["x-auth-token"];
    const entry = typeof token === "string" ? tokens.get(token) : undefined;
    if (!entry || entry.expiresAtMs <= Date.now()) {
      throw new HttpError(401, {
        error: { code: 401, title: "Unauthorized", message: UNAUTHORIZED_MESSAGE },
      });
    }
  }

  function requestedMicroversion(req: IncomingMessage): string {
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
      throw novaFault(
        406,
        `Version ${version} is not supported by the API. Minimum is ${MIN_MICROVERSION} and maximum is ${maxMicroversion}.`,
      );
    }
    return version;
  }

  function requireVersion(mv: string, min: string): void {
    // Nova's VersionNotFoundForAPIMethod renders as a 404.
    if (!atLeast(mv, min)) throw novaFault(404, `API version ${mv} is not supported on this method.`);
  }

  function findServer(id: string): CloudServer {
    const server = controlPlane.getServer(id);
    if (!server) throw novaFault(404, `Instance ${id} could not be found.`);
    return server;
  }

  function migrationOf(serverId: string, migrationIdText: string): CloudMigration {
    const migrationId = Number(migrationIdText);
    const migration = Number.isInteger(migrationId)
      ? controlPlane.getMigration(serverId, migrationId)
      : undefined;
    if (
      !migration ||
      !IN_PROGRESS_STATUSES.has(migration.status) ||
      migration.migrationType !== "live-migration"
    ) {
      throw novaFault(
        404,
        `In-progress live migration ${migrationIdText} is not found for server ${serverId}.`,
      );
    }
    return migration;
  }

  async function route(
    method: string,
    seg: string[],
    query: URLSearchParams,
    req: IncomingMessage,
    mv: string,
  ): Promise<{ status: number; body?: unknown }> {
    const [top, id, sub, mid, tail] = seg;
    const n = seg.length;
    if (top === "servers") {
      if (method === "GET" && n === 2 && id === "detail") return listServers(query, mv);
      if (id === undefined || id === "detail") throw novaFault(404, "The resource could not be found.");
      if (method === "GET" && n === 2)
        return { status: 200, body: { server: renderServer(findServer(id), mv) } };
      if (method === "POST" && n === 3 && sub === "action") {
        findServer(id);
        return serverAction(id, await readJson(req, (m) => novaFault(400, m)), mv);
      }
      if (sub === "migrations") {
        if (method === "GET" && n === 3) {
          requireVersion(mv, MV.SERVER_MIGRATIONS);
          findServer(id);
          const migrations = controlPlane
            .listMigrations({ instanceUuid: id, migrationType: "live-migration", inProgressOnly: true })
            .filter((m) => IN_PROGRESS_STATUSES.has(m.status));
          return { status: 200, body: { migrations: migrations.map((m) => renderServerMigration(m, mv)) } };
        }
        if (method === "GET" && n === 4 && mid !== undefined) {
          requireVersion(mv, MV.SERVER_MIGRATIONS);
          findServer(id);
          return { status: 200, body: { migration: renderServerMigration(migrationOf(id, mid), mv) } };
        }
        if (method === "POST" && n === 5 && mid !== undefined && tail === "action") {
          requireVersion(mv, MV.FORCE_COMPLETE);
          findServer(id);
          const body = await readJson(req, (m) => novaFault(400, m));
          if (!isObject(body) || !("force_complete" in body) || body.force_complete !== null) {
            throw novaFault(
              400,
              `Invalid input for field/attribute force_complete. Value: ${JSON.stringify(body)}. 'force_complete' is a required property`,
            );
          }
          const migration = migrationOf(id, mid);
          controlPlane.forceComplete(id, migration.id);
          return { status: 202 };
        }
        if (method === "DELETE" && n === 4 && mid !== undefined) {
          requireVersion(mv, MV.ABORT_MIGRATION);
          findServer(id);
          const migration = migrationOf(id, mid);
          controlPlane.abortMigration(id, migration.id);
          return { status: 202 };
        }
      }
    }
    if (method === "GET" && n === 1 && top === "os-migrations") return listOsMigrations(query, mv);
    if (method === "GET" && n === 2 && top === "os-hypervisors" && id === "detail") {
      return listHypervisors(query, mv);
    }
    if (method === "GET" && n === 1 && top === "os-services") {
      const binary = query.get("binary");
      const host = query.get("host");
      const services = controlPlane
        .services()
        .filter((s) => (binary === null || s.binary === binary) && (host === null || s.host === host));
      return { status: 200, body: { services: services.map((s) => renderService(s, mv)) } };
    }
    throw novaFault(404, "The resource could not be found.");
  }

  function serverAction(serverId: string, body: unknown, mv: string): { status: number; body?: unknown } {
    if (!isObject(body) || Object.keys(body).length !== 1) {
      throw novaFault(400, "Malformed request body");
    }
    const [action, args] = Object.entries(body)[0]!;
    if (action === "os-migrateLive") {
      controlPlane.liveMigrate(serverId, validateLiveMigrate(args, mv));
      return { status: 202 };
    }
    if (action === "reboot") {
      const type = isObject(args) ? args.type : undefined;
      if (typeof type !== "string" || !["HARD", "SOFT"].includes(type.toUpperCase())) {
        throw novaFault(
          400,
          `Invalid input for field/attribute type. Value: ${String(type)}. ${JSON.stringify(type)} is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']`,
        );
      }
      if (type.toUpperCase() !== "HARD") {
        // The control plane models hard reboots only; saying so beats pretending a soft one happened.
        throw novaFault(400, "The sandbox cloud models only HARD reboots.");
      }
      controlPlane.hardReboot(serverId);
      return { status: 202 };
    }
    throw novaFault(400, `There is no such action: ${action}`);
  }

  /** os-migrateLive's body schema per microversion (nova/api/openstack/compute/schemas/migrate_server.py). */
  function validateLiveMigrate(args: unknown, mv: string): LiveMigrateRequest {
    const invalid = (detail: string) =>
      novaFault(
        400,
        `Invalid input for field/attribute os-migrateLive. Value: ${JSON.stringify(args)}. ${detail}`,
      );
    if (!isObject(args)) throw invalid(`${JSON.stringify(args)} is not of type 'object'`);
    const allowed = new Set(["host", "block_migration"]);
    const required = ["block_migration", "host"];
    const autoAllowed = atLeast(mv, MV.BLOCK_MIGRATION_AUTO);
    if (!autoAllowed) {
      allowed.add("disk_over_commit");
      required.push("disk_over_commit");
    }
    if (atLeast(mv, MV.LIVE_MIGRATE_FORCE) && !atLeast(mv, MV.LIVE_MIGRATE_NO_FORCE)) allowed.add("force");
    for (const key of required) if (!(key in args)) throw invalid(`'${key}' is a required property`);
    const extra = Object.keys(args).filter((k) => !allowed.has(k));
    if (extra.length > 0) {
      throw invalid(
        `Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(", ")} ${extra.length === 1 ? "was" : "were"} unexpected)`,
      );
    }
    const host = args.host;
    if (host !== null && (typeof host !== "string" || host.length === 0 || host.length > 255)) {
      throw novaFault(
        400,
        `Invalid input for field/attribute host. Value: ${JSON.stringify(host)}. ${JSON.stringify(host)} is not of type 'string', 'null'`,
      );
    }
    let blockMigration: boolean | "auto";
    if (autoAllowed && args.block_migration === "auto") {
      blockMigration = "auto";
    } else {
      const parsed = novaBoolean(args.block_migration);
      if (parsed === undefined) {
        throw novaFault(
          400,
          `Invalid input for field/attribute block_migration. Value: ${String(args.block_migration)}. ${JSON.stringify(args.block_migration)} is not a valid boolean${autoAllowed ? " or 'auto'" : ""}`,
        );
      }
      blockMigration = parsed;
    }
    for (const key of ["disk_over_commit", "force"]) {
      if (key in args && novaBoolean(args[key]) === undefined) {
        throw novaFault(
          400,
          `Invalid input for field/attribute ${key}. Value: ${String(args[key])}. ${JSON.stringify(args[key])} is not a valid boolean`,
        );
      }
    }
    return { host, blockMigration, asyncPrecheck: atLeast(mv, MV.ASYNC_LIVE_MIGRATION_PRECHECK) };
  }

  function listServers(query: URLSearchParams, mv: string) {
    const allTenants = query.has("all_tenants") && novaBoolean(query.get("all_tenants") || "true") !== false;
    const nameFilter = query.get("name");
    let nameRe: RegExp | null = null;
    if (nameFilter !== null) {
      try {
        // Nova matches `name` as a regular expression (a search, not anchored), as MySQL's REGEXP does.
        nameRe = new RegExp(nameFilter);
      } catch {
        throw novaFault(400, `Invalid regular expression in name filter: ${nameFilter}`);
      }
    }
    const host = query.get("host");
    const status = query.get("status");
    const servers = controlPlane
      .listServers()
      .filter(
        (s) =>
          (allTenants || s.tenantId === projectId) &&
          (nameRe === null || nameRe.test(s.name)) &&
          (host === null || s.host === host) &&
          (status === null || s.status === status.toUpperCase()),
      );
    const page = paginate(servers, (s) => s.id, query, "servers/detail", true);
    const body: Record<string, unknown> = { servers: page.items.map((s) => renderServer(s, mv)) };
    if (page.next) body.servers_links = [{ href: page.next, rel: "next" }];
    return { status: 200, body };
  }

  function listOsMigrations(query: URLSearchParams, mv: string) {
    const instanceUuid = query.get("instance_uuid") ?? undefined;
    const migrationType = query.get("migration_type") ?? undefined;
    const status = query.get("status");
    const sourceCompute = query.get("source_compute");
    let migrations = controlPlane
      .listMigrations({ instanceUuid, migrationType })
      .filter(
        (m) =>
          (status === null || m.status === status) &&
          (sourceCompute === null || m.sourceCompute === sourceCompute) &&
          (instanceUuid === undefined || m.serverId === instanceUuid) &&
          (migrationType === undefined || m.migrationType === migrationType),
      );
    const paged = atLeast(mv, MV.MIGRATION_UUID);
    if (paged) {
      // From 2.59 Nova sorts newest first (created_at, then id, descending) and pages.
      migrations = [...migrations].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id - a.id);
    }
    const page = paged
      ? paginate(migrations, (m) => m.uuid, query, "os-migrations", false)
      : { items: migrations, next: null };
    const body: Record<string, unknown> = { migrations: page.items.map((m) => renderOsMigration(m, mv)) };
    if (page.next) body.migrations_links = [{ href: page.next, rel: "next" }];
    return { status: 200, body };
  }

  function listHypervisors(query: URLSearchParams, mv: string) {
    const services = controlPlane.services();
    const hypervisors = controlPlane.hypervisors();
    const paged = atLeast(mv, MV.HYPERVISOR_PAGING);
    const uuids = atLeast(mv, MV.UUID_IDS);
    const page = paged
      ? paginate(hypervisors, (h) => (uuids ? h.uuid : String(h.id)), query, "os-hypervisors/detail", false)
      : { items: hypervisors, next: null };
    const body: Record<string, unknown> = {
      hypervisors: page.items.map((h) => renderHypervisor(h, services, mv)),
    };
    if (page.next) body.hypervisors_links = [{ href: page.next, rel: "next" }];
    return { status: 200, body };
  }

  /** Nova's limit/marker paging: a `next` link whenever a page came back full. */
  function paginate<T>(
    items: T[],
    idOf: (item: T) => string,
    query: URLSearchParams,
    resource: string,
    capAtMaxLimit: boolean,
  ): { items: T[]; next: string | null } {
    const marker = query.get("marker");
    const limitText = query.get("limit");
    let start = 0;
    if (marker !== null) {
      const index = items.findIndex((item) => idOf(item) === marker);
      if (index < 0) throw novaFault(400, `marker [${marker}] not found`);
      start = index + 1;
    }
    let limit = capAtMaxLimit ? NOVA_MAX_LIMIT : Number.POSITIVE_INFINITY;
    if (limitText !== null) {
      const parsed = Number(limitText);
      if (!Number.isInteger(parsed) || parsed < 0) throw novaFault(400, "limit param must be an integer");
      limit = Math.min(parsed, NOVA_MAX_LIMIT);
    }
    const pageItems = items.slice(start, start + limit);
    const full = pageItems.length === limit && pageItems.length > 0;
    const last = pageItems[pageItems.length - 1];
    let next: string | null = null;
    if (full && last !== undefined && (limitText !== null || start + limit < items.length)) {
      // Like Nova's _get_next_link: the request's own parameters (filters included) plus the marker.
      const params = new URLSearchParams(query);
      params.set("limit", String(limit));
      params.set("marker", idOf(last));
      next = `${baseUrl}/compute/v2.1/${projectId}/${resource}?${params.toString()}`;
    }
    return { items: pageItems, next };
  }

  // ---------------------------------------------------------------- renderers

  function renderServer(s: CloudServer, mv: string): Record<string, unknown> {
    const v = (min: string) => atLeast(mv, min);
    const flavorId = s.flavor.name;
    const o: Record<string, unknown> = {
      "OS-DCF:diskConfig": "AUTO",
      "OS-EXT-AZ:availability_zone": "nova",
      "OS-EXT-SRV-ATTR:host": s.host,
      "OS-EXT-SRV-ATTR:hypervisor_hostname": s.hypervisorHostname,
      "OS-EXT-SRV-ATTR:instance_name": s.instanceName,
    };
    if (v(MV.EXTENDED_SERVER_ATTRS)) {
      Object.assign(o, {
        "OS-EXT-SRV-ATTR:hostname": s.name.toLowerCase().replace(/[^a-z0-9-]+/g, "-"),
        "OS-EXT-SRV-ATTR:kernel_id": "",
        "OS-EXT-SRV-ATTR:launch_index": 0,
        "OS-EXT-SRV-ATTR:ramdisk_id": "",
        "OS-EXT-SRV-ATTR:reservation_id": `r-${hexId(`reservation:${s.id}`).slice(0, 8)}`,
        "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
        "OS-EXT-SRV-ATTR:user_data": null,
      });
    }
    Object.assign(o, {
      "OS-EXT-STS:power_state": s.powerState,
      "OS-EXT-STS:task_state": s.taskState,
      "OS-EXT-STS:vm_state": s.vmState,
      "OS-SRV-USG:launched_at": novaDbTime(s.created),
      "OS-SRV-USG:terminated_at": null,
      accessIPv4: "",
      accessIPv6: "",
      addresses: {},
      config_drive: "",
      created: novaServerTime(s.created),
      flavor: v(MV.EMBEDDED_FLAVOR)
        ? {
            disk: s.flavor.diskGb,
            ephemeral: 0,
            extra_specs: {},
            original_name: s.flavor.name,
            ram: s.flavor.ramMb,
            swap: 0,
            vcpus: s.flavor.vcpus,
          }
        : {
            id: flavorId,
            links: [{ href: `${baseUrl}/compute/${s.tenantId}/flavors/${flavorId}`, rel: "bookmark" }],
          },
      // Nova's hostId: sha224 of the project id and the host, so tenants can tell co-location apart.
      hostId: createHash("sha224").update(`${s.tenantId}${s.host}`).digest("hex"),
      id: s.id,
      image: {
        id: uuidFrom(`image:${s.id}`),
        links: [
          { href: `${baseUrl}/compute/${s.tenantId}/images/${uuidFrom(`image:${s.id}`)}`, rel: "bookmark" },
        ],
      },
      key_name: null,
      links: [
        { href: `${baseUrl}/compute/v2.1/${s.tenantId}/servers/${s.id}`, rel: "self" },
        { href: `${baseUrl}/compute/${s.tenantId}/servers/${s.id}`, rel: "bookmark" },
      ],
      metadata: {},
      name: s.name,
      "os-extended-volumes:volumes_attached": [],
      progress: 0,
      security_groups: [{ name: "default" }],
      status: s.status,
      tenant_id: s.tenantId,
      updated: novaServerTime(s.updated),
      user_id: s.userId,
    });
    if (v(MV.LOCKED)) o.locked = false;
    if (v(MV.HOST_STATUS)) o.host_status = hostStatus(s.host);
    if (v(MV.DESCRIPTION)) o.description = null;
    if (v(MV.TAGS)) o.tags = [];
    if (v(MV.TRUSTED_CERTS)) o.trusted_image_certificates = null;
    if (v(MV.SERVER_GROUPS)) o.server_groups = [];
    if (v(MV.LOCKED_REASON)) o.locked_reason = null;
    if (v(MV.PINNED_AZ)) o.pinned_availability_zone = null;
    if (v(MV.SCHEDULER_HINTS)) o.scheduler_hints = {};
    return o;
  }

  /** Nova's `host_status`: DOWN when forced down, UNKNOWN when heartbeats stopped, MAINTENANCE when disabled. */
  function hostStatus(host: string): string {
    const service = controlPlane.services().find((s) => s.binary === "nova-compute" && s.host === host);
    if (!service) return "";
    if (service.forcedDown) return "DOWN";
    if (service.state !== "up") return "UNKNOWN";
    if (service.status === "disabled") return "MAINTENANCE";
    return "UP";
  }

  function renderServerMigration(m: CloudMigration, mv: string): Record<string, unknown> {
    const o: Record<string, unknown> = {
      created_at: novaDbTime(m.createdAt),
      dest_compute: m.destCompute,
      dest_host: m.destHost,
      dest_node: m.destNode,
      id: m.id,
      server_uuid: m.serverId,
      source_compute: m.sourceCompute,
      source_node: m.sourceNode,
      status: m.status,
      memory_total_bytes: m.memoryTotalBytes,
      memory_processed_bytes: m.memoryProcessedBytes,
      memory_remaining_bytes: m.memoryRemainingBytes,
      disk_total_bytes: m.diskTotalBytes,
      disk_processed_bytes: m.diskProcessedBytes,
      disk_remaining_bytes: m.diskRemainingBytes,
      updated_at: novaDbTime(m.updatedAt),
    };
    if (atLeast(mv, MV.MIGRATION_UUID)) o.uuid = m.uuid;
    if (atLeast(mv, MV.MIGRATION_USER_PROJECT)) {
      o.user_id = m.userId;
      o.project_id = m.projectId;
    }
    return o;
  }

  function renderOsMigration(m: CloudMigration, mv: string): Record<string, unknown> {
    const withType = atLeast(mv, MV.SERVER_MIGRATIONS);
    const o: Record<string, unknown> = {
      created_at: novaDbTime(m.createdAt),
      dest_compute: m.destCompute,
      dest_host: m.destHost,
      dest_node: m.destNode,
      id: m.id,
      instance_uuid: m.serverId,
    };
    // Links point at the server-migrations resource, which only shows in-progress live migrations.
    if (withType && m.migrationType === "live-migration" && IN_PROGRESS_STATUSES.has(m.status)) {
      o.links = [
        {
          href: `${baseUrl}/compute/v2.1/${projectId}/servers/${m.serverId}/migrations/${m.id}`,
          rel: "self",
        },
        { href: `${baseUrl}/compute/${projectId}/servers/${m.serverId}/migrations/${m.id}`, rel: "bookmark" },
      ];
    }
    Object.assign(o, {
      new_instance_type_id: m.newInstanceTypeId,
      old_instance_type_id: m.oldInstanceTypeId,
      source_compute: m.sourceCompute,
      source_node: m.sourceNode,
      status: m.status,
    });
    if (withType) o.migration_type = m.migrationType;
    o.updated_at = novaDbTime(m.updatedAt);
    if (atLeast(mv, MV.MIGRATION_UUID)) o.uuid = m.uuid;
    if (atLeast(mv, MV.MIGRATION_USER_PROJECT)) {
      o.user_id = m.userId;
      o.project_id = m.projectId;
    }
    return o;
  }

  function serviceId(s: { id: number; host: string }, mv: string): number | string {
    return atLeast(mv, MV.UUID_IDS) ? uuidFrom(`service:${s.id}:${s.host}`) : s.id;
  }

  function renderHypervisor(
    h: CloudHypervisor,
    services: CloudService[],
    mv: string,
  ): Record<string, unknown> {
    const service = services.find((s) => s.id === h.serviceId);
    const serviceBody = {
      host: h.serviceHost,
      id: serviceId({ id: h.serviceId, host: h.serviceHost }, mv),
      disabled_reason: service?.disabledReason ?? null,
    };
    const id = atLeast(mv, MV.UUID_IDS) ? h.uuid : h.id;
    if (atLeast(mv, MV.HYPERVISOR_NO_STATS)) {
      return {
        host_ip: h.hostIp,
        hypervisor_hostname: h.hypervisorHostname,
        hypervisor_type: h.hypervisorType,
        hypervisor_version: h.hypervisorVersion,
        id,
        service: serviceBody,
        state: h.state,
        status: h.status,
        uptime: null,
      };
    }
    return {
      cpu_info: atLeast(mv, MV.CPU_INFO_OBJECT) ? h.cpuInfo : JSON.stringify(h.cpuInfo),
      current_workload: 0,
      status: h.status,
      state: h.state,
      disk_available_least: h.freeDiskGb,
      host_ip: h.hostIp,
      free_disk_gb: h.freeDiskGb,
      free_ram_mb: h.freeRamMb,
      hypervisor_hostname: h.hypervisorHostname,
      hypervisor_type: h.hypervisorType,
      hypervisor_version: h.hypervisorVersion,
      id,
      local_gb: h.localGb,
      local_gb_used: h.localGbUsed,
      memory_mb: h.memoryMb,
      memory_mb_used: h.memoryMbUsed,
      running_vms: h.runningVms,
      service: serviceBody,
      vcpus: h.vcpus,
      vcpus_used: h.vcpusUsed,
    };
  }

  function renderService(s: CloudService, mv: string): Record<string, unknown> {
    const o: Record<string, unknown> = {
      id: serviceId(s, mv),
      binary: s.binary,
      disabled_reason: s.disabledReason,
      host: s.host,
      state: s.state,
      status: s.status,
      updated_at: novaDbTime(s.updatedAt),
    };
    if (atLeast(mv, MV.SERVICE_FORCED_DOWN)) o.forced_down = s.forcedDown;
    o.zone = s.zone;
    return o;
  }

  // ---------------------------------------------------------------- plumbing

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
    stats: () => ({ ...counters }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function readJson(req: IncomingMessage, fail: (message: string) => HttpError): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BODY_BYTES) throw fail("Request body too large");
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw fail("Malformed request body");
  try {
    return JSON.parse(text);
  } catch {
    throw fail("Malformed request body");
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}
