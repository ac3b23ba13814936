import { NovaConfError } from "./errors";

/**
 * OpenStack releases as nova's major version numbers. Option names and defaults differ between
 * releases (`live_migration_flag` ≤ Mitaka, `cpu_models` ≥ Train, …), so every host's release is
 * pinned down before anything about its nova.conf is judged or edited.
 */
export interface ReleaseInfo {
  /** Lower-case code name: "mitaka", "zed", "antelope", … */
  name: string;
  /** nova's major version: 13 for Mitaka, 26 for Zed. */
  major: number;
}

interface ReleaseRow {
  name: string;
  major: number;
  /** The year-based name used from 2023 on ("2023.1"). */
  series?: string;
}

// nova's major versions by release, from the openstack/nova tags (13.0.0 = Mitaka … 32.0.0 = 2025.2).
const RELEASES: readonly ReleaseRow[] = [
  { name: "mitaka", major: 13 },
  { name: "newton", major: 14 },
  { name: "ocata", major: 15 },
  { name: "pike", major: 16 },
  { name: "queens", major: 17 },
  { name: "rocky", major: 18 },
  { name: "stein", major: 19 },
  { name: "train", major: 20 },
  { name: "ussuri", major: 21 },
  { name: "victoria", major: 22 },
  { name: "wallaby", major: 23 },
  { name: "xena", major: 24 },
  { name: "yoga", major: 25 },
  { name: "zed", major: 26 },
  { name: "antelope", major: 27, series: "2023.1" },
  { name: "bobcat", major: 28, series: "2023.2" },
  { name: "caracal", major: 29, series: "2024.1" },
  { name: "dalmatian", major: 30, series: "2024.2" },
  { name: "epoxy", major: 31, series: "2025.1" },
  { name: "flamingo", major: 32, series: "2025.2" },
];

function knownList(): string {
  return RELEASES.map((r) => `${r.name}${r.series ? ` (${r.series})` : ""} = ${r.major}.x`).join(", ");
}

function unknown(what: string): NovaConfError {
  return new NovaConfError(
    "NOVA_CONF_UNKNOWN_RELEASE",
    `${what}. migbot knows nova ${knownList()}. Give the release by name (e.g. --release zed) or set it in the host inventory.`,
  );
}

function info(row: ReleaseRow): ReleaseInfo {
  return { name: row.name, major: row.major };
}

/**
 * The release of a nova version string: a plain "13.1.4", the output of `nova-compute --version`
 * (which may carry a program name or a pbr suffix such as "27.1.0.dev12"), or a distribution
 * package version such as Debian's "2:26.2.2-1~deb12u5" or RDO's "13.1.4-1.el7".
 */
export function releaseFromVersion(text: string): ReleaseInfo {
  const trimmed = text.trim();
  // An optional distribution epoch ("2:"), then major.minor[.patch…]; the first such token wins,
  // so a leading program name and any trailing packaging revision are skipped.
  const m = /(?:^|[\s:=v])(\d{1,3})\.(\d+)(?:\.\d+)*(?:[.~+-][0-9A-Za-z.~+-]*)?(?=\s|$)/.exec(` ${trimmed}`);
  if (!m) throw unknown(`'${trimmed.slice(0, 80)}' is not a nova version (expected something like 13.1.4)`);
  const major = Number(m[1]);
  const row = RELEASES.find((r) => r.major === major);
  if (!row)
    throw unknown(`nova version '${trimmed.slice(0, 80)}' (major ${major}) is not a release migbot knows`);
  return info(row);
}

/** The release by name, case-insensitive: "Zed", "zed", "2023.1", "antelope", or a version "26.2.2". */
export function releaseByName(name: string): ReleaseInfo {
  const wanted = name.trim().toLowerCase();
  const row = RELEASES.find((r) => r.name === wanted || r.series === wanted);
  if (row) return info(row);
  if (/^\d+\.\d+\.\d+/.test(wanted) || /^\d+:\d/.test(wanted)) return releaseFromVersion(wanted);
  throw unknown(`'${name.trim().slice(0, 80)}' is not an OpenStack release name migbot knows`);
}

/** The year-based series name ("2023.1") for releases from Antelope on, else undefined. */
export function releaseSeries(release: ReleaseInfo): string | undefined {
  return RELEASES.find((r) => r.major === release.major)?.series;
}

/** "zed (26)", "antelope / 2023.1 (27)": how a release is shown to people. */
export function releaseLabel(release: ReleaseInfo): string {
  const series = releaseSeries(release);
  return `${release.name}${series ? ` / ${series}` : ""} (${release.major})`;
}

function majorOf(release: ReleaseInfo | string): number {
  return typeof release === "string" ? releaseByName(release).major : release.major;
}

/** True when `release` is `other` or newer: `atLeast(r, "newton")`. */
export function atLeast(release: ReleaseInfo | string, other: ReleaseInfo | string): boolean {
  return majorOf(release) >= majorOf(other);
}

/** True when `release` is older than `other`: `olderThan(r, "train")`. */
export function olderThan(release: ReleaseInfo | string, other: ReleaseInfo | string): boolean {
  return majorOf(release) < majorOf(other);
}
