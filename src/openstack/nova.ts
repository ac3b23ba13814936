/**
 * Nova client: microversion negotiation against the cloud's version document, and the typed calls
 * migbot needs. Works from Mitaka (2.25 at most) to current Nova; where an older microversion lacks
 * an endpoint or a field, the call falls back or the field is null, as each method says.
 */
import { type Logger, silentLogger } from "../log";
import { IN_PROGRESS_LIVE_MIGRATION_STATUSES } from "../nova-facts";
import {
  AuthFailedError,
  NovaAmbiguousNameError,
  NovaBadRequestError,
  NovaConflictError,
  NovaNotFoundError,
  NovaUnsupportedError,
  remoteErrorMessage,
  ServerError,
  TimeoutError,
} from "./errors";
import { exchange, type FetchLike, type HttpAnswer, safeUrl } from "./http";
import type { KeystoneAuth } from "./keystone";
import { atLeast, compareMicroversions, formatMicroversion, MV, parseMicroversion } from "./microversion";
import { type PlacementAnswer, PlacementClient, placementEndpoint } from "./placement";

/** The newest microversion whose responses this client has been checked against (Nova's samples). */
export const CLIENT_MAX_MICROVERSION = "2.96";
/** How long one Nova request may take. */
export const NOVA_REQUEST_TIMEOUT_MS = 30_000;
/** Upper bound on pages followed for one list, so a looping `next` link cannot hang a worker. */
export const MAX_LIST_PAGES = 100;
/** Nova stamps records in UTC on its own clock: an action this much older than migbot's trigger still counts. */
const NOVA_CLOCK_SKEW_MS = 120_000;
/** The last microversion whose hypervisor details carry free_ram_mb, vcpus_used and friends. */
export const HYPERVISOR_STATS_LAST_MICROVERSION = "2.87";

export interface Server {
  id: string;
  name: string;
  status: string;
  /** `OS-EXT-SRV-ATTR:host`, the compute service's host (admin only). */
  host: string | null;
  hypervisorHostname: string | null;
  /** The libvirt domain, e.g. `instance-0000002a`. */
  instanceName: string | null;
  taskState: string | null;
  vmState: string | null;
  /** ram/vcpus/name from 2.47 (embedded flavor); only the id before. */
  flavor: { ramMb?: number; vcpus?: number; name?: string; id?: string };
  /**
   * `image` is an object when the server booted from an image (its root disk is local to the host,
   * so `block_migration: "auto"` makes its live migration a block migration unless the instances
   * folder is shared) and "" when it booted from a volume; undefined when Nova did not say.
   */
  bootedFromImage?: boolean;
}

export interface ServerMigration {
  id: number;
  /** From 2.59. */
  uuid?: string;
  status: string;
  /** The server it moves (`server_uuid` / `instance_uuid`). */
  serverId?: string;
  /** `live-migration`, `migration`, `resize`, ...; os-migrations only, from 2.23. */
  migrationType?: string;
  sourceCompute: string;
  destCompute: string | null;
  destHost?: string | null;
  /** Memory and disk counters: server-migrations only (2.23+); null from os-migrations. */
  memoryTotalBytes: number | null;
  memoryProcessedBytes: number | null;
  memoryRemainingBytes: number | null;
  diskTotalBytes: number | null;
  diskProcessedBytes: number | null;
  diskRemainingBytes: number | null;
  createdAt: string;
  updatedAt: string | null;
}

export interface Hypervisor {
  /** An integer before 2.53, a UUID from 2.53; always a string here. */
  id: string;
  hostname: string;
  serviceHost: string;
  state: string;
  status: string;
  /** Resource statistics: gone from 2.88, null then. */
  vcpus: number | null;
  vcpusUsed: number | null;
  memoryMb: number | null;
  memoryMbUsed: number | null;
  freeRamMb: number | null;
  /** libvirt's CPU description (parsed from the JSON string Nova sent before 2.28); null from 2.88. */
  cpuInfo: unknown;
  /** `host_ip`: the compute's my_ip (every microversion); where its migration traffic arrives. */
  hostIp?: string | null;
}

