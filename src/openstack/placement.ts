/**
 * Placement over HTTP, read-only: the resource provider of a compute node (by its hypervisor
 * hostname), its inventories and usages — what the scheduler counts when it places a VM there.
 * Shapes from openstack/placement 8.0.0 (Zed) api-ref samples and handlers.
 */
import type { PlacementInventory } from "../nova-facts";
import { NovaBadRequestError, remoteErrorMessage, ServerError } from "./errors";
import { exchange, type FetchLike, safeUrl } from "./http";
import { findEndpoint, type KeystoneAuth } from "./keystone";

/**
 * The microversion migbot asks for: 1.14 adds the providers' parent and root (nested providers);
 * every Placement since Queens serves it, and nothing migbot reads changed after it.
 */
export const PLACEMENT_MICROVERSION = "1.14";
/** How long one Placement request may take. */
export const PLACEMENT_REQUEST_TIMEOUT_MS = 15_000;

/** One resource class of a provider: its inventory and what is allocated of it. */
export interface ProviderResource extends PlacementInventory {
  used: number;
}

/** A compute node's resource provider as Placement reports it. */
export interface ProviderCapacity {
  uuid: string;
  name: string;
  /** By resource class (`MEMORY_MB`, `VCPU`, `DISK_GB`, …). */
  resources: Record<string, ProviderResource>;
}

/** What Placement says about a compute node. */
export type PlacementAnswer =
  | { kind: "no-placement" }
  | { kind: "no-provider"; name: string }
  | { kind: "provider"; provider: ProviderCapacity };

type Raw = Record<string, unknown>;
const asRaw = (v: unknown): Raw => (typeof v === "object" && v !== null ? (v as Raw) : {});
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** Reads `GET /resource_providers`: uuid and name of each. */
export function parseResourceProviders(body: unknown): { uuid: string; name: string }[] {
  const list = asRaw(body).resource_providers;
  if (!Array.isArray(list)) throw new ServerError("Placement's provider list has no resource_providers");
  return list.flatMap((p) => {
    const r = asRaw(p);
    return typeof r.uuid === "string" && typeof r.name === "string" ? [{ uuid: r.uuid, name: r.name }] : [];
  });
}

/** Reads `GET /resource_providers/{uuid}/inventories`; a class with a missing figure is left out. */
export function parseInventories(body: unknown): Record<string, PlacementInventory> {
  const out: Record<string, PlacementInventory> = {};
  for (const [rc, value] of Object.entries(asRaw(asRaw(body).inventories))) {
    const r = asRaw(value);
    const inv = {
      total: num(r.total),
      reserved: num(r.reserved),
      allocationRatio: num(r.allocation_ratio),
      minUnit: num(r.min_unit),
      maxUnit: num(r.max_unit),
      stepSize: num(r.step_size),
    };
    if (Object.values(inv).every((v) => v !== null)) out[rc] = inv as PlacementInventory;
  }
  return out;
}

/** Reads `GET /resource_providers/{uuid}/usages`. */
export function parseUsages(body: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [rc, value] of Object.entries(asRaw(asRaw(body).usages))) {
    const n = num(value);
    if (n !== null) out[rc] = n;
  }
  return out;
}

/** Placement's endpoint in the token's catalog for the configured interface and region, or null when the cloud has none. */
export async function placementEndpoint(auth: KeystoneAuth): Promise<string | null> {
  const token = await auth.token();
  if (!token.catalog.some((s) => s.type === "placement")) return null;
  return findEndpoint(token.catalog, "placement", auth.interface, auth.regionName).replace(/\/+$/, "");
}

/** Placement, read-only, over the Keystone session migbot already holds. */
export class PlacementClient {
  constructor(
    private readonly auth: KeystoneAuth,
    private readonly endpoint: string,
    private readonly fetchImpl: FetchLike = fetch,
    private readonly timeoutMs: number = PLACEMENT_REQUEST_TIMEOUT_MS,
  ) {}

  private async get(path: string): Promise<{ status: number; body: unknown }> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.auth.token();
      const answer = await exchange(
        this.fetchImpl,
        `${this.endpoint}${path}`,
        {
          headers: {
            Accept: "application/json",
            "X-Auth-Token": token.value,
            "OpenStack-API-Version": `placement ${PLACEMENT_MICROVERSION}`,
          },
        },
        this.timeoutMs,
        "Placement",
      );
      if (answer.status === 401 && attempt === 0) {
        this.auth.invalidate(token.value);
        continue;
      }
      return { status: answer.status, body: answer.body };
    }
  }

  private async getOk(path: string): Promise<unknown> {
    const { status, body } = await this.get(path);
    if (status === 200) return body;
    const remote = remoteErrorMessage(body) ?? placementError(body);
    const options = { httpStatus: status, ...(remote !== null && { remoteMessage: remote }) };
    if (status === 400 || status === 406) {
      throw new NovaBadRequestError(
        `Placement at ${safeUrl(this.endpoint)} refused GET ${path.split("?")[0]} (HTTP ${status}${remote ? `: ${remote}` : ""})`,
        options,
      );
    }
    throw new ServerError(
      `Placement failed GET ${path.split("?")[0]} (HTTP ${status}${remote ? `: ${remote}` : ""}); try again shortly`,
      options,
    );
  }

  /** The compute node's provider (named as its hypervisor hostname), with inventories and usages. */
  async providerCapacity(name: string): Promise<ProviderCapacity | null> {
    const providers = parseResourceProviders(
      await this.getOk(`/resource_providers?name=${encodeURIComponent(name)}`),
    ).filter((p) => p.name === name);
    const p = providers[0];
    if (!p) return null;
    const base = `/resource_providers/${encodeURIComponent(p.uuid)}`;
    const [inventories, usages] = await Promise.all([
      this.getOk(`${base}/inventories`).then(parseInventories),
      this.getOk(`${base}/usages`).then(parseUsages),
    ]);
    const resources: Record<string, ProviderResource> = {};
    for (const [rc, inv] of Object.entries(inventories)) resources[rc] = { ...inv, used: usages[rc] ?? 0 };
    return { uuid: p.uuid, name: p.name, resources };
  }
}

/** Placement's own error body: `{"errors": [{"detail": …}]}`. */
function placementError(body: unknown): string | null {
  const errors = asRaw(body).errors;
  if (!Array.isArray(errors)) return null;
  const detail = asRaw(errors[0]).detail;
  return typeof detail === "string" ? detail : null;
}
