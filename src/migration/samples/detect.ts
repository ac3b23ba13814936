import { parseDomjobinfoSeries } from "./domjobinfo";
import { type NovaLogEvent, parseNovaComputeLog } from "./nova-log";
import { parseQmpQueryMigrate, scanJsonValues } from "./qmp";
import { type MigrationSample, type SampleFormat, SampleParseError } from "./sample";

export interface DetectedSamples {
  format: SampleFormat;
  samples: MigrationSample[];
  /** Notable nova-compute lines of the migration followed, for `nova-log` input. */
  events?: NovaLogEvent[];
  /** For `nova-log` input: the instance followed (the one that logged progress last). */
  instanceUuid?: string;
}

const EXPECTED =
  "expected a series of `virsh domjobinfo` outputs, QMP `query-migrate` JSON (one object per line or an array), or nova-compute log lines";

// A capture counts as domjobinfo when it has at least this many label lines: one block prints
// at least `Job type` plus a figure, while stray "Iteration:"-like words in prose are single.
const MIN_DOMJOBINFO_LABEL_LINES = 2;
// Leading blanks stop at a line end: `^\s*` ran on over every later line from each line start,
// which was quadratic on a capture of many blank lines.
const DOMJOBINFO_LABEL_RE =
  /^[^\S\r\n\u2028\u2029]*(Job type|Time elapsed|Data remaining|Data processed|Memory processed|Memory remaining|Memory bandwidth|Iteration|Expected downtime|Dirty rate):\s+\S/m;

function countMatches(text: string, re: RegExp): number {
  const global = new RegExp(re.source, "gm");
  return text.match(global)?.length ?? 0;
}

/**
 * Nova's log says how a migration ended in separate lines; turn the last of them into a final
 * sample so that the analysis can say completed/failed, with Nova's own failure text.
 */
function terminalSampleFromEvents(events: NovaLogEvent[], lastT: number): MigrationSample | undefined {
  let end: MigrationSample | undefined;
  let reason: string | undefined;
  for (const e of events) {
    if (e.kind === "progress") {
      end = undefined;
      reason = undefined;
    } else if (e.kind === "failure" || e.kind === "pre-check-error" || e.kind === "post-migration-failed") {
      reason = e.message;
      end = { t: lastT, source: "nova-log", jobType: "failed", errorText: reason };
    } else if (e.kind === "stuck" || e.kind === "completion-timeout") {
      reason = e.message;
    } else if (e.kind === "aborted") {
      end = { t: lastT, source: "nova-log", jobType: "failed", errorText: reason ?? e.message };
    } else if (e.kind === "cancelled") {
      end = { t: lastT, source: "nova-log", jobType: "cancelled", errorText: reason ?? e.message };
    } else if (e.kind === "completed" || e.kind === "finished") {
      end = { t: lastT, source: "nova-log", jobType: "completed" };
    }
  }
  return end;
}

/** Recognises the format of a capture and parses it; unreadable input → a coded `SampleParseError`. */
export function detectAndParse(text: string): DetectedSamples {
  if (text.trim() === "") throw new SampleParseError("SAMPLES_EMPTY", `the input is empty; ${EXPECTED}`);

  if (countMatches(text, DOMJOBINFO_LABEL_RE) >= MIN_DOMJOBINFO_LABEL_LINES) {
    const samples = parseDomjobinfoSeries(text);
    if (samples.length > 0) return { format: "domjobinfo", samples };
  }

  if (scanJsonValues(text).length > 0) {
    const samples = parseQmpQueryMigrate(text);
    if (samples.length > 0) return { format: "qmp", samples };
    throw new SampleParseError(
      "SAMPLES_EMPTY",
      'the JSON holds no query-migrate reply with a "status" (e.g. {"return": {}} before any migration, or query-migrate-parameters); capture query-migrate while the migration runs',
    );
  }

  const all = parseNovaComputeLog(text);
  if (all.events.length > 0) {
    // A compute log interleaves every migration of the host: follow the one that logged progress
    // last (else the last one named), and keep lines that name no instance.
    const latest = (pred: (e: NovaLogEvent) => boolean) => [...all.events].reverse().find(pred)?.instanceUuid;
    const instanceUuid =
      latest((e) => e.kind === "progress" && e.instanceUuid !== undefined) ??
      latest((e) => e.instanceUuid !== undefined);
    const log = instanceUuid === undefined ? all : parseNovaComputeLog(text, { instanceUuid });
    const events = log.events.filter((e) => e.instanceUuid === undefined || e.instanceUuid === instanceUuid);
    const samples = [...log.samples];
    const end = terminalSampleFromEvents(events, samples.at(-1)?.t ?? 0);
    if (end) samples.push(end);
    if (samples.length > 0) {
      return { format: "nova-log", samples, events, ...(instanceUuid !== undefined ? { instanceUuid } : {}) };
    }
    throw new SampleParseError(
      "SAMPLES_EMPTY",
      "the nova-compute log has live-migration lines but no `Migration running for N secs, memory N% remaining` progress line and no outcome; enable DEBUG logging on nova-compute or capture virsh domjobinfo instead",
    );
  }

  throw new SampleParseError("SAMPLES_UNRECOGNISED", `no migration samples found; ${EXPECTED}`);
}
