/** The prediction as people read it: the sentence, the figures, the buttons, and hostile names kept inert. */
import { describe, expect, test } from "vitest";
import { predictionSentence, renderPrediction } from "../../bot/render/prediction";
import type { Prediction } from "../../src/predict/rule";
import { expectInert, HOSTILE_TEXTS } from "../support/hostile";

function prediction(over: Partial<Prediction> = {}): Prediction {
  return {
    vm: "db-1",
    source: "compute-1",
    destination: "compute-2",
    outcome: "will-not-converge",
    writes: { shownMiBps: 180, periodS: 1, rateMiBps: 180, hotSetMiB: null, writtenMiB: 360 },
    link: { mibPerS: 112, from: "live_migration_bandwidth" },
    allowedDowntimeMs: 500,
    downtimeBytes: 56 * 1024 ** 2,
    autoConverge: { source: false, destination: false },
    throttleNeededPercent: 69,
    beyondAutoConverge: false,
    fix: "auto-converge",
    ...over,
  };
}

describe("renderPrediction", () => {
  test("the issue's sentence, and the choice offered only with a fix and a waiting job", () => {
    const m = renderPrediction(prediction(), { decision: { jobId: "job-1" } });
    expect(m.text).toMatch(
      /db-1 dirties ~?180 MiB\/s against a 112 MiB\/s link: will not converge without auto-converge \(enabled on neither host\)/,
    );
    expect(JSON.stringify(m.blocks)).toMatch(/Nova allows 500 ms of downtime before it gives up = 56\.0 MiB/);
    const ids = m.blocks
      .filter((b) => b.type === "actions")
      .flatMap((b) => (b.elements as { action_id: string }[]).map((e) => e.action_id));
    expect(ids).toEqual(["predict_fix_first", "predict_go_anyway"]);
    // No fix to offer: no buttons.
    const none = renderPrediction(prediction({ fix: null, beyondAutoConverge: true }), {
      decision: { jobId: "job-1" },
    });
    expect(none.blocks.some((b) => b.type === "actions")).toBe(false);
    expect(none.text).toMatch(/will not converge, even with auto-converge/);
  });

  test("auto-converge on one host only, and cannot-measure with the host's libvirt", () => {
    expect(predictionSentence(prediction({ autoConverge: { source: false, destination: true } }))).toMatch(
      /enabled on `compute-2` only/,
    );
    const old = renderPrediction(
      prediction({
        outcome: "cannot-measure",
        cannot: { reason: "libvirt-too-old", host: "compute-9", version: "6.0.0" },
      }),
    );
    expect(old.text).toMatch(/libvirt 6\.0\.0 on compute-9 cannot measure a dirty rate/);
  });

  test.each(HOSTILE_TEXTS)("hostile names stay inert: %s", (hostile) => {
    const m = renderPrediction(
      prediction({
        vm: hostile,
        source: hostile,
        destination: hostile,
        link: { mibPerS: 119.2, from: "nic", nic: { name: hostile, mbps: 1000 } },
        autoConverge: { source: true, destination: false },
      }),
      { decided: { choice: "go-anyway", by: hostile } },
    );
    expectInert(m);
    const failed = renderPrediction(
      prediction({
        outcome: "cannot-measure",
        cannot: { reason: "measurement-failed", host: hostile, detail: hostile },
      }),
    );
    expectInert(failed);
  });
});
