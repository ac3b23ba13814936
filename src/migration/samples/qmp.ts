import { type MigrationSample, SampleParseError } from "./sample";
import { type HeaderTime, parseHeaderTime, SeriesClock } from "./timestamps";

/**
 * QMP `query-migrate` responses → samples. Accepts one JSON object per line (the lab recorder's
 * JSONL, QMP's `{"return": {...}, "id": ...}`), a JSON array of them, or pretty-printed objects with
 * other lines between them (`virsh qemu-monitor-command --pretty` transcripts, whose command lines
 * may carry a timestamp).
 */

// QEMU's MigrationStatus values folded into the sample's job states.
const STATUS: Record<string, MigrationSample["jobType"]> = {
  none: "none",
  setup: "unbounded",
  active: "unbounded",
  "pre-switchover": "unbounded",
  device: "unbounded",
  "wait-unplug": "unbounded",
  "postcopy-active": "unbounded",
  "postcopy-paused": "unbounded",
  "postcopy-recover-setup": "unbounded",
  "postcopy-recover": "unbounded",
  colo: "unbounded",
  completed: "completed",
  failed: "failed",
  cancelling: "cancelled",
  cancelled: "cancelled",
};

// QEMU reports ram.mbps in megabits (10^6 bits) per second.
const BYTES_PER_S_PER_MBPS = 1_000_000 / 8;

// Upper bound on one JSON value (a lab capture's array of replies stays far below it).
const MAX_JSON_VALUE_CHARS = 1_000_000;

/**
 * Arrays of replies are looked into this deep (captures are an array of replies, or one level more);
 * deeper nesting holds no reply, and recursing into it could overflow the stack.
 */
const MAX_REPLY_ARRAY_DEPTH = 2;

/**
 * Characters, per character of input, that may be scanned for values that then turn out not to be
 * JSON (never closing, or not parsing). Every line starting with `{` or `[` is tried, and a failed
 * try may scan to the end of the input: one per line was quadratic (40 000 lines of "{" took 5 s).
 * Past this budget only values that close on their own line (JSONL) are still looked for, so the
 * scan stays linear; real captures fail a few short tries at most.
 */
export const FAILED_JSON_SCAN_CHARS_PER_INPUT_CHAR = 4;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function num(v: Json | undefined): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** The end index (exclusive) of the JSON object/array starting at `start` and ending before `limit`, or -1. */
function matchingEnd(text: string, start: number, limit: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < limit; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** JSON values that start a line (after indentation), with the header timestamp last seen before each. */
export function scanJsonValues(text: string): { value: Json; header: HeaderTime | undefined }[] {
  const out: { value: Json; header: HeaderTime | undefined }[] = [];
  let header: HeaderTime | undefined;
  let pos = 0;
  let budget = text.length * FAILED_JSON_SCAN_CHARS_PER_INPUT_CHAR;
  while (pos < text.length) {
    const eol = text.indexOf("\n", pos);
    const lineEnd = eol === -1 ? text.length : eol;
    const line = text.slice(pos, lineEnd);
    const indent = line.length - line.trimStart().length;
    const first = line[indent];
    if (first === "{" || first === "[") {
      const start = pos + indent;
      const limit = budget > 0 ? Math.min(text.length, start + MAX_JSON_VALUE_CHARS) : lineEnd;
      const end = matchingEnd(text, start, limit);
      if (end !== -1) {
        try {
          out.push({ value: JSON.parse(text.slice(start, end)) as Json, header });
          header = undefined;
          const next = text.indexOf("\n", end);
          pos = next === -1 ? text.length : next + 1;
          continue;
        } catch {
          // Not JSON after all: treat it as an ordinary line.
        }
      }
      if (end > lineEnd || (end === -1 && limit > lineEnd)) budget -= (end === -1 ? limit : end) - start;
    } else {
      const time = parseHeaderTime(line);
      if (time) header = time;
    }
    pos = lineEnd + 1;
  }
  return out;
}

/** One MigrationInfo (the body of a `query-migrate` reply) → a sample, or undefined if it has no status. */
export function sampleFromMigrationInfo(
  info: { [key: string]: Json },
  t: number,
): MigrationSample | undefined {
  const status = typeof info.status === "string" ? info.status : undefined;
  if (status === undefined) return undefined;
  const sample: MigrationSample = { t, source: "qmp", jobType: STATUS[status] ?? "unbounded" };
  const ram = isObject(info.ram) ? info.ram : undefined;
  const disk = isObject(info.disk) ? info.disk : undefined;
  if (ram) {
    sample.iteration = num(ram["dirty-sync-count"]);
    sample.memoryRemainingBytes = num(ram.remaining);
    sample.memoryProcessedBytes = num(ram.transferred);
    sample.memoryTotalBytes = num(ram.total);
    const mbps = num(ram.mbps);
    if (mbps !== undefined) sample.bandwidthBytesPerS = Math.round(mbps * BYTES_PER_S_PER_MBPS);
    sample.dirtyRatePagesPerS = num(ram["dirty-pages-rate"]);
    sample.pageSizeBytes = num(ram["page-size"]);
  }
  // Data = memory + block-migrated disk, as libvirt computes its `Data *` figures.
  const add = (a: number | undefined, b: number | undefined) => (a === undefined ? undefined : a + (b ?? 0));
  sample.dataRemainingBytes = add(sample.memoryRemainingBytes, num(disk?.remaining));
  sample.dataProcessedBytes = add(sample.memoryProcessedBytes, num(disk?.transferred));
  sample.dataTotalBytes = add(sample.memoryTotalBytes, num(disk?.total));
  sample.expectedDowntimeMs = num(info["expected-downtime"]);
  sample.downtimeMs = num(info.downtime);
  sample.throttlePercent = num(info["cpu-throttle-percentage"]);
  if (typeof info["error-desc"] === "string") sample.errorText = info["error-desc"];
  for (const key of Object.keys(sample) as (keyof MigrationSample)[]) {
    if (sample[key] === undefined) delete sample[key];
  }
  return sample;
}

/**
 * `query-migrate` output → samples in capture order. `t` is the recorder's `_t` when present, else
 * QEMU's `total-time`, else the header timestamp. Replies without a status (before any migration,
 * or `query-migrate-parameters`) are skipped. Throws a coded error when no JSON is found at all.
 */
export function parseQmpQueryMigrate(text: string): MigrationSample[] {
  const values = scanJsonValues(text);
  if (values.length === 0) {
    throw new SampleParseError(
      "SAMPLES_UNRECOGNISED",
      'no JSON found; expected QMP query-migrate replies, one object per line or a JSON array (e.g. {"return": {"status": "active", "ram": {...}}})',
    );
  }
  const clock = new SeriesClock();
  const samples: MigrationSample[] = [];
  let lastT = 0;
  const visit = (value: Json, header: HeaderTime | undefined, depth = 0) => {
    if (Array.isArray(value)) {
      if (depth >= MAX_REPLY_ARRAY_DEPTH) return;
      for (const item of value) visit(item, undefined, depth + 1);
      return;
    }
    if (!isObject(value)) return;
    const info = isObject(value.return) ? value.return : value;
    const totalS = num(info["total-time"]) !== undefined ? num(info["total-time"])! / 1000 : undefined;
    const t = num(value._t) ?? num(info._t) ?? totalS ?? (header ? clock.seconds(header) : lastT);
    if (header && totalS !== undefined) clock.seconds(header, totalS);
    const sample = sampleFromMigrationInfo(info, t);
    if (sample) {
      samples.push(sample);
      lastT = t;
    }
  };
  for (const { value, header } of values) visit(value, header);
  return samples;
}
