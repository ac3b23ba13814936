import { NovaFactsError } from "./errors";
import type { PythonMajor } from "./python-float";

/**
 * OpenStack releases as nova versions. The major version is the release (13 = Mitaka … 26 = Zed,
 * 27 = 2023.1 Antelope …): the `mitaka-eol` … `zed-eom` tags descend from 13.1.4 … 26.3.0, and the
 * year-based series names are those of the `stable/2025.1` … branches and of
 * `SERVICE_VERSION_ALIASES` in nova master `nova/objects/service.py`.
 *
 * A few facts changed inside a series (a backport to a point release: the kvm-only CPU check in
 * 13.1.0, `skip_cpu_compare_on_dest` in 25.1.0 …), so a release carries the full version when it
 * is known. When only the series is known, the newest point release of the series whose code was
 * read is assumed, and `versionAssumed` says so.
 */
export interface NovaRelease {
  /** nova's major version: 13 for Mitaka, 26 for Zed. */
  major: number;
  /** Lower-case code name: "mitaka", "zed", "antelope" … */
  name: string;
  /** The year-based name from 2023 on ("2023.1"). */
  series?: string;
  /** The nova version the facts are resolved for. */
  version: readonly [number, number, number];
  /** True when only the series was given and {@link NovaRelease.version} is its newest point release read. */
  versionAssumed: boolean;
  /** Python major versions the tag declares (setup.cfg classifiers); Nova's arithmetic depends on it. */
  python: readonly PythonMajor[];
}

/** A release as callers hold it: a major (26), a name or version text ("zed", "2023.1", "13.1.4"), or `{ major }`. */
export type NovaReleaseRef = number | string | NovaRelease | { major: number; version?: string };

interface ReleaseRow {
  major: number;
  name: string;
  series?: string;
  /** Newest point release of the series in the nova repository read for these facts (2026-08 snapshot). */
  newest: string;
  python: readonly PythonMajor[];
}

// Python majors from the "Programming Language :: Python :: N" classifiers of setup.cfg at each
// x.0.0 tag: 2.7 only up to 15.0.0, 2.7 and 3.x for 16.0.0–20.0.0, 3 only from 21.0.0 (33.0.0 moved
// its metadata to pyproject.toml; it is Python 3 only like 32.0.0).
const PY2: readonly PythonMajor[] = [2];
const PY23: readonly PythonMajor[] = [2, 3];
const PY3: readonly PythonMajor[] = [3];

const RELEASES: readonly ReleaseRow[] = [
  { major: 13, name: "mitaka", newest: "13.1.4", python: PY2 },
  { major: 14, name: "newton", newest: "14.1.0", python: PY2 },
  { major: 15, name: "ocata", newest: "15.1.5", python: PY2 },
  { major: 16, name: "pike", newest: "16.1.8", python: PY23 },
  { major: 17, name: "queens", newest: "17.0.13", python: PY23 },
  { major: 18, name: "rocky", newest: "18.3.0", python: PY23 },
  { major: 19, name: "stein", newest: "19.3.2", python: PY23 },
  { major: 20, name: "train", newest: "20.6.1", python: PY23 },
  { major: 21, name: "ussuri", newest: "21.2.4", python: PY3 },
  { major: 22, name: "victoria", newest: "22.4.0", python: PY3 },
  { major: 23, name: "wallaby", newest: "23.2.2", python: PY3 },
  { major: 24, name: "xena", newest: "24.2.1", python: PY3 },
  { major: 25, name: "yoga", newest: "25.3.0", python: PY3 },
  { major: 26, name: "zed", newest: "26.3.0", python: PY3 },
  { major: 27, name: "antelope", series: "2023.1", newest: "27.5.1", python: PY3 },
  { major: 28, name: "bobcat", series: "2023.2", newest: "28.3.1", python: PY3 },
  { major: 29, name: "caracal", series: "2024.1", newest: "29.4.0", python: PY3 },
  { major: 30, name: "dalmatian", series: "2024.2", newest: "30.3.0", python: PY3 },
  { major: 31, name: "epoxy", series: "2025.1", newest: "31.3.1", python: PY3 },
  { major: 32, name: "flamingo", series: "2025.2", newest: "32.2.1", python: PY3 },
  { major: 33, name: "gazpacho", series: "2026.1", newest: "33.0.2", python: PY3 },
];

