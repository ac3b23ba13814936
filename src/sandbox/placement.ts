/**
 * The sandbox's Placement (Zed-era clouds only; Mitaka had none): the compute nodes' resource
 * providers with their inventories and usages, read-only, in the shapes of openstack/placement 8.0.0
 * (api-ref samples `resource_providers/get-resource_providers.json`, `inventories/get-inventories.json`,
 * `resource_provider_usages/get-resource_provider_usages.json`; handlers/resource_provider.py
 * `_serialize_links` per microversion, handlers/root.py for the version document). Fed from the same
 * host model as Nova's hypervisor view.
 */
import { type ApiResult, HttpError, newApiRequestId } from "./api-common";
import type { CloudResourceProvider } from "./control-plane";

/** Placement 8.0.0's range (placement/microversion.py VERSIONS). */
export const PLACEMENT_MIN_MICROVERSION = "1.0";
export const PLACEMENT_MAX_MICROVERSION = "1.39";

const MV_RE = /^placement\s+(latest|(\d+)\.(\d+))$/i;

/** Placement's error body (placement/util.py json_error_formatter; `code` from 1.23). */
function placementError(status: number, title: string, detail: string, mv: [number, number]): HttpError {
  return new HttpError(status, {
    errors: [
      {
        status,
        title,
        detail,
        request_id: newApiRequestId(),
        ...(mv[0] > 1 || mv[1] >= 23 ? { code: "placement.undefined_code" } : {}),
      },
    ],
  });
}

/** The request's placement microversion: 1.0 without the header, 406 beyond the range. */
function requestMicroversion(header: string | undefined): [number, number] {
  const max = PLACEMENT_MAX_MICROVERSION.split(".").map(Number) as [number, number];
  const entry = (header ?? "")
    .split(",")
    .map((p) => p.trim())
    .find((p) => /^placement\s/i.test(p));
  if (entry === undefined) return [1, 0];
  const m = MV_RE.exec(entry);
  if (!m) throw placementError(400, "Bad Request", `invalid version string: ${entry}`, [1, 0]);
  if (m[1]!.toLowerCase() === "latest") return max;
  const v: [number, number] = [Number(m[2]), Number(m[3])];
  if (v[0] !== 1 || v[1] > max[1]) {
    throw placementError(406, "Not Acceptable", `Unacceptable version header: ${m[2]}.${m[3]}`, max);
  }
  return v;
}

const atLeast = (mv: [number, number], minor: number) => mv[0] > 1 || mv[1] >= minor;

function providerLinks(baseUrl: string, uuid: string, mv: [number, number]) {
  const url = `${baseUrl}/resource_providers/${uuid}`;
  const rels = ["inventories", "usages"];
  if (atLeast(mv, 1)) rels.push("aggregates");
  if (atLeast(mv, 6)) rels.push("traits");
  if (atLeast(mv, 11)) rels.push("allocations");
  return [{ rel: "self", href: url }, ...rels.map((rel) => ({ rel, href: `${url}/${rel}` }))];
}

function renderProvider(p: CloudResourceProvider, mv: [number, number]) {
  return {
    uuid: p.uuid,
    name: p.name,
    generation: p.generation,
    // Relative to the mount point, as util.resource_provider_url builds them from SCRIPT_NAME.
    links: providerLinks("/placement", p.uuid, mv),
    ...(atLeast(mv, 14) && { parent_provider_uuid: null, root_provider_uuid: p.uuid }),
  };
}

/**
 * One request under `/placement` (`path` without that prefix). `authenticate` throws keystonemiddleware's
 * 401; the version document answers without a token, as Placement's does.
 */
export function handlePlacement(
  method: string,
  path: string,
  query: URLSearchParams,
  versionHeader: string | undefined,
  providers: () => CloudResourceProvider[],
  authenticate: () => void,
  baseUrl: string,
): ApiResult {
  if (method === "GET" && path === "") {
    return {
      status: 200,
      body: {
        versions: [
          {
            id: `v${PLACEMENT_MIN_MICROVERSION}`,
            max_version: PLACEMENT_MAX_MICROVERSION,
            min_version: PLACEMENT_MIN_MICROVERSION,
            status: "CURRENT",
            links: [{ rel: "self", href: `${baseUrl}/placement/` }],
          },
        ],
      },
    };
  }
  authenticate();
  const mv = requestMicroversion(versionHeader);
  const headers = { "OpenStack-API-Version": `placement ${mv[0]}.${mv[1]}`, Vary: "openstack-api-version" };
  const notFound = (detail: string) => placementError(404, "Not Found", detail, mv);
  if (method !== "GET")
    throw placementError(405, "Method Not Allowed", "The sandbox's Placement is read-only.", mv);
  if (path === "/resource_providers") {
    const name = query.get("name");
    const uuid = query.get("uuid");
    const list = providers().filter(
      (p) => (name === null || p.name === name) && (uuid === null || p.uuid === uuid),
    );
    return { status: 200, headers, body: { resource_providers: list.map((p) => renderProvider(p, mv)) } };
  }
  const m = /^\/resource_providers\/([^/]+)(?:\/(inventories|usages))?$/.exec(path);
  if (!m) throw notFound("The resource could not be found.");
  const p = providers().find((x) => x.uuid === m[1]);
  if (!p) throw notFound(`No resource provider with uuid ${m[1]} found`);
  if (m[2] === undefined) return { status: 200, headers, body: renderProvider(p, mv) };
  if (m[2] === "inventories") {
    const inventories = Object.fromEntries(
      Object.entries(p.inventories).map(([rc, inv]) => [
        rc,
        {
          allocation_ratio: inv.allocationRatio,
          max_unit: inv.maxUnit,
          min_unit: inv.minUnit,
          reserved: inv.reserved,
          step_size: inv.stepSize,
          total: inv.total,
        },
      ]),
    );
    return { status: 200, headers, body: { inventories, resource_provider_generation: p.generation } };
  }
  return {
    status: 200,
    headers,
    body: { resource_provider_generation: p.generation, usages: { ...p.usages } },
  };
}
