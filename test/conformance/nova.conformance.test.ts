/**
 * Conformance of the sandbox's Keystone, Nova and Glance with real OpenStack Zed: the scenario of
 * nova-calls.ts (every call migbot makes at each microversion it uses, the stock client's calls
 * around a live migration, their errors) runs against the sandbox here, always, and is compared —
 * status codes, meaningful headers, body shapes, error wording — with what real Nova answered to
 * the same scenario in the lab (real-nova-zed.json). Differences kept on purpose are listed with
 * their reasons in differences.ts; any other fails.
 *
 * Against real Nova the scenario runs in test/lab/openstack-story.test.ts, which brings the real
 * OpenStack lab up once for the scenario and the bot's story (root with namespaces and the Zed
 * packages only; elsewhere it skips and says why), and fails when real Nova no longer answers as
 * recorded.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../../src/sandbox";
import { errorMessages, judge, KNOWN_DIFFERENCES } from "./differences";
import { type ConformanceRun, runConformance } from "./nova-calls";
import { readRealNovaRecord } from "./record";
import { startConformanceSandbox } from "./sandbox-target";

/** The whole scenario on the sandbox at 5× model speed: ~10 s idle, more on busy cores. */
const SCENARIO_TIMEOUT_MS = 120_000;

describe("the sandbox answers migbot's and the openstack client's calls as real Nova Zed does", () => {
  let sandbox: Sandbox;
  let run: ConformanceRun;
  const record = readRealNovaRecord();

  beforeAll(async () => {
    const started = await startConformanceSandbox();
    sandbox = started.sandbox;
    run = await runConformance(started.target);
  }, SCENARIO_TIMEOUT_MS);

  afterAll(async () => {
    await sandbox?.stop();
  });

  it("makes every call real Nova was asked, and no other", () => {
    expect(Object.keys(run.observed)).toEqual(Object.keys(record.observed));
  });

  it("answers with real Nova's status codes, headers and body shapes, but for the differences documented with a reason", () => {
    const { undocumented, unseen } = judge(record.observed, run.observed);
    expect(undocumented.map((d) => `${d.call}: ${d.difference}`)).toEqual([]);
    expect(unseen.map((k) => `${k.calls}: ${k.difference}`)).toEqual([]);
    for (const k of KNOWN_DIFFERENCES) expect(k.reason.length).toBeGreaterThan(20);
  });

  it("refuses in real Nova's words (ids and numbers aside)", () => {
    const sandboxMessages = errorMessages(run);
    expect(Object.keys(record.messages).length).toBeGreaterThan(20);
    for (const [call, message] of Object.entries(record.messages)) {
      expect({ call, message: sandboxMessages[call] }).toEqual({ call, message });
    }
  });

  it("answers the microversions migbot relies on as Nova does", () => {
    // Mitaka's maximum sent the Mitaka way (legacy header only) is served, and echoed in both headers.
    expect(run.observed["servers.show@2.25-legacy"]).toMatchObject({
      status: 200,
      headers: { "x-openstack-nova-api-version": "2.25", "openstack-api-version": "compute 2.25" },
    });
    expect(run.observed["nova.mv.too-high"]?.status).toBe(406);
    expect(run.observed["nova.mv.latest"]?.headers["openstack-api-version"]).toBe("compute 2.93");
    // 2.88 drops the statistics migbot's reservation phase reads, so migbot asks at 2.87.
    const at = (mv: string) => run.observed[`hypervisors.detail@${mv}`]?.body;
    expect(JSON.stringify(at("2.87"))).toContain('"free_ram_mb"');
    expect(JSON.stringify(at("2.88"))).not.toContain('"free_ram_mb"');
    expect(JSON.stringify(at("2.88"))).toContain('"uptime"');
  });
});
