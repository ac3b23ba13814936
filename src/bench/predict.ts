/**
 * predict: how often the convergence prediction made before a migration starts matches how it
 * ended. On the verdicts bench's grid (src/bench/verdicts.ts: same guests, same seed, same Nova
 * defaults per release, same pre-copy model), each case is first measured as `virsh
 * domdirtyrate-calc --seconds PREDICT_MEASURE_PERIOD_S` would measure the model's guest
 * (`measuredDirtyRateMiBps`), predicted with the one rule (`predictConvergence`), then migrated on
 * the model to its end (completed, or ended by Nova's progress or completion timeout).
 *
 * A prediction is right when it said the migration converges (will-converge, or
 * converges-only-with-auto-converge with auto-converge on) and it completed, or said it will not
 * converge and Nova ended it.
 */
import { pathToFileURL } from "node:url";
import type { BenchResult } from "../cli/bench";
import { MEASURE_PERIODS_S } from "../predict/measure-period";
import { type Prediction, predictConvergence } from "../predict/rule";
import { initialState, isFinished, measuredDirtyRateMiBps, step } from "../sandbox/precopy-model";
import { MAX_EXTRA_MODEL_S, novaInputs, type VerdictCase, verdictGrid, verdictModelParams } from "./verdicts";

/** Model seconds per step while running a case to its end (the outcome does not depend on it). */
const MODEL_STEP_S = 2;

export interface PredictRun {
  name: string;
  group: string;
  prediction: Prediction;
  ended: "completed" | "aborted";
  endS: number;
  right: boolean;
}

/** Predicts one grid case before it starts, then runs it on the model to its end. */
export function runPredictCase(c: VerdictCase): PredictRun {
  const nova = novaInputs(c);
  const params = verdictModelParams(c);
  const prediction = predictConvergence({
    vm: c.name,
    source: "source",
    destination: "destination",
    memoryMb: c.memoryGiB * 1024,
    measurement: {
      readings: MEASURE_PERIODS_S.map((periodS) => ({
        periodS,
        mibPerS: measuredDirtyRateMiBps(params, periodS),
      })),
      libvirt: "9.0.0",
    },
    // The grid's bandwidth is the migration's rate limit (live_migration_bandwidth).
    link: { mibPerS: c.bandwidthMiBps, from: "live_migration_bandwidth" },
    nova: {
      release: c.release,
      downtimeSchedule: nova.schedule,
      progressTimeoutS: nova.progressTimeoutS,
      completionTimeoutS: nova.completionTimeoutS,
      autoConvergeSource: c.autoConverge,
      autoConvergeDestination: c.autoConverge,
    },
  });
  let job = initialState(params);
  const maxS = (nova.completionTimeoutS || 4 * 3600) + MAX_EXTRA_MODEL_S;
  while (!isFinished(job) && job.elapsedS < maxS) job = step(job, MODEL_STEP_S).state;
  const ended = job.outcome === "completed" ? "completed" : "aborted";
  const saidConverges =
    prediction.outcome === "will-converge" || prediction.outcome === "converges-only-with-auto-converge";
  return {
    name: c.name,
    group: `${c.release}${c.autoConverge ? "+ac" : ""}`,
    prediction,
    ended,
    endS: job.elapsedS,
    right: saidConverges === (ended === "completed"),
  };
}

/** The fixed last line. */
export function predictLine(percentRight: number): string {
  return `predict: ${percentRight.toFixed(1)}% right`;
}

/** `npm run bench -- predict`: the grid predicted then migrated, a table, the wrong cases, the last line. */
export async function runPredictBench(): Promise<BenchResult> {
  const started = performance.now();
  const runs = verdictGrid().map(runPredictCase);
  console.log("| group | cases | completed | ended by Nova | right |");
  console.log("|---|---|---|---|---|");
  for (const g of [...new Set(runs.map((r) => r.group))]) {
    const rs = runs.filter((r) => r.group === g);
    console.log(
      `| ${g} | ${rs.length} | ${rs.filter((r) => r.ended === "completed").length} | ${rs.filter((r) => r.ended === "aborted").length} | ${rs.filter((r) => r.right).length} |`,
    );
  }
  for (const r of runs.filter((x) => !x.right)) {
    const p = r.prediction;
    console.log(
      `wrong: ${r.name}: predicted ${p.outcome} (measured ${p.writes?.shownMiBps} MiB/s over ${p.writes?.periodS} s, rate ${p.writes?.rateMiBps}, hot set ${p.writes?.hotSetMiB}, throttle ${p.throttleNeededPercent}, link ${p.link?.mibPerS} MiB/s, downtime ${p.allowedDowntimeMs} ms), ${r.ended} at ${Math.round(r.endS)} s`,
    );
  }
  const right = runs.filter((r) => r.right).length;
  const percent = (100 * right) / runs.length;
  return {
    lastLine: predictLine(percent),
    rows: {
      cases: runs.length,
      completed: runs.filter((r) => r.ended === "completed").length,
      "ended by Nova": runs.filter((r) => r.ended === "aborted").length,
      right,
      "predicted will-converge": runs.filter((r) => r.prediction.outcome === "will-converge").length,
      "predicted will-not-converge": runs.filter((r) => r.prediction.outcome === "will-not-converge").length,
      "predicted converges-only-with-auto-converge": runs.filter(
        (r) => r.prediction.outcome === "converges-only-with-auto-converge",
      ).length,
      "wall s": Number(((performance.now() - started) / 1000).toFixed(1)),
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  void runPredictBench().then((result) => {
    for (const [k, v] of Object.entries(result.rows)) console.log(`${k}: ${v}`);
    console.log(result.lastLine);
  });
}
