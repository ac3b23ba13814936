/**
 * The Keystone, Nova and Glance calls migbot and the stock `openstack` client make around a live
 * migration, as one scenario both clouds run alike: static reads at every microversion migbot uses
 * (2.1, 2.25 — Mitaka's maximum, sent with only the legacy header —, 2.28, 2.53, 2.59, 2.80, 2.87,
 * 2.88, 2.93), error answers, then a live migration that does not converge (read while it runs,
 * aborted), the same migration force-completed, and a refused destination (a disabled
 * nova-compute). Each call is recorded as an {@link Observed}: status, meaningful headers, body
 * shape. Waits between steps poll the API, so the same scenario runs on real Nova and on the sandbox.
 *
 * What a cloud must offer: a Keystone v3 `authUrl` with an admin account, a compute and an image
 * endpoint in the catalog, servers `calm` (idle, on host `source`) and `dirty` (dirties memory faster than the
 * link sends it, on `source` or `destination`) ACTIVE, and hosts `destination` and `refused` with nova-compute up and
 * enabled. The scenario leaves `refused` enabled again and `dirty` moved between `source` and
 * `destination`.
 */
import { type Observed, observe } from "./shape";

/** One request of the scenario. */
export interface ConformanceRequest {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** `keystone:`, `nova:`, `nova-root:` or `glance:` followed by the path. */
  url: string;
  /** The compute microversion; "none" sends no version header (Nova then serves 2.1). */
  mv?: string;
  /** How the microversion is sent: both headers (as migbot does), or only the legacy one (Mitaka reads only it). */
  header?: "both" | "legacy";
  body?: unknown;
  /** Send no token. */
  anonymous?: boolean;
}

/** A cloud the scenario runs against. */
export interface ConformanceTarget {
  name: string;
  authUrl: string;
  username: string;
  password: string;
  projectName: string;
  domainName: string;
  servers: { calm: string; dirty: string };
  hosts: { source: string; destination: string; refused: string };
  /** Longest wait for one state change (real nova-compute under load took ~90 s to act on an abort). */
  waitTimeoutMs: number;
  /** Between polls while waiting. */
  pollMs: number;
}

/** What the scenario recorded: observations by call id, in order, and timings. */
export interface ConformanceRun {
  observed: Record<string, Observed>;
  /** Each call's parsed body (values differ between clouds; kept for messages and for reading a run). */
  bodies: Record<string, unknown>;
  timingsMs: Record<string, number>;
}

interface Endpoints {
  keystone: string;
  nova: string;
  novaRoot: string;
  glance: string;
}

const JSON_HEADERS = { Accept: "application/json" };
/** One HTTP call of the scenario; the services answer in well under a second when idle. */
const REQUEST_TIMEOUT_MS = 60_000;

type Json = Record<string, unknown>;

function get(value: unknown, ...path: (string | number)[]): unknown {
  let v = value;
  for (const p of path)
    v = v && typeof v === "object" ? (v as Record<string, unknown>)[String(p)] : undefined;
  return v;
}

/** The scenario's state between steps: tokens, ids read from earlier answers. */
class Session {
  token = "";
  endpoints: Endpoints = { keystone: "", nova: "", novaRoot: "", glance: "" };
  readonly observed: Record<string, Observed> = {};
  readonly bodies: Record<string, unknown> = {};
  readonly timingsMs: Record<string, number> = {};

  constructor(readonly target: ConformanceTarget) {}

  url(spec: string): string {
    const [kind, ...rest] = spec.split(":");
    const path = rest.join(":");
    const bases: Record<string, string> = {
      keystone: this.endpoints.keystone,
      nova: this.endpoints.nova,
      "nova-root": this.endpoints.novaRoot,
      glance: this.endpoints.glance,
    };
    const base = bases[kind ?? ""];
    if (base === undefined) throw new Error(`unknown URL kind in ${spec}`);
    return `${base}${path}`;
  }

