/**
 * The sandbox behind a Mitaka controller (API 2.25), against what nova 13.x does: an abort stops
 * only `running` live migrations, and `GET /os-migrations` ignores `instance_uuid` (and matches
 * `status` per character) — and migbot's client still finds one server's migrations there.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findNovaMigration } from "../../src/migration/nova-migration";
import { KeystoneAuth } from "../../src/openstack/keystone";
import { NovaClient } from "../../src/openstack/nova";
import { MIGRATION_PREPARING_S, MIGRATION_QUEUED_S, SandboxCloud } from "../../src/sandbox/cloud";
import { ControlPlaneError } from "../../src/sandbox/control-plane";
import { type Sandbox, startSandbox } from "../../src/sandbox/index";
import { DEFAULT_SEED } from "../../src/sandbox/seed";
import { readJsonFixture } from "../support/fixtures";

type Json = Record<string, unknown>;
/** Model seconds to step while waiting for a status; the bound keeps a broken model from hanging. */
const STEP_S = 0.5;
const MAX_WAIT_S = 120;

let sandbox: Sandbox;
let auth: KeystoneAuth;
let nova: NovaClient;

beforeAll(async () => {
  sandbox = await startSandbox({ timeScale: 0, novaMaxMicroversion: "2.25" });
  auth = new KeystoneAuth({
    credentials: { ...sandbox.credentials, interface: "public", source: "test" },
  });
  nova = await NovaClient.connect({ auth });
});
afterAll(async () => sandbox?.stop());

