import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type NovaApi,
  type SandboxCredentials,
  sandboxProjectId,
  startNovaApi,
} from "../../src/sandbox/nova-api";
import { readJsonFixture } from "../support/fixtures";
import { FakeCloud } from "./fake-cloud";

const CREDENTIALS: SandboxCredentials = {
  username: "admin",
  password: "s3cret-sandbox-pw",
  projectName: "admin",
  userDomainName: "Default",
  projectDomainName: "Default",
  regionName: "RegionOne",
};
const SERVER_ID = "8600d31b-d1a1-4632-b2ff-45c2be1a70ff";
const SAMPLES = "nova-api-samples";
const MITAKA = "nova-api-samples-mitaka-eol";

type Json = Record<string, unknown>;

function passwordAuth(overrides: { password?: string; project?: string } = {}) {
  return {
    auth: {
      identity: {
        methods: ["password"],
        password: {
          user: {
            name: "admin",
            domain: { name: "Default" },
            password: overrides.password ?? CREDENTIALS.password,
          },
        },
      },
      scope: { project: { name: overrides.project ?? "admin", domain: { name: "Default" } } },
    },
  };
}

async function issueToken(api: NovaApi): Promise<{ token: string; body: Json; status: number }> {
  const res = await fetch(`${api.keystoneUrl}/auth/tokens`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(passwordAuth()),
  });
  return {
    token: res.headers.get("x-subject-token") ?? "",
    body: (await res.json()) as Json,
    status: res.status,
  };
}

