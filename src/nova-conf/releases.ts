import {
  knownNovaReleases,
  NovaFactsError,
  type NovaRelease,
  novaRelease,
  novaReleaseLabel,
} from "../nova-facts";
import { NovaConfError } from "./errors";

/**
 * OpenStack releases for nova.conf work: a thin layer over src/nova-facts (which holds the release
 * table, read from openstack/nova's tags) that turns an unknown release into a NovaConfError telling
 * the operator how to name one. Option names and defaults differ between releases
 * (`live_migration_flag` ≤ Mitaka, `cpu_models` ≥ Train, …), and a few facts between point releases
 * (the kvm-only CPU check from 13.1.0), so a release keeps the nova version when it is known.
 */
export type ReleaseInfo = NovaRelease;

/** Every release migbot knows, oldest first (each at the newest point release whose code was read). */
export const KNOWN_RELEASES: readonly ReleaseInfo[] = knownNovaReleases();

function resolve(ref: string | number | { major: number; version?: string }, hint: string): ReleaseInfo {
  try {
    return novaRelease(ref);
  } catch (err) {
    if (err instanceof NovaFactsError) {
      throw new NovaConfError("NOVA_CONF_UNKNOWN_RELEASE", `${err.message} ${hint}`);
    }
    throw err;
  }
}

const NAME_HINT =
  "On the command line: --release zed (or 2023.1, or 26.2.2); in the inventory: release: zed.";

/** The release with this nova major version; throws NOVA_CONF_UNKNOWN_RELEASE when unknown. */
export function releaseByMajor(major: number): ReleaseInfo {
  return resolve(major, NAME_HINT);
}

/**
 * The release of a nova version string: a plain "13.1.4", the output of `nova-compute --version`
 * (which may carry a program name or a pbr suffix such as "27.1.0.dev12"), or a distribution
 * package version such as Debian's "2:26.2.2-1~deb12u5" or RDO's "13.1.4-1.el7". The point version
 * is kept (several facts changed in backports).
 */
export function releaseFromVersion(text: string): ReleaseInfo {
  const trimmed = text.trim();
  if (!/\d+\.\d+/.test(trimmed)) {
    throw new NovaConfError(
      "NOVA_CONF_UNKNOWN_RELEASE",
      `'${trimmed.slice(0, 80)}' is not a nova version (expected something like 13.1.4). ${NAME_HINT}`,
    );
  }
  return resolve(trimmed, NAME_HINT);
}

/** The release by name, case-insensitive: "Zed", "zed", "2023.1", "antelope", or a version "26.2.2". */
export function releaseByName(name: string): ReleaseInfo {
  const wanted = name.trim().toLowerCase();
  const known = KNOWN_RELEASES.some((r) => r.name === wanted || r.series === wanted);
  if (!known && !/^\d+\.\d+\.\d+/.test(wanted) && !/^\d+:\d/.test(wanted)) {
    throw new NovaConfError(
      "NOVA_CONF_UNKNOWN_RELEASE",
      `'${name.trim().slice(0, 80)}' is not an OpenStack release name migbot knows (${KNOWN_RELEASES.map((r) => r.series ?? r.name).join(", ")}). ${NAME_HINT}`,
    );
  }
  return resolve(wanted, NAME_HINT);
}

/**
 * A release as it was stored before point versions were kept (`{ name, major }`, e.g. a fix
 * recipe in Redis) or with its version: resolved again through the release table.
 */
export function releaseOf(stored: {
  name?: string;
  major: number;
  version?: string | readonly number[];
}): ReleaseInfo {
  const version = Array.isArray(stored.version)
    ? stored.version.join(".")
    : (stored.version as string | undefined);
  return resolve(
    version === undefined ? { major: stored.major } : { major: stored.major, version },
    NAME_HINT,
  );
}

/** The year-based series name ("2023.1") for releases from Antelope on, else undefined. */
export function releaseSeries(release: ReleaseInfo): string | undefined {
  return release.series;
}

/** "zed (26.2.2)", "antelope / 2023.1 (27.5.1, newest point release assumed)": how a release is shown. */
export function releaseLabel(release: ReleaseInfo): string {
  return novaReleaseLabel(release);
}

function majorOf(release: ReleaseInfo | string): number {
  return typeof release === "string" ? releaseByName(release).major : release.major;
}

/** True when `release` is `other` or newer, by series: `atLeast(r, "newton")`. */
export function atLeast(release: ReleaseInfo | string, other: ReleaseInfo | string): boolean {
  return majorOf(release) >= majorOf(other);
}

/** True when `release` is older than `other`, by series: `olderThan(r, "train")`. */
export function olderThan(release: ReleaseInfo | string, other: ReleaseInfo | string): boolean {
  return majorOf(release) < majorOf(other);
}
