import { type MigrationSample, parseSizeBytes, SampleParseError } from "./sample";
import { type HeaderTime, parseHeaderTime, SeriesClock } from "./timestamps";

/**
 * Parsers for `virsh domjobinfo` as printed by libvirt 9 (`%-17s %-12s` label/value lines), alone
 * or polled into a series.
 */

/** Every label libvirt 9's virsh prints for domjobinfo (with and without `--completed`). */
const KNOWN_LABELS = new Set([
  "job type",
  "operation",
  "time elapsed",
  "time elapsed w/o network",
  "time remaining",
  "data processed",
  "data remaining",
  "data total",
  "memory processed",
  "memory remaining",
  "memory total",
  "memory bandwidth",
  "dirty rate",
  "page size",
  "iteration",
  "postcopy requests",
  "constant pages",
  "normal pages",
  "normal data",
  "file processed",
  "file remaining",
  "file total",
  "file bandwidth",
  "expected downtime",
  "total downtime",
  "downtime w/o network",
  "setup time",
  "compression cache",
  "compressed data",
  "compressed pages",
  "compression cache misses",
  "compression overflows",
  "auto converge throttle",
  "temporary disk space use",
  "temporary disk space total",
  "error message",
  "vm state",
]);

// A label is letters, spaces and '/' before the first ':'. The line is cut at that ':' and the
// value trimmed in code: the former single regex, `:\s*(.*?)\s*$`, backtracked cubically over a
// blank run in a line that could not match (2 000 blanks and a CR took 8 s).
const LABEL_RE = /^\s*[A-Za-z][A-Za-z /]*$/;
// `.` never matched these, so a line holding one was never a label; that stays so.
const LINE_BREAK_RE = /[\r\n\u2028\u2029]/;

const JOB_TYPES: Record<string, MigrationSample["jobType"]> = {
  none: "none",
  // A bounded job is running just like an unbounded one; it only adds `Time remaining`.
  bounded: "unbounded",
  unbounded: "unbounded",
  completed: "completed",
  failed: "failed",
  cancelled: "cancelled",
};

interface Block {
  fields: Map<string, { value: string; line: number }>;
  header: HeaderTime | undefined;
}

function labelOf(line: string): { label: string; value: string } | undefined {
  const colon = line.indexOf(":");
  if (colon < 0 || LINE_BREAK_RE.test(line)) return undefined;
  const name = line.slice(0, colon);
  if (!LABEL_RE.test(name)) return undefined;
  const label = name.trim().toLowerCase();
  if (!KNOWN_LABELS.has(label)) return undefined;
  return { label, value: line.slice(colon + 1).trim() };
}

// Host output quoted in an error (which may reach Slack) is cut to this many characters.
const QUOTED_VALUE_CHARS = 80;

function bad(line: number, label: string, value: string): SampleParseError {
  const shown = value.length > QUOTED_VALUE_CHARS ? `${value.slice(0, QUOTED_VALUE_CHARS)}…` : value;
  return new SampleParseError(
    "SAMPLES_BAD_VALUE",
    `line ${line}: cannot read "${label}: ${shown}" as virsh domjobinfo prints it (expected a number with B/KiB/MiB/GiB, ms, pages/s or %); check the capture is unedited virsh output`,
  );
}

function intValue(value: string, line: number, label: string, unit?: string): number {
  // Digits, blanks, then one word: read in pieces (`^(\d+)\s*(\S*)$` was quadratic on long digit runs).
  const digits = /^\d+/.exec(value)?.[0];
  const rest = digits === undefined ? "" : value.slice(digits.length).trimStart();
  if (digits === undefined || /\s/.test(rest) || (unit !== undefined && rest !== "" && rest !== unit)) {
    throw bad(line, label, value);
  }
  return Number(digits);
}

function sizeValue(value: string, line: number, label: string): number {
  const bytes = parseSizeBytes(value);
  if (bytes === undefined) throw bad(line, label, value);
  return bytes;
}

