/**
 * `/drain` parsing (every form, and what a wrong one is told) and the drain's renderers with
 * tenant-chosen VM names: shown escaped, never a mention or a link.
 */
import { describe, expect, test } from "vitest";
import { parseDrain } from "../../bot/commands/drain";
import {
  renderDrainAnswer,
  renderDrainReport,
  renderDrainRoot,
  renderPlanDetails,
} from "../../bot/render/drain";
import { drainView, initialRun, planView } from "../../src/drain/run";
import type { DrainPlan } from "../../src/drain/types";
import { expectInert, HOSTILE_TEXTS } from "../support/hostile";

describe("parseDrain", () => {
  test.each([
    ["compute-1", { host: "compute-1", destinations: null, concurrency: null }],
    ["compute-1 to compute-2", { host: "compute-1", destinations: ["compute-2"], concurrency: null }],
    [
      "compute-1 to compute-2,compute-3",
      { host: "compute-1", destinations: ["compute-2", "compute-3"], concurrency: null },
    ],
    [
      "compute-1 to compute-2, compute-3 concurrency 3",
      { host: "compute-1", destinations: ["compute-2", "compute-3"], concurrency: 3 },
    ],
    [
      "compute-1 concurrency 1 to compute-2",
      { host: "compute-1", destinations: ["compute-2"], concurrency: 1 },
    ],
    ["  compute-1   CONCURRENCY 2 ", { host: "compute-1", destinations: null, concurrency: 2 }],
  ])("%s", (text, expected) => {
    expect(parseDrain(text)).toEqual({ ok: true, request: { kind: "drain", ...expected } });
  });

  test.each([
    ["compute-1;reboot", /not a valid host name/],
    ["compute-1 to", /Say which hosts to drain to after `to`/],
    ["compute-1 to compute-1", /is the host being drained/],
    ["compute-1 concurrency", /takes a whole number from 1 to 10/],
    ["compute-1 concurrency 11", /takes a whole number from 1 to 10/],
    ["compute-1 concurrency two", /takes a whole number from 1 to 10/],
    ["compute-1 now", /I could not read `now`/],
    ["compute-1 to a to b", /Give the destinations once/],
  ])("%s is refused with the right form", (text, expected) => {
    const r = parseDrain(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toMatch(expected);
      expect(r.error).toMatch(/Usage:\n`\/drain &lt;host&gt;`/);
    }
  });

  test("help", () => {
    expect(parseDrain("")).toEqual({ ok: true, request: { kind: "help" } });
    expect(parseDrain("help")).toEqual({ ok: true, request: { kind: "help" } });
  });
});

function hostilePlan(): DrainPlan {
  return {
    id: "AAAAAAAAAAAAAAAA",
    host: "compute-1",
    requestedBy: "U0ALICE01",
    channel: "C0OPS0001",
    destinations: null,
    concurrency: 2,
    requestedConcurrency: null,
    concurrencyNote: null,
    maxConcurrentLiveMigrations: 2,
    disableReason: "migbot drain AAAAAAAAAAAAAAAA requested by U0ALICE01",
    vms: HOSTILE_TEXTS.map((name, i) => ({
      serverId: `id-${i}`,
      name,
      ramMb: 2048,
      destination: i === 0 ? "compute-2" : null,
      action: i === 1 ? "skip" : "migrate",
      reason: i === 1 ? `CPU: ${HOSTILE_TEXTS[2]}` : null,
      advice: i === 1 ? "cold-migrate instead" : null,
      fixes: [],
      checks: [{ id: "vm", title: `VM ${name}`, status: "pass", detail: name }],
      prediction: { verdict: "unknown", reason: HOSTILE_TEXTS[3], source: "diagnosis" },
    })),
    problems: [HOSTILE_TEXTS[1]],
    createdAt: 0,
    expiresAt: 3_600_000,
  };
}

describe("drain renderers with hostile VM names", () => {
  const people = ["U0ALICE01", "U0BOB0001"];

  test("the plan, its details, the running table, the report and the answers are inert", () => {
    const plan = hostilePlan();
    const pending = planView(plan, "pending", null, 1000);
    const root = renderDrainRoot(pending);
    expect(JSON.stringify(root)).toContain("&lt;!channel&gt;");
    expect(JSON.stringify(root)).toContain("drain_approve");
    expectInert(root, people);
    expectInert(renderPlanDetails(pending), people);
    // The predicted outcome and what to do about it are in the plan's checks.
    plan.vms[2]!.prediction = {
      verdict: "will-not-converge",
      reason: "dirties ~180 MiB/s against a 112 MiB/s link",
      source: "dirty-rate",
    };
    plan.vms[2]!.advice = "may not converge: cold-migrate instead if it stalls";
    const details = JSON.stringify(renderPlanDetails(planView(plan, "pending", null, 1000)));
    expect(details).toContain("expected: will not converge (dirties ~180 MiB/s against a 112 MiB/s link)");
    expect(details).toContain("what to do: may not converge: cold-migrate instead if it stalls");

    const run = initialRun(plan);
    run.status = "running";
    run.hostDisabled = true;
    run.vms[0]!.state = "running";
    run.vms[2]!.state = "completed";
    run.vms[3]!.state = "failed";
    run.vms[3]!.reason = HOSTILE_TEXTS[0];
    run.pausedBy = "U0BOB0001";
    const running = drainView(plan, run, new Map(), "U0BOB0001", 2000);
    const table = renderDrainRoot(running);
    expect(JSON.stringify(table)).toContain("drain_resume");
    expect(JSON.stringify(table)).toContain("drain_cancel_abort");
    expectInert(table, people);

    run.status = "finished";
    run.startedAt = 0;
    run.endedAt = 60_000;
    const finished = drainView(plan, run, new Map(), "U0BOB0001", 3000);
    const report = renderDrainReport(finished);
    expect(report.text).toMatch(/1 of 4 VMs moved/);
    expect(JSON.stringify(report)).toMatch(/Not moved/);
    expectInert(report, people);
    expect(JSON.stringify(renderDrainRoot(finished))).toContain("drain_reenable");
    expectInert(renderDrainRoot(finished), people);

    for (const host of HOSTILE_TEXTS) {
      expectInert(renderDrainAnswer({ kind: "drain-busy", host, holder: host }), people);
      expectInert(renderDrainAnswer({ kind: "drain-disable-failed", host, error: host }), people);
    }
  });
});
