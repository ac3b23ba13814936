import { describe, expect, it } from "vitest";
import {
  CHART_HEIGHT_PX,
  CHART_WIDTH_PX,
  drainChartMigrationsOf,
  renderDrainChart,
  renderMigrationChart,
  stopAndCopyThresholdBytes,
} from "../../src/chart";
import { SERIES_NAMES } from "../../src/chart/migration-chart";
import {
  addChartSample,
  CHART_HISTORY_MAX_POINTS,
  CHART_SYNC_MARKS_MAX,
  type ChartHistory,
  emptyChartHistory,
} from "../../src/migration/chart-history";
import { analyzeConvergence } from "../../src/migration/convergence";
import { detectAndParse, type MigrationSample } from "../../src/migration/samples";
import { readFixture } from "../support/fixtures";
import { HOSTILE_VM } from "../support/hostile";
import { decodePng } from "../support/png";

/** Replays a real capture poll by poll, as the tracker does: each sample judged, then kept for the chart. */
function replay(file: string, autoConverge = false): { history: ChartHistory; samples: MigrationSample[] } {
  const { samples } = detectAndParse(readFixture(file));
  const history = emptyChartHistory();
  const seen: MigrationSample[] = [];
  for (const s of samples) {
    if (s.jobType === "none" || s.jobType === "completed" || s.errorText !== undefined) continue;
    seen.push(s);
    const report = analyzeConvergence(seen, { autoConverge });
    addChartSample(history, s, report.downtimeLimitMs);
  }
  return { history, samples: seen };
}

/** The texts drawn in an SVG (ECharts writes each label as one <text> element). */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);
}

describe("a migration's chart from real libvirt captures", () => {
  it("draws the auto-converge run (lab, libvirt 9): remaining, every dirty sync, the threshold, both rates, the throttle", async () => {
    const { history, samples } = replay("libvirt-lab/domjobinfo-series-autoconverge-50-20.txt", true);
    const iterations = new Set(samples.map((s) => s.iteration).filter((i) => i !== undefined));
    expect(history.syncs.map(([, i]) => i)).toEqual([...iterations]);
    expect(history.throttlePercent.filter((p) => p !== null).length).toBeGreaterThan(0);

    const image = await renderMigrationChart({
      title: "instance-0000002a: completed in 51 s",
      subtitle: "cmp1 → cmp2",
      history,
    });
    const png = decodePng(image.png);
    expect([png.width, png.height]).toEqual([CHART_WIDTH_PX, CHART_HEIGHT_PX]);
    const labels = texts(image.svg);
    expect(labels).toContain("instance-0000002a: completed in 51 s");
    for (const name of [
      SERIES_NAMES.remaining,
      SERIES_NAMES.dirty,
      SERIES_NAMES.transfer,
      SERIES_NAMES.throttle,
    ]) {
      expect(labels).toContain(name);
    }
    // No release given: QEMU's own limit holds.
    expect(labels).toContain(`${SERIES_NAMES.threshold}: 300 ms allowed × transfer rate`);
    for (const i of iterations) expect(labels).toContain(`sync ${i}`);
    expect(labels).toContain("throttle %");
    // A rendering with text in it is far larger than the bare axes would be.
    expect(image.png.length).toBeGreaterThan(20_000);
  });

  it("draws the run that never converged, saying the throttle never engaged", async () => {
    const { history } = replay("libvirt-lab/domjobinfo-series-no-autoconverge.txt");
    const image = await renderMigrationChart({ title: "instance-0000002a: not converging", history });
    decodePng(image.png);
    const labels = texts(image.svg);
    expect(labels).toContain(`${SERIES_NAMES.throttle} (not engaged)`);
    expect(history.syncs.length).toBeGreaterThanOrEqual(7);
  });

  it("converts the allowed downtime to bytes at the transfer rate measured at each poll", () => {
    const { history } = replay("libvirt-lab/domjobinfo-series-no-autoconverge.txt");
    const thresholds = stopAndCopyThresholdBytes(history);
    // No release given: QEMU's own limit (300 ms) holds, against the lab's ~5 MiB/s link.
    const i = history.t.length - 1;
    expect(history.allowedDowntimeMs[i]).toBe(300);
    expect(thresholds[i]).toBe(Math.round(0.3 * history.transferBytesPerS[i]!));
    expect(thresholds[i]!).toBeGreaterThan(1.4 * 1024 ** 2);
    expect(thresholds[i]!).toBeLessThan(1.6 * 1024 ** 2);
  });

  it("draws a hostile VM name as inert text, on one line", async () => {
    const { history } = replay("libvirt-lab/domjobinfo-series-no-autoconverge.txt");
    const image = await renderMigrationChart({ title: `${HOSTILE_VM}\nsecond line\u202e`, history });
    expect(image.svg).not.toContain("<!channel>");
    expect(image.svg).not.toContain("<https://evil.example");
    expect(texts(image.svg)).toContain(
      "&lt;!channel&gt; &lt;https://evil.example|re-approve here&gt; second line ",
    );
    decodePng(image.png);
  });
});