export interface ComputeService {
  id: string;
  host: string;
  binary: string;
  state: "up" | "down";
  status: "enabled" | "disabled";
  updatedAt: string | null;
  disabledReason: string | null;
}

/** A step of an instance action that failed (`os-instance-actions/{request_id}` events). */
export interface FailedActionEvent {
  /** e.g. `conductor_live_migrate_instance`, `compute_pre_live_migration`. */
  event: string;
  /** The exception's message (2.84+ `details`); null before 2.84. */
  details: string | null;
  /** Where it ran (2.62+ `host`), or null. */
  host: string | null;
}

/** What the rest of migbot needs from Nova. */
export interface Nova {
  readonly microversion: string;
  /** By id, else by exact name (error when several servers carry the name); null when none. */
  findServer(nameOrId: string): Promise<Server | null>;
  getServer(id: string): Promise<Server>;
  /** `host` null lets the scheduler choose; block_migration "auto" where supported (2.25+). */
  liveMigrate(serverId: string, opts: { host: string | null }): Promise<void>;
  /** In-progress live migrations of a server. */
  listServerMigrations(serverId: string): Promise<ServerMigration[]>;
  /** An in-progress migration, or null once it is not (Nova hides finished ones here). */
  getServerMigration(serverId: string, migrationId: number): Promise<ServerMigration | null>;
  /** os-migrations, finished ones included. */
  listMigrations(filter: { instanceUuid?: string; migrationType?: string }): Promise<ServerMigration[]>;
  forceComplete(serverId: string, migrationId: number): Promise<void>;
  abortMigration(serverId: string, migrationId: number): Promise<void>;
  hypervisors(): Promise<Hypervisor[]>;
  computeServices(): Promise<ComputeService[]>;
  rebootServer(serverId: string, type: "HARD" | "SOFT"): Promise<void>;
  /** Servers on one compute host, all projects (admin `host` filter of `/servers/detail`). */
  listServers(filter: { host: string }): Promise<Server[]>;
  /**
   * The failed step of the server's newest `live-migration` action started at or after `sinceMs`
   * (the conductor's refusal of a destination lands here, not in any compute log); null when none failed.
   */
  liveMigrationFailure(serverId: string, sinceMs: number): Promise<FailedActionEvent | null>;
  /** The compute node's resource provider in Placement, or why there is none (no Placement: Mitaka). */
  placementCapacity(hypervisorHostname: string): Promise<PlacementAnswer>;
}

/** Nova's in-progress live-migration statuses (defined once in src/nova-facts). */
const IN_PROGRESS_STATUSES = new Set<string>(IN_PROGRESS_LIVE_MIGRATION_STATUSES);
const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

type Raw = Record<string, unknown>;

