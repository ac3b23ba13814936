import { describe, expect, test } from "vitest";
import {
  findingSection,
  MAX_BLOCKS,
  renderChecklist,
  renderDiagnosisRoot,
  renderUnknownTarget,
  SECTION_TEXT_MAX,
} from "../../bot/render/diagnose";
import type { Finding } from "../../src/diagnose/rules";
import { expectInert, HOSTILE_TEXTS, HOSTILE_VM } from "../support/hostile";

type Section = { type: string; text?: { text: string }; elements?: { text: string }[] };

function texts(blocks: unknown[]): string[] {
  return (blocks as Section[]).map((b) => b.text?.text ?? b.elements?.map((e) => e.text).join(" ") ?? "");
}

const findings: Finding[] = [
  { id: "vm", title: "VM found and running", status: "pass", evidence: ["web-7 is ACTIVE on compute-3."] },
  {
    id: "cpu",
    title: "CPU of compute-3 runnable on compute-5",
    status: "fail",
    evidence: [
      'libvirt says "the CPU is incompatible with host CPU: Host CPU does not provide required features: mpx"',
    ],
  },
  {
    id: "settings",
    title: "Live-migration settings",
    status: "warn",
    evidence: ["compute-3: auto-converge OFF <default>"],
  },
];

describe("diagnosis rendering", () => {
  test("the checklist shows each check with its mark and evidence, escaped for mrkdwn", () => {
    const msg = renderChecklist({
      header: { target: "web-7", destination: "compute-5" },
      findings,
      fixes: [],
    });
    const t = texts(msg.blocks);
    expect(t[0]).toBe("*Checklist for web-7 → compute-5*: ❌ 1 failing, ⚠️ 1 warning, ✅ 1 passed");
    expect(t[1]).toBe("✅ *VM found and running*\n• web-7 is ACTIVE on compute-3.");
    expect(t[2]).toMatch(/^❌ \*CPU of compute-3 runnable on compute-5\*\n• libvirt says/);
    expect(t[3]).toContain("auto-converge OFF &lt;default&gt;");
    expect(msg.text).toMatch(/❌ CPU of compute-3 runnable on compute-5 — libvirt says/);
  });

  test("the root message says what is being diagnosed, then the verdict", () => {
    expect(renderDiagnosisRoot({ target: "db-1", destination: null }).text).toBe(
      "Diagnosis of db-1: checking…",
    );
    expect(renderDiagnosisRoot({ target: "db-1", destination: null }, findings).text).toBe(
      "Diagnosis of db-1: ❌ 1 failing, ⚠️ 1 warning, ✅ 1 passed. The checklist is in the thread.",
    );
  });

  test("long evidence is clipped to Slack's section limit, and the section says so", () => {
    const long: Finding = {
      id: "log-failures",
      title: "Recent failures",
      status: "warn",
      evidence: Array.from({ length: 40 }, (_, i) => `line ${i} ${"x".repeat(200)}`),
    };
    const text = texts([findingSection(long)])[0]!;
    expect(text.length).toBeLessThanOrEqual(SECTION_TEXT_MAX);
    expect(text).toMatch(/more evidence lines clipped to fit Slack/);
    const one: Finding = { ...long, evidence: ["y".repeat(10_000)] };
    const cut = texts([findingSection(one)])[0]!;
    expect(cut.length).toBeLessThanOrEqual(SECTION_TEXT_MAX);
    expect(cut).toMatch(/… \(clipped\)$/);
  });

  test("never more than 50 blocks, saying how many checks were left out", () => {
    const many = Array.from(
      { length: 70 },
      (_, i): Finding => ({ id: `f${i}`, title: `check ${i}`, status: "pass", evidence: [] }),
    );
    const msg = renderChecklist({
      header: { target: "compute-1", destination: null },
      findings: many,
      fixes: [],
    });
    expect(msg.blocks.length).toBeLessThanOrEqual(MAX_BLOCKS);
    expect(texts(msg.blocks).at(-1)).toMatch(/22 more checks not shown/);
  });

  test("a hostile VM name in the header, the titles, the evidence and the fixes pings and links nobody", () => {
    for (const name of HOSTILE_TEXTS) {
      const hostile: Finding[] = [
        { id: "vm", title: "VM found and running", status: "pass", evidence: [`${name} (id) is ACTIVE.`] },
        {
          id: "cpu",
          title: `CPU of ${name} runnable on compute-5`,
          status: "fail",
          evidence: [`libvirt says "${name}"`, `2025-04-30 13:11:48 compute-4 ERROR ${name}`],
        },
      ];
      const header = { target: name, destination: name, trouble: "failed" as const };
      expectInert(renderChecklist({ header, findings: hostile, fixes: [`Hard-reboot ${name}`] }));
      expectInert(renderDiagnosisRoot(header));
      expectInert(renderDiagnosisRoot(header, hostile));
    }
    const msg = renderChecklist({
      header: { target: HOSTILE_VM, destination: null },
      findings: findings,
      fixes: [],
    });
    expect(msg.text).toMatch(
      /^Checklist for &lt;!channel&gt; &lt;https:\/\/evil.example\|re-approve here&gt;:/,
    );
  });

  test("the private answers for an unknown target keep its name inside the code span", () => {
    for (const t of HOSTILE_TEXTS) {
      for (const why of [
        { reason: "no-such-target", target: t },
        { reason: "no-such-destination", destination: t },
        { reason: "host-with-destination", host: t },
        {
          reason: "ambiguous-name",
          target: t,
          detail: `2 servers are named "${t}" (a, b); use the server id instead`,
        },
      ] as const) {
        expectInert(renderUnknownTarget(why));
      }
    }
    // A backtick in the name cannot close the code span and let the rest be read as mrkdwn.
    expect(renderUnknownTarget({ reason: "no-such-target", target: "a`*b*`c" }).text).toMatch(
      /^I can't find a VM or compute host named `aˋ\*b\*ˋc`\./,
    );
  });
});
