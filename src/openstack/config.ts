/**
 * Keystone credentials the way operators already configure their OpenStack CLI: a `clouds.yaml`
 * entry picked by cloud name (plus `secure.yaml`, merged over it), or the `OS_*` environment
 * variables of an openrc file. Pure functions: the caller passes the environment and a file
 * reader, so tests need no real home folder.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigInvalidError } from "./errors";

export type EndpointInterface = "public" | "internal" | "admin";

export interface OpenStackCredentials {
  /** Keystone, e.g. `https://keystone.example.com:5000/v3` (with or without `/v3`). */
  authUrl: string;
  username: string;
  password: string;
  /** Project to scope the token to: a name (with its domain) or an id. */
  projectName?: string;
  projectId?: string;
  /** The user's domain, by name or by id (Keystone accepts either). */
  userDomainName?: string;
  userDomainId?: string;
  projectDomainName?: string;
  projectDomainId?: string;
  /** Region of the compute endpoint; null takes the only region the catalog offers. */
  regionName: string | null;
  /** Catalog interface to use. @defaultValue "public" */
  interface: EndpointInterface;
  /** Where the values came from, for messages (never the values themselves). */
  source: string;
}

export type Env = Record<string, string | undefined>;
export type ReadFile = (path: string) => string | undefined;

const INTERFACES: EndpointInterface[] = ["public", "internal", "admin"];
const PASSWORD_AUTH_TYPES = new Set(["password", "v3password"]);

/** Where openstacksdk looks for clouds.yaml, in order (`OS_CLIENT_CONFIG_FILE` first). */
export function cloudsYamlSearchPaths(env: Env, cwd: string, home: string): string[] {
  const paths = [
    join(cwd, "clouds.yaml"),
    join(home, ".config/openstack/clouds.yaml"),
    "/etc/openstack/clouds.yaml",
  ];
  return env.OS_CLIENT_CONFIG_FILE ? [env.OS_CLIENT_CONFIG_FILE, ...paths] : paths;
}

/** Where openstacksdk looks for secure.yaml, in order (`OS_CLIENT_SECURE_FILE` first). */
export function secureYamlSearchPaths(env: Env, cwd: string, home: string): string[] {
  const paths = [
    join(cwd, "secure.yaml"),
    join(home, ".config/openstack/secure.yaml"),
    "/etc/openstack/secure.yaml",
  ];
  return env.OS_CLIENT_SECURE_FILE ? [env.OS_CLIENT_SECURE_FILE, ...paths] : paths;
}

