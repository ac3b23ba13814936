import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigInvalidError } from "../../src/openstack/errors";
import { findEndpoint, parseTokenBody, tokensUrl } from "../../src/openstack/keystone";
import {
  parseHypervisor,
  parseMigration,
  parseServer,
  parseService,
  versionDocumentUrl,
} from "../../src/openstack/nova";
import { fixturePath, readJsonFixture } from "../support/fixtures";

type Json = Record<string, unknown>;
const SAMPLES = "nova-api-samples";
const MITAKA = "nova-api-samples-mitaka-eol";

function serverFiles(root: string, dir: string): string[] {
  const base = fixturePath(`${root}/${dir}`);
  const out: string[] = [];
  for (const entry of readdirSync(base, { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(...serverFiles(root, `${dir}/${entry.name}`));
    else if (/^servers?-(get|details?)-resp\.json$/.test(entry.name))
      out.push(`${root}/${dir}/${entry.name}`);
  }
  return out;
}

describe("parsing Nova's real sample bodies", () => {
  const files = [
    ...serverFiles(SAMPLES, "servers"),
    ...serverFiles(MITAKA, "servers"),
    ...serverFiles(MITAKA, "os-extended-server-attributes"),
    ...serverFiles(MITAKA, "os-extended-status"),
  ];

  it("finds the server samples (all microversions, Mitaka included)", () => {
    expect(files.length).toBeGreaterThanOrEqual(35);
  });

  it.each(files)("reads %s", (file) => {
    const body = readJsonFixture<Json>(file);
    const raws = (body.servers as Json[] | undefined) ?? [body.server as Json];
    for (const raw of raws) {
      const server = parseServer(raw);
      expect(server.id).toBe(raw.id);
      expect(server.status).toBe(raw.status);
      expect(server.host).toBe(raw["OS-EXT-SRV-ATTR:host"] ?? null);
      expect(server.instanceName).toBe(raw["OS-EXT-SRV-ATTR:instance_name"] ?? null);
      expect(server.hypervisorHostname).toBe(raw["OS-EXT-SRV-ATTR:hypervisor_hostname"] ?? null);
      expect(server.taskState).toBe(raw["OS-EXT-STS:task_state"] ?? null);
      // Down-cell records (2.69) carry no flavor at all.
      const flavor = (raw.flavor ?? {}) as Json;
      if (!("flavor" in raw)) expect(server.flavor).toEqual({});
      else if ("ram" in flavor)
        expect(server.flavor).toMatchObject({ ramMb: flavor.ram, vcpus: flavor.vcpus });
      else expect(server.flavor).toEqual({ id: flavor.id });
    }
  });

  it("reads the admin attributes a migration needs from the 2.3 sample", () => {
    const server = parseServer(readJsonFixture<Json>(`${SAMPLES}/servers/v2.3/server-get-resp.json`).server);
    expect(server).toEqual({
      id: "0e44cc9c-e052-415d-afbf-469b0d384170",
      name: "new-server-test",
      status: "ACTIVE",
      host: "b8b357f7100d4391828f2177c922ef93",
      hypervisorHostname: "fake-mini",
      instanceName: "instance-00000001",
      taskState: null,
      vmState: "active",
      flavor: { id: "1" },
      // The sample's `image` is an object: booted from an image, so its disk is local.
      bootedFromImage: true,
    });
    // Booted from a volume, Nova shows `image: ""`.
    const raw = readJsonFixture<Json>(`${SAMPLES}/servers/v2.3/server-get-resp.json`).server as Record<
      string,
      unknown
    >;
    expect(parseServer({ ...raw, image: "" }).bootedFromImage).toBe(false);
    const embedded = parseServer(
      readJsonFixture<Json>(`${SAMPLES}/servers/v2.47/server-get-resp.json`).server,
    );
    expect(embedded.flavor).toEqual({ ramMb: 512, vcpus: 1, name: "m1.tiny.specs" });
  });

  it("reads server migrations with their memory counters (2.23, 2.59, 2.80, Mitaka)", () => {
    for (const file of [
      `${SAMPLES}/server-migrations/v2.23/migrations-index.json`,
      `${SAMPLES}/server-migrations/v2.59/migrations-index.json`,
      `${SAMPLES}/server-migrations/v2.80/migrations-index.json`,
      `${MITAKA}/server-migrations/v2.23/migrations-index.json`,
    ]) {
      const [m] = readJsonFixture<{ migrations: Json[] }>(file).migrations.map(parseMigration);
      expect(m).toMatchObject({
        id: 1,
        status: "running",
        serverId: "4cfba335-03d8-49b2-8c52-e69043d1e8fe",
        sourceCompute: "compute1",
        destCompute: "compute2",
        destHost: "1.2.3.4",
        memoryTotalBytes: 123456,
        memoryProcessedBytes: 12345,
        createdAt: "2016-01-29T13:42:02.000000",
      });
      expect(m!.memoryRemainingBytes).toBeGreaterThan(0);
      expect(m!.uuid === undefined).toBe(file.includes("v2.23"));
    }
    const one = parseMigration(
      readJsonFixture<Json>(`${SAMPLES}/server-migrations/v2.59/migrations-get.json`).migration,
    );
    expect(one.uuid).toBe("12341d4b-346a-40d0-83c6-5f4f6892b650");
    expect(one.diskRemainingBytes).toBe(211111);
  });

  it("reads os-migrations at every microversion, without memory counters", () => {
    const files = [
      `${SAMPLES}/os-migrations/migrations-get.json`,
      `${SAMPLES}/os-migrations/v2.23/migrations-get.json`,
      `${SAMPLES}/os-migrations/v2.59/migrations-get.json`,
      `${SAMPLES}/os-migrations/v2.66/migrations-get.json`,
      `${SAMPLES}/os-migrations/v2.80/migrations-get.json`,
      `${MITAKA}/os-migrations/migrations-get.json`,
      `${MITAKA}/os-migrations/v2.23/migrations-get.json`,
    ];
    for (const file of files) {
      const raws = readJsonFixture<{ migrations: Json[] }>(file).migrations;
      const parsed = raws.map(parseMigration);
      parsed.forEach((m, i) => {
        expect(m.id).toBe(raws[i]!.id);
        expect(m.serverId).toBe(raws[i]!.instance_uuid);
        expect(m.status).toBe(raws[i]!.status);
        expect(m.memoryRemainingBytes).toBeNull();
        expect(m.migrationType).toBe(raws[i]!.migration_type);
      });
    }
    const v223 = readJsonFixture<{ migrations: Json[] }>(
      `${SAMPLES}/os-migrations/v2.23/migrations-get.json`,
    );
    expect(v223.migrations.map(parseMigration).map((m) => `${m.migrationType}:${m.status}`)).toEqual([
      "live-migration:running",
      "live-migration:error",
      "resize:error",
      "resize:migrating",
    ]);
  });

  it("reads hypervisors: string cpu_info before 2.28, UUIDs from 2.53, no statistics from 2.88", () => {
    const at = (file: string) =>
      parseHypervisor(readJsonFixture<{ hypervisors: Json[] }>(file).hypervisors[0]);
    const base = at(`${SAMPLES}/os-hypervisors/hypervisors-detail-resp.json`);
    expect(base).toMatchObject({ id: "1", hostname: "fake-mini", vcpus: 2, memoryMb: 8192, freeRamMb: 7680 });
    expect(base.cpuInfo).toMatchObject({ model: "Nehalem", features: ["pge", "clflush"] });
    const mitaka = at(`${MITAKA}/os-hypervisors/hypervisors-detail-resp.json`);
    expect(mitaka).toMatchObject({ id: "1", vcpus: 1, serviceHost: "e6a37ee802d74863ab8b91ade8f12a67" });
    expect(mitaka.cpuInfo).toMatchObject({ model: "Nehalem" });
    expect(at(`${SAMPLES}/os-hypervisors/v2.28/hypervisors-detail-resp.json`).cpuInfo).toMatchObject({
      vendor: "Intel",
    });
    expect(at(`${SAMPLES}/os-hypervisors/v2.33/hypervisors-detail-resp.json`).serviceHost).toBe("host1");
    const v253 = at(`${SAMPLES}/os-hypervisors/v2.53/hypervisors-detail-resp.json`);
    expect(v253.id).toBe("1bb62a04-c576-402c-8147-9e89757a09e3");
    const v288 = at(`${SAMPLES}/os-hypervisors/v2.88/hypervisors-detail-resp.json`);
    expect(v288).toEqual({
      id: "f6d28711-9c10-470e-8b31-c03f498b0032",
      hostname: "host2",
      serviceHost: "host2",
      state: "up",
      status: "enabled",
      vcpus: null,
      vcpusUsed: null,
      memoryMb: null,
      memoryMbUsed: null,
      freeRamMb: null,
      cpuInfo: null,
      // host_ip stays at 2.88: where the compute's migration traffic arrives (the prediction's route).
      hostIp: "192.168.1.135",
    });
  });

  it("reads compute services at base, 2.11, 2.53, Mitaka, and down-cell 2.69 records as down", () => {
    for (const file of [
      `${SAMPLES}/os-services/services-list-get-resp.json`,
      `${SAMPLES}/os-services/v2.11/services-list-get-resp.json`,
      `${SAMPLES}/os-services/v2.53/services-list-get-resp.json`,
      `${MITAKA}/os-services/services-list-get-resp.json`,
    ]) {
      const services = readJsonFixture<{ services: Json[] }>(file).services.map(parseService);
      const compute = services.filter((s) => s.binary === "nova-compute");
      expect(compute.map((s) => `${s.host}:${s.state}:${s.status}:${s.disabledReason}`)).toEqual([
        "host1:up:disabled:test2",
        "host2:down:disabled:test4",
      ]);
      expect(compute[0]!.updatedAt).toBe("2012-10-29T13:42:05.000000");
    }
    const downCell = readJsonFixture<{ services: Json[] }>(
      `${SAMPLES}/os-services/v2.69/services-list-get-resp.json`,
    );
    expect(downCell.services.map(parseService).map((s) => `${s.state}/${s.status}`)).toEqual([
      "down/disabled",
      "down/disabled",
    ]);
  });
});

describe("Keystone's sample token", () => {
  const sample = readJsonFixture<Json>(
    "keystone-api-samples/v3/admin/auth-password-project-scoped-response.json",
  );

  it("yields expiry, project and the compute endpoint per interface", () => {
    const token = parseTokenBody(sample, "subject");
    expect(token.expiresAtMs).toBe(Date.parse("2015-11-07T02:58:43.578887Z"));
    expect(token.projectId).toBe("a6944d763bf64ee6a275f1263fae0352");
    expect(token.catalog.map((s) => s.type)).toEqual(
      ((sample.token as Json).catalog as Json[]).map((s) => s.type),
    );
    expect(findEndpoint(token.catalog, "compute", "public", "RegionOne")).toBe(
      "http://23.253.248.171:8774/v2.1/a6944d763bf64ee6a275f1263fae0352",
    );
    expect(findEndpoint(token.catalog, "compute", "internal", null)).toBe(
      "http://23.253.248.171:8774/v2.1/a6944d763bf64ee6a275f1263fae0352",
    );
    // compute_legacy (the v2 API) must not be mistaken for compute.
    expect(findEndpoint(token.catalog, "compute", "admin", null)).not.toContain("/v2/");
  });

  it("says which regions exist when the asked region has no compute endpoint", () => {
    const token = parseTokenBody(sample, "subject");
    expect(() => findEndpoint(token.catalog, "compute", "public", "RegionTwo")).toThrow(ConfigInvalidError);
    expect(() => findEndpoint(token.catalog, "compute", "public", "RegionTwo")).toThrow(/RegionOne/);
  });

  it("finds the version document behind a Mitaka-style catalog URL", () => {
    expect(
      versionDocumentUrl(
        "http://23.253.248.171:8774/v2.1/a6944d763bf64ee6a275f1263fae0352",
        "a6944d763bf64ee6a275f1263fae0352",
      ),
    ).toBe("http://23.253.248.171:8774/v2.1/");
    expect(versionDocumentUrl("https://nova.example.com/compute/v2.1", "x")).toBe(
      "https://nova.example.com/compute/v2.1/",
    );
  });

  it("builds the token URL from auth_url with or without /v3", () => {
    expect(tokensUrl("http://k:5000/v3")).toBe("http://k:5000/v3/auth/tokens");
    expect(tokensUrl("http://k:5000/")).toBe("http://k:5000/v3/auth/tokens");
    expect(tokensUrl("http://host/identity")).toBe("http://host/identity/v3/auth/tokens");
  });
});