/** The oldest and newest nova majors whose code these facts were read from. */
export const OLDEST_KNOWN_MAJOR = 13;
export const NEWEST_KNOWN_MAJOR = 33;

/** Every release these facts cover, oldest first (each at its newest point release read). */
export function knownNovaReleases(): NovaRelease[] {
  return RELEASES.map((row) => toRelease(row, parseVersion(row.newest)!, true));
}

function knownList(): string {
  return RELEASES.map((r) => `${r.name}${r.series ? ` (${r.series})` : ""} = ${r.major}`).join(", ");
}

function unknown(what: string): NovaFactsError {
  return new NovaFactsError(
    "NOVA_FACTS_UNKNOWN_RELEASE",
    `${what}. migbot holds Nova facts for ${knownList()}. Give one of those (a name, a series like 2023.1, or a nova version like 26.2.2).`,
  );
}

function parseVersion(text: string): [number, number, number] | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? "0")] : null;
}

function toRelease(row: ReleaseRow, version: [number, number, number], assumed: boolean): NovaRelease {
  return {
    major: row.major,
    name: row.name,
    ...(row.series !== undefined && { series: row.series }),
    version,
    versionAssumed: assumed,
    python: row.python,
  };
}

function byMajor(major: number, what: string): ReleaseRow {
  const row = RELEASES.find((r) => r.major === major);
  if (!row) throw unknown(`${what} (nova ${major}) is not a release migbot holds facts for`);
  return row;
}

/**
 * A version inside free text: "13.1.4", `nova-compute --version` output, Debian's "2:26.2.2-1~deb12u5",
 * RDO's "13.1.4-1.el7", a pbr "27.1.0.dev12".
 */
function versionInText(text: string): [number, number, number] | null {
  const m = /(?:^|[\s:=v])(\d{1,3})\.(\d+)(?:\.(\d+))?(?:[.~+-][0-9A-Za-z.~+-]*)?(?=\s|$)/.exec(
    ` ${text.trim()}`,
  );
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? "0")] : null;
}

/** Resolves a release reference; throws NOVA_FACTS_UNKNOWN_RELEASE for anything else. */
export function novaRelease(ref: NovaReleaseRef): NovaRelease {
  if (typeof ref === "number") {
    if (!Number.isInteger(ref)) throw unknown(`${ref} is not a nova major version`);
    const row = byMajor(ref, `${ref}`);
    return toRelease(row, parseVersion(row.newest)!, true);
  }
  if (typeof ref === "object" && "versionAssumed" in ref) return ref;
  if (typeof ref === "object") {
    const row = byMajor(ref.major, `major ${ref.major}`);
    const given = typeof ref.version === "string" ? versionInText(ref.version) : null;
    if (given && given[0] !== ref.major) {
      throw unknown(`version ${ref.version} does not belong to nova ${ref.major}`);
    }
    return given ? toRelease(row, given, false) : toRelease(row, parseVersion(row.newest)!, true);
  }
  const text = ref.trim().toLowerCase();
  const named = RELEASES.find((r) => r.name === text || r.series === text);
  if (named) return toRelease(named, parseVersion(named.newest)!, true);
  if (/^\d+$/.test(text)) return novaRelease(Number(text));
  const version = versionInText(text);
  if (!version) throw unknown(`'${ref.trim().slice(0, 80)}' is neither a release name nor a nova version`);
  return toRelease(byMajor(version[0], `'${ref.trim().slice(0, 80)}'`), version, false);
}

/** True when the release's (possibly assumed) version is `version` or later: `versionAtLeast(r, "13.1.0")`. */
export function versionAtLeast(release: NovaRelease, version: string): boolean {
  const v = parseVersion(version);
  if (!v) throw new NovaFactsError("NOVA_FACTS_INVALID_INPUT", `'${version}' is not a version like 13.1.0`);
  for (let i = 0; i < 3; i++) {
    if (release.version[i]! !== v[i]!) return release.version[i]! > v[i]!;
  }
  return true;
}

/** "mitaka (13.1.4)", "antelope / 2023.1 (27.5.1, assumed)": how a release is shown to people. */
export function novaReleaseLabel(release: NovaRelease): string {
  return `${release.name}${release.series ? ` / ${release.series}` : ""} (${release.version.join(".")}${release.versionAssumed ? ", newest point release assumed" : ""})`;
}
