/**
 * src/chart draws migrations as pictures for their Slack threads: a migration's figures (its
 * {@link ChartHistory}) become an ECharts option (pure), the option an SVG (ECharts' server-side
 * renderer, no DOM), and the SVG a PNG (resvg, with a bundled DejaVu Sans so text renders on a bare
 * host). One chart per migration, or one for several (a drain's final report).
 */
export {
  type DrainChartMigration,
  drainChartMigrationsOf,
  drainChartOption,
  renderDrainChart,
} from "./drain-chart";
export {
  type MigrationChartInput,
  migrationChartOption,
  renderMigrationChart,
  stopAndCopyThresholdBytes,
} from "./migration-chart";
export {
  CHART_HEIGHT_PX,
  CHART_WIDTH_PX,
  type ChartImage,
  chartToSvg,
  renderChart,
  svgToPng,
} from "./render";
