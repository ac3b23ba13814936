/**
 * One migration's chart. Top: memory remaining over time, each dirty sync marked (a dotted line at
 * the moment the iteration counter moved), and the stop-and-copy threshold — the downtime Nova
 * allowed at that moment times the measured transfer rate: once remaining falls under it, QEMU can
 * pause the guest and send the rest within the allowed downtime. Bottom: the guest's dirty rate
 * against the transfer rate (pre-copy converges only while the link outruns the guest), and the
 * auto-converge throttle on its own axis.
 */
import type { EChartsCoreOption } from "echarts/core";
import type { ChartHistory } from "../migration/chart-history";
import { mib, plainLabel } from "./labels";
import { type ChartImage, renderChart } from "./render";

/** Up to this many points, each is drawn as a dot too: a short migration polled once or twice still shows. */
export const DOTS_MAX_POINTS = 20;

/** Dirty syncs are labelled one by one up to this many; past it every n-th, so labels never overlap. */
export const SYNC_LABELS_MAX = 15;

export const SERIES_NAMES = {
  remaining: "memory remaining",
  threshold: "stop-and-copy threshold",
  dirty: "dirty rate",
  transfer: "transfer rate",
  throttle: "auto-converge throttle",
} as const;

export interface MigrationChartInput {
  /** The heading, plain text: drawn as text, so a hostile VM name stays a string of characters. */
  title: string;
  /** A second line under the heading (the outcome, the verdict), plain text. */
  subtitle?: string;
  history: ChartHistory;
}

/**
 * The stop-and-copy threshold at each point, bytes: the downtime allowed then (ms) times the transfer
 * rate measured then. Null where either is unknown.
 */
export function stopAndCopyThresholdBytes(history: ChartHistory): (number | null)[] {
  return history.t.map((_, i) => {
    const allowed = history.allowedDowntimeMs[i];
    const rate = history.transferBytesPerS[i];
    return allowed == null || rate == null ? null : Math.round((allowed / 1000) * rate);
  });
}

/** `[t, value]` pairs of one column, points without a value left out. */
function pairs(t: number[], values: (number | null)[], scale: (v: number) => number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < t.length; i++) {
    const v = values[i];
    if (v != null) out.push([t[i]!, scale(v)]);
  }
  return out;
}

const same = (v: number) => v;

/** A round axis end at or above `value` (1, 2 or 5 times a power of ten, halved), so the last tick is labelled once. */
export function niceAxisMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [0.5, 1, 2, 5, 10]) {
    const unit = (power * step) / 2;
    const max = Math.ceil(value / unit) * unit;
    if (max / unit <= 10) return Math.round(max * 1000) / 1000;
  }
  return value;
}

/** An axis name beside the axis, turned along it (clear of the legends and the sync labels above). */
function sideName(name: string, gap: number) {
  return { name, nameLocation: "middle", nameGap: gap, nameRotate: 90 };
}

/** The ECharts option for one migration (pure: the same history gives the same chart). */
export function migrationChartOption(input: MigrationChartInput): EChartsCoreOption {
  const h = input.history;
  const endS = niceAxisMax(h.t.at(-1) ?? 0);
  const labelEvery = Math.max(1, Math.ceil(h.syncs.length / SYNC_LABELS_MAX));
  const syncMarks = h.syncs.map(([t, iteration], i) => ({
    xAxis: t,
    label: { show: i % labelEvery === 0, formatter: `sync ${iteration}`, fontSize: 10 },
  }));
  const throttle = pairs(h.t, h.throttlePercent, same);
  const throttleName =
    throttle.length === 0 ? `${SERIES_NAMES.throttle} (not engaged)` : SERIES_NAMES.throttle;
  const allowedNow = [...h.allowedDowntimeMs].reverse().find((v) => v != null);
  const thresholdName =
    allowedNow == null
      ? SERIES_NAMES.threshold
      : `${SERIES_NAMES.threshold}: ${allowedNow} ms allowed × transfer rate`;
  const grid = { left: 80, right: 80 };
  const showSymbol = h.t.length <= DOTS_MAX_POINTS;
  return {
    color: ["#2f6fdf", "#d9342b", "#f08c00", "#2b9348", "#7b3fbf"],
    title: {
      text: plainLabel(input.title),
      ...(input.subtitle !== undefined && { subtext: plainLabel(input.subtitle, 140) }),
      left: "center",
    },
    // One legend above each panel: one line of names each, wide enough for the bundled font.
    legend: [
      { top: 66, itemGap: 24, data: [SERIES_NAMES.remaining, thresholdName] },
      { top: 392, itemGap: 24, data: [SERIES_NAMES.dirty, SERIES_NAMES.transfer, throttleName] },
    ],
    grid: [
      { ...grid, top: 112, height: 240 },
      { ...grid, top: 430, height: 150 },
    ],
    xAxis: [
      { type: "value", gridIndex: 0, min: 0, max: endS },
      {
        type: "value",
        gridIndex: 1,
        min: 0,
        max: endS,
        name: "seconds since the migration started",
        nameLocation: "middle",
        nameGap: 28,
      },
    ],
    yAxis: [
      { type: "value", gridIndex: 0, min: 0, ...sideName("MiB", 50) },
      { type: "value", gridIndex: 1, min: 0, ...sideName("MiB/s", 50) },
      {
        type: "value",
        gridIndex: 1,
        ...sideName("throttle %", 40),
        position: "right",
        min: 0,
        max: 100,
        splitLine: { show: false },
      },
    ],
    series: [
      {
        name: SERIES_NAMES.remaining,
        type: "line",
        xAxisIndex: 0,
        yAxisIndex: 0,
        showSymbol,
        data: pairs(h.t, h.remainingBytes, mib),
        markLine: {
          silent: true,
          symbol: "none",
          lineStyle: { type: "dotted", color: "#8a8a8a", width: 1 },
          data: syncMarks,
        },
      },
      {
        name: thresholdName,
        type: "line",
        xAxisIndex: 0,
        yAxisIndex: 0,
        showSymbol,
        step: "end",
        lineStyle: { type: "dashed" },
        data: pairs(h.t, stopAndCopyThresholdBytes(h), mib),
      },
      {
        name: SERIES_NAMES.dirty,
        type: "line",
        xAxisIndex: 1,
        yAxisIndex: 1,
        showSymbol,
        data: pairs(h.t, h.dirtyBytesPerS, mib),
      },
      {
        name: SERIES_NAMES.transfer,
        type: "line",
        xAxisIndex: 1,
        yAxisIndex: 1,
        showSymbol,
        data: pairs(h.t, h.transferBytesPerS, mib),
      },
      {
        name: throttleName,
        type: "line",
        xAxisIndex: 1,
        yAxisIndex: 2,
        showSymbol,
        step: "end",
        data: throttle,
      },
    ],
  };
}

/** Draws one migration's chart (SVG and PNG). */
export function renderMigrationChart(input: MigrationChartInput): Promise<ChartImage> {
  return renderChart(migrationChartOption(input));
}
