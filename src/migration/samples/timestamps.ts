/**
 * Timestamps found on the header lines of captured series: the lab recorder's `== t=2.004` (seconds
 * since it started), `date` output in its common shapes, ISO 8601 and `date +%s.%N` epoch seconds.
 */
export type HeaderTime = { kind: "relative"; seconds: number } | { kind: "absolute"; epochMs: number };

const MONTHS: Record<string, number> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};

// Epoch seconds from `date +%s[.%N]` are only believed after this instant (2001-09-09), so that
// small numbers on a header line are not mistaken for dates.
const MIN_EPOCH_SECONDS = 1_000_000_000;

const RELATIVE_RE = /\bt=(\d+(?:\.\d+)?)\b/;
const ISO_RE = /\b(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?/;
// `date`: "Tue Nov 25 20:45:53 UTC 2026"; `date -R`: "Tue, 25 Nov 2026 20:45:53 +0000".
const DATE_C_RE =
  /\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\w*,? +(\w{3})\w* +(\d{1,2}) +(\d{2}):(\d{2}):(\d{2})(?:\.\d+)? +(?:[A-Z]{2,5} +)?(\d{4})\b/;
const DATE_R_RE = /\b(\d{1,2}) +(\w{3})\w* +(\d{4}) +(\d{2}):(\d{2}):(\d{2})(?: *([+-]\d{4}))?/;
const EPOCH_RE = /^(?:==+\s*)?(\d{10}(?:\.\d+)?)\s*(?:==+)?$/;

function zoneOffsetMs(zone: string | undefined): number {
  if (zone === undefined || zone === "Z") return 0;
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(zone);
  if (!m) return 0;
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  return (m[1] === "-" ? -1 : 1) * minutes * 60_000;
}

/**
 * The timestamp on a header line, or undefined. Time zone abbreviations (`UTC`, `CET`) are ignored:
 * only differences between timestamps of one capture matter, and a capture uses one zone.
 */
export function parseHeaderTime(line: string): HeaderTime | undefined {
  const rel = RELATIVE_RE.exec(line);
  if (rel) return { kind: "relative", seconds: Number(rel[1]) };
  const iso = ISO_RE.exec(line);
  if (iso) {
    const ms = Date.UTC(
      Number(iso[1]),
      Number(iso[2]) - 1,
      Number(iso[3]),
      Number(iso[4]),
      Number(iso[5]),
      Number(iso[6]),
    );
    const frac = iso[7] ? Number(iso[7]) * 1000 : 0;
    return { kind: "absolute", epochMs: ms + frac - zoneOffsetMs(iso[8]) };
  }
  const c = DATE_C_RE.exec(line);
  if (c) {
    const month = MONTHS[c[1]!.toLowerCase()];
    if (month !== undefined) {
      const ms = Date.UTC(Number(c[6]), month, Number(c[2]), Number(c[3]), Number(c[4]), Number(c[5]));
      return { kind: "absolute", epochMs: ms };
    }
  }
  const r = DATE_R_RE.exec(line);
  if (r) {
    const month = MONTHS[r[2]!.toLowerCase()];
    if (month !== undefined) {
      const ms = Date.UTC(Number(r[3]), month, Number(r[1]), Number(r[4]), Number(r[5]), Number(r[6]));
      return { kind: "absolute", epochMs: ms - zoneOffsetMs(r[7]) };
    }
  }
  const e = EPOCH_RE.exec(line.trim());
  if (e && Number(e[1]) >= MIN_EPOCH_SECONDS) return { kind: "absolute", epochMs: Number(e[1]) * 1000 };
  return undefined;
}

/**
 * Turns header timestamps into seconds since the migration started. Absolute times are measured
 * from an origin: the first absolute time seen, moved back by the job's own elapsed time when the
 * block under that header reports one (so header times and `Time elapsed` agree).
 */
export class SeriesClock {
  private originMs: number | undefined;

  /** Seconds since the start for a header time; `elapsedS` is the block's own elapsed time if known. */
  seconds(header: HeaderTime, elapsedS?: number): number {
    if (header.kind === "relative") return header.seconds;
    if (this.originMs === undefined) this.originMs = header.epochMs - (elapsedS ?? 0) * 1000;
    return (header.epochMs - this.originMs) / 1000;
  }
}
