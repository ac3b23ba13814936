/**
 * The chart libraries (ECharts and resvg, ~35 MB of RSS) load when a worker draws its first chart,
 * never at start: the composition root, with every role's modules (drains included), loads neither.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { expect, test } from "vitest";
import { PROJECT_ROOT } from "../support/fixtures";

function loadedBy(entry: string): string[] {
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--import",
      resolve(PROJECT_ROOT, "test/support/record-imports.mjs"),
      "--input-type=module",
      "-e",
      `await import(${JSON.stringify(pathToFileURL(resolve(PROJECT_ROOT, entry)).href)});`,
    ],
    { cwd: PROJECT_ROOT, encoding: "utf8", timeout: 60_000 },
  );
  expect(r.status, r.stderr.slice(-2000)).toBe(0);
  return r.stderr
    .split("\n")
    .filter((l) => l.startsWith("IMPORT "))
    .map((l) => l.slice("IMPORT ".length));
}

const CHART_LIBRARIES = /\/node_modules\/(echarts|@resvg)\//;

test("starting a worker or a bot loads no chart library; drawing a chart does", () => {
  const atStart = loadedBy("src/runtime/roles.ts");
  expect(
    atStart.some((u) => u.includes("/src/drain/run.ts")),
    "the drain's run is part of a worker",
  ).toBe(true);
  expect(atStart.filter((u) => CHART_LIBRARIES.test(u))).toEqual([]);
  // The check can tell: the drawing module itself pulls them in.
  expect(loadedBy("src/chart/index.ts").some((u) => CHART_LIBRARIES.test(u))).toBe(true);
});