/** Builds a sample from one block's fields; `t` is filled in by the caller when the block has no elapsed time. */
function sampleFromFields(fields: Block["fields"]): { sample: MigrationSample; elapsedS?: number } {
  const sample: MigrationSample = { t: 0, source: "domjobinfo" };
  let elapsedS: number | undefined;
  for (const [label, { value, line }] of fields) {
    switch (label) {
      case "job type": {
        const jobType = JOB_TYPES[value.toLowerCase()];
        if (jobType === undefined) throw bad(line, label, value);
        sample.jobType = jobType;
        break;
      }
      case "time elapsed":
        elapsedS = intValue(value, line, label, "ms") / 1000;
        break;
      case "data processed":
        sample.dataProcessedBytes = sizeValue(value, line, label);
        break;
      case "data remaining":
        sample.dataRemainingBytes = sizeValue(value, line, label);
        break;
      case "data total":
        sample.dataTotalBytes = sizeValue(value, line, label);
        break;
      case "memory processed":
        sample.memoryProcessedBytes = sizeValue(value, line, label);
        break;
      case "memory remaining":
        sample.memoryRemainingBytes = sizeValue(value, line, label);
        break;
      case "memory total":
        sample.memoryTotalBytes = sizeValue(value, line, label);
        break;
      case "memory bandwidth":
        sample.bandwidthBytesPerS = sizeValue(value.replace(/\/s$/, ""), line, label);
        break;
      case "dirty rate":
        sample.dirtyRatePagesPerS = intValue(value, line, label, "pages/s");
        break;
      case "page size":
        sample.pageSizeBytes = intValue(value, line, label, "bytes");
        break;
      case "iteration":
        sample.iteration = intValue(value, line, label);
        break;
      case "expected downtime":
        sample.expectedDowntimeMs = intValue(value, line, label, "ms");
        break;
      case "total downtime":
        sample.downtimeMs = intValue(value, line, label, "ms");
        break;
      case "auto converge throttle":
        sample.throttlePercent = intValue(value.replace(/%$/, ""), line, label);
        break;
      case "error message":
        if (value !== "") sample.errorText = value;
        break;
      default:
        // Known but not needed for the analysis (pages, compression, setup time, ...).
        break;
    }
  }
  if (elapsedS !== undefined) sample.t = elapsedS;
  return { sample, elapsedS };
}

/** One `virsh domjobinfo [--completed]` output → one sample (`t` = its `Time elapsed`, else 0). */
export function parseDomjobinfo(text: string): MigrationSample {
  const fields: Block["fields"] = new Map();
  text.split(/\r?\n/).forEach((raw, i) => {
    const kv = labelOf(raw);
    if (kv && !fields.has(kv.label)) fields.set(kv.label, { value: kv.value, line: i + 1 });
  });
  if (fields.size === 0) {
    throw new SampleParseError(
      "SAMPLES_UNRECOGNISED",
      "no `virsh domjobinfo` lines (e.g. `Job type:`, `Data remaining:`) found; pass the command's output unchanged",
    );
  }
  return sampleFromFields(fields).sample;
}

/**
 * What an interleaved `error:` line means for the migration: virsh's own message when the job is
 * cancelled or fails. Errors about other things (`failed to get domain`, `domain is not running`
 * after a completed migration) say nothing about the job and are skipped.
 */
export function classifyVirshError(message: string): "cancelled" | "failed" | undefined {
  if (/cancel|abort/i.test(message)) return "cancelled";
  if (/migrat|\bjob\b|unexpectedly|qemu|monitor|timed? ?out|connection/i.test(message)) return "failed";
  return undefined;
}

/**
 * A polled series of domjobinfo outputs → samples in capture order. Blocks end at a blank line, an
 * `==` header, any other line that is not a domjobinfo label, or a repeated label. Header
 * timestamps date the blocks below them when a block has no `Time elapsed`. Interleaved virsh
 * errors that end the job become a final `cancelled`/`failed` sample.
 */
export function parseDomjobinfoSeries(text: string): MigrationSample[] {
  const samples: MigrationSample[] = [];
  const clock = new SeriesClock();
  let header: HeaderTime | undefined;
  let block: Block | undefined;
  let lastT = 0;

  const flush = () => {
    if (block === undefined) return;
    const { sample, elapsedS } = sampleFromFields(block.fields);
    if (elapsedS === undefined) {
      sample.t = block.header ? clock.seconds(block.header) : lastT;
    } else if (block.header) {
      clock.seconds(block.header, elapsedS);
    }
    lastT = sample.t;
    samples.push(sample);
    block = undefined;
  };

  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const kv = labelOf(raw);
    if (kv) {
      if (block && (block.fields.has(kv.label) || kv.label === "job type")) flush();
      if (block === undefined) {
        block = { fields: new Map(), header };
        // A header dates the block right under it only; later blocks carry their own time.
        header = undefined;
      }
      block.fields.set(kv.label, { value: kv.value, line: i + 1 });
      continue;
    }
    flush();
    const line = raw.trim();
    if (line === "") continue;
    if (line.startsWith("error:") && !LINE_BREAK_RE.test(line)) {
      const message = line.slice("error:".length).trimStart();
      const state = classifyVirshError(message);
      if (state !== undefined) {
        const t = header ? clock.seconds(header) : lastT;
        lastT = t;
        samples.push({ t, source: "domjobinfo", jobType: state, errorText: message });
      }
      continue;
    }
    const time = parseHeaderTime(line);
    if (time) header = time;
  }
  flush();
  return samples;
}
