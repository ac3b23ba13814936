/**
 * The few Glance v2 calls the stock `openstack` client makes around a live migration: the version
 * document (`server list` and `server show` look the image service up first), the image list
 * (`server list` names each server's image) and one image (`server show`). Answers in the shapes
 * real Glance 25 (Zed, Debian 12) gave in the lab (test/conformance records them), built from the
 * images the cloud's servers booted from.
 */
import { createHash } from "node:crypto";
import type { ApiResult } from "./api-common";
import { HttpError } from "./api-common";
import type { CloudImage } from "./control-plane";

/**
 * The versions real Glance 25.1.0 lists at its root (glance/api/versions.py at 25.1.0: v2.15
 * CURRENT down to v2.0, the v2 API only since v1 was removed).
 */
const GLANCE_VERSIONS = [
  ["v2.15", "CURRENT"],
  ["v2.13", "SUPPORTED"],
  ["v2.12", "SUPPORTED"],
  ["v2.11", "SUPPORTED"],
  ["v2.10", "SUPPORTED"],
  ["v2.9", "SUPPORTED"],
  ["v2.8", "SUPPORTED"],
  ["v2.7", "SUPPORTED"],
  ["v2.6", "SUPPORTED"],
  ["v2.5", "SUPPORTED"],
  ["v2.4", "SUPPORTED"],
  ["v2.3", "SUPPORTED"],
  ["v2.2", "SUPPORTED"],
  ["v2.1", "SUPPORTED"],
  ["v2.0", "SUPPORTED"],
] as const;

/** Glance's page size when the client sends no `limit` (`[DEFAULT] limit_param_default`). */
const DEFAULT_PAGE_SIZE = 25;
/** Glance's largest page (`api_limit_max`). */
const MAX_PAGE_SIZE = 1000;

/** Glance's error body (webob's JSON error page, as real Glance 25 sent it for an unknown image). */
function glanceError(status: 400 | 404, message: string): HttpError {
  return new HttpError(status, {
    message: `${message}<br /><br />\n\n\n`,
    code: status === 404 ? "404 Not Found" : "400 Bad Request",
    title: status === 404 ? "Not Found" : "Bad Request",
  });
}

/** Glance's timestamps: ISO 8601 to the second. */
function glanceTime(iso: string): string {
  return new Date(iso).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function renderImage(image: CloudImage): Record<string, unknown> {
  // The checksums are of the image's name: stable per image, the right lengths (md5, sha512).
  const md5 = createHash("md5").update(image.name).digest("hex");
  const sha512 = createHash("sha512").update(image.name).digest("hex");
  return {
    name: image.name,
    disk_format: "qcow2",
    container_format: "bare",
    visibility: "public",
    size: image.sizeBytes,
    virtual_size: image.sizeBytes,
    status: "active",
    checksum: md5,
    protected: false,
    min_ram: 0,
    min_disk: 0,
    owner: image.owner,
    os_hidden: false,
    os_hash_algo: "sha512",
    os_hash_value: sha512,
    id: image.id,
    created_at: glanceTime(image.createdAt),
    updated_at: glanceTime(image.createdAt),
    tags: [],
    self: `/v2/images/${image.id}`,
    file: `/v2/images/${image.id}/file`,
    schema: "/v2/schemas/image",
    stores: "file",
  };
}

/** One request under `/image` (`path` without that prefix); `token` is checked by the caller. */
export function handleGlance(
  method: string,
  path: string,
  query: URLSearchParams,
  images: () => CloudImage[],
  baseUrl: string,
): ApiResult {
  if (method === "GET" && (path === "" || path === "/versions")) {
    return {
      // Glance answers its root with 300 Multiple Choices and the version list.
      status: 300,
      body: {
        versions: GLANCE_VERSIONS.map(([id, status]) => ({
          id,
          status,
          links: [{ rel: "self", href: `${baseUrl}/image/v2/` }],
        })),
      },
    };
  }
  if (method === "GET" && path === "/v2/images") {
    let list = images();
    const name = query.get("name");
    if (name !== null) list = list.filter((i) => i.name === name);
    const id = query.get("id");
    if (id !== null) {
      const wanted = id.startsWith("in:") ? id.slice(3).split(",") : [id];
      list = list.filter((i) => wanted.includes(i.id));
    }
    list.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
    const marker = query.get("marker");
    if (marker !== null) {
      const at = list.findIndex((i) => i.id === marker);
      if (at < 0) throw glanceError(400, `marker ${marker} could not be found.`);
      list = list.slice(at + 1);
    }
    const limitText = query.get("limit");
    const limit = limitText === null ? DEFAULT_PAGE_SIZE : Math.min(Number(limitText), MAX_PAGE_SIZE);
    if (!Number.isInteger(limit) || limit < 0) throw glanceError(400, "limit param must be an integer");
    const page = list.slice(0, limit);
    const body: Record<string, unknown> = {
      images: page.map(renderImage),
      first: "/v2/images",
      schema: "/v2/schemas/images",
    };
    if (list.length > limit && page.length > 0) {
      body.next = `/v2/images?marker=${page.at(-1)!.id}&limit=${limit}`;
    }
    return { status: 200, body };
  }
  const one = /^\/v2\/images\/([^/]+)$/.exec(path);
  if (method === "GET" && one) {
    const image = images().find((i) => i.id === one[1]);
    if (!image) throw glanceError(404, `No image found with ID ${one[1]}`);
    return { status: 200, body: renderImage(image) };
  }
  throw glanceError(404, "The resource could not be found.");
}