function nonEmpty(value: unknown): string | undefined {
  if (typeof value === "number") return String(value);
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

function parseInterface(value: string | undefined, field: string, source: string): EndpointInterface {
  if (value === undefined) return "public";
  // openstacksdk also accepts the keystone v2 spellings "publicURL" etc.
  const normalized = value.replace(/URL$/, "") as EndpointInterface;
  if (!INTERFACES.includes(normalized)) {
    throw new ConfigInvalidError(`${source}: ${field} is "${value}"; use public, internal or admin`);
  }
  return normalized;
}

interface RawFields {
  authUrl?: string;
  username?: string;
  password?: string;
  projectName?: string;
  projectId?: string;
  userDomainName?: string;
  userDomainId?: string;
  projectDomainName?: string;
  projectDomainId?: string;
}

/** Checks that every field Keystone needs is there; `name` maps a field to how the user spells it. */
function complete(
  raw: RawFields,
  name: (field: keyof RawFields) => string,
  hint: string,
  source: string,
  regionName: string | null,
  iface: EndpointInterface,
): OpenStackCredentials {
  const missing = (field: keyof RawFields) =>
    new ConfigInvalidError(`${source}: ${name(field)} is missing; ${hint}`);
  if (!raw.authUrl) throw missing("authUrl");
  if (!/^https?:\/\//.test(raw.authUrl)) {
    throw new ConfigInvalidError(`${source}: ${name("authUrl")} must start with http:// or https://`);
  }
  if (!raw.username) throw missing("username");
  if (!raw.password) throw missing("password");
  if (!raw.projectName && !raw.projectId) throw missing("projectName");
  if (!raw.userDomainName && !raw.userDomainId) throw missing("userDomainName");
  if (raw.projectName && !raw.projectId && !raw.projectDomainName && !raw.projectDomainId) {
    throw missing("projectDomainName");
  }
  return {
    authUrl: raw.authUrl,
    username: raw.username,
    password: raw.password,
    projectName: raw.projectName,
    projectId: raw.projectId,
    userDomainName: raw.userDomainName,
    userDomainId: raw.userDomainId,
    projectDomainName: raw.projectDomainName,
    projectDomainId: raw.projectDomainId,
    regionName,
    interface: iface,
    source,
  };
}

const ENV_NAMES: Record<keyof RawFields, string> = {
  authUrl: "OS_AUTH_URL",
  username: "OS_USERNAME",
  password: "OS_PASSWORD",
  projectName: "OS_PROJECT_NAME",
  projectId: "OS_PROJECT_ID",
  userDomainName: "OS_USER_DOMAIN_NAME",
  userDomainId: "OS_USER_DOMAIN_ID",
  projectDomainName: "OS_PROJECT_DOMAIN_NAME",
  projectDomainId: "OS_PROJECT_DOMAIN_ID",
};

/** Credentials from an openrc-style environment (`OS_AUTH_URL`, `OS_USERNAME`, ...). */
export function credentialsFromEnv(env: Env): OpenStackCredentials {
  const source = "OS_* environment";
  const authType = nonEmpty(env.OS_AUTH_TYPE);
  if (authType && !PASSWORD_AUTH_TYPES.has(authType)) {
    throw new ConfigInvalidError(
      `${source}: OS_AUTH_TYPE is "${authType}"; migbot supports password auth only`,
    );
  }
  const raw: RawFields = {};
  for (const [field, variable] of Object.entries(ENV_NAMES) as Array<[keyof RawFields, string]>) {
    raw[field] = nonEmpty(env[variable]);
  }
  // Keystone v2-era openrc files say TENANT; openstacksdk still honours it.
  raw.projectName ??= nonEmpty(env.OS_TENANT_NAME);
  raw.projectId ??= nonEmpty(env.OS_TENANT_ID);
  return complete(
    raw,
    (f) => ENV_NAMES[f],
    "export it (e.g. source your openrc file) or set OS_CLOUD to a clouds.yaml entry",
    source,
    nonEmpty(env.OS_REGION_NAME) ?? null,
    parseInterface(nonEmpty(env.OS_INTERFACE) ?? nonEmpty(env.OS_ENDPOINT_TYPE), "OS_INTERFACE", source),
  );
}

const YAML_NAMES: Record<keyof RawFields, string> = {
  authUrl: "auth.auth_url",
  username: "auth.username",
  password: "auth.password",
  projectName: "auth.project_name",
  projectId: "auth.project_id",
  userDomainName: "auth.user_domain_name",
  userDomainId: "auth.user_domain_id",
  projectDomainName: "auth.project_domain_name",
  projectDomainId: "auth.project_domain_id",
};

function parseYamlFile(text: string, path: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigInvalidError(`${path} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  return isObject(doc) ? doc : {};
}

/** Credentials from one `clouds.yaml` entry, with `secure.yaml`'s entry of the same name merged over it. */
export function credentialsFromCloudsYaml(opts: {
  cloud: string;
  cloudsYaml: string;
  cloudsYamlPath?: string;
  secureYaml?: string;
  secureYamlPath?: string;
}): OpenStackCredentials {
  const path = opts.cloudsYamlPath ?? "clouds.yaml";
  const clouds = parseYamlFile(opts.cloudsYaml, path).clouds;
  const names = isObject(clouds) ? Object.keys(clouds) : [];
  const found = isObject(clouds) ? clouds[opts.cloud] : undefined;
  if (!isObject(found)) {
    throw new ConfigInvalidError(
      `${path} has no cloud named "${opts.cloud}" (it has: ${names.join(", ") || "none"}); pick one with --cloud or OS_CLOUD`,
    );
  }
  let entry: Record<string, unknown> = found;
  if (opts.secureYaml !== undefined) {
    const secureClouds = parseYamlFile(opts.secureYaml, opts.secureYamlPath ?? "secure.yaml").clouds;
    const secureEntry = isObject(secureClouds) ? secureClouds[opts.cloud] : undefined;
    if (isObject(secureEntry)) entry = deepMerge(entry, secureEntry);
  }
  const source = `clouds.yaml cloud "${opts.cloud}" (${path})`;
  const authType = nonEmpty(entry.auth_type);
  if (authType && !PASSWORD_AUTH_TYPES.has(authType)) {
    throw new ConfigInvalidError(`${source}: auth_type is "${authType}"; migbot supports password auth only`);
  }
  const auth = isObject(entry.auth) ? entry.auth : {};
  const raw: RawFields = {};
  for (const [field, dotted] of Object.entries(YAML_NAMES) as Array<[keyof RawFields, string]>) {
    raw[field] = nonEmpty(auth[dotted.slice("auth.".length)]);
  }
  raw.projectName ??= nonEmpty(auth.tenant_name);
  raw.projectId ??= nonEmpty(auth.tenant_id);
  const regions = Array.isArray(entry.regions) ? entry.regions : [];
  const firstRegion =
    regions.length > 0 ? nonEmpty(isObject(regions[0]) ? regions[0].name : regions[0]) : undefined;
  return complete(
    raw,
    (f) => YAML_NAMES[f],
    `add it under clouds.${opts.cloud} (secrets may go in secure.yaml)`,
    source,
    nonEmpty(entry.region_name) ?? firstRegion ?? null,
    parseInterface(nonEmpty(entry.interface) ?? nonEmpty(entry.endpoint_type), "interface", source),
  );
}

export interface LoadCredentialsOptions {
  env: Env;
  /** A clouds.yaml cloud name; defaults to `OS_CLOUD`. Without either, `OS_*` variables are used. */
  cloud?: string;
  /** An explicit clouds.yaml path, searched before the usual places. */
  cloudsYamlPath?: string;
  /** Returns a file's text, or undefined when it does not exist. */
  readFile: ReadFile;
  cwd: string;
  home: string;
}

/** Picks clouds.yaml (by cloud name) or the `OS_*` environment, like the openstack CLI does. */
export function loadOpenStackCredentials(opts: LoadCredentialsOptions): OpenStackCredentials {
  const cloud = opts.cloud ?? nonEmpty(opts.env.OS_CLOUD);
  if (cloud === undefined) return credentialsFromEnv(opts.env);
  const candidates = cloudsYamlSearchPaths(opts.env, opts.cwd, opts.home);
  if (opts.cloudsYamlPath) candidates.unshift(opts.cloudsYamlPath);
  for (const path of candidates) {
    const text = opts.readFile(path);
    if (text === undefined) continue;
    let secureYaml: string | undefined;
    let secureYamlPath: string | undefined;
    for (const securePath of secureYamlSearchPaths(opts.env, opts.cwd, opts.home)) {
      secureYaml = opts.readFile(securePath);
      if (secureYaml !== undefined) {
        secureYamlPath = securePath;
        break;
      }
    }
    return credentialsFromCloudsYaml({
      cloud,
      cloudsYaml: text,
      cloudsYamlPath: path,
      secureYaml,
      secureYamlPath,
    });
  }
  throw new ConfigInvalidError(
    `cloud "${cloud}" was asked for, but no clouds.yaml was found (looked in ${candidates.join(", ")}); create one or unset OS_CLOUD to use OS_* variables`,
  );
}

/** A {@link ReadFile} on the real filesystem. */
export const readFileIfExists: ReadFile = (path) => {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ConfigInvalidError(`cannot read ${path}: ${(err as Error).message}`);
  }
};
