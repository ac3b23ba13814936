/**
 * The sandbox's Nova API routes: one table of (method, path, first microversion) with a handler per
 * resource — servers (list, show, actions: os-migrateLive with its body schema per microversion, and
 * HARD reboot), server migrations (list, show, force-complete, abort), os-migrations,
 * os-hypervisors and os-services — each answering from the cloud's {@link ControlPlane} in Nova's
 * shapes (`nova-views.ts`), with Nova's filters, limit/marker paging and error texts. A path no
 * route takes answers 404, and so does a route newer than the request's microversion, as in Nova.
 */
import type { IncomingMessage } from "node:http";
import { abortableStatuses, type NovaRelease, osMigrationsFilters } from "../nova-facts";
import { atLeast, MV } from "../openstack/microversion";
import { type ApiResult, isObject, notFound, novaFault, pythonRepr, readJson } from "./api-common";
import type { CloudHypervisor, CloudServer, ControlPlane, LiveMigrateRequest } from "./control-plane";
import { isInProgress } from "./nova-records";
import {
  type NovaLinks,
  renderFlavor,
  renderHypervisor,
  renderHypervisorBrief,
  renderInstanceAction,
  renderOsMigration,
  renderServer,
  renderServerBrief,
  renderServerMigration,
  renderService,
  serviceIdFor,
} from "./nova-views";

/** Nova's `[api] max_limit`: the most items one list page holds. */
const NOVA_MAX_LIMIT = 1000;
/** A server id in a path: anything but `detail`, which is the list's own path. */
const SERVER = "((?!detail(?:/|$))[^/]+)";
/** A migration id in a path. */
const MIGRATION = "([^/]+)";

/** A hypervisor or service id in a path. */
const ID = "([^/]+)";
const UUID_LIKE_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

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

/** One request as a handler sees it. */
interface RouteRequest {
  /** The path's captures: server id, migration id. */
  params: string[];
  query: URLSearchParams;
  req: IncomingMessage;
  /** The negotiated microversion. */
  mv: string;
}

interface Route {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: RegExp;
  /** The first microversion with this route; older requests get Nova's 404. */
  since?: string;
  /** The first microversion without this route (it answers 404 from there). */
  until?: string;
  handle: (r: RouteRequest) => ApiResult | Promise<ApiResult>;
}

function route(
  method: Route["method"],
  path: string,
  handle: Route["handle"],
  since?: string,
  until?: string,
): Route {
  return {
    method,
    path: new RegExp(`^${path}$`),
    handle,
    ...(since !== undefined && { since }),
    ...(until !== undefined && { until }),
  };
}

/** The legacy service actions of `PUT /os-services/{action}` before 2.53. */
const LEGACY_SERVICE_ACTIONS = new Set(["enable", "disable", "disable-log-reason", "force-down"]);

export class NovaRoutes {
  private readonly routes: readonly Route[];

