/** The links bound a drain's concurrency: migrations at once share the source's NIC. */
import { describe, expect, test } from "vitest";
import { linkConcurrency } from "../../src/drain/plan";
import type { DrainVmPlan, PredictedOutcome } from "../../src/drain/types";
import type { Prediction } from "../../src/predict";

function vm(
  name: string,
  verdict: PredictedOutcome["verdict"],
  measured: { rate: number | null; link: number; from?: "nic" | "live_migration_bandwidth" } | null,
  action: DrainVmPlan["action"] = "migrate",
): DrainVmPlan {
  const prediction: PredictedOutcome = {
    verdict,
    reason: "",
    source: measured ? "dirty-rate" : "diagnosis",
    ...(measured && {
      measured: {
        writes: {
          shownMiBps: measured.rate ?? 0,
          periodS: 1,
          rateMiBps: measured.rate,
          hotSetMiB: null,
          writtenMiB: 0,
        },
        link: { mibPerS: measured.link, from: measured.from ?? "nic" },
      } as unknown as Prediction,
    }),
  };
  return { name, action, prediction } as unknown as DrainVmPlan;
}

describe("linkConcurrency", () => {
  test("the link over the dirtiest VM expected to converge: 119 MiB/s and one at 50 MiB/s allow 2 at once", () => {
    const got = linkConcurrency([
      vm("idle", "will-converge", { rate: 1, link: 119 }),
      vm("busy", "will-converge", { rate: 50, link: 119 }),
      vm("hopeless", "will-not-converge", { rate: 300, link: 119 }),
    ]);
    expect(got).toEqual({ max: 2, linkMiBps: 119, vm: "busy", dirtyMiBps: 50 });
  });

  test("a VM that dirties more than half the link keeps the drain at one at a time", () => {
    expect(linkConcurrency([vm("db", "will-converge", { rate: 70, link: 112 })])?.max).toBe(1);
  });

  test("no bound from calm guests, from Nova's per-migration cap, from skipped or unmeasured VMs", () => {
    expect(linkConcurrency([vm("calm", "will-converge", { rate: 5, link: 119 })])).toBeNull();
    expect(
      linkConcurrency([
        vm("capped", "will-converge", { rate: 50, link: 100, from: "live_migration_bandwidth" }),
      ]),
    ).toBeNull();
    expect(linkConcurrency([vm("stays", "will-converge", { rate: 80, link: 119 }, "skip")])).toBeNull();
    expect(linkConcurrency([vm("unknown", "unknown", null)])).toBeNull();
  });
});
