/**
 * Keystone v3 password authentication: one project-scoped token, reused until shortly before it
 * expires, and the compute endpoint from its catalog.
 */
import { type Logger, silentLogger } from "../log";
import type { EndpointInterface, OpenStackCredentials } from "./config";
import {
  AuthFailedError,
  ConfigInvalidError,
  OpenStackError,
  remoteErrorMessage,
  ServerError,
} from "./errors";
import { exchange, type FetchLike, safeUrl } from "./http";

/** A token is renewed this long before `expires_at` (keystoneauth's MIN_TOKEN_LIFE_SECONDS is 120 s). */
export const TOKEN_REFRESH_MARGIN_MS = 120_000;
/** How long one token request may take. */
export const KEYSTONE_REQUEST_TIMEOUT_MS = 15_000;

export interface CatalogEndpoint {
  url: string;
  interface: string;
  region: string | null;
}

export interface CatalogService {
  type: string;
  name: string | null;
  endpoints: CatalogEndpoint[];
}

export interface KeystoneToken {
  /** The `X-Subject-Token`. Never log it. */
  value: string;
  expiresAtMs: number;
  projectId: string;
  catalog: CatalogService[];
}

/** Keystone's token endpoint for an `auth_url` given with or without `/v3`. */
export function tokensUrl(authUrl: string): string {
  const base = authUrl.replace(/\/+$/, "");
  return /\/v3$/.test(base) ? `${base}/auth/tokens` : `${base}/v3/auth/tokens`;
}

/** Keystone's v3 password-auth request body, scoped to the project. */
export function passwordAuthBody(c: OpenStackCredentials): unknown {
  const userDomain = c.userDomainId ? { id: c.userDomainId } : { name: c.userDomainName };
  const project = c.projectId
    ? { id: c.projectId }
    : {
        name: c.projectName,
        domain: c.projectDomainId ? { id: c.projectDomainId } : { name: c.projectDomainName },
      };
  return {
    auth: {
      identity: {
        methods: ["password"],
        password: { user: { name: c.username, domain: userDomain, password: c.password } },
      },
      scope: { project },
    },
  };
}

