/**
 * Nova microversions ("2.25", "2.93"): parsing, comparing, and the versions that change what
 * migbot sends or reads. Shared by the client and the sandbox API so both agree on the thresholds.
 */

import { MICROVERSIONS } from "../nova-facts/api";

export interface Microversion {
  major: number;
  minor: number;
}

const MICROVERSION_RE = /^([1-9]\d*)\.(0|[1-9]\d*)$/;

/** Parses "2.25"; returns null for anything else (Nova answers 400 for such a header). */
export function parseMicroversion(text: string): Microversion | null {
  const match = MICROVERSION_RE.exec(text.trim());
  if (!match) return null;
  return { major: Number(match[1]), minor: Number(match[2]) };
}

/** Negative when a < b, zero when equal, positive when a > b. */
export function compareMicroversions(a: string | Microversion, b: string | Microversion): number {
  const va = typeof a === "string" ? mustParse(a) : a;
  const vb = typeof b === "string" ? mustParse(b) : b;
  return va.major !== vb.major ? va.major - vb.major : va.minor - vb.minor;
}

/** True when `version` >= `min`. */
export function atLeast(version: string, min: string): boolean {
  return compareMicroversions(version, min) >= 0;
}

export function formatMicroversion(v: Microversion): string {
  return `${v.major}.${v.minor}`;
}

function mustParse(text: string): Microversion {
  const v = parseMicroversion(text);
  if (!v) throw new Error(`not a microversion: ${JSON.stringify(text)}`);
  return v;
}

/** Microversions at which Nova changed something migbot relies on (see the api-ref history). */
export const MV = {
  // The ones that change live migration are Nova facts, defined once in src/nova-facts.
  ...MICROVERSIONS,
  /** The lowest microversion of the v2.1 API, and what Nova assumes when no header is sent. */
  BASE: "2.1",
  /** `OS-EXT-SRV-ATTR:hostname`, `:reservation_id`, ... on servers. */
  EXTENDED_SERVER_ATTRS: "2.3",
  LOCKED: "2.9",
  /** Compute services gain `forced_down`. */
  SERVICE_FORCED_DOWN: "2.11",
  HOST_STATUS: "2.16",
  DESCRIPTION: "2.19",
  TAGS: "2.26",
  /** The `OpenStack-API-Version` header (Newton); Mitaka reads only `X-OpenStack-Nova-API-Version`. */
  GENERIC_VERSION_HEADER: "2.27",
  /** Hypervisors' `cpu_info` is an object instead of a JSON string. */
  CPU_INFO_OBJECT: "2.28",
  /** Hypervisor list paging (`hypervisors_links`). */
  HYPERVISOR_PAGING: "2.33",
  /** Servers embed the flavor (ram, vcpus, original_name) instead of a link. */
  EMBEDDED_FLAVOR: "2.47",
  /** Hypervisor and service ids become UUIDs. */
  UUID_IDS: "2.53",
  /** Flavors gain `description`. */
  FLAVOR_DESCRIPTION: "2.55",
  /** Instance actions gain `updated_at` (and paging, `changes-since`). */
  INSTANCE_ACTION_UPDATED_AT: "2.58",
  /** Flavors show their `extra_specs`. */
  FLAVOR_EXTRA_SPECS: "2.61",
  /** Instance action events gain `host` and `hostId`. */
  INSTANCE_ACTION_EVENT_HOST: "2.62",
  TRUSTED_CERTS: "2.63",
  SERVER_GROUPS: "2.71",
  LOCKED_REASON: "2.73",
  /** Flavors' `swap` is 0 instead of "" when unset (among other clean-ups). */
  FLAVOR_SWAP_INTEGER: "2.75",
  /** Instance action events gain `details`: the failed step's error message. */
  INSTANCE_ACTION_EVENT_DETAILS: "2.84",
  PINNED_AZ: "2.96",
  SCHEDULER_HINTS: "2.100",
} as const;