  async send(req: ConformanceRequest): Promise<{ response: Response; json: unknown }> {
    const headers: Record<string, string> = { ...JSON_HEADERS };
    if (!req.anonymous && this.token) headers["X-Auth-Token"] = this.token;
    if (req.mv !== undefined && req.mv !== "none") {
      headers["X-OpenStack-Nova-API-Version"] = req.mv;
      if ((req.header ?? "both") === "both") headers["OpenStack-API-Version"] = `compute ${req.mv}`;
    }
    if (req.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(this.url(req.url), {
      method: req.method,
      headers,
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.clone().text();
    let json: unknown = null;
    try {
      json = text.trim() === "" ? null : JSON.parse(text);
    } catch {
      json = text;
    }
    return { response, json };
  }

  /** Sends and records the call under `id`; returns the parsed body. */
  async call(id: string, req: ConformanceRequest): Promise<{ status: number; json: unknown }> {
    if (id in this.observed) throw new Error(`call id ${id} used twice`);
    const { response, json } = await this.send(req);
    this.observed[id] = await observe(response);
    this.bodies[id] = json;
    return { status: response.status, json };
  }

  /** Polls `probe` until it returns a value; throws naming `what` after the target's wait. */
  async until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
    const started = Date.now();
    for (;;) {
      const v = await probe();
      if (v !== undefined) {
        this.timingsMs[what] = Date.now() - started;
        return v;
      }
      if (Date.now() - started > this.target.waitTimeoutMs)
        throw new Error(
          `${this.target.name}: timed out after ${this.target.waitTimeoutMs} ms waiting for ${what}`,
        );
      await new Promise((r) => setTimeout(r, this.target.pollMs));
    }
  }
}

async function authenticate(s: Session, password: string): Promise<Response> {
  const t = s.target;
  return fetch(`${t.authUrl.replace(/\/+$/, "")}/auth/tokens`, {
    method: "POST",
    headers: { ...JSON_HEADERS, "Content-Type": "application/json" },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ["password"],
          password: { user: { name: t.username, domain: { name: t.domainName }, password } },
        },
        scope: { project: { name: t.projectName, domain: { name: t.domainName } } },
      },
    }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
}

function endpointOf(catalog: unknown, type: string): string {
  const services = Array.isArray(catalog) ? (catalog as Json[]) : [];
  const service = services.find((x) => x.type === type);
  const endpoints = Array.isArray(service?.endpoints) ? (service.endpoints as Json[]) : [];
  const url = endpoints.find((e) => e.interface === "public")?.url;
  if (typeof url !== "string") throw new Error(`the catalog has no public ${type} endpoint`);
  return url.replace(/\/+$/, "");
}

/** Runs the whole scenario against one cloud. */
export async function runConformance(target: ConformanceTarget): Promise<ConformanceRun> {
  const s = new Session(target);
  const { hosts } = target;

  // ---------------------------------------------------------------- Keystone
  s.endpoints.keystone = target.authUrl.replace(/\/+$/, "");
  await s.call("keystone.version", { method: "GET", url: "keystone:", anonymous: true });
  const good = await authenticate(s, target.password);
  const goodBody = (await good.clone().json()) as Json;
  s.observed["keystone.token"] = await observe(good);
  s.token = good.headers.get("x-subject-token") ?? "";
  s.observed["keystone.token.bad-password"] = await observe(
    await authenticate(s, `${target.password}-wrong`),
  );
  const catalog = get(goodBody, "token", "catalog");
  s.endpoints.nova = endpointOf(catalog, "compute");
  s.endpoints.novaRoot = s.endpoints.nova.replace(/\/v2\.1(\/.*)?$/, "");
  s.endpoints.glance = endpointOf(catalog, "image");

  // ---------------------------------------------------------------- discovery and microversions
  await s.call("nova.versions", { method: "GET", url: "nova-root:/", anonymous: true });
  await s.call("nova.version-v2.1", { method: "GET", url: "nova:/", mv: "none" });
  await s.call("nova.no-token", { method: "GET", url: "nova:/servers/detail", anonymous: true, mv: "2.93" });

  const byName = async (name: string) => {
    const r = await s.send({
      method: "GET",
      url: `nova:/servers/detail?all_tenants=1&name=^${name}$`,
      mv: "2.93",
    });
    const id = get(r.json, "servers", 0, "id");
    if (typeof id !== "string") throw new Error(`${target.name}: no server ${name}`);
    return id;
  };
  const calm = await byName(target.servers.calm);
  const dirty = await byName(target.servers.dirty);
  // The dirty server moves to whichever of `source` and `destination` it is not on.
  const hostOf = async (server: string) => {
    const r = await s.send({ method: "GET", url: `nova:/servers/${server}`, mv: "2.93" });
    return String(get(r.json, "server", "OS-EXT-SRV-ATTR:host"));
  };
  const calmHost = await hostOf(calm);
  const dirtyTo = (await hostOf(dirty)) === hosts.destination ? hosts.source : hosts.destination;

  await s.call("nova.mv.bad-format", { method: "GET", url: `nova:/servers/${calm}`, mv: "2.x" });
  await s.call("nova.mv.too-high", { method: "GET", url: `nova:/servers/${calm}`, mv: "2.1000" });
  await s.call("nova.mv.latest", { method: "GET", url: `nova:/servers/${calm}`, mv: "latest" });

  // ---------------------------------------------------------------- servers
  const base = await s.call("servers.show@none", { method: "GET", url: `nova:/servers/${calm}`, mv: "none" });
  await s.call("servers.show@2.25-legacy", {
    method: "GET",
    url: `nova:/servers/${calm}`,
    mv: "2.25",
    header: "legacy",
  });
  await s.call("servers.show@2.53", { method: "GET", url: `nova:/servers/${calm}`, mv: "2.53" });
  await s.call("servers.show@2.93", { method: "GET", url: `nova:/servers/${calm}`, mv: "2.93" });
  await s.call("servers.show.unknown", {
    method: "GET",
    url: "nova:/servers/00000000-0000-4000-8000-000000000000",
    mv: "2.93",
  });
  await s.call("servers.detail.name@2.93", {
    method: "GET",
    url: `nova:/servers/detail?all_tenants=1&name=${encodeURIComponent(`^${target.servers.calm}$`)}`,
    mv: "2.93",
  });
  await s.call("servers.detail.host@2.93", {
    method: "GET",
    url: `nova:/servers/detail?all_tenants=1&host=${calmHost}`,
    mv: "2.93",
  });
  await s.call("servers.index.name@2.1", {
    method: "GET",
    url: `nova:/servers?name=${target.servers.calm}`,
    mv: "2.1",
  });
  await s.call("servers.show.by-name@2.1", {
    method: "GET",
    url: `nova:/servers/${target.servers.calm}`,
    mv: "2.1",
  });
  await s.call("servers.action.unknown@2.93", {
    method: "POST",
    url: `nova:/servers/${calm}/action`,
    mv: "2.93",
    body: { "no-such-action": null },
  });

  // ---------------------------------------------------------------- flavors, images, aggregates
  const flavorId = get(base.json, "server", "flavor", "id");
  await s.call("flavors.detail@2.1", {
    method: "GET",
    url: "nova:/flavors/detail?is_public=None",
    mv: "2.1",
  });
  await s.call("flavors.show@2.1", { method: "GET", url: `nova:/flavors/${String(flavorId)}`, mv: "2.1" });
  await s.call("aggregates.index@2.1", { method: "GET", url: "nova:/os-aggregates", mv: "2.1" });
  const imageId = get(base.json, "server", "image", "id");
  await s.call("glance.versions", { method: "GET", url: "glance:/" });
  await s.call("glance.images", { method: "GET", url: "glance:/v2/images" });
  await s.call("glance.image", { method: "GET", url: `glance:/v2/images/${String(imageId)}` });
  await s.call("glance.image.unknown", {
    method: "GET",
    url: "glance:/v2/images/00000000-0000-4000-8000-000000000000",
  });

  // ---------------------------------------------------------------- hypervisors and services
  for (const mv of ["2.1", "2.28", "2.53", "2.87", "2.88", "2.93"]) {
    await s.call(`hypervisors.detail@${mv}`, { method: "GET", url: "nova:/os-hypervisors/detail", mv });
  }
  const hv21 = await s.send({ method: "GET", url: "nova:/os-hypervisors/detail", mv: "2.1" });
  const hvInt = get(hv21.json, "hypervisors", 0, "id");
  const hv253 = await s.send({ method: "GET", url: "nova:/os-hypervisors/detail", mv: "2.53" });
  const hvUuid = get(hv253.json, "hypervisors", 0, "id");
  await s.call("hypervisors.show@2.1", {
    method: "GET",
    url: `nova:/os-hypervisors/${String(hvInt)}`,
    mv: "2.1",
  });
  await s.call("hypervisors.show@2.93", {
    method: "GET",
    url: `nova:/os-hypervisors/${String(hvUuid)}`,
    mv: "2.93",
  });
  await s.call("hypervisors.show.by-name@2.1", {
    method: "GET",
    url: `nova:/os-hypervisors/${calmHost}`,
    mv: "2.1",
  });
  await s.call("hypervisors.show.by-name@2.93", {
    method: "GET",
    url: `nova:/os-hypervisors/${calmHost}`,
    mv: "2.93",
  });
  await s.call("hypervisors.uptime@2.1", {
    method: "GET",
    url: `nova:/os-hypervisors/${String(hvInt)}/uptime`,
    mv: "2.1",
  });
  for (const mv of ["2.1", "2.11", "2.53", "2.69", "2.93"]) {
    await s.call(`services.compute@${mv}`, {
      method: "GET",
      url: "nova:/os-services?binary=nova-compute",
      mv,
    });
  }
  await s.call("services.all@2.93", { method: "GET", url: "nova:/os-services", mv: "2.93" });

  // ---------------------------------------------------------------- migrations at rest
  for (const mv of ["2.1", "2.23", "2.59", "2.80", "2.93"]) {
    await s.call(`migrations.index@${mv}`, {
      method: "GET",
      url: `nova:/os-migrations?instance_uuid=${calm}`,
      mv,
    });
  }
  await s.call("server-migrations.index@2.22", {
    method: "GET",
    url: `nova:/servers/${calm}/migrations`,
    mv: "2.22",
  });
  await s.call("server-migrations.index.none@2.23", {
    method: "GET",
    url: `nova:/servers/${calm}/migrations`,
    mv: "2.23",
  });
  await s.call("server-migrations.show.unknown@2.93", {
    method: "GET",
    url: `nova:/servers/${calm}/migrations/999999`,
    mv: "2.93",
  });
  for (const mv of ["2.1", "2.51", "2.84", "2.93"]) {
    await s.call(`instance-actions.index@${mv}`, {
      method: "GET",
      url: `nova:/servers/${calm}/os-instance-actions`,
      mv,
    });
  }
  const actions = await s.send({
    method: "GET",
    url: `nova:/servers/${calm}/os-instance-actions`,
    mv: "2.93",
  });
  const createRequest = get(actions.json, "instanceActions", 0, "request_id");
  await s.call("instance-actions.show.create@2.93", {
    method: "GET",
    url: `nova:/servers/${calm}/os-instance-actions/${String(createRequest)}`,
    mv: "2.93",
  });

  // ---------------------------------------------------------------- os-migrateLive refused at once
  const idle = (server: string, what: string) =>
    s.until(what, async () => {
      const r = await s.send({ method: "GET", url: `nova:/servers/${server}`, mv: "2.93" });
      return get(r.json, "server", "status") === "ACTIVE" &&
        get(r.json, "server", "OS-EXT-STS:task_state") === null
        ? true
        : undefined;
    });
  await s.call("live-migrate.same-host@2.93", {
    method: "POST",
    url: `nova:/servers/${calm}/action`,
    mv: "2.93",
    body: { "os-migrateLive": { host: calmHost, block_migration: "auto" } },
  });
  // From 2.34 the checks run after the API answered: the server is busy until the conductor refused.
  await idle(calm, "server idle after the same-host refusal");
  await s.call("live-migrate.unknown-host@2.93", {
    method: "POST",
    url: `nova:/servers/${calm}/action`,
    mv: "2.93",
    body: { "os-migrateLive": { host: "no-such-host", block_migration: "auto" } },
  });
  await s.call("live-migrate.bad-body@2.25", {
    method: "POST",
    url: `nova:/servers/${calm}/action`,
    mv: "2.25",
    header: "legacy",
    body: { "os-migrateLive": { host: hosts.destination, block_migration: "auto", disk_over_commit: false } },
  });
  await s.call("live-migrate.force@2.68", {
    method: "POST",
    url: `nova:/servers/${calm}/action`,
    mv: "2.68",
    body: { "os-migrateLive": { host: hosts.destination, block_migration: "auto", force: false } },
  });
  await s.call("reboot.bad-type@2.93", {
    method: "POST",
    url: `nova:/servers/${calm}/action`,
    mv: "2.93",
    body: { reboot: { type: "GENTLY" } },
  });

  // ---------------------------------------------------------------- a migration that does not converge, read while it runs, aborted
  const migrationOf = async (server: string) => {
    const r = await s.send({ method: "GET", url: `nova:/servers/${server}/migrations`, mv: "2.93" });
    const list = (get(r.json, "migrations") as Json[] | undefined) ?? [];
    return list[0];
  };
  const latestRecord = async (server: string) => {
    const r = await s.send({ method: "GET", url: `nova:/os-migrations?instance_uuid=${server}`, mv: "2.93" });
    return ((get(r.json, "migrations") as Json[] | undefined) ?? [])[0];
  };
  await s.call("live-migrate.accepted@2.93", {
    method: "POST",
    url: `nova:/servers/${dirty}/action`,
    mv: "2.93",
    body: { "os-migrateLive": { host: dirtyTo, block_migration: "auto" } },
  });
  const running = await s.until("migration running", async () => {
    const m = await migrationOf(dirty);
    return m?.status === "running" && Number(m.memory_processed_bytes) > 0 ? m : undefined;
  });
  const mid = Number(running.id);
  await s.call("servers.show.migrating@2.93", { method: "GET", url: `nova:/servers/${dirty}`, mv: "2.93" });
  for (const mv of ["2.23", "2.59", "2.80", "2.93"]) {
    await s.call(`server-migrations.index.running@${mv}`, {
      method: "GET",
      url: `nova:/servers/${dirty}/migrations`,
      mv,
    });
    await s.call(`server-migrations.show.running@${mv}`, {
      method: "GET",
      url: `nova:/servers/${dirty}/migrations/${mid}`,
      mv,
    });
  }
  for (const mv of ["2.23", "2.59", "2.93"]) {
    await s.call(`migrations.index.running@${mv}`, {
      method: "GET",
      url: `nova:/os-migrations?instance_uuid=${dirty}&migration_type=live-migration`,
      mv,
    });
  }
  await s.call("live-migrate.while-migrating@2.93", {
    method: "POST",
    url: `nova:/servers/${dirty}/action`,
    mv: "2.93",
    body: { "os-migrateLive": { host: dirtyTo, block_migration: "auto" } },
  });
  await s.call("reboot.while-migrating@2.93", {
    method: "POST",
    url: `nova:/servers/${dirty}/action`,
    mv: "2.93",
    body: { reboot: { type: "HARD" } },
  });
  await s.call("force-complete.bad-body@2.22", {
    method: "POST",
    url: `nova:/servers/${dirty}/migrations/${mid}/action`,
    mv: "2.22",
    body: { force_complete: "now" },
  });
  await s.call("abort@2.23", {
    method: "DELETE",
    url: `nova:/servers/${dirty}/migrations/${mid}`,
    mv: "2.23",
  });
  await s.call("abort@2.24", {
    method: "DELETE",
    url: `nova:/servers/${dirty}/migrations/${mid}`,
    mv: "2.24",
  });
  await s.until("migration cancelled", async () => {
    const m = await latestRecord(dirty);
    return Number(m?.id) === mid && m?.status === "cancelled" ? m : undefined;
  });
  await s.until("server ACTIVE after the abort", async () => {
    const r = await s.send({ method: "GET", url: `nova:/servers/${dirty}`, mv: "2.93" });
    return get(r.json, "server", "status") === "ACTIVE" &&
      get(r.json, "server", "OS-EXT-STS:task_state") === null
      ? true
      : undefined;
  });
  await s.call("migrations.index.cancelled@2.93", {
    method: "GET",
    url: `nova:/os-migrations?instance_uuid=${dirty}`,
    mv: "2.93",
  });
  await s.call("server-migrations.show.cancelled@2.93", {
    method: "GET",
    url: `nova:/servers/${dirty}/migrations/${mid}`,
    mv: "2.93",
  });
  await s.call("abort.cancelled@2.24", {
    method: "DELETE",
    url: `nova:/servers/${dirty}/migrations/${mid}`,
    mv: "2.24",
  });
  await s.call("force-complete.cancelled@2.22", {
    method: "POST",
    url: `nova:/servers/${dirty}/migrations/${mid}/action`,
    mv: "2.22",
    body: { force_complete: null },
  });

  // ---------------------------------------------------------------- the same migration force-completed
  await s.call("live-migrate.again@2.93", {
    method: "POST",
    url: `nova:/servers/${dirty}/action`,
    mv: "2.93",
    body: { "os-migrateLive": { host: dirtyTo, block_migration: "auto" } },
  });
  const again = await s.until("second migration running", async () => {
    const m = await migrationOf(dirty);
    return m?.status === "running" && Number(m.memory_processed_bytes) > 0 ? m : undefined;
  });
  await s.call("force-complete@2.21", {
    method: "POST",
    url: `nova:/servers/${dirty}/migrations/${Number(again.id)}/action`,
    mv: "2.21",
    body: { force_complete: null },
  });
  await s.call("force-complete@2.22", {
    method: "POST",
    url: `nova:/servers/${dirty}/migrations/${Number(again.id)}/action`,
    mv: "2.22",
    body: { force_complete: null },
  });
  await s.until("force-completed migration completed", async () => {
    const m = await latestRecord(dirty);
    if (Number(m?.id) !== Number(again.id)) return undefined;
    if (m?.status === "error" || m?.status === "cancelled")
      throw new Error(`${target.name}: force complete ended ${m.status}`);
    return m?.status === "completed" ? m : undefined;
  });
  await s.call("servers.show.moved@2.93", { method: "GET", url: `nova:/servers/${dirty}`, mv: "2.93" });
  await s.call("migrations.index.completed@2.93", {
    method: "GET",
    url: `nova:/os-migrations?instance_uuid=${dirty}&migration_type=live-migration`,
    mv: "2.93",
  });
  const dirtyActions = await s.call("instance-actions.index.migrated@2.93", {
    method: "GET",
    url: `nova:/servers/${dirty}/os-instance-actions`,
    mv: "2.93",
  });
  const liveRequest = ((get(dirtyActions.json, "instanceActions") as Json[] | undefined) ?? []).find(
    (a) => a.action === "live-migration",
  )?.request_id;
  await s.call("instance-actions.show.live-migration@2.93", {
    method: "GET",
    url: `nova:/servers/${dirty}/os-instance-actions/${String(liveRequest)}`,
    mv: "2.93",
  });

  // ---------------------------------------------------------------- a refused destination: nova-compute disabled
  const services = await s.send({
    method: "GET",
    url: `nova:/os-services?binary=nova-compute&host=${hosts.refused}`,
    mv: "2.53",
  });
  const serviceId = get(services.json, "services", 0, "id");
  await s.call("services.disable@2.53", {
    method: "PUT",
    url: `nova:/os-services/${String(serviceId)}`,
    mv: "2.53",
    body: { status: "disabled", disabled_reason: "conformance: disk swap" },
  });
  await s.call("services.disable-log-reason@2.1", {
    method: "PUT",
    url: "nova:/os-services/disable-log-reason",
    mv: "2.1",
    body: { host: hosts.refused, binary: "nova-compute", disabled_reason: "conformance: disk swap" },
  });
  await s.call("services.disabled@2.93", {
    method: "GET",
    url: `nova:/os-services?binary=nova-compute&host=${hosts.refused}`,
    mv: "2.93",
  });
  const before = Number((await latestRecord(calm))?.id ?? 0);
  await s.call("live-migrate.refused@2.93", {
    method: "POST",
    url: `nova:/servers/${calm}/action`,
    mv: "2.93",
    body: { "os-migrateLive": { host: hosts.refused, block_migration: "auto" } },
  });
  await s.until("refused migration in error", async () => {
    const m = await latestRecord(calm);
    return Number(m?.id) > before && m?.status === "error" ? m : undefined;
  });
  await idle(calm, "server idle after the refused destination");
  await s.call("migrations.index.refused@2.93", {
    method: "GET",
    url: `nova:/os-migrations?instance_uuid=${calm}`,
    mv: "2.93",
  });
  const calmActions = await s.send({
    method: "GET",
    url: `nova:/servers/${calm}/os-instance-actions`,
    mv: "2.93",
  });
  const refusedRequest = get(calmActions.json, "instanceActions", 0, "request_id");
  for (const mv of ["2.1", "2.51", "2.84", "2.93"]) {
    await s.call(`instance-actions.show.refused@${mv}`, {
      method: "GET",
      url: `nova:/servers/${calm}/os-instance-actions/${String(refusedRequest)}`,
      mv,
    });
  }
  await s.call("services.enable@2.53", {
    method: "PUT",
    url: `nova:/os-services/${String(serviceId)}`,
    mv: "2.53",
    body: { status: "enabled" },
  });
  await s.call("services.enable@2.1", {
    method: "PUT",
    url: "nova:/os-services/enable",
    mv: "2.1",
    body: { host: hosts.refused, binary: "nova-compute" },
  });
  // Below 2.30 a named host skips the scheduler (a forced move) and below 2.34 the conductor's
  // checks answer the API call itself: real Nova moves the server, even to a disabled host. Last,
  // because it moves `calm`; the scenario waits until that migration has ended.
  const beforeSync = Number((await latestRecord(calm))?.id ?? 0);
  await s.call("live-migrate.sync@2.25", {
    method: "POST",
    url: `nova:/servers/${calm}/action`,
    mv: "2.25",
    header: "legacy",
    body: { "os-migrateLive": { host: hosts.refused, block_migration: "auto" } },
  });
  await s.until("2.25 migration ended", async () => {
    const m = await latestRecord(calm);
    return Number(m?.id) > beforeSync &&
      ["completed", "error", "failed", "cancelled"].includes(String(m?.status))
      ? m
      : undefined;
  });
  await idle(calm, "server idle after the 2.25 migration");
  await s.call("migrations.index.sync@2.25", {
    method: "GET",
    url: `nova:/os-migrations?instance_uuid=${calm}`,
    mv: "2.25",
    header: "legacy",
  });
  return { observed: s.observed, bodies: s.bodies, timingsMs: s.timingsMs };
}