  /**
   * @param links where links point; known once the server listens
   * @param release the controller's Nova release: which filters os-migrations honours, what an abort may stop
   */
  constructor(
    private readonly controlPlane: ControlPlane,
    private readonly links: () => NovaLinks,
    private readonly release: NovaRelease,
  ) {
    this.routes = [
      route("GET", "servers", (r) => this.listServers(r, false)),
      route("GET", "servers/detail", (r) => this.listServers(r, true)),
      route("GET", `servers/${SERVER}`, (r) => this.showServer(r)),
      route("POST", `servers/${SERVER}/action`, (r) => this.serverAction(r)),
      route("GET", `servers/${SERVER}/migrations`, (r) => this.listServerMigrations(r), MV.SERVER_MIGRATIONS),
      route(
        "GET",
        `servers/${SERVER}/migrations/${MIGRATION}`,
        (r) => this.showServerMigration(r),
        MV.SERVER_MIGRATIONS,
      ),
      route(
        "POST",
        `servers/${SERVER}/migrations/${MIGRATION}/action`,
        (r) => this.forceComplete(r),
        MV.FORCE_COMPLETE,
      ),
      route(
        "DELETE",
        `servers/${SERVER}/migrations/${MIGRATION}`,
        (r) => this.abortMigration(r),
        MV.ABORT_MIGRATION,
      ),
      route("GET", `servers/${SERVER}/os-instance-actions`, (r) => this.listActions(r)),
      route("GET", `servers/${SERVER}/os-instance-actions/${ID}`, (r) => this.showAction(r)),
      route("GET", "os-migrations", (r) => this.listOsMigrations(r)),
      route("GET", "os-hypervisors", (r) => this.listHypervisors(r, false)),
      route("GET", "os-hypervisors/detail", (r) => this.listHypervisors(r, true)),
      route("GET", `os-hypervisors/${ID}`, (r) => this.showHypervisor(r)),
      route(
        "GET",
        `os-hypervisors/${ID}/uptime`,
        (r) => this.hypervisorUptime(r),
        undefined,
        MV.HYPERVISOR_NO_STATS,
      ),
      route("GET", "os-services", (r) => this.listServices(r)),
      route("PUT", `os-services/${ID}`, (r) => this.updateService(r)),
      route("GET", "os-aggregates", () => ({ status: 200, body: { aggregates: [] } })),
      route("GET", "flavors", (r) => this.listFlavors(r, false)),
      route("GET", "flavors/detail", (r) => this.listFlavors(r, true)),
      route("GET", `flavors/${ID}`, (r) => this.showFlavor(r)),
    ];
  }

  /** Answers one authenticated request under `/compute/v2.1/` (`segments`: the path after it). */
  async dispatch(
    method: string,
    segments: string[],
    query: URLSearchParams,
    req: IncomingMessage,
    mv: string,
  ): Promise<ApiResult> {
    const path = segments.join("/");
    for (const r of this.routes) {
      if (r.method !== method) continue;
      const match = r.path.exec(path);
      if (!match) continue;
      // Nova's VersionNotFoundForAPIMethod renders as a 404 ("The resource could not be found.", real Zed).
      if (
        (r.since !== undefined && !atLeast(mv, r.since)) ||
        (r.until !== undefined && atLeast(mv, r.until))
      ) {
        throw notFound();
      }
      return r.handle({ params: match.slice(1), query, req, mv });
    }
    throw notFound();
  }

  // ---------------------------------------------------------------- lookups

  private findServer(id: string): CloudServer {
    const server = this.controlPlane.getServer(id);
    if (!server) throw novaFault(404, `Instance ${id} could not be found.`);
    return server;
  }

  /**
   * The server's migration for `GET .../migrations/{id}`: Nova's 404 for an unknown id, for a
   * migration that is not a live migration, and for one no longer in progress, each with its own
   * text (nova 26.2.2 nova/api/openstack/compute/server_migrations.py `show`).
   */
  private inProgressMigration(serverId: string, migrationIdText: string) {
    const migrationId = Number(migrationIdText);
    const migration = Number.isInteger(migrationId)
      ? this.controlPlane.getMigration(serverId, migrationId)
      : undefined;
    if (!migration) {
      throw novaFault(
        404,
        `In-progress live migration ${migrationIdText} is not found for server ${serverId}.`,
      );
    }
    if (migration.migrationType !== "live-migration") {
      throw novaFault(404, `Migration ${migrationIdText} for server ${serverId} is not live-migration.`);
    }
    if (!isInProgress(migration.status)) {
      throw novaFault(404, `Live migration ${migrationIdText} for server ${serverId} is not in progress.`);
    }
    return migration;
  }

