/**
 * The sandbox's Keystone v3: one admin account, password authentication scoped to its project,
 * Fernet-looking tokens with Keystone's lifetime, and a catalog with the identity, compute and image
 * endpoints (the compute URL carries the project id when the API emulates Mitaka, as Mitaka-era
 * deployments registered it). Answers in the shapes of `keystone-api-samples`.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { type ApiResult, HttpError, hexId, isObject, readJson } from "./api-common";

/** The one account the sandbox's Keystone serves. */
export interface KeystoneAccount {
  username: string;
  password: string;
  projectName: string;
  userDomainName: string;
  projectDomainName: string;
  regionName: string;
}

/** The account, with the Keystone URL it authenticates at when one is known. */
export interface SandboxCredentials extends KeystoneAccount {
  authUrl?: string;
}

/** Keystone's default token lifetime (`[token] expiration`). */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;
/** keystonemiddleware's answer to a missing or invalid token, on every Nova route. */
const UNAUTHORIZED_MESSAGE = "The request you have made requires authentication.";
/** Length of a token's random part, bytes (a Fernet token carries about this much). */
const TOKEN_RANDOM_BYTES = 48;
/** Length of an `audit_ids` entry, characters. */
const AUDIT_ID_CHARS = 22;

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

/** Keystone's "Default" domain has the id "default"; others get hex ids. */
function domainId(name: string): string {
  return name === "Default" ? "default" : hexId(`domain:${name}`);
}

/** Keystone's timestamps carry microseconds: `2015-11-07T02:58:43.578887Z`. */
function keystoneTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "000Z");
}

/**
 * The Keystone project id the sandbox's token is scoped to. Servers whose `tenantId` is this show
 * in `GET /servers/detail` without `all_tenants`, as a project's own servers do in Nova.
 */
export function sandboxProjectId(
  account: Pick<KeystoneAccount, "projectName" | "projectDomainName">,
): string {
  return hexId(`project:${account.projectDomainName}/${account.projectName}`);
}

export interface KeystoneOptions {
  account: KeystoneAccount;
  tokenTtlMs: number;
  /** `http://127.0.0.1:PORT`, known once the server listens. */
  baseUrl: () => string;
  /** Put the project id in the compute URL, as Mitaka-era deployments registered it. */
  mitakaStyleCatalog: boolean;
  /** List a placement service (at `/placement`): Newton-and-later clouds have one. @defaultValue false */
  placement?: boolean;
}

export class Keystone {
  readonly projectId: string;
  private readonly userId: string;
  private readonly tokens = new Map<string, { expiresAtMs: number }>();
  private issued = 0;

  constructor(private readonly opts: KeystoneOptions) {
    const { account } = opts;
    this.projectId = sandboxProjectId(account);
    this.userId = hexId(`user:${account.userDomainName}/${account.username}`);
  }

  /** Tokens issued since start. */
  get tokensIssued(): number {
    return this.issued;
  }

  /** Throws keystonemiddleware's 401 unless the request carries a token this Keystone issued and still honours. */
  authenticate(req: IncomingMessage): void {
    const token = req.headers["x-auth-token"];
    const entry = typeof token === "string" ? this.tokens.get(token) : undefined;
    if (!entry || entry.expiresAtMs <= Date.now()) {
      throw new HttpError(401, {
        error: { code: 401, title: "Unauthorized", message: UNAUTHORIZED_MESSAGE },
      });
    }
  }

  /** One request under `/identity` (`path` without that prefix). */
  async handle(method: string, path: string, req: IncomingMessage): Promise<ApiResult> {
    const baseUrl = this.opts.baseUrl();
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
    return this.issueToken(await readJson(req, (m) => keystoneError(400, m)), baseUrl);
  }

  /** `POST /v3/auth/tokens` with the password method, scoped to the account's project. */
  private issueToken(body: unknown, baseUrl: string): ApiResult {
    const { account } = this.opts;
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
      user.name === account.username &&
      user.password === account.password &&
      (userDomain.name === account.userDomainName || userDomain.id === domainId(account.userDomainName));
    const scope =
      auth && isObject(auth.scope) && isObject(auth.scope.project) ? auth.scope.project : undefined;
    const scopeDomain = scope && isObject(scope.domain) ? scope.domain : {};
    const scopeOk =
      scope !== undefined &&
      (scope.id === this.projectId ||
        (scope.name === account.projectName &&
          (scopeDomain.name === account.projectDomainName ||
            scopeDomain.id === domainId(account.projectDomainName))));
    // Keystone answers the same 401 for a wrong user, password or project, so nothing leaks.
    if (!userOk || !scopeOk) throw keystoneError(401, UNAUTHORIZED_MESSAGE);

    const now = Date.now();
    const expiresAtMs = now + this.opts.tokenTtlMs;
    // Fernet-looking tokens: the project's logger redacts this shape should one ever be logged.
    const token = `gAAAAA${randomBytes(TOKEN_RANDOM_BYTES).toString("base64url")}`;
    this.tokens.set(token, { expiresAtMs });
    this.issued++;
    for (const [t, v] of this.tokens) if (v.expiresAtMs < now) this.tokens.delete(t);

    const computeUrl = this.opts.mitakaStyleCatalog
      ? `${baseUrl}/compute/v2.1/${this.projectId}`
      : `${baseUrl}/compute/v2.1`;
    const endpoint = (iface: string, url: string, kind: string) => ({
      region_id: account.regionName,
      url,
      region: account.regionName,
      interface: iface,
      id: hexId(`endpoint:${kind}:${iface}`),
    });
    const userDomainId = domainId(account.userDomainName);
    return {
      status: 201,
      headers: { "X-Subject-Token": token },
      body: {
        token: {
          methods: ["password"],
          roles: [{ id: hexId("role:admin"), name: "admin" }],
          expires_at: keystoneTime(expiresAtMs),
          project: {
            domain: { id: domainId(account.projectDomainName), name: account.projectDomainName },
            id: this.projectId,
            name: account.projectName,
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
            {
              // The stock client looks the image service up for `server list` and `server show`.
              endpoints: ["admin", "internal", "public"].map((i) => endpoint(i, `${baseUrl}/image`, "image")),
              type: "image",
              id: hexId("service:image"),
              name: "glance",
            },
            ...(this.opts.placement
              ? [
                  {
                    endpoints: ["admin", "internal", "public"].map((i) =>
                      endpoint(i, `${baseUrl}/placement`, "placement"),
                    ),
                    type: "placement",
                    id: hexId("service:placement"),
                    name: "placement",
                  },
                ]
              : []),
          ],
          user: {
            domain: { id: userDomainId, name: account.userDomainName },
            id: this.userId,
            name: account.username,
            password_expires_at: null,
          },
          audit_ids: [randomBytes(16).toString("base64url").slice(0, AUDIT_ID_CHARS)],
          issued_at: keystoneTime(now),
        },
      },
    };
  }
}