function client(api: NovaApi, token: string) {
  return async (
    method: string,
    path: string,
    opts: { mv?: string; legacyMv?: string; body?: unknown; noToken?: boolean } = {},
  ) => {
    const headers: Record<string, string> = {};
    if (!opts.noToken) headers["X-Auth-Token"] = token;
    if (opts.mv) headers["OpenStack-API-Version"] = `compute ${opts.mv}`;
    if (opts.legacyMv) headers["X-OpenStack-Nova-API-Version"] = opts.legacyMv;
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(`${api.novaUrl}${path}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as Json };
  };
}

const sortedKeys = (o: unknown) => Object.keys(o as Json).sort();

/** Same JSON type per key (null on either side is not compared: samples null what we fill and back). */
function expectSameValueTypes(ours: Json, sample: Json): void {
  for (const [key, sampleValue] of Object.entries(sample)) {
    const ourValue = ours[key];
    if (sampleValue === null || ourValue === null || ourValue === undefined) continue;
    const kind = (v: unknown) => (Array.isArray(v) ? "array" : typeof v);
    expect(`${key}: ${kind(ourValue)}`).toBe(`${key}: ${kind(sampleValue)}`);
  }
}

describe("sandbox Keystone + Nova API, Zed-like (2.93)", () => {
  let cloud: FakeCloud;
  let api: NovaApi;
  let token: string;
  let nova: ReturnType<typeof client>;

  beforeAll(async () => {
    cloud = new FakeCloud();
    api = await startNovaApi({ controlPlane: cloud, credentials: CREDENTIALS, maxMicroversion: "2.93" });
    token = (await issueToken(api)).token;
    nova = client(api, token);
  });
  afterAll(async () => api.close());

  it("issues a token shaped like Keystone's sample, with a compute catalog pointing at this Nova", async () => {
    const { status, body, token: subject } = await issueToken(api);
    expect(status).toBe(201);
    expect(subject).toMatch(/^gAAAA/);
    const sample = readJsonFixture<Json>(
      "keystone-api-samples/v3/admin/auth-password-project-scoped-response.json",
    );
    const ours = body.token as Json;
    // The sample is Keystone master's; Keystone 22 (Zed, the lab's real one) sends no `extras`
    // (test/conformance compares the sandbox with it).
    const { extras: _extras, ...theirs } = sample.token as Json;
    expect(sortedKeys(ours)).toEqual(sortedKeys(theirs));
    expectSameValueTypes(ours, theirs);
    expect(ours.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const sampleCompute = (theirs.catalog as Json[]).find((s) => s.type === "compute")!;
    const compute = (ours.catalog as Json[]).find((s) => s.type === "compute")!;
    expect(sortedKeys(compute)).toEqual(sortedKeys(sampleCompute));
    const endpoints = compute.endpoints as Json[];
    expect(sortedKeys(endpoints[0])).toEqual(sortedKeys((sampleCompute.endpoints as Json[])[0]));
    expect(endpoints.map((e) => e.interface).sort()).toEqual(["admin", "internal", "public"]);
    for (const e of endpoints) {
      expect(e.url).toBe(api.novaUrl);
      expect(e.region).toBe("RegionOne");
    }
  });

  it("refuses a wrong password or project with Keystone's 401, and counts only issued tokens", async () => {
    const before = api.stats().tokensIssued;
    for (const bad of [passwordAuth({ password: "wrong" }), passwordAuth({ project: "other" })]) {
      const res = await fetch(`${api.keystoneUrl}/auth/tokens`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(bad),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get("x-subject-token")).toBeNull();
      const body = (await res.json()) as { error: Json };
      expect(body.error).toEqual({
        code: 401,
        title: "Unauthorized",
        message: "The request you have made requires authentication.",
      });
    }
    expect(api.stats().tokensIssued).toBe(before);
  });

  it("serves Nova's version documents with this cloud's maximum", async () => {
    const root = (await (await fetch(api.novaUrl.replace(/v2\.1$/, ""))).json()) as Json;
    const sampleRoot = readJsonFixture<Json>(`${SAMPLES}/versions/versions-get-resp.json`);
    const ours = root.versions as Json[];
    const theirs = sampleRoot.versions as Json[];
    expect(ours.map(sortedKeys)).toEqual(theirs.map(sortedKeys));
    expect(ours[1]).toMatchObject({ id: "v2.1", version: "2.93", min_version: "2.1", status: "CURRENT" });
    const v21 = (await (await fetch(`${api.novaUrl}/`)).json()) as { version: Json };
    const sampleV21 = readJsonFixture<{ version: Json }>(`${SAMPLES}/versions/v21-version-get-resp.json`);
    expect(sortedKeys(v21.version)).toEqual(sortedKeys(sampleV21.version));
    expect(v21.version.version).toBe("2.93");
  });

  it("answers 401 without a valid token", async () => {
    const none = await nova("GET", `/servers/${SERVER_ID}`, { noToken: true });
    expect(none.status).toBe(401);
    const forged = await client(api, "gAAAAAforged")("GET", `/servers/${SERVER_ID}`);
    expect(forged.status).toBe(401);
    expect(forged.body).toEqual({
      error: {
        code: 401,
        title: "Unauthorized",
        message: "The request you have made requires authentication.",
      },
    });
  });

  it("negotiates microversions like Nova: default 2.1, latest, legacy header, 406 out of range", async () => {
    const none = await nova("GET", `/servers/${SERVER_ID}`);
    expect(none.headers.get("openstack-api-version")).toBe("compute 2.1");
    expect(none.headers.get("x-openstack-nova-api-version")).toBe("2.1");
    const latest = await nova("GET", `/servers/${SERVER_ID}`, { mv: "latest" });
    expect(latest.headers.get("openstack-api-version")).toBe("compute 2.93");
    const legacy = await nova("GET", `/servers/${SERVER_ID}`, { legacyMv: "2.25" });
    expect(legacy.headers.get("x-openstack-nova-api-version")).toBe("2.25");
    const tooNew = await nova("GET", `/servers/${SERVER_ID}`, { mv: "2.94" });
    expect(tooNew.status).toBe(406);
    expect(tooNew.body).toEqual({
      computeFault: {
        code: 406,
        message: "Version 2.94 is not supported by the API. Minimum is 2.1 and maximum is 2.93.",
      },
    });
    const garbage = await nova("GET", `/servers/${SERVER_ID}`, { mv: "two" });
    expect(garbage.status).toBe(400);
  });

  const serverSampleVersions: Array<[string, string]> = [
    ["2.1", "servers"],
    ["2.3", "servers/v2.3"],
    ["2.9", "servers/v2.9"],
    ["2.16", "servers/v2.16"],
    ["2.19", "servers/v2.19"],
    ["2.47", "servers/v2.47"],
    ["2.52", "servers/v2.52"],
    ["2.63", "servers/v2.63"],
    ["2.71", "servers/v2.71"],
    ["2.73", "servers/v2.73"],
    ["2.90", "servers/v2.90"],
  ];
  // Nova's 2.90+ samples were rendered for a non-admin; the sandbox's user is admin, and Nova's
  // default policy shows an admin these attributes at every microversion.
  const ADMIN_ONLY = [
    "OS-EXT-SRV-ATTR:host",
    "OS-EXT-SRV-ATTR:hypervisor_hostname",
    "OS-EXT-SRV-ATTR:instance_name",
    "OS-EXT-SRV-ATTR:kernel_id",
    "OS-EXT-SRV-ATTR:launch_index",
    "OS-EXT-SRV-ATTR:ramdisk_id",
    "OS-EXT-SRV-ATTR:reservation_id",
    "OS-EXT-SRV-ATTR:root_device_name",
    "OS-EXT-SRV-ATTR:user_data",
    "host_status",
  ];

  it.each(serverSampleVersions)("GET /servers/{id} at %s has exactly the sample's keys", async (mv, dir) => {
    const sample = readJsonFixture<{ server: Json }>(`${SAMPLES}/${dir}/server-get-resp.json`).server;
    const res = await nova("GET", `/servers/${SERVER_ID}`, { mv });
    expect(res.status).toBe(200);
    const server = res.body.server as Json;
    const expected = new Set(Object.keys(sample));
    if (mv === "2.90") for (const k of ADMIN_ONLY) expected.add(k);
    expect(sortedKeys(server)).toEqual([...expected].sort());
    expectSameValueTypes(server, sample);
    expect(sortedKeys(server.flavor)).toEqual(sortedKeys(sample.flavor));
    expect(server["OS-EXT-SRV-ATTR:host"]).toBe("cmp1");
  });

  it("GET /servers/detail filters by name as a regular expression and hides other projects without all_tenants", async () => {
    const own = await nova("GET", "/servers/detail?name=web", { mv: "2.47" });
    expect(own.body.servers).toEqual([]);
    cloud.addServer({
      id: crypto.randomUUID(),
      name: "own-web",
      host: "cmp1",
      tenantId: sandboxProjectId(CREDENTIALS),
    });
    const mine = await nova("GET", "/servers/detail?name=web", { mv: "2.47" });
    expect((mine.body.servers as Json[]).map((s) => s.name)).toEqual(["own-web"]);
    const all = await nova("GET", "/servers/detail?all_tenants=1&name=web.1", { mv: "2.47" });
    // "web.1" as a regex also matches "web-1", as it would on a real Nova.
    expect((all.body.servers as Json[]).map((s) => s.name).sort()).toEqual(["web-1", "web.1"]);
    const exact = await nova("GET", "/servers/detail?all_tenants=1&name=%5Eweb%5C.1%24", { mv: "2.47" });
    expect((exact.body.servers as Json[]).map((s) => s.name)).toEqual(["web.1"]);
    const sample = readJsonFixture<{ servers: Json[] }>(`${SAMPLES}/servers/v2.47/servers-details-resp.json`);
    expect(sortedKeys((all.body.servers as Json[])[0])).toEqual(sortedKeys(sample.servers[0]));
  });

  it("validates os-migrateLive bodies per microversion using Nova's own sample requests", async () => {
    const withHost = (file: string) => {
      const body = readJsonFixture<{ "os-migrateLive": Json }>(`${SAMPLES}/os-migrate-server/${file}`);
      body["os-migrateLive"].host = "cmp3";
      return body;
    };
    const cases: Array<[string, string, number]> = [
      ["2.1", "live-migrate-server.json", 202],
      ["2.25", "live-migrate-server.json", 400],
      ["2.25", "v2.25/live-migrate-server.json", 202],
      ["2.24", "v2.25/live-migrate-server.json", 400],
      ["2.30", "v2.30/live-migrate-server.json", 202],
      ["2.29", "v2.30/live-migrate-server.json", 400],
      ["2.68", "v2.30/live-migrate-server.json", 400],
      ["2.68", "v2.68/live-migrate-server.json", 202],
    ];
    for (const [mv, file, expected] of cases) {
      const server = cloud.addServer({ id: crypto.randomUUID(), name: `lm-${mv}-${file}`, host: "cmp1" });
      const res = await nova("POST", `/servers/${server.id}/action`, { mv, body: withHost(file) });
      expect(`${mv} ${file}: ${res.status}`).toBe(`${mv} ${file}: ${expected}`);
      if (expected === 202) expect(res.body).toBeUndefined();
      else expect((res.body.badRequest as Json).message).toMatch(/^Invalid input for field\/attribute/);
    }
    const calls = cloud.liveMigrateCalls.slice(-4).map((c) => c.request);
    // A named host is a forced move before 2.30; from 2.30 without `force: true` (and always from
    // 2.68) the scheduler checks it like any other candidate.
    expect(calls[0]).toEqual({ host: "cmp3", blockMigration: false, asyncPrecheck: false, forced: true });
    expect(calls[1]).toEqual({ host: "cmp3", blockMigration: "auto", asyncPrecheck: false, forced: true });
    expect(calls[3]).toEqual({ host: "cmp3", blockMigration: "auto", asyncPrecheck: true, forced: false });
    const missing = await nova("POST", `/servers/${SERVER_ID}/action`, {
      mv: "2.25",
      body: { "os-migrateLive": { block_migration: "auto" } },
    });
    expect((missing.body.badRequest as Json).message).toContain("'host' is a required property");
  });

  it("renders ControlPlaneError as Nova's fault body with the same status", async () => {
    const server = cloud.addServer({ id: crypto.randomUUID(), name: "busy", host: "cmp1" });
    server.status = "MIGRATING";
    const res = await nova("POST", `/servers/${server.id}/action`, {
      mv: "2.30",
      body: { "os-migrateLive": { host: null, block_migration: "auto" } },
    });
    expect(res.status).toBe(409);
    expect(res.body).toEqual({
      conflictingRequest: {
        code: 409,
        message: `Cannot 'os-migrateLive' instance ${server.id} while it is in task_state migrating`,
      },
    });
    const unknown = await nova("GET", "/servers/00000000-0000-0000-0000-000000000000");
    expect(unknown.body).toEqual({
      itemNotFound: {
        code: 404,
        message: "Instance 00000000-0000-0000-0000-000000000000 could not be found.",
      },
    });
    expect((await nova("GET", "/os-floating-ips")).body).toEqual({
      itemNotFound: { code: 404, message: "The resource could not be found." },
    });
  });

  it("serves server migrations in the samples' shapes from 2.23, and 404 below", async () => {
    const server = cloud.addServer({ id: crypto.randomUUID(), name: "mig-shapes", host: "cmp1" });
    await nova("POST", `/servers/${server.id}/action`, {
      mv: "2.25",
      body: { "os-migrateLive": { host: "cmp2", block_migration: "auto" } },
    });
    const migration = cloud.migrations.at(-1)!;
    expect((await nova("GET", `/servers/${server.id}/migrations`, { mv: "2.22" })).status).toBe(404);
    for (const v of ["2.23", "2.59", "2.80"]) {
      const index = readJsonFixture<{ migrations: Json[] }>(
        `${SAMPLES}/server-migrations/v${v}/migrations-index.json`,
      );
      const list = await nova("GET", `/servers/${server.id}/migrations`, { mv: v });
      const ours = (list.body.migrations as Json[])[0]!;
      expect(sortedKeys(ours)).toEqual(sortedKeys(index.migrations[0]));
      expectSameValueTypes(ours, index.migrations[0]!);
      expect(ours.memory_remaining_bytes).toBe(6 * 1024 ** 3);
      const get = readJsonFixture<{ migration: Json }>(
        `${SAMPLES}/server-migrations/v${v}/migrations-get.json`,
      );
      const one = await nova("GET", `/servers/${server.id}/migrations/${migration.id}`, { mv: v });
      expect(sortedKeys(one.body.migration)).toEqual(sortedKeys(get.migration));
    }
    const mitakaIndex = readJsonFixture<{ migrations: Json[] }>(
      `${MITAKA}/server-migrations/v2.23/migrations-index.json`,
    );
    const list = await nova("GET", `/servers/${server.id}/migrations`, { mv: "2.23" });
    expect(sortedKeys((list.body.migrations as Json[])[0])).toEqual(sortedKeys(mitakaIndex.migrations[0]));

    const forceBody = readJsonFixture(`${SAMPLES}/server-migrations/v2.22/force_complete.json`);
    const path = `/servers/${server.id}/migrations/${migration.id}`;
    expect((await nova("POST", `${path}/action`, { mv: "2.21", body: forceBody })).status).toBe(404);
    expect((await nova("POST", `${path}/action`, { mv: "2.22", body: forceBody })).status).toBe(202);
    expect(cloud.forceCompleted).toContain(migration.id);
    expect((await nova("DELETE", path, { mv: "2.23" })).status).toBe(404);
    expect((await nova("DELETE", path, { mv: "2.24" })).status).toBe(202);
    expect(cloud.aborted).toContain(migration.id);
    // Once it is no longer in progress, Nova's server-migrations resource no longer shows it.
    expect((await nova("GET", path, { mv: "2.24" })).status).toBe(404);
    expect((await nova("GET", `/servers/${server.id}/migrations`, { mv: "2.24" })).body).toEqual({
      migrations: [],
    });
  });

  it("serves os-migrations per microversion, with links only on in-progress live migrations", async () => {
    const server = cloud.addServer({ id: crypto.randomUUID(), name: "osmig", host: "cmp1" });
    await nova("POST", `/servers/${server.id}/action`, {
      mv: "2.25",
      body: { "os-migrateLive": { host: "cmp2", block_migration: "auto" } },
    });
    const running = cloud.migrations.at(-1)!;
    const server2 = cloud.addServer({ id: crypto.randomUUID(), name: "osmig2", host: "cmp1" });
    await nova("POST", `/servers/${server2.id}/action`, {
      mv: "2.25",
      body: { "os-migrateLive": { host: "cmp2", block_migration: "auto" } },
    });
    cloud.finish(cloud.migrations.at(-1)!.id, "completed");
    const files: Array<[string, string]> = [
      ["2.1", `${SAMPLES}/os-migrations/migrations-get.json`],
      ["2.1", `${MITAKA}/os-migrations/migrations-get.json`],
      ["2.23", `${SAMPLES}/os-migrations/v2.23/migrations-get.json`],
      ["2.59", `${SAMPLES}/os-migrations/v2.59/migrations-get.json`],
      ["2.80", `${SAMPLES}/os-migrations/v2.80/migrations-get.json`],
    ];
    for (const [mv, file] of files) {
      const sample = readJsonFixture<{ migrations: Json[] }>(file).migrations;
      const res = await nova("GET", `/os-migrations?instance_uuid=${server.id}`, { mv });
      const ours = res.body.migrations as Json[];
      expect(ours.map((m) => m.id)).toEqual([running.id]);
      const sampleWithSameLinks = sample.find((m) => "links" in m === "links" in ours[0]!)!;
      expect(`${file}: ${sortedKeys(ours[0])}`).toBe(`${file}: ${sortedKeys(sampleWithSameLinks)}`);
    }
    const finished = await nova("GET", `/os-migrations?instance_uuid=${server2.id}`, { mv: "2.59" });
    const done = (finished.body.migrations as Json[])[0]!;
    expect(done.status).toBe("completed");
    expect(done.links).toBeUndefined();
    const byStatus = await nova("GET", "/os-migrations?status=completed&migration_type=live-migration", {
      mv: "2.59",
    });
    expect((byStatus.body.migrations as Json[]).every((m) => m.status === "completed")).toBe(true);
  });

  it("serves hypervisor details in the base, 2.28, 2.53 and 2.88 shapes", async () => {
    const files: Array<[string, string]> = [
      ["2.1", `${SAMPLES}/os-hypervisors/hypervisors-detail-resp.json`],
      ["2.1", `${MITAKA}/os-hypervisors/hypervisors-detail-resp.json`],
      ["2.28", `${SAMPLES}/os-hypervisors/v2.28/hypervisors-detail-resp.json`],
      ["2.53", `${SAMPLES}/os-hypervisors/v2.53/hypervisors-detail-resp.json`],
      ["2.88", `${SAMPLES}/os-hypervisors/v2.88/hypervisors-detail-resp.json`],
    ];
    for (const [mv, file] of files) {
      const sample = readJsonFixture<{ hypervisors: Json[] }>(file).hypervisors[0]!;
      const res = await nova("GET", "/os-hypervisors/detail", { mv });
      const ours = (res.body.hypervisors as Json[])[0]!;
      expect(`${file}: ${sortedKeys(ours)}`).toBe(`${file}: ${sortedKeys(sample)}`);
      expectSameValueTypes(ours, sample);
      expect(sortedKeys(ours.service)).toEqual(sortedKeys(sample.service));
      expect(typeof (ours.service as Json).id).toBe(typeof (sample.service as Json).id);
    }
    const base = await nova("GET", "/os-hypervisors/detail", { mv: "2.1" });
    expect(JSON.parse((base.body.hypervisors as Json[])[0]!.cpu_info as string).model).toBe("Skylake-Client");
    const paged = await nova("GET", "/os-hypervisors/detail?limit=1", { mv: "2.53" });
    expect((paged.body.hypervisors as Json[]).length).toBe(1);
    expect(((paged.body.hypervisors_links as Json[])[0]!.href as string).includes("marker=")).toBe(true);
  });

  it("serves compute services in the base, 2.11 and 2.53 shapes, filtered by binary", async () => {
    for (const [mv, dir] of [
      ["2.1", "os-services"],
      ["2.11", "os-services/v2.11"],
      ["2.53", "os-services/v2.53"],
    ] as const) {
      const sample = readJsonFixture<{ services: Json[] }>(`${SAMPLES}/${dir}/services-list-get-resp.json`);
      const res = await nova("GET", "/os-services?binary=nova-compute", { mv });
      const ours = res.body.services as Json[];
      expect(ours.length).toBe(4);
      expect(sortedKeys(ours[0])).toEqual(sortedKeys(sample.services[0]));
      expectSameValueTypes(ours[0]!, sample.services[0]!);
    }
  });

  it("hard-reboots through the control plane and refuses a soft reboot it cannot model", async () => {
    const res = await nova("POST", `/servers/${SERVER_ID}/action`, { body: { reboot: { type: "HARD" } } });
    expect(res.status).toBe(202);
    expect(cloud.rebooted).toContain(SERVER_ID);
    const bad = await nova("POST", `/servers/${SERVER_ID}/action`, { body: { reboot: { type: "WARM" } } });
    expect(bad.status).toBe(400);
  });
});

describe("sandbox API emulating Mitaka (2.25)", () => {
  let api: NovaApi;
  let nova: ReturnType<typeof client>;
  let catalogUrl: string;

  beforeAll(async () => {
    api = await startNovaApi({
      controlPlane: new FakeCloud(),
      credentials: CREDENTIALS,
      maxMicroversion: "2.25",
      tokenTtlSeconds: 0.3,
    });
    const issued = await issueToken(api);
    const compute = ((issued.body.token as Json).catalog as Json[]).find((s) => s.type === "compute")!;
    catalogUrl = (compute.endpoints as Json[])[0]!.url as string;
    nova = client(api, issued.token);
  });
  afterAll(async () => api.close());

  it("serves Mitaka's version document and a catalog URL with the project id, as Mitaka deployments had", async () => {
    const root = (await (await fetch(api.novaUrl.replace(/v2\.1$/, ""))).json()) as { versions: Json[] };
    const sample = readJsonFixture<{ versions: Json[] }>(`${MITAKA}/versions/versions-get-resp.json`);
    expect(root.versions.map(sortedKeys)).toEqual(sample.versions.map(sortedKeys));
    expect(root.versions[1]!.version).toBe("2.25");
    expect(catalogUrl).toMatch(new RegExp(`^${api.novaUrl}/[0-9a-f]{32}$`));
  });

  it("reads only the legacy header and refuses versions above 2.25", async () => {
    const generic = await nova("GET", "/os-services", { mv: "2.25" });
    expect(generic.headers.get("x-openstack-nova-api-version")).toBe("2.1");
    expect(generic.headers.get("openstack-api-version")).toBeNull();
    const legacy = await nova("GET", "/os-services", { legacyMv: "2.25" });
    expect(legacy.headers.get("x-openstack-nova-api-version")).toBe("2.25");
    expect((await nova("GET", "/os-services", { legacyMv: "2.26" })).status).toBe(406);
  });

  it("expires tokens after their lifetime", async () => {
    expect((await nova("GET", "/os-services")).status).toBe(200);
    await new Promise((r) => setTimeout(r, 400));
    expect((await nova("GET", "/os-services")).status).toBe(401);
  });
});
