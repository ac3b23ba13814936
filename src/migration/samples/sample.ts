/**
 * One observation of a running (or just finished) live migration, whatever it was read from:
 * `virsh domjobinfo`, QMP `query-migrate`, Nova's server-migrations API or nova-compute's log.
 * Every field but `t` and `source` is optional because each source shows a different subset.
 */
import { CodedError } from "../../errors";

export interface MigrationSample {
  /** Seconds since the migration started (from the source: elapsed time, or timestamps). */
  t: number;
  source: "domjobinfo" | "qmp" | "nova-api" | "nova-log";
  /** virsh `Job type` / QMP `status`, folded into five states (Bounded counts as running). */
  jobType?: "unbounded" | "none" | "completed" | "failed" | "cancelled";
  /** virsh `Iteration` / QMP `ram.dirty-sync-count`. */
  iteration?: number;
  dataRemainingBytes?: number;
  dataProcessedBytes?: number;
  dataTotalBytes?: number;
  memoryRemainingBytes?: number;
  memoryProcessedBytes?: number;
  memoryTotalBytes?: number;
  /** virsh `Memory bandwidth` / QMP `ram.mbps` (converted from megabits). */
  bandwidthBytesPerS?: number;
  dirtyRatePagesPerS?: number;
  pageSizeBytes?: number;
  expectedDowntimeMs?: number;
  /** Total downtime, once completed. */
  downtimeMs?: number;
  /** virsh `Auto converge throttle` / QMP `cpu-throttle-percentage`. */
  throttlePercent?: number;
  errorText?: string;
}

/** The formats `detectAndParse` recognises. */
export type SampleFormat = "domjobinfo" | "qmp" | "nova-log";

export type SampleParseErrorCode =
  /** Nothing in the text looks like any supported format. */
  | "SAMPLES_UNRECOGNISED"
  /** The format was recognised but holds no usable migration sample. */
  | "SAMPLES_EMPTY"
  /** A value could not be read (e.g. an unknown unit). */
  | "SAMPLES_BAD_VALUE";

/** A coded parse error whose message says what was expected, for operators feeding `migbot analyze`. */
export class SampleParseError extends CodedError<SampleParseErrorCode> {
  constructor(code: SampleParseErrorCode, message: string) {
    // Not retryable: the same text parses the same way again.
    super(code, message, { retryable: false });
  }
}

const BINARY_UNITS: Record<string, number> = {
  b: 1,
  byte: 1,
  bytes: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  pib: 1024 ** 5,
  eib: 1024 ** 6,
};

/**
 * Reads a virsh size such as `108.535 MiB` or `0.000 B` into bytes. virsh prints three decimals, so
 * the result is rounded to whole bytes (it is only as exact as the printed figure).
 */
export function parseSizeBytes(text: string): number | undefined {
  // Trimmed first: `^\s*…\s*([A-Za-z]+)?\s*$` backtracked quadratically over blank runs.
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(text.trim());
  if (!m) return undefined;
  const factor = BINARY_UNITS[(m[2] || "B").toLowerCase()];
  if (factor === undefined) return undefined;
  return Math.round(Number(m[1]) * factor);
}

/** Formats bytes the way virsh does (binary units, three decimals), for messages to operators. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 ? 0 : value >= 100 ? 1 : 2;
  return `${value.toFixed(digits)} ${units[unit]}`;
}
