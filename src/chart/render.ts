/**
 * ECharts option → SVG → PNG. ECharts renders server-side to an SVG string (`ssr: true`, no DOM or
 * canvas); resvg rasterizes it off the event loop (`renderAsync` runs on libuv's thread pool) with
 * DejaVu Sans from the `dejavu-fonts-ttf` package, so a host without any font installed still shows
 * every label, and the same picture comes out on every host.
 */
import { createRequire } from "node:module";
import { renderAsync } from "@resvg/resvg-js";
import { LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, MarkLineComponent, TitleComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { SVGRenderer } from "echarts/renderers";

echarts.use([LineChart, GridComponent, LegendComponent, MarkLineComponent, TitleComponent, SVGRenderer]);

/** The picture's size: wide enough for a thread in Slack's desktop client, small enough for a phone to scale. */
export const CHART_WIDTH_PX = 960;
export const CHART_HEIGHT_PX = 640;
/** The family every label is drawn in (the bundled font's name). */
export const CHART_FONT_FAMILY = "DejaVu Sans";

const FONT_FILES = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"].map((f) =>
  createRequire(import.meta.url).resolve(`dejavu-fonts-ttf/ttf/${f}`),
);

/** A rendered chart: the PNG to upload and the SVG it was drawn from (what tests read labels in). */
export interface ChartImage {
  png: Buffer;
  svg: string;
  widthPx: number;
  heightPx: number;
}

/** Renders an ECharts option to an SVG string, server-side. */
export function chartToSvg(
  option: echarts.EChartsCoreOption,
  widthPx = CHART_WIDTH_PX,
  heightPx = CHART_HEIGHT_PX,
): string {
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width: widthPx, height: heightPx });
  try {
    chart.setOption({ animation: false, textStyle: { fontFamily: CHART_FONT_FAMILY }, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

/** Rasterizes an SVG to PNG (white background) with the bundled font only. */
export async function svgToPng(svg: string): Promise<{ png: Buffer; widthPx: number; heightPx: number }> {
  const image = await renderAsync(svg, {
    font: {
      fontFiles: FONT_FILES,
      // Only the bundled font: system fonts would make the picture differ from host to host.
      loadSystemFonts: false,
      defaultFontFamily: CHART_FONT_FAMILY,
      sansSerifFamily: CHART_FONT_FAMILY,
    },
    background: "white",
    fitTo: { mode: "original" },
    logLevel: "off",
  });
  return { png: image.asPng(), widthPx: image.width, heightPx: image.height };
}

/** Charts drawn one after another: many migrations ending together must not hold the event loop in one go. */
let queue: Promise<unknown> = Promise.resolve();

/** Renders an option to both SVG and PNG (one chart at a time per process). */
export function renderChart(option: echarts.EChartsCoreOption): Promise<ChartImage> {
  const run = async (): Promise<ChartImage> => {
    const svg = chartToSvg(option);
    const { png, widthPx, heightPx } = await svgToPng(svg);
    return { png, svg, widthPx, heightPx };
  };
  const next = queue.then(run, run);
  queue = next.catch(() => undefined);
  return next;
}