function str(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

/** Reads a `POST /v3/auth/tokens` answer body (Keystone's sample shape). */
export function parseTokenBody(body: unknown, subjectToken: string): KeystoneToken {
  const token = (body as { token?: Record<string, unknown> } | undefined)?.token;
  const expiresAtMs = Date.parse(String(token?.expires_at ?? ""));
  const projectId = str((token?.project as { id?: unknown } | undefined)?.id);
  if (!token || Number.isNaN(expiresAtMs) || !projectId) {
    throw new ServerError(
      "Keystone's token answer lacks expires_at or a project; is auth_url a Keystone v3 endpoint?",
    );
  }
  const catalog: CatalogService[] = [];
  for (const service of Array.isArray(token.catalog) ? token.catalog : []) {
    const s = service as Record<string, unknown>;
    const type = str(s.type);
    if (!type) continue;
    const endpoints: CatalogEndpoint[] = [];
    for (const endpoint of Array.isArray(s.endpoints) ? s.endpoints : []) {
      const e = endpoint as Record<string, unknown>;
      const url = str(e.url);
      const iface = str(e.interface);
      if (url && iface) endpoints.push({ url, interface: iface, region: str(e.region_id) ?? str(e.region) });
    }
    catalog.push({ type, name: str(s.name), endpoints });
  }
  return { value: subjectToken, expiresAtMs, projectId, catalog };
}

/** The URL of a service in the catalog for an interface and (optionally) a region. */
export function findEndpoint(
  catalog: CatalogService[],
  type: string,
  iface: EndpointInterface,
  region: string | null,
): string {
  const services = catalog.filter((s) => s.type === type);
  if (services.length === 0) {
    throw new ConfigInvalidError(
      `the Keystone catalog has no "${type}" service (it has: ${catalog.map((s) => s.type).join(", ")}); is this user allowed to see Nova?`,
    );
  }
  const withInterface = services.flatMap((s) => s.endpoints).filter((e) => e.interface === iface);
  const regions = [...new Set(withInterface.map((e) => e.region ?? "(none)"))];
  const candidates = region === null ? withInterface : withInterface.filter((e) => e.region === region);
  if (candidates.length === 0) {
    throw new ConfigInvalidError(
      `the Keystone catalog has no ${iface} "${type}" endpoint${region ? ` in region "${region}"` : ""} (regions with one: ${regions.join(", ") || "none"}); set region_name / OS_REGION_NAME or interface`,
    );
  }
  if (region === null && regions.length > 1) {
    throw new ConfigInvalidError(
      `the Keystone catalog has "${type}" endpoints in several regions (${regions.join(", ")}); set region_name / OS_REGION_NAME`,
    );
  }
  return candidates[0]!.url;
}

export interface KeystoneAuthOptions {
  credentials: OpenStackCredentials;
  /** @defaultValue the global fetch */
  fetch?: FetchLike;
  /** @defaultValue {@link KEYSTONE_REQUEST_TIMEOUT_MS} */
  timeoutMs?: number;
  /** Renew this long before expiry. @defaultValue {@link TOKEN_REFRESH_MARGIN_MS} */
  refreshMarginMs?: number;
  /** Clock, for tests. @defaultValue Date.now */
  now?: () => number;
  log?: Logger;
}

/** Holds one project-scoped token; concurrent callers share one token request. */
export class KeystoneAuth {
  private current: KeystoneToken | null = null;
  private pending: Promise<KeystoneToken> | null = null;
  private requests = 0;
  private readonly fetchImpl: FetchLike;
  private readonly timeoutMs: number;
  private readonly marginMs: number;
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly opts: KeystoneAuthOptions) {
    this.fetchImpl = opts.fetch ?? fetch;
    this.timeoutMs = opts.timeoutMs ?? KEYSTONE_REQUEST_TIMEOUT_MS;
    this.marginMs = opts.refreshMarginMs ?? TOKEN_REFRESH_MARGIN_MS;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? silentLogger;
  }

  /** The catalog interface endpoints are taken from (public, internal, admin). */
  get interface(): EndpointInterface {
    return this.opts.credentials.interface;
  }

  /** The region endpoints are taken from; null = the only one. */
  get regionName(): string | null {
    return this.opts.credentials.regionName;
  }

  /** How many token requests this instance has sent. */
  get tokenRequests(): number {
    return this.requests;
  }

  /** A token valid for at least the refresh margin, fetching a new one when needed. */
  async token(): Promise<KeystoneToken> {
    if (this.current && this.current.expiresAtMs - this.marginMs > this.now()) return this.current;
    this.pending ??= this.authenticate().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  /** Forgets a token Nova refused (401), so the next {@link token} call authenticates again. */
  invalidate(tokenValue: string): void {
    if (this.current?.value === tokenValue) this.current = null;
  }

  /** The compute endpoint for the configured interface and region. */
  async computeEndpoint(): Promise<string> {
    const token = await this.token();
    return findEndpoint(
      token.catalog,
      "compute",
      this.opts.credentials.interface,
      this.opts.credentials.regionName,
    );
  }

  private async authenticate(): Promise<KeystoneToken> {
    const c = this.opts.credentials;
    const url = tokensUrl(c.authUrl);
    this.requests++;
    const answer = await exchange(
      this.fetchImpl,
      url,
      {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(passwordAuthBody(c)),
      },
      this.timeoutMs,
      "Keystone",
    );
    const remote = remoteErrorMessage(answer.body);
    const who = `user "${c.username}" on project "${c.projectName ?? c.projectId}" (from ${c.source})`;
    if (answer.status === 401 || answer.status === 403) {
      throw new AuthFailedError(
        `Keystone at ${safeUrl(url)} refused ${who}: ${remote ?? `HTTP ${answer.status}`}. Check the password, user and project domains, and the project name`,
        { httpStatus: answer.status, remoteMessage: remote },
      );
    }
    if (answer.status === 404) {
      throw new AuthFailedError(
        `Keystone has no v3 token endpoint at ${safeUrl(url)}; check auth_url / OS_AUTH_URL`,
        { httpStatus: 404, remoteMessage: remote },
      );
    }
    if (answer.status >= 500) {
      throw new ServerError(`Keystone at ${safeUrl(url)} failed (HTTP ${answer.status}); try again shortly`, {
        httpStatus: answer.status,
        remoteMessage: remote,
      });
    }
    if (answer.status !== 201 && answer.status !== 200) {
      throw new AuthFailedError(
        `Keystone at ${safeUrl(url)} answered HTTP ${answer.status} for ${who}: ${remote ?? ""}`,
        {
          httpStatus: answer.status,
          remoteMessage: remote,
        },
      );
    }
    const subject = answer.headers.get("x-subject-token");
    if (!subject)
      throw new ServerError(`Keystone at ${safeUrl(url)} answered without an X-Subject-Token header`);
    let token: KeystoneToken;
    try {
      token = parseTokenBody(answer.body, subject);
    } catch (err) {
      throw err instanceof OpenStackError ? err : new ServerError(String(err));
    }
    this.current = token;
    this.log.debug("keystone token issued", {
      expiresAt: new Date(token.expiresAtMs).toISOString(),
      projectId: token.projectId,
    });
    return token;
  }
}