/** One request to the sandbox's Nova at a microversion, as Mitaka reads it (the legacy header only). */
async function api(method: string, path: string, mv = "2.25"): Promise<{ status: number; body: Json }> {
  const token = await auth.token();
  const res = await fetch(`${sandbox.novaUrl}${path}`, {
    method,
    headers: { "X-Auth-Token": token.value, "X-OpenStack-Nova-API-Version": mv },
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
}

/** Steps the model until the migration's status passes `ok`, within {@link MAX_WAIT_S}. */
function advanceUntil(cloud: SandboxCloud, serverId: string, id: number, ok: (s: string) => boolean): string {
  for (let t = 0; t <= MAX_WAIT_S; t += STEP_S) {
    const status = cloud.getMigration(serverId, id)!.status;
    if (ok(status)) return status;
    cloud.advance(STEP_S);
  }
  throw new Error(`migration ${id} never reached the status wanted`);
}

describe("a Mitaka controller (2.25)", () => {
  it("refuses to abort a queued or preparing live migration with Nova's 400, and aborts a running one", async () => {
    const cloud = sandbox.cloud;
    const db = cloud.vmByName("db-1")!;
    await nova.liveMigrate(db.uuid, { host: "compute-2" });
    const m = cloud.listMigrations({ instanceUuid: db.uuid }).at(-1)!;
    expect(m.status).toBe("queued");
    for (const status of ["queued", "preparing"]) {
      advanceUntil(cloud, db.uuid, m.id, (s) => s === status);
      const res = await api("DELETE", `/servers/${db.uuid}/migrations/${m.id}`);
      expect(res.status).toBe(400);
      expect((res.body.badRequest as Json).message).toBe(
        `Migration ${m.id} state of instance ${db.uuid} is ${status}. Cannot abort live migration while the migration is in this state.`,
      );
      expect(cloud.getMigration(db.uuid, m.id)!.status).toBe(status);
    }
    advanceUntil(cloud, db.uuid, m.id, (s) => s === "running");
    await nova.abortMigration(db.uuid, m.id);
    expect(advanceUntil(cloud, db.uuid, m.id, (s) => s !== "running")).toBe("cancelled");
  });

  it("lists every migration for GET /os-migrations?instance_uuid=, as nova 13.x does; migbot keeps only the server's own", async () => {
    const cloud = sandbox.cloud;
    const vm42 = cloud.vmByName("vm-42")!;
    const cache = cloud.vmByName("cache-1")!;
    const since = Date.now();
    await nova.liveMigrate(vm42.uuid, { host: "compute-2" });
    await nova.liveMigrate(cache.uuid, { host: "compute-1" });
    const theirs = cloud.listMigrations({ instanceUuid: cache.uuid }).at(-1)!;
    const ours = cloud.listMigrations({ instanceUuid: vm42.uuid }).at(-1)!;

    const raw = await api("GET", `/os-migrations?instance_uuid=${vm42.uuid}`);
    expect(raw.status).toBe(200);
    const listed = (raw.body.migrations as Json[]).map((x) => x.instance_uuid);
    expect(listed).toContain(cache.uuid);
    expect(new Set(listed).size).toBeGreaterThan(1);
    // Mitaka's shape, as its API sample has it.
    const sample = readJsonFixture<{ migrations: Json[] }>(
      "nova-api-samples-mitaka-eol/os-migrations/v2.23/migrations-get.json",
    );
    const keys = (o: Json) =>
      Object.keys(o)
        .filter((k) => k !== "links")
        .sort();
    expect(keys((raw.body.migrations as Json[])[0]!)).toEqual(keys(sample.migrations[0]!));

    // The client filters by instance itself: through os-migrations and the pre-2.23 fallback.
    const mine = await nova.listMigrations({ instanceUuid: vm42.uuid, migrationType: "live-migration" });
    expect(mine.map((x) => x.id)).toEqual([ours.id]);
    const old = await NovaClient.connect({ auth, maxMicroversion: "2.21" });
    expect((await old.listServerMigrations(vm42.uuid)).map((x) => x.id)).toEqual([ours.id]);
    expect((await old.getServerMigration(vm42.uuid, theirs.id)) ?? null).toBeNull();
    // The tracker's lookup after a trigger finds this server's migration, not the newer one of another.
    expect((await findNovaMigration(nova, vm42.uuid, null, since))?.id).toBe(ours.id);
    expect((await findNovaMigration(old, vm42.uuid, null, since))?.id).toBe(ours.id);
  });

  it("matches a status filter per character, so a real status finds nothing (bug 1581382)", async () => {
    const all = (await api("GET", "/os-migrations")).body.migrations as Json[];
    expect(all.length).toBeGreaterThan(0);
    const status = all[0]!.status as string;
    expect((await api("GET", `/os-migrations?status=${encodeURIComponent(status)}`)).body.migrations).toEqual(
      [],
    );
    // `host` is the source or the destination, as in every release.
    const byHost = (await api("GET", "/os-migrations?host=compute-2")).body.migrations as Json[];
    expect(byHost.length).toBeGreaterThan(0);
    expect(byHost.every((m) => m.source_compute === "compute-2" || m.dest_compute === "compute-2")).toBe(
      true,
    );
  });
});

describe("abort rules in the model, per controller release and request microversion", () => {
  function queuedMigration(controllerMajor: number) {
    const cloud = new SandboxCloud({ seed: DEFAULT_SEED, startTime: new Date(0), controllerMajor });
    const vm = cloud.vmByName("web-7")!;
    const m = cloud.liveMigrate(vm.uuid, { host: "compute-4", blockMigration: "auto", asyncPrecheck: false });
    expect(m.status).toBe("queued");
    return { cloud, vm, m };
  }

  it("a Zed controller aborts a queued migration only for a request at 2.65 or later", () => {
    const { cloud, vm, m } = queuedMigration(26);
    expect(() => cloud.abortMigration(vm.uuid, m.id, { requestMicroversion: "2.64" })).toThrow(
      ControlPlaneError,
    );
    cloud.advance(MIGRATION_QUEUED_S + MIGRATION_PREPARING_S / 2);
    expect(cloud.getMigration(vm.uuid, m.id)!.status).toBe("preparing");
    cloud.abortMigration(vm.uuid, m.id, { requestMicroversion: "2.65" });
    expect(cloud.getMigration(vm.uuid, m.id)!.status).toBe("cancelled");
  });

  it("a Mitaka controller refuses a queued one at its highest microversion", () => {
    const { cloud, vm, m } = queuedMigration(13);
    expect(() => cloud.abortMigration(vm.uuid, m.id, { requestMicroversion: "2.25" })).toThrow(
      /is queued\. Cannot abort live migration/,
    );
  });
});
