/**
 * Placement: the parsers against placement 8.0.0's API samples, the sandbox's Placement (Zed-era
 * cloud only) in the same shapes, and the client finding a compute node's provider through the
 * Keystone catalog — or saying there is none on a Mitaka cloud.
 */

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { placementFree, placementRefusal } from "../../src/nova-facts";
import { KeystoneAuth } from "../../src/openstack/keystone";
import { NovaClient } from "../../src/openstack/nova";
import { parseInventories, parseResourceProviders, parseUsages } from "../../src/openstack/placement";
import { type Sandbox, startSandbox } from "../../src/sandbox/index";
import { PROJECT_ROOT } from "../support/fixtures";

type Json = Record<string, unknown>;
/** placement 8.0.0's API samples, kept in this repository (test/fixtures/SOURCES.md). */
const SAMPLES = resolve(PROJECT_ROOT, "test/fixtures/placement-api-samples");
const sample = (f: string) => JSON.parse(readFileSync(`${SAMPLES}/${f}`, "utf8")) as Json;

describe("Placement parsers on placement 8.0.0's samples", () => {
  it("read providers, inventories and usages, and count room as placement does", () => {
    expect(parseResourceProviders(sample("resource_providers/get-resource_providers.json"))).toEqual([
      { uuid: "99c09379-6e52-4ef8-9a95-b9ce6f68452e", name: "vgr.localdomain" },
      { uuid: "d0b381e9-8761-42de-8e6c-bba99a96d5f5", name: "pony1" },
    ]);
    const inv = parseInventories(sample("inventories/get-inventories.json"));
    expect(inv.MEMORY_MB).toEqual({
      total: 5825,
      reserved: 512,
      allocationRatio: 1.5,
      minUnit: 1,
      maxUnit: 5825,
      stepSize: 1,
    });
    const used = parseUsages(sample("resource_provider_usages/get-resource_provider_usages.json"));
    expect(used).toEqual({ DISK_GB: 1, MEMORY_MB: 512, VCPU: 1 });
    // (5825 − 512) × 1.5 − 512 = 7457.5 MiB free; 4 × 16 − 1 = 63 vCPUs, but max_unit caps one VM at 4.
    expect(placementFree(inv.MEMORY_MB!, used.MEMORY_MB!)).toBe(7457.5);
    // One VM may take at most max_unit (the host's total) even where overcommit leaves more.
    expect(placementRefusal(inv.MEMORY_MB!, used.MEMORY_MB!, 5825)).toBeNull();
    expect(placementRefusal(inv.MEMORY_MB!, used.MEMORY_MB!, 5826)).toBe("max_unit");
    expect(placementRefusal({ ...inv.MEMORY_MB!, maxUnit: 10_000 }, used.MEMORY_MB!, 7457)).toBeNull();
    expect(placementRefusal({ ...inv.MEMORY_MB!, maxUnit: 10_000 }, used.MEMORY_MB!, 7458)).toBe("capacity");
    expect(placementRefusal(inv.VCPU!, used.VCPU!, 4)).toBeNull();
    expect(placementRefusal(inv.VCPU!, used.VCPU!, 5)).toBe("max_unit");
    expect(placementRefusal({ ...inv.VCPU!, maxUnit: 100 }, 63, 2)).toBe("capacity");
  });
});