  /**
   * Abort and force-complete check the server first — it must be migrating (409) — then that the
   * migration exists (404); the migration's status is the control plane's to judge (400)
   * (nova 26.2.2 nova/compute/api.py `live_migrate_abort`, `live_migrate_force_complete`).
   */
  private migrationToAct(serverId: string, migrationIdText: string, action: string): number {
    const server = this.findServer(serverId);
    if (server.taskState !== "migrating") {
      throw novaFault(409, `Instance ${serverId} is in an invalid state for '${action}'`);
    }
    const migrationId = Number(migrationIdText);
    const migration = Number.isInteger(migrationId)
      ? this.controlPlane.getMigration(serverId, migrationId)
      : undefined;
    if (!migration) throw novaFault(404, `Migration ${migrationIdText} not found for instance ${serverId}`);
    return migration.id;
  }

  // ---------------------------------------------------------------- servers

  private listServers({ query, mv }: RouteRequest, detail: boolean): ApiResult {
    const links = this.links();
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
    const servers = this.controlPlane
      .listServers()
      .filter(
        (s) =>
          (allTenants || s.tenantId === links.projectId) &&
          (nameRe === null || nameRe.test(s.name)) &&
          (host === null || s.host === host) &&
          (status === null || s.status === status.toUpperCase()),
      );
    const page = paginate(servers, (s) => s.id, query, detail ? "servers/detail" : "servers", true, links);
    const services = this.controlPlane.services();
    const body: Record<string, unknown> = {
      servers: page.items.map((s) =>
        detail ? renderServer(s, mv, links, services, { inList: true }) : renderServerBrief(s, links),
      ),
    };
    if (page.next) body.servers_links = [{ href: page.next, rel: "next" }];
    return { status: 200, body };
  }

  private showServer({ params: [id], mv }: RouteRequest): ApiResult {
    const server = this.findServer(id!);
    return {
      status: 200,
      body: { server: renderServer(server, mv, this.links(), this.controlPlane.services()) },
    };
  }

  private async serverAction({ params: [id], req, mv }: RouteRequest): Promise<ApiResult> {
    this.findServer(id!);
    const body = await readJson(req, (m) => novaFault(400, m));
    if (!isObject(body) || Object.keys(body).length !== 1) {
      throw novaFault(400, "Malformed request body");
    }
    const [action, args] = Object.entries(body)[0]!;
    if (action === "os-migrateLive") {
      this.controlPlane.liveMigrate(id!, validateLiveMigrate(args, mv));
      return { status: 202 };
    }
    if (action === "reboot") {
      const type = isObject(args) ? args.type : undefined;
      if (typeof type !== "string" || !["HARD", "SOFT"].includes(type.toUpperCase())) {
        throw novaFault(
          400,
          `Invalid input for field/attribute type. Value: ${String(type)}. ${pythonRepr(type)} is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']`,
        );
      }
      if (type.toUpperCase() !== "HARD") {
        // The control plane models hard reboots only; saying so beats pretending a soft one happened.
        throw novaFault(400, "The sandbox cloud models only HARD reboots.");
      }
      this.controlPlane.hardReboot(id!);
      return { status: 202 };
    }
    throw novaFault(400, `There is no such action: ${action}`);
  }

  // ---------------------------------------------------------------- server migrations

  private listServerMigrations({ params: [id], mv }: RouteRequest): ApiResult {
    this.findServer(id!);
    const migrations = this.controlPlane
      .listMigrations({ instanceUuid: id, migrationType: "live-migration", inProgressOnly: true })
      .filter((m) => isInProgress(m.status));
    return { status: 200, body: { migrations: migrations.map((m) => renderServerMigration(m, mv)) } };
  }

  private showServerMigration({ params: [id, mid], mv }: RouteRequest): ApiResult {
    this.findServer(id!);
    return {
      status: 200,
      body: { migration: renderServerMigration(this.inProgressMigration(id!, mid!), mv) },
    };
  }

