/**
 * One chart for several migrations (a drain's final report): each VM's memory remaining on one time
 * axis from the first migration's start, so the operator sees which ran together and which dragged.
 */
import type { EChartsCoreOption } from "echarts/core";
import type { DrainChartMigration } from "./drain-migrations";
import { mib, plainLabel } from "./labels";
import { type ChartImage, renderChart } from "./render";

export { type DrainChartMigration, drainChartMigrationsOf } from "./drain-migrations";

/** Longest VM name in the legend. */
export const DRAIN_LEGEND_NAME_MAX_CHARS = 40;

/** The ECharts option for a drain (pure). */
export function drainChartOption(
  title: string,
  migrations: readonly DrainChartMigration[],
): EChartsCoreOption {
  const startMs = Math.min(...migrations.map((m) => m.startedAtMs));
  const seen = new Map<string, number>();
  const series = migrations.map((m) => {
    const offsetS = (m.startedAtMs - startMs) / 1000;
    let name = plainLabel(m.name, DRAIN_LEGEND_NAME_MAX_CHARS);
    // Two VMs may share a name: the legend keys series by name, so number the repeats.
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    if (n > 1) name = `${name} (${n})`;
    const data: [number, number][] = [];
    m.history.t.forEach((t, i) => {
      const v = m.history.remainingBytes[i];
      if (v != null) data.push([Math.round((offsetS + t) * 10) / 10, mib(v)]);
    });
    return { name, type: "line", showSymbol: false, data };
  });
  return {
    title: { text: plainLabel(title), subtext: "memory remaining per VM", left: "center" },
    legend: { type: "scroll", bottom: 8, textStyle: { fontSize: 11 } },
    grid: { left: 80, right: 40, top: 90, bottom: 110 },
    xAxis: {
      type: "value",
      min: 0,
      name: "seconds since the drain's first migration started",
      nameLocation: "middle",
      nameGap: 28,
    },
    yAxis: { type: "value", name: "MiB", min: 0 },
    series,
  };
}

/** Draws one chart for a whole drain: every migration's memory remaining on one time axis. */
export function renderDrainChart(
  title: string,
  migrations: readonly DrainChartMigration[],
): Promise<ChartImage> {
  return renderChart(drainChartOption(title, migrations));
}
