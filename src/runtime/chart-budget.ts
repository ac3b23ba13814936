/**
 * A worker draws at most so many charts a minute. Drawing one costs ~65 ms of CPU (ECharts SSR and
 * resvg, src/chart; measured in the track benchmark), so a worker that ends a thousand migrations in
 * a few minutes would spend most of a core on pictures (74 % in src/bench/track.ts without a budget)
 * and starve the polls that keep threads current. Within the budget (the default covers a busy
 * worker's ordinary day) every thread gets its chart; beyond it the chart is shed: the thread's
 * words already say everything, the log says the chart was skipped and why, and a metric counts it.
 */
import type { Logger } from "../log";
import type { MigrationPresenter } from "../migration/presenter";
import { CHART_NOT_SHARED } from "../migration/thread";

const MINUTE_MS = 60_000;

/** The migration presenter, its charts within `perMinute` (a sliding minute); 0 turns charts off. */
export function withChartBudget(
  inner: MigrationPresenter,
  perMinute: number,
  log: Logger,
  onShed: () => void = () => {},
  now: () => number = Date.now,
): MigrationPresenter {
  const drawn: number[] = [];
  return {
    postRoot: (m) => inner.postRoot(m),
    postReply: (root, m) => inner.postReply(root, m),
    update: (ref, m, pace) => inner.update(ref, m, pace),
    postRetryNotice: (n) => inner.postRetryNotice(n),
    async postChart(root, message) {
      const t = now();
      while (drawn.length > 0 && t - drawn[0]! >= MINUTE_MS) drawn.shift();
      if (drawn.length >= perMinute) {
        onShed();
        log.info("chart skipped: this worker's chart budget is spent", {
          jobId: message.view.jobId,
          moment: message.moment,
          perMinute,
        });
        return CHART_NOT_SHARED;
      }
      drawn.push(t);
      return inner.postChart(root, message);
    },
  };
}
