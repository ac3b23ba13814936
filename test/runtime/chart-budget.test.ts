/** A worker's chart budget: within it every chart is drawn; beyond it charts are shed and counted. */
import { describe, expect, test } from "vitest";
import { silentLogger } from "../../src/log";
import type { ChartMessage, MigrationPresenter } from "../../src/migration/presenter";
import { CHART_NOT_SHARED } from "../../src/migration/thread";
import { withChartBudget } from "../../src/runtime/chart-budget";

function presenter(drawn: string[]): MigrationPresenter {
  return {
    postRoot: async () => "root",
    postReply: async () => "reply",
    update: async () => {},
    postRetryNotice: async () => {},
    postChart: async (_root, m) => {
      drawn.push(m.view.jobId);
      return `file-${m.view.jobId}`;
    },
  };
}

const chart = (jobId: string) =>
  ({ kind: "chart", moment: "ended", view: { jobId } }) as unknown as ChartMessage;

describe("withChartBudget", () => {
  test("draws up to the budget in a minute, sheds the rest, and draws again once the minute has passed", async () => {
    const drawn: string[] = [];
    let t = 1_000_000;
    let shed = 0;
    const p = withChartBudget(
      presenter(drawn),
      3,
      silentLogger,
      () => shed++,
      () => t,
    );
    const refs = [];
    for (const id of ["a", "b", "c", "d", "e"]) {
      refs.push(await p.postChart("root", chart(id)));
      t += 1_000;
    }
    expect(drawn).toEqual(["a", "b", "c"]);
    expect(refs.slice(3)).toEqual([CHART_NOT_SHARED, CHART_NOT_SHARED]);
    expect(shed).toBe(2);
    // 60 s after the first chart, one slot frees (a sliding minute, not a fixed one).
    t = 1_000_000 + 60_000;
    expect(await p.postChart("root", chart("f"))).toBe("file-f");
    expect(await p.postChart("root", chart("g"))).toBe(CHART_NOT_SHARED);
    expect(drawn).toEqual(["a", "b", "c", "f"]);
  });

  test("0 turns charts off; everything else passes through", async () => {
    const drawn: string[] = [];
    const p = withChartBudget(presenter(drawn), 0, silentLogger);
    expect(await p.postChart("root", chart("a"))).toBe(CHART_NOT_SHARED);
    expect(drawn).toEqual([]);
    expect(await p.postReply("root", {} as never)).toBe("reply");
  });
});