describe("the sandbox's Placement", () => {
  let zed: Sandbox;
  let mitaka: Sandbox;
  const authFor = (s: Sandbox) =>
    new KeystoneAuth({ credentials: { ...s.credentials, interface: "public", source: "test" } });

  beforeAll(async () => {
    [zed, mitaka] = await Promise.all([
      startSandbox({ timeScale: 0 }),
      startSandbox({ timeScale: 0, novaMaxMicroversion: "2.25" }),
    ]);
  });
  afterAll(async () => Promise.all([zed?.stop(), mitaka?.stop()]));

  async function get(path: string, mv?: string): Promise<{ status: number; body: Json; headers: Headers }> {
    const auth = authFor(zed);
    const token = await auth.token();
    const placement = token.catalog.find((c) => c.type === "placement")!.endpoints[0]!.url;
    const res = await fetch(`${placement}${path}`, {
      headers: { "X-Auth-Token": token.value, ...(mv && { "OpenStack-API-Version": `placement ${mv}` }) },
    });
    return { status: res.status, body: (await res.json()) as Json, headers: res.headers };
  }

  it("answers in placement's shapes, per microversion, from the same hosts Nova reports", async () => {
    const keys = (o: unknown) => Object.keys(o as Json).sort();
    const list = await get("/resource_providers?name=compute-4", "1.14");
    expect(list.headers.get("openstack-api-version")).toBe("placement 1.14");
    const providers = list.body.resource_providers as Json[];
    expect(providers.map((p) => p.name)).toEqual(["compute-4"]);
    const theirs = (
      sample("resource_providers/get-resource_providers.json").resource_providers as Json[]
    )[0]!;
    expect(keys(providers[0])).toEqual(keys(theirs));
    // Without the header placement answers 1.0: no parent/root, only inventories and usages links.
    const old = ((await get("/resource_providers?name=compute-4")).body.resource_providers as Json[])[0]!;
    expect(keys(old)).toEqual(["generation", "links", "name", "uuid"]);
    expect((old.links as Json[]).map((l) => l.rel)).toEqual(["self", "inventories", "usages"]);

    const uuid = providers[0]!.uuid as string;
    const inv = (await get(`/resource_providers/${uuid}/inventories`, "1.14")).body;
    expect(keys(inv)).toEqual(keys(sample("inventories/get-inventories.json")));
    const mem = (inv.inventories as Json).MEMORY_MB as Json;
    expect(keys(mem)).toEqual(
      keys((sample("inventories/get-inventories.json").inventories as Json).MEMORY_MB),
    );
    // compute-4: 32 GiB, reserved_host_memory_mb 512, Zed's ram_allocation_ratio 1.5.
    expect(mem).toMatchObject({ total: 32768, reserved: 512, allocation_ratio: 1.5, max_unit: 32768 });
    const usages = (await get(`/resource_providers/${uuid}/usages`, "1.14")).body;
    expect(keys(usages)).toEqual(keys(sample("resource_provider_usages/get-resource_provider_usages.json")));
    // analytics-1 (24576 MiB, 8 vCPUs) runs there; Nova's hypervisor view says the same.
    expect(usages.usages).toMatchObject({ MEMORY_MB: 24576, VCPU: 8 });
    const hv = zed.cloud.hypervisors().find((h) => h.hypervisorHostname === "compute-4")!;
    expect(hv.memoryMbUsed - 512).toBe((usages.usages as Json).MEMORY_MB);

    expect((await get(`/resource_providers/${crypto.randomUUID()}/usages`, "1.14")).status).toBe(404);
    expect((await get("/resource_providers", "1.40")).status).toBe(406);
  });

  it("the client reads a provider on Zed and says there is no Placement on Mitaka", async () => {
    const nova = await NovaClient.connect({ auth: authFor(zed) });
    const answer = await nova.placementCapacity("compute-4");
    expect(answer.kind).toBe("provider");
    if (answer.kind !== "provider") return;
    expect(answer.provider.resources.MEMORY_MB).toMatchObject({ total: 32768, reserved: 512, used: 24576 });
    expect(answer.provider.resources.VCPU).toMatchObject({ total: 8, allocationRatio: 16, used: 8 });
    expect(await nova.placementCapacity("compute-99")).toEqual({ kind: "no-provider", name: "compute-99" });

    const old = await NovaClient.connect({ auth: authFor(mitaka) });
    expect(await old.placementCapacity("compute-1")).toEqual({ kind: "no-placement" });
  });
});
