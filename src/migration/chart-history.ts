/**
 * A migration's figures over time, kept for its chart (src/chart draws it): remaining memory, the
 * transfer and dirty rates, the auto-converge throttle and the downtime Nova allowed, with the
 * moments the dirty-sync counter moved. Plain data, stored in the migration's record so that a
 * resumed worker still draws the whole migration, and bounded: a worker follows up to 1,000
 * migrations, and a day-long one polls tens of thousands of times. Past the bound the history is
 * thinned to every other point and the spacing between kept points doubles, so it always spans
 * the whole migration at an even resolution.
 */
import { DEFAULT_PAGE_SIZE_BYTES } from "./convergence";
import type { MigrationSample } from "./samples/sample";

/** Points kept per migration: ~10 kB of JSON in its record, more than a chart 960 px wide can show apart. */
export const CHART_HISTORY_MAX_POINTS = 200;
/** Dirty-sync marks kept per migration (thinned like the points past this). */
export const CHART_SYNC_MARKS_MAX = 100;

/** The figures of one migration, column by column (one entry per kept poll). */
export interface ChartHistory {
  /** Seconds since the migration started. */
  t: number[];
  /** Memory (else data) remaining, bytes. */
  remainingBytes: (number | null)[];
  /** virsh `Memory bandwidth` / QMP `ram.mbps`: what the link carried, bytes/s. */
  transferBytesPerS: (number | null)[];
  /** virsh `Dirty rate` × page size, bytes/s. */
  dirtyBytesPerS: (number | null)[];
  /** The auto-converge throttle, percent (null while QEMU reports none). */
  throttlePercent: (number | null)[];
  /** The downtime Nova allowed at that moment (its schedule, else QEMU's default), ms. */
  allowedDowntimeMs: (number | null)[];
  /** Dirty syncs: `[t, iteration]` where the iteration counter was first seen at a new value. */
  syncs: [number, number][];
  /** The guest's memory, bytes, when a source said. */
  memoryTotalBytes: number | null;
  /** Least seconds between two kept points; doubles each time the history is thinned. */
  spacingS: number;
  /** The iteration counter at the last kept point. */
  lastIteration: number | null;
}

/** A history with nothing in it. */
export function emptyChartHistory(): ChartHistory {
  return {
    t: [],
    remainingBytes: [],
    transferBytesPerS: [],
    dirtyBytesPerS: [],
    throttlePercent: [],
    allowedDowntimeMs: [],
    syncs: [],
    memoryTotalBytes: null,
    spacingS: 0,
    lastIteration: null,
  };
}

const COLUMNS = [
  "t",
  "remainingBytes",
  "transferBytesPerS",
  "dirtyBytesPerS",
  "throttlePercent",
  "allowedDowntimeMs",
] as const;

function whole(value: number | undefined): number | null {
  return value === undefined || !Number.isFinite(value) ? null : Math.round(value);
}

/** Every other entry, the first and the last always kept. */
function thinned<T>(list: T[]): T[] {
  return list.filter((_, i) => i % 2 === 0 || i === list.length - 1);
}

/**
 * Adds one sample (with the downtime allowed when it was taken, from the convergence report) to
 * the history, in place. A sample closer than the current spacing to the last kept point replaces
 * it, unless either one started a new dirty sync: the sawtooth's teeth are what the chart is for.
 */
export function addChartSample(
  history: ChartHistory,
  sample: MigrationSample,
  allowedDowntimeMs: number | null,
): void {
  const total = sample.memoryTotalBytes ?? sample.dataTotalBytes;
  if (history.t.length === 0 && sample.t > 0 && total !== undefined) {
    // Pre-copy starts with every page still to send (QEMU's ram.remaining starts at ram.total): the
    // chart of a migration first sampled late, or only in its finished record, starts there.
    for (const column of COLUMNS) (history[column] as (number | null)[]).push(null);
    history.t[0] = 0;
    history.remainingBytes[0] = Math.round(total);
  }
  const last = history.t.length - 1;
  if (last >= 0 && sample.t < history.t[last]!) return;
  const iteration = sample.iteration ?? null;
  const newSync = iteration !== null && iteration !== history.lastIteration;
  const lastStartedSync = last >= 0 && history.syncs.at(-1)?.[0] === history.t[last];
  if (newSync) {
    history.syncs.push([Math.round(sample.t * 10) / 10, iteration]);
    if (history.syncs.length > CHART_SYNC_MARKS_MAX) history.syncs = thinned(history.syncs);
  }
  const pageSize = sample.pageSizeBytes ?? DEFAULT_PAGE_SIZE_BYTES;
  const row = {
    t: Math.round(sample.t * 10) / 10,
    remainingBytes: whole(sample.memoryRemainingBytes ?? sample.dataRemainingBytes),
    transferBytesPerS: whole(sample.bandwidthBytesPerS),
    dirtyBytesPerS: whole(
      sample.dirtyRatePagesPerS === undefined ? undefined : sample.dirtyRatePagesPerS * pageSize,
    ),
    throttlePercent: whole(sample.throttlePercent),
    allowedDowntimeMs: whole(allowedDowntimeMs ?? undefined),
  };
  const replaceLast =
    last >= 1 && !newSync && !lastStartedSync && history.t[last]! - history.t[last - 1]! < history.spacingS;
  for (const column of COLUMNS) {
    const list = history[column] as (number | null)[];
    if (replaceLast) list[last] = row[column];
    else list.push(row[column]);
  }
  history.lastIteration = iteration ?? history.lastIteration;
  if (total !== undefined) history.memoryTotalBytes = total;
  if (history.t.length > CHART_HISTORY_MAX_POINTS) {
    for (const column of COLUMNS) {
      (history as unknown as Record<string, unknown[]>)[column] = thinned(history[column] as unknown[]);
    }
    const span = history.t.at(-1)! - history.t[0]!;
    history.spacingS = Math.max(history.spacingS * 2, span / CHART_HISTORY_MAX_POINTS);
  }
}

/** The number of points a history holds. */
export function chartPointCount(history: ChartHistory | undefined): number {
  return history?.t.length ?? 0;
}
