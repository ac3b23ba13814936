/**
 * A drain's migrations as its chart takes them, read from their records. Kept apart from the
 * drawing (drain-chart.ts): the drain imports this at start, and the chart libraries (ECharts,
 * resvg: ~35 MB) load only when a chart is drawn.
 */
import { type ChartHistory, chartPointCount } from "../migration/chart-history";
import type { TrackedRecord } from "../migration/tracker";
import { vmLabel } from "../migration/view";

export interface DrainChartMigration {
  /** The VM's name (tenant-chosen: drawn as plain text). */
  name: string;
  /** When this migration started, ms since epoch (places it on the drain's time axis). */
  startedAtMs: number;
  history: ChartHistory;
}

/**
 * A drain's migrations as the chart takes them, from their records (`MigrationStore.load`): each
 * VM's name, start and chart history; records with no figures (refused, failed before pre-copy)
 * are left out.
 */
export function drainChartMigrationsOf(
  records: readonly Pick<TrackedRecord, "view" | "chart">[],
): DrainChartMigration[] {
  return records
    .filter((r) => r.chart !== undefined && chartPointCount(r.chart) > 0)
    .map((r) => ({ name: vmLabel(r.view), startedAtMs: r.view.startedAt, history: r.chart! }));
}