function str(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function asRaw(value: unknown): Raw {
  return typeof value === "object" && value !== null ? (value as Raw) : {};
}

/** Reads one server from `GET /servers/{id}` or `/servers/detail`, at any microversion. */
export function parseServer(value: unknown): Server {
  const raw = asRaw(value);
  const flavorRaw = asRaw(raw.flavor);
  const flavor: Server["flavor"] = {};
  if (num(flavorRaw.ram) !== null) flavor.ramMb = num(flavorRaw.ram)!;
  if (num(flavorRaw.vcpus) !== null) flavor.vcpus = num(flavorRaw.vcpus)!;
  if (str(flavorRaw.original_name) !== null) flavor.name = str(flavorRaw.original_name)!;
  if (str(flavorRaw.id) !== null) flavor.id = str(flavorRaw.id)!;
  return {
    id: String(raw.id),
    name: str(raw.name) ?? "",
    status: str(raw.status) ?? "UNKNOWN",
    host: str(raw["OS-EXT-SRV-ATTR:host"]),
    hypervisorHostname: str(raw["OS-EXT-SRV-ATTR:hypervisor_hostname"]),
    instanceName: str(raw["OS-EXT-SRV-ATTR:instance_name"]),
    taskState: str(raw["OS-EXT-STS:task_state"]),
    vmState: str(raw["OS-EXT-STS:vm_state"]),
    flavor,
    ...(raw.image === "" && { bootedFromImage: false }),
    ...(typeof raw.image === "object" && raw.image !== null && { bootedFromImage: true }),
  };
}

/** Reads one migration from server-migrations (memory counters) or os-migrations (none). */
export function parseMigration(value: unknown): ServerMigration {
  const raw = asRaw(value);
  const migration: ServerMigration = {
    id: Number(raw.id),
    status: str(raw.status) ?? "unknown",
    sourceCompute: str(raw.source_compute) ?? "",
    destCompute: str(raw.dest_compute),
    destHost: str(raw.dest_host),
    memoryTotalBytes: num(raw.memory_total_bytes),
    memoryProcessedBytes: num(raw.memory_processed_bytes),
    memoryRemainingBytes: num(raw.memory_remaining_bytes),
    diskTotalBytes: num(raw.disk_total_bytes),
    diskProcessedBytes: num(raw.disk_processed_bytes),
    diskRemainingBytes: num(raw.disk_remaining_bytes),
    createdAt: str(raw.created_at) ?? "",
    updatedAt: str(raw.updated_at),
  };
  const uuid = str(raw.uuid);
  if (uuid) migration.uuid = uuid;
  const serverId = str(raw.server_uuid) ?? str(raw.instance_uuid);
  if (serverId) migration.serverId = serverId;
  const type = str(raw.migration_type);
  if (type) migration.migrationType = type;
  return migration;
}

/** Reads one hypervisor from `GET /os-hypervisors/detail`, base through 2.88+. */
export function parseHypervisor(value: unknown): Hypervisor {
  const raw = asRaw(value);
  const service = asRaw(raw.service);
  let cpuInfo: unknown = raw.cpu_info ?? null;
  if (typeof cpuInfo === "string") {
    // Before 2.28 Nova sent libvirt's CPU description as a JSON string.
    try {
      cpuInfo = JSON.parse(cpuInfo);
    } catch {
      // Not every driver sends JSON (e.g. "?"); keep the text.
    }
  }
  return {
    id: String(raw.id),
    hostname: str(raw.hypervisor_hostname) ?? "",
    serviceHost: str(service.host) ?? "",
    state: str(raw.state) ?? "unknown",
    status: str(raw.status) ?? "unknown",
    vcpus: num(raw.vcpus),
    vcpusUsed: num(raw.vcpus_used),
    memoryMb: num(raw.memory_mb),
    memoryMbUsed: num(raw.memory_mb_used),
    freeRamMb: num(raw.free_ram_mb),
    cpuInfo,
    hostIp: str(raw.host_ip),
  };
}

/**
 * Reads one service from `GET /os-services`. Records from an unreachable cell (2.69+) carry
 * status "UNKNOWN" and no state; they read as down and disabled, the safe reading for choosing
 * a migration target.
 */
export function parseService(value: unknown): ComputeService {
  const raw = asRaw(value);
  return {
    id: String(raw.id ?? ""),
    host: str(raw.host) ?? "",
    binary: str(raw.binary) ?? "",
    state: raw.state === "up" ? "up" : "down",
    status: raw.status === "enabled" ? "enabled" : "disabled",
    updatedAt: str(raw.updated_at),
    disabledReason: str(raw.disabled_reason),
  };
}

/** Escapes a literal for Nova's regex `name` filter (Python `re` / MySQL REGEXP). */
function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The version document's URL for a catalog endpoint. Mitaka-era catalogs registered
 * `.../v2.1/<project_id>`; the document lives at `.../v2.1/`, so the project id is dropped.
 */
export function versionDocumentUrl(endpoint: string, projectId: string): string {
  const base = endpoint.replace(/\/+$/, "");
  const last = base.slice(base.lastIndexOf("/") + 1);
  const stripped =
    last === projectId || /^[0-9a-f]{32}$/i.test(last) ? base.slice(0, base.lastIndexOf("/")) : base;
  return `${stripped}/`;
}

export interface NovaClientOptions {
  auth: KeystoneAuth;
  /** Highest microversion to ask for. @defaultValue {@link CLIENT_MAX_MICROVERSION} */
  maxMicroversion?: string;
  /** @defaultValue {@link NOVA_REQUEST_TIMEOUT_MS} */
  requestTimeoutMs?: number;
  /** @defaultValue the global fetch */
  fetch?: FetchLike;
  log?: Logger;
}

/** Nova over HTTP. Create with {@link NovaClient.connect}, which negotiates the microversion. */
export class NovaClient implements Nova {
  private constructor(
    private readonly auth: KeystoneAuth,
    private readonly endpoint: string,
    readonly microversion: string,
    /** The cloud's own maximum, for messages. */
    readonly serverMaxMicroversion: string,
    private readonly timeoutMs: number,
    private readonly fetchImpl: FetchLike,
    private readonly log: Logger,
  ) {}

  /** Authenticates, finds the compute endpoint and picks the highest microversion both sides speak. */
  static async connect(opts: NovaClientOptions): Promise<NovaClient> {
    const fetchImpl = opts.fetch ?? fetch;
    const timeoutMs = opts.requestTimeoutMs ?? NOVA_REQUEST_TIMEOUT_MS;
    const log = opts.log ?? silentLogger;
    const clientMax = opts.maxMicroversion ?? CLIENT_MAX_MICROVERSION;
    const endpoint = (await opts.auth.computeEndpoint()).replace(/\/+$/, "");
    const token = await opts.auth.token();
    const docUrl = versionDocumentUrl(endpoint, token.projectId);
    const answer = await exchange(
      fetchImpl,
      docUrl,
      { headers: { Accept: "application/json", "X-Auth-Token": token.value } },
      timeoutMs,
      "Nova",
    );
    if (answer.status !== 200) {
      throw new ServerError(
        `Nova's version document at ${safeUrl(docUrl)} answered HTTP ${answer.status}; check the compute endpoint in the Keystone catalog`,
        { httpStatus: answer.status, remoteMessage: remoteErrorMessage(answer.body) },
      );
    }
    const version = asRaw(asRaw(answer.body).version);
    const serverMax = parseMicroversion(str(version.version) ?? "");
    const serverMin = parseMicroversion(str(version.min_version) ?? "") ?? parseMicroversion(MV.BASE)!;
    if (!serverMax) {
      throw new NovaUnsupportedError(
        `the compute endpoint ${safeUrl(endpoint)} offers no microversions (the legacy v2 API?); migbot needs Nova's v2.1 API (Mitaka or newer) in the catalog`,
      );
    }
    if (compareMicroversions(serverMin, clientMax) > 0) {
      throw new NovaUnsupportedError(
        `Nova at ${safeUrl(endpoint)} requires microversion ${formatMicroversion(serverMin)} or newer, above what migbot knows (${clientMax}); upgrade migbot`,
      );
    }
    const chosen = compareMicroversions(serverMax, clientMax) < 0 ? formatMicroversion(serverMax) : clientMax;
    log.info("nova microversion negotiated", {
      endpoint: safeUrl(endpoint),
      microversion: chosen,
      serverMax: formatMicroversion(serverMax),
    });
    return new NovaClient(
      opts.auth,
      endpoint,
      chosen,
      formatMicroversion(serverMax),
      timeoutMs,
      fetchImpl,
      log,
    );
  }

  private placement: Promise<PlacementClient | null> | null = null;

  /**
   * Placement's view of a compute node, over the same Keystone session: its endpoint comes from the
   * catalog (looked up once); a cloud without one (Mitaka) answers `no-placement`.
   */
  async placementCapacity(hypervisorHostname: string): Promise<PlacementAnswer> {
    this.placement ??= placementEndpoint(this.auth).then((url) =>
      url === null ? null : new PlacementClient(this.auth, url, this.fetchImpl, this.timeoutMs),
    );
    let client: PlacementClient | null;
    try {
      client = await this.placement;
    } catch (err) {
      this.placement = null;
      throw err;
    }
    if (client === null) return { kind: "no-placement" };
    const provider = await client.providerCapacity(hypervisorHostname);
    return provider === null
      ? { kind: "no-provider", name: hypervisorHostname }
      : { kind: "provider", provider };
  }

  private supports(min: string): boolean {
    return atLeast(this.microversion, min);
  }

  private requireVersion(min: string, what: string): void {
    if (!this.supports(min)) {
      throw new NovaUnsupportedError(
        `${what} needs Nova API microversion ${min}, and this cloud offers ${this.serverMaxMicroversion}; do it on the compute host or upgrade Nova`,
      );
    }
  }

  /** One call, re-authenticating once when Nova says the token is no longer valid. */
  private async call(
    method: string,
    path: string,
    body?: unknown,
    microversion = this.microversion,
  ): Promise<HttpAnswer> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.auth.token();
      const headers: Record<string, string> = {
        Accept: "application/json",
        "X-Auth-Token": token.value,
        // Both headers: Mitaka reads only the legacy one; newer Nova prefers the generic one.
        "X-OpenStack-Nova-API-Version": microversion,
        "OpenStack-API-Version": `compute ${microversion}`,
      };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      let answer: HttpAnswer;
      try {
        answer = await exchange(
          this.fetchImpl,
          `${this.endpoint}${path}`,
          { method, headers, body: body === undefined ? undefined : JSON.stringify(body) },
          this.timeoutMs,
          "Nova",
        );
      } catch (err) {
        // A POST or DELETE that timed out may have been carried out: retrying blindly could start a
        // second live migration, so the caller must look at Nova's state first.
        if (err instanceof TimeoutError && method !== "GET") {
          throw new TimeoutError(
            `Nova did not answer ${method} ${path.split("?")[0]} within ${this.timeoutMs} ms; it may have been carried out, so check the server's migrations before trying again`,
            { cause: err, retryable: false },
          );
        }
        throw err;
      }
      if (answer.status === 401 && attempt === 0) {
        this.log.info("nova refused the token; authenticating again", { method, path: path.split("?")[0] });
        this.auth.invalidate(token.value);
        continue;
      }
      if (answer.status >= 400) throw this.errorFor(answer, method, path);
      return answer;
    }
  }

  private errorFor(answer: HttpAnswer, method: string, path: string) {
    const remote = remoteErrorMessage(answer.body);
    const what = `${method} ${path.split("?")[0]}`;
    const options = { httpStatus: answer.status, remoteMessage: remote };
    switch (answer.status) {
      case 400:
        return new NovaBadRequestError(remote ?? `Nova refused ${what} as invalid`, options);
      case 401:
        return new AuthFailedError(
          `Nova refused a fresh token for ${what}; check that the user has a role on the project`,
          options,
        );
      case 403:
        return new AuthFailedError(
          `Nova forbids ${what}: ${remote ?? "policy"}; migbot's OpenStack user needs the admin role`,
          options,
        );
      case 404:
        return new NovaNotFoundError(remote ?? `Nova has no ${what}`, options);
      case 406:
        return new NovaUnsupportedError(
          `Nova refused microversion ${this.microversion} for ${what}: ${remote ?? "not acceptable"}`,
          options,
        );
      case 409:
        return new NovaConflictError(remote ?? `Nova refused ${what} in the server's current state`, options);
      default:
        return new ServerError(
          `Nova failed ${what} (HTTP ${answer.status}${remote ? `: ${remote}` : ""}); try again shortly`,
          options,
        );
    }
  }

  /** Follows `<key>_links` next links, up to {@link MAX_LIST_PAGES}. */
  private async listAll(path: string, key: string, microversion = this.microversion): Promise<unknown[]> {
    const items: unknown[] = [];
    const [basePath] = path.split("?");
    let next: string | null = path;
    for (let page = 0; next !== null; page++) {
      if (page >= MAX_LIST_PAGES) {
        throw new ServerError(`Nova kept paging ${basePath} beyond ${MAX_LIST_PAGES} pages; giving up`);
      }
      const answer = await this.call("GET", next, undefined, microversion);
      const body = asRaw(answer.body);
      const list = body[key];
      if (!Array.isArray(list))
        throw new ServerError(`Nova's answer to GET ${basePath} has no "${key}" list`);
      items.push(...list);
      const links = Array.isArray(body[`${key}_links`]) ? (body[`${key}_links`] as Raw[]) : [];
      const href = str(links.find((l) => l.rel === "next")?.href);
      // Keep our own endpoint (the link may name an internal host); take only its query.
      next = href && list.length > 0 ? `${basePath}?${new URL(href).searchParams.toString()}` : null;
    }
    return items;
  }

  async getServer(id: string): Promise<Server> {
    const answer = await this.call("GET", `/servers/${encodeURIComponent(id)}`);
    return parseServer(asRaw(answer.body).server);
  }

  async findServer(nameOrId: string): Promise<Server | null> {
    if (UUID_RE.test(nameOrId)) {
      try {
        return await this.getServer(nameOrId);
      } catch (err) {
        if (!(err instanceof NovaNotFoundError)) throw err;
      }
    }
    const pattern = `^${escapeRegex(nameOrId)}$`;
    const raw = await this.listAll(
      `/servers/detail?all_tenants=1&name=${encodeURIComponent(pattern)}`,
      "servers",
    );
    // Nova's regex semantics differ between databases; the exact comparison here is what counts.
    const matches = raw.map(parseServer).filter((s) => s.name === nameOrId);
    if (matches.length > 1) {
      throw new NovaAmbiguousNameError(
        `${matches.length} servers are named "${nameOrId}" (${matches.map((s) => s.id).join(", ")}); use the server id instead`,
      );
    }
    return matches[0] ?? null;
  }

  async liveMigrate(serverId: string, opts: { host: string | null }): Promise<void> {
    // Before 2.25 Nova needs explicit booleans; false suits shared storage, the common Mitaka
    // set-up. From 2.25 "auto" lets Nova pick block migration for local disks.
    const body = this.supports(MV.BLOCK_MIGRATION_AUTO)
      ? { "os-migrateLive": { host: opts.host, block_migration: "auto" } }
      : { "os-migrateLive": { host: opts.host, block_migration: false, disk_over_commit: false } };
    await this.call("POST", `/servers/${encodeURIComponent(serverId)}/action`, body);
  }

  async listServerMigrations(serverId: string): Promise<ServerMigration[]> {
    if (!this.supports(MV.SERVER_MIGRATIONS)) {
      // Below 2.23 the server-migrations resource does not exist: os-migrations filtered by the
      // instance is the only view, without memory counters and without migration_type (so a cold
      // migration in progress is listed too).
      const all = await this.listMigrations({ instanceUuid: serverId });
      return all.filter((m) => IN_PROGRESS_STATUSES.has(m.status));
    }
    const answer = await this.call("GET", `/servers/${encodeURIComponent(serverId)}/migrations`);
    const list = asRaw(answer.body).migrations;
    return Array.isArray(list) ? list.map(parseMigration) : [];
  }

  async getServerMigration(serverId: string, migrationId: number): Promise<ServerMigration | null> {
    if (!this.supports(MV.SERVER_MIGRATIONS)) {
      // Below 2.23: os-migrations, which (unlike server-migrations) also returns finished ones.
      const all = await this.listMigrations({ instanceUuid: serverId });
      return all.find((m) => m.id === migrationId) ?? null;
    }
    try {
      const answer = await this.call(
        "GET",
        `/servers/${encodeURIComponent(serverId)}/migrations/${encodeURIComponent(String(migrationId))}`,
      );
      return parseMigration(asRaw(answer.body).migration);
    } catch (err) {
      if (err instanceof NovaNotFoundError) return null;
      throw err;
    }
  }

  async listMigrations(filter: {
    instanceUuid?: string;
    migrationType?: string;
  }): Promise<ServerMigration[]> {
    const params = new URLSearchParams();
    if (filter.instanceUuid) params.set("instance_uuid", filter.instanceUuid);
    if (filter.migrationType) params.set("migration_type", filter.migrationType);
    const query = params.toString();
    const raw = await this.listAll(`/os-migrations${query ? `?${query}` : ""}`, "migrations");
    return raw
      .map(parseMigration)
      .filter(
        (m) =>
          (!filter.instanceUuid || m.serverId === filter.instanceUuid) &&
          (!filter.migrationType ||
            m.migrationType === undefined ||
            m.migrationType === filter.migrationType),
      );
  }

  async forceComplete(serverId: string, migrationId: number): Promise<void> {
    this.requireVersion(MV.FORCE_COMPLETE, "Force-completing a live migration");
    await this.call(
      "POST",
      `/servers/${encodeURIComponent(serverId)}/migrations/${encodeURIComponent(String(migrationId))}/action`,
      { force_complete: null },
    );
  }

  async abortMigration(serverId: string, migrationId: number): Promise<void> {
    this.requireVersion(MV.ABORT_MIGRATION, "Aborting a live migration through the API");
    await this.call(
      "DELETE",
      `/servers/${encodeURIComponent(serverId)}/migrations/${encodeURIComponent(String(migrationId))}`,
    );
  }

  async hypervisors(): Promise<Hypervisor[]> {
    // 2.88 dropped the capacity figures (free RAM, vCPUs used) from hypervisors; the reservation
    // phase and diagnosis need them, so ask at 2.87 where the cloud is newer. Nova keeps serving
    // every older microversion.
    const mv =
      compareMicroversions(this.microversion, HYPERVISOR_STATS_LAST_MICROVERSION) > 0
        ? HYPERVISOR_STATS_LAST_MICROVERSION
        : this.microversion;
    return (await this.listAll("/os-hypervisors/detail", "hypervisors", mv)).map(parseHypervisor);
  }

  async computeServices(): Promise<ComputeService[]> {
    const answer = await this.call("GET", "/os-services?binary=nova-compute");
    const list = asRaw(answer.body).services;
    return Array.isArray(list) ? list.map(parseService).filter((s) => s.binary === "nova-compute") : [];
  }

  async rebootServer(serverId: string, type: "HARD" | "SOFT"): Promise<void> {
    await this.call("POST", `/servers/${encodeURIComponent(serverId)}/action`, { reboot: { type } });
  }

  async liveMigrationFailure(serverId: string, sinceMs: number): Promise<FailedActionEvent | null> {
    const id = encodeURIComponent(serverId);
    const list = asRaw((await this.call("GET", `/servers/${id}/os-instance-actions`)).body).instanceActions;
    const actions = (Array.isArray(list) ? list : []).map(asRaw).filter((a) => {
      const started = Date.parse(`${String(a.start_time ?? "").replace(/Z?$/, "Z")}`);
      return a.action === "live-migration" && started >= sinceMs - NOVA_CLOCK_SKEW_MS;
    });
    // Nova lists actions newest first.
    const requestId = str(actions[0]?.request_id);
    if (requestId === null) return null;
    const action = asRaw(
      asRaw(
        (await this.call("GET", `/servers/${id}/os-instance-actions/${encodeURIComponent(requestId)}`)).body,
      ).instanceAction,
    );
    const events = Array.isArray(action.events) ? action.events.map(asRaw) : [];
    const failed = events.find((e) => e.result === "Error");
    if (failed === undefined) return null;
    return { event: str(failed.event) ?? "unknown", details: str(failed.details), host: str(failed.host) };
  }

  async listServers(filter: { host: string }): Promise<Server[]> {
    const raw = await this.listAll(
      `/servers/detail?all_tenants=1&host=${encodeURIComponent(filter.host)}`,
      "servers",
    );
    // The filter is admin-only; a policy that ignores it must not make other hosts' servers count.
    return raw.map(parseServer).filter((s) => s.host === filter.host);
  }
}