  private async forceComplete({ params: [id, mid], req }: RouteRequest): Promise<ApiResult> {
    this.findServer(id!);
    const body = await readJson(req, (m) => novaFault(400, m));
    if (!isObject(body) || !("force_complete" in body) || body.force_complete !== null) {
      const value = isObject(body) && "force_complete" in body ? body.force_complete : body;
      throw novaFault(
        400,
        isObject(body) && "force_complete" in body
          ? `Invalid input for field/attribute force_complete. Value: ${String(value)}. ${pythonRepr(value)} is not of type 'null'`
          : `Invalid input for field/attribute force_complete. Value: ${pythonRepr(body)}. 'force_complete' is a required property`,
      );
    }
    const migrationId = this.migrationToAct(id!, mid!, "force_complete");
    this.controlPlane.forceComplete(id!, migrationId);
    return { status: 202 };
  }

  private abortMigration({ params: [id, mid], mv }: RouteRequest): ApiResult {
    this.findServer(id!);
    const migrationId = this.migrationToAct(id!, mid!, "abort live migration");
    // The statuses a request at this microversion may abort are the controller's (nova-facts
    // abortRule); the lab's control plane still takes the older yes/no for queued ones.
    this.controlPlane.abortMigration(id!, migrationId, {
      requestMicroversion: mv,
      abortQueued: abortableStatuses(this.release, mv).includes("queued"),
    });
    return { status: 202 };
  }

  // ---------------------------------------------------------------- instance actions

  private listActions({ params: [id], mv }: RouteRequest): ApiResult {
    const actions = this.controlPlane.instanceActions(id!);
    return { status: 200, body: { instanceActions: actions.map((a) => renderInstanceAction(a, mv, false)) } };
  }

  private showAction({ params: [id, requestId], mv }: RouteRequest): ApiResult {
    const action = this.controlPlane.instanceActions(id!).find((a) => a.requestId === requestId);
    if (!action) throw novaFault(404, `Action for request_id ${requestId} on instance ${id} not found`);
    return { status: 200, body: { instanceAction: renderInstanceAction(action, mv, true) } };
  }

  // ---------------------------------------------------------------- flavors

  private listFlavors({ mv }: RouteRequest, detail: boolean): ApiResult {
    const links = this.links();
    const flavors = this.controlPlane.flavors().map((f) => renderFlavor(f, mv, links));
    return {
      status: 200,
      body: { flavors: detail ? flavors : flavors.map((f) => ({ id: f.id, name: f.name, links: f.links })) },
    };
  }

  private showFlavor({ params: [id], mv }: RouteRequest): ApiResult {
    const flavor = this.controlPlane.flavors().find((f) => f.id === id);
    if (!flavor) throw novaFault(404, `Flavor ${id} could not be found.`);
    return { status: 200, body: { flavor: renderFlavor(flavor, mv, this.links()) } };
  }

  // ---------------------------------------------------------------- os-migrations, hypervisors, services

