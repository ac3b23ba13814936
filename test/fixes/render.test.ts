/** The proposal message as a person reads it, checked against Slack's Block Kit limits. */
import { describe, expect, test } from "vitest";
import { ACTION_APPROVE, ACTION_RETRY, MAX_DIFFS_SHOWN, renderProposal } from "../../bot/render/proposal";
import type { Proposal } from "../../src/fixes/proposal";
import { unifiedDiff } from "../../src/nova-conf/edit";
import { validateBlocks } from "../../src/sandbox/slack/block-kit";
import { DEFAULT_SLACK_LIMITS } from "../../src/sandbox/slack/limits";
import { sha256Hex } from "../../src/signing/signatures";
import { readFixture } from "../support/fixtures";

const NOW = 1_700_000_000_000;

function proposal(extra: Partial<Proposal> = {}): Proposal {
  return {
    kind: "cpu-model",
    title: "Use CPU model kvm64 on compute-3 and compute-5",
    reasoning: "web-7 started on a Skylake host cannot run on Haswell.",
    warnings: [],
    changes: [],
    recipes: [],
    serviceRestarts: ["compute-3", "compute-5"],
    vmRestarts: [],
    blockers: [],
    id: "AAAAAAAAAAAAAAAAAAAAAA",
    planDigest: "0".repeat(64),
    status: "pending",
    requestedBy: "U0ALICE01",
    channel: "C0OPS0001",
    threadTs: null,
    messageTs: null,
    createdAt: NOW,
    expiresAt: NOW + 3_600_000,
    decidedBy: null,
    decidedAt: null,
    results: [],
    ...extra,
  };
}

function buttons(blocks: unknown[]): { action_id: string; value: string }[] {
  return (blocks as { type: string; elements?: { action_id: string; value: string }[] }[])
    .filter((b) => b.type === "actions")
    .flatMap((b) => b.elements!);
}

function text(blocks: unknown[]): string {
  return JSON.stringify(blocks);
}

describe("renderProposal", () => {
  test("a huge diff of the real Zed nova.conf is clipped to Slack's limit, and says so", () => {
    const before = readFixture("nova-conf/nova.conf.sample-zed-26.2.2-debian-bookworm.conf");
    const after = before.replace(/^#/gm, "");
    const diff = unifiedDiff("/etc/nova/nova.conf", before, after);
    const p = proposal({
      changes: [
        {
          host: "compute-3",
          path: "/etc/nova/nova.conf",
          beforeSha256: sha256Hex(before),
          afterSha256: sha256Hex(after),
          diff,
          changedKeys: [],
        },
      ],
    });
    const msg = renderProposal(p, NOW);
    expect(validateBlocks(msg.blocks, DEFAULT_SLACK_LIMITS)).toEqual([]);
    expect(text(msg.blocks)).toMatch(/Diff clipped to fit Slack: \d+ of \d+ lines shown/);
  });

  test("more files than fit are counted, not silently dropped", () => {
    const change = {
      host: "h",
      path: "/etc/nova/nova.conf",
      beforeSha256: sha256Hex(""),
      afterSha256: sha256Hex("x\n"),
      diff: "+x\n",
      changedKeys: [],
    };
    const changes = Array.from({ length: MAX_DIFFS_SHOWN + 4 }, (_, i) => ({
      ...change,
      host: `compute-${i}`,
    }));
    const msg = renderProposal(proposal({ changes }), NOW);
    expect(validateBlocks(msg.blocks, DEFAULT_SLACK_LIMITS)).toEqual([]);
    expect(text(msg.blocks)).toContain("4 more file change(s) not shown here");
  });

  test("pending: Approve and Reject carry the id only; once decided the buttons are gone and it says who", () => {
    expect(buttons(renderProposal(proposal(), NOW).blocks).map((b) => [b.action_id, b.value])[0]).toEqual([
      ACTION_APPROVE,
      "AAAAAAAAAAAAAAAAAAAAAA",
    ]);
    const approved = renderProposal(
      proposal({ status: "approved", decidedBy: "U0BOB0001", decidedAt: NOW }),
      NOW,
    );
    expect(buttons(approved.blocks)).toEqual([]);
    expect(approved.text).toMatch(/Approved by <@U0BOB0001> at <!date\^1700000000/);
    const rejected = renderProposal(
      proposal({ status: "rejected", decidedBy: "U0BOB0001", decidedAt: NOW }),
      NOW,
    );
    expect(rejected.text).toMatch(/Rejected by <@U0BOB0001>.*Nothing was changed/);
  });

  test("a pending proposal past its expiry shows no buttons", () => {
    const msg = renderProposal(proposal(), NOW + 3_600_000);
    expect(buttons(msg.blocks)).toEqual([]);
    expect(msg.text).toMatch(/Expired/);
  });

  test("applied with a retry: one Retry migration button; after the VM-restart step only", () => {
    const applied = { status: "applied" as const, decidedBy: "U0BOB0001", decidedAt: NOW };
    const retry = { vm: "web-7", destination: "compute-5" };
    expect(
      buttons(renderProposal(proposal({ ...applied, retry }), NOW).blocks).map((b) => b.action_id),
    ).toEqual([ACTION_RETRY]);
    expect(buttons(renderProposal(proposal({ ...applied, retry, next: "vm-restart" }), NOW).blocks)).toEqual(
      [],
    );
    const done = renderProposal(proposal({ ...applied, retry, retriedBy: "U0ALICE01" }), NOW);
    expect(buttons(done.blocks)).toEqual([]);
    expect(text(done.blocks)).toContain("Retry requested by <@U0ALICE01>");
  });

  test("names, diffs and reasons are escaped so they cannot form mentions or links", () => {
    const msg = renderProposal(proposal({ reasoning: "<!channel> look", warnings: ["<@U123> & co"] }), NOW);
    expect(text(msg.blocks)).not.toContain("<!channel>");
    expect(text(msg.blocks)).toContain("&lt;!channel&gt;");
  });
});