describe("the chart's history stays bounded", () => {
  it("keeps at most a few hundred points over a day-long migration and still spans all of it", () => {
    const history = emptyChartHistory();
    const polls = 30_000;
    for (let n = 0; n < polls; n++) {
      addChartSample(
        history,
        {
          t: n * 3,
          source: "domjobinfo",
          iteration: 1 + Math.floor(n / 20),
          memoryRemainingBytes: (1 + (n % 20)) * 1024 ** 2,
          bandwidthBytesPerS: 100 * 1024 ** 2,
          dirtyRatePagesPerS: 1000,
        },
        500,
      );
    }
    expect(history.t.length).toBeLessThanOrEqual(CHART_HISTORY_MAX_POINTS);
    expect(history.t.length).toBeGreaterThan(CHART_HISTORY_MAX_POINTS / 4);
    expect(history.syncs.length).toBeLessThanOrEqual(CHART_SYNC_MARKS_MAX);
    expect(history.t[0]).toBe(0);
    expect(history.t.at(-1)).toBe((polls - 1) * 3);
    expect(history.syncs.at(-1)?.[1]).toBe(1 + Math.floor((polls - 1) / 20));
    // The columns stay aligned.
    for (const column of [history.remainingBytes, history.transferBytesPerS, history.allowedDowntimeMs]) {
      expect(column.length).toBe(history.t.length);
    }
    expect(JSON.stringify(history).length).toBeLessThan(16_000);
  });
});

describe("a short migration's chart", () => {
  it("starts from the whole memory at 0 s when only the finished job's record was read", async () => {
    const { samples } = detectAndParse(
      readFixture("libvirt/virsh-outputs/virsh-domjobinfo-live-migration-run3-completed.txt"),
    );
    const done = samples.find((s) => s.jobType === "completed" && s.memoryTotalBytes !== undefined)!;
    const history = emptyChartHistory();
    addChartSample(history, done, null);
    expect(history.t).toEqual([0, Math.round(done.t * 10) / 10]);
    expect(history.remainingBytes[0]).toBe(done.memoryTotalBytes);
    expect(history.remainingBytes[1]).toBe(done.memoryRemainingBytes ?? done.dataRemainingBytes);
    decodePng((await renderMigrationChart({ title: "instance-0000002a: completed", history })).png);
  });
});

describe("a drain's chart", () => {
  it("draws several migrations on one time axis, each VM in the legend", async () => {
    const a = replay("libvirt-lab/domjobinfo-series-autoconverge-50-20.txt", true).history;
    const b = replay("libvirt-lab/domjobinfo-series-no-autoconverge.txt").history;
    const image = await renderDrainChart("drain of cmp1", [
      { name: "db-1", startedAtMs: 1_000_000, history: a },
      { name: "web-1", startedAtMs: 1_030_000, history: b },
      { name: "web-1", startedAtMs: 1_040_000, history: b },
    ]);
    decodePng(image.png);
    const labels = texts(image.svg);
    expect(labels).toEqual(expect.arrayContaining(["drain of cmp1", "db-1", "web-1", "web-1 (2)"]));
  });

  it("takes the migrations from their records, leaving out those without figures", () => {
    const history = replay("libvirt-lab/domjobinfo-series-no-autoconverge.txt").history;
    const view = (name: string, startedAt: number) => ({ serverName: name, vm: name, startedAt }) as never;
    const picked = drainChartMigrationsOf([
      { view: view("db-1", 5), chart: history },
      { view: view("refused-1", 6) },
      { view: view("web-1", 7), chart: emptyChartHistory() },
    ]);
    expect(picked.map((m) => [m.name, m.startedAtMs])).toEqual([["db-1", 5]]);
  });
});