  /**
   * `GET /os-migrations` with the filters the controller's release honours (nova-facts
   * `osMigrationsFilters`): Mitaka ignores `instance_uuid` and matches `status` per character;
   * `host` is the source or the destination, `source_compute` counts only without `host`.
   */
  private listOsMigrations({ query, mv }: RouteRequest): ApiResult {
    const links = this.links();
    const honours = osMigrationsFilters(this.release);
    const instanceUuid = honours.instanceUuid ? (query.get("instance_uuid") ?? undefined) : undefined;
    const migrationType = query.get("migration_type") ?? undefined;
    // webob's MultiDict gives the last value of a repeated parameter.
    const status = query.getAll("status").at(-1) ?? null;
    const host = query.get("host");
    const sourceCompute = host === null ? query.get("source_compute") : null;
    const statusMatches = (s: string) =>
      status === null || (honours.status === "exact" ? s === status : [...status].includes(s));
    let migrations = this.controlPlane
      .listMigrations({ ...(instanceUuid !== undefined && { instanceUuid }), migrationType })
      .filter(
        (m) =>
          statusMatches(m.status) &&
          (host === null || m.sourceCompute === host || m.destCompute === host) &&
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
      ? paginate(migrations, (m) => m.uuid, query, "os-migrations", false, links)
      : { items: migrations, next: null };
    const body: Record<string, unknown> = {
      migrations: page.items.map((m) => renderOsMigration(m, mv, links)),
    };
    if (page.next) body.migrations_links = [{ href: page.next, rel: "next" }];
    return { status: 200, body };
  }

  private listHypervisors({ query, mv }: RouteRequest, detail: boolean): ApiResult {
    const services = this.controlPlane.services();
    const hypervisors = this.controlPlane.hypervisors();
    const paged = atLeast(mv, MV.HYPERVISOR_PAGING);
    const uuids = atLeast(mv, MV.UUID_IDS);
    const page = paged
      ? paginate(
          hypervisors,
          (h) => (uuids ? h.uuid : String(h.id)),
          query,
          detail ? "os-hypervisors/detail" : "os-hypervisors",
          false,
          this.links(),
        )
      : { items: hypervisors, next: null };
    const uptime = this.uptimeText();
    const body: Record<string, unknown> = {
      hypervisors: page.items.map((h) =>
        detail ? renderHypervisor(h, services, mv, uptime) : renderHypervisorBrief(h, mv),
      ),
    };
    if (page.next) body.hypervisors_links = [{ href: page.next, rel: "next" }];
    return { status: 200, body };
  }

  /**
   * A hypervisor by id: the integer before 2.53 (404 for anything else), a UUID from 2.53 (400 for
   * a text that is not one), as the stock client's lookup by name meets them.
   */
  private hypervisorById(idText: string, mv: string): CloudHypervisor {
    const hypervisors = this.controlPlane.hypervisors();
    if (atLeast(mv, MV.UUID_IDS)) {
      if (!UUID_LIKE_RE.test(idText)) throw novaFault(400, `Invalid uuid ${idText}`);
      const h = hypervisors.find((x) => x.uuid === idText);
      if (!h) throw novaFault(404, `Hypervisor with ID '${idText}' could not be found.`);
      return h;
    }
    const h = hypervisors.find((x) => String(x.id) === idText);
    if (!h) throw novaFault(404, `Hypervisor with ID '${idText}' could not be found.`);
    return h;
  }

  private showHypervisor({ params: [id], mv }: RouteRequest): ApiResult {
    const h = this.hypervisorById(id!, mv);
    return {
      status: 200,
      body: { hypervisor: renderHypervisor(h, this.controlPlane.services(), mv, this.uptimeText()) },
    };
  }

  private hypervisorUptime({ params: [id], mv }: RouteRequest): ApiResult {
    const h = this.hypervisorById(id!, mv);
    return {
      status: 200,
      body: {
        hypervisor: { ...renderHypervisorBrief(h, mv), uptime: this.uptimeText() },
      },
    };
  }

  /** What the hosts' `uptime` prints (libvirt's driver passes it through), at the cloud's now. */
  private uptimeText(): string {
    const t = this.controlPlane.wallTime().toISOString().slice(11, 19);
    return ` ${t} up 1 day,  2:03,  0 user,  load average: 0.42, 0.40, 0.35\n`;
  }

  private listServices({ query, mv }: RouteRequest): ApiResult {
    const binary = query.get("binary");
    const host = query.get("host");
    const services = this.controlPlane
      .services()
      .filter((s) => (binary === null || s.binary === binary) && (host === null || s.host === host));
    return { status: 200, body: { services: services.map((s) => renderService(s, mv)) } };
  }

  /**
   * `PUT /os-services/{uuid}` from 2.53 (`status`, `disabled_reason`; the whole record back), and
   * before it `PUT /os-services/{enable|disable|disable-log-reason}` with `host` and `binary` in
   * the body (an echo of the change back), as nova 26.2.2 nova/api/openstack/compute/services.py.
   */
  private async updateService({ params: [id], req, mv }: RouteRequest): Promise<ApiResult> {
    const body = await readJson(req, (m) => novaFault(400, m));
    if (!isObject(body)) throw novaFault(400, "Malformed request body");
    if (atLeast(mv, MV.UUID_IDS)) {
      if (!UUID_LIKE_RE.test(id!)) throw novaFault(400, `Invalid uuid ${id}`);
      const service = this.controlPlane.services().find((s) => serviceIdFor(s, mv) === id);
      if (!service) throw novaFault(404, `Service ${id} could not be found.`);
      if (service.binary !== "nova-compute") {
        throw novaFault(
          400,
          `Updating a ${service.binary} service is not supported. Only nova-compute services can be updated.`,
        );
      }
      if (body.status !== "enabled" && body.status !== "disabled") {
        throw novaFault(
          400,
          "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
        );
      }
      const reason = typeof body.disabled_reason === "string" ? body.disabled_reason : null;
      if (body.status === "enabled" && reason) {
        throw novaFault(400, "Specifying 'disabled_reason' with status 'enabled' is invalid.");
      }
      const updated = this.controlPlane.setServiceStatus(service.host, service.binary, {
        status: body.status,
        disabledReason: body.status === "disabled" ? reason : null,
      });
      return { status: 200, body: { service: renderService(updated, mv) } };
    }
    if (!LEGACY_SERVICE_ACTIONS.has(id!)) throw novaFault(404, "Unknown action");
    const host = typeof body.host === "string" ? body.host : "";
    const binary = typeof body.binary === "string" ? body.binary : "";
    if (binary !== "nova-compute") {
      throw novaFault(
        400,
        `Updating a ${binary} service is not supported. Only nova-compute services can be updated.`,
      );
    }
    if (id === "force-down") throw novaFault(404, "Unknown action");
    let reason: string | null = null;
    if (id === "disable-log-reason") {
      if (typeof body.disabled_reason !== "string") throw novaFault(400, "Missing disabled reason field");
      reason = body.disabled_reason;
    }
    const status = id === "enable" ? "enabled" : "disabled";
    this.controlPlane.setServiceStatus(host, binary, { status, disabledReason: reason });
    const echo: Record<string, unknown> = { host, binary, status };
    if (reason) echo.disabled_reason = reason;
    return { status: 200, body: { service: echo } };
  }
}

/** os-migrateLive's body schema per microversion (nova/api/openstack/compute/schemas/migrate_server.py). */
function validateLiveMigrate(args: unknown, mv: string): LiveMigrateRequest {
  const invalid = (detail: string) =>
    novaFault(400, `Invalid input for field/attribute os-migrateLive. Value: ${pythonRepr(args)}. ${detail}`);
  if (!isObject(args)) throw invalid(`${pythonRepr(args)} is not of type 'object'`);
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
      `Invalid input for field/attribute host. Value: ${String(host)}. ${pythonRepr(host)} is not of type 'string', 'null'`,
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
        `Invalid input for field/attribute block_migration. Value: ${String(args.block_migration)}. ${pythonRepr(args.block_migration)} is not a valid boolean${autoAllowed ? " or 'auto'" : ""}`,
      );
    }
    blockMigration = parsed;
  }
  for (const key of ["disk_over_commit", "force"]) {
    if (key in args && novaBoolean(args[key]) === undefined) {
      throw novaFault(
        400,
        `Invalid input for field/attribute ${key}. Value: ${String(args[key])}. ${pythonRepr(args[key])} is not a valid boolean`,
      );
    }
  }
  const forced =
    host !== null &&
    (!atLeast(mv, MV.LIVE_MIGRATE_FORCE) ||
      (!atLeast(mv, MV.LIVE_MIGRATE_NO_FORCE) && novaBoolean(args.force) === true));
  return { host, blockMigration, asyncPrecheck: atLeast(mv, MV.ASYNC_LIVE_MIGRATION_PRECHECK), forced };
}

/** Nova's limit/marker paging: a `next` link whenever a page came back full. */
function paginate<T>(
  items: T[],
  idOf: (item: T) => string,
  query: URLSearchParams,
  resource: string,
  capAtMaxLimit: boolean,
  links: NovaLinks,
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
    next = `${links.baseUrl}/compute/v2.1/${links.projectId}/${resource}?${params.toString()}`;
  }
  return { items: pageItems, next };
}
