/** The proposal message as a person reads it, checked against Slack's Block Kit limits. */
import { describe, expect, test } from "vitest";
import {
  ACTION_APPROVE,
  ACTION_RETRY,
  ACTION_RETRY_APPLY,
  MAX_DIFFS_SHOWN,
  progressLine,
  renderApplyAnswer,
  renderProposal,
  renderRefusal,
} from "../../bot/render/proposal";
import { type ProgressEvent, readProgress } from "../../src/fixes/progress";
import type { Proposal } from "../../src/fixes/proposal";
import { unifiedDiff } from "../../src/nova-conf/edit";
import { validateBlocks } from "../../src/sandbox/slack/block-kit";
import { DEFAULT_SLACK_LIMITS } from "../../src/sandbox/slack/limits";
import { sha256Hex } from "../../src/signing/signatures";
import { readFixture } from "../support/fixtures";
import { expectInert, HOSTILE_TEXTS, HOSTILE_VM } from "../support/hostile";

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
  test("a failed apply offers Retry apply until the proposal expires (not for VM restarts), and says who retried", () => {
    const failed = proposal({ status: "failed", decidedBy: "U0BOB0001", decidedAt: NOW });
    expect(buttons(renderProposal(failed, NOW).blocks)).toEqual([
      expect.objectContaining({ action_id: ACTION_RETRY_APPLY, value: failed.id }),
    ]);
    expect(buttons(renderProposal(failed, failed.expiresAt).blocks)).toEqual([]);
    expect(buttons(renderProposal({ ...failed, kind: "vm-restart" }, NOW).blocks)).toEqual([]);
    expect(buttons(renderProposal({ ...failed, status: "applied" }, NOW).blocks)).toEqual([]);
    const retried = renderProposal(
      { ...failed, status: "applying", applyRetries: 1, applyRetriedBy: "U0BOB0001" },
      NOW,
    );
    expect(buttons(retried.blocks)).toEqual([]);
    expect(text(retried.blocks)).toMatch(/Apply retried \(1\) by <@U0BOB0001>/);
    expect(validateBlocks(renderProposal(failed, NOW).blocks, DEFAULT_SLACK_LIMITS)).toEqual([]);
  });

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

  test("the check for inert output is not vacuous: the raw hostile name fails it", () => {
    for (const t of HOSTILE_TEXTS) expect(() => expectInert(t)).toThrow();
    expect(() => expectInert("Approved by <@U0BOB0001>", ["U0BOB0001"])).not.toThrow();
    expect(() => expectInert("Approved by <@U0EVIL001>", ["U0BOB0001"])).toThrow();
  });

  test("a VM-restart proposal for hostile VM names, with its progress and results, pings and links nobody", () => {
    for (const name of HOSTILE_TEXTS) {
      const vms = [{ serverId: "5a1dc0de-0000-0000-0000-000000000001", name, host: "compute-4" }];
      const progress: ProgressEvent[] = [
        { kind: "vm-batch", batch: 1, batches: 1, vms: [name] },
        { kind: "vm-done", vm: name, ok: true, detail: "ACTIVE again after 4.1 s" },
        { kind: "vm-done", vm: name, ok: false, detail: `Nova says ${name}` },
      ];
      const msg = renderProposal(
        proposal({
          kind: "vm-restart",
          title: `Hard-reboot ${name} so it picks up the kvm64 CPU model`,
          reasoning: `${name} is the VM that could not move.`,
          warnings: [`Not included: ${name} (SHUTOFF) picks the model up at its next start.`],
          vmRestarts: vms,
          serviceRestarts: [],
          status: "applied",
          decidedBy: "U0BOB0001",
          decidedAt: NOW,
          progress,
          results: [{ host: name, ok: true, detail: "ACTIVE again after 4.1 s" }],
          retry: { vm: name, destination: "compute-5" },
        }),
        NOW,
      );
      expectInert(msg, ["U0ALICE01", "U0BOB0001"]);
      expect(validateBlocks(msg.blocks, DEFAULT_SLACK_LIMITS)).toEqual([]);
    }
    // What a person reads: the name, shown as text.
    const line = progressLine({ kind: "vm-batch", batch: 1, batches: 2, vms: [HOSTILE_VM, "app-1"] });
    expect(line).toBe(
      "Batch 1 of 2: hard-rebooting *&lt;!channel&gt; &lt;https://evil.example|re-approve here&gt;*, *app-1*…",
    );
  });

  test("every progress event escapes the outside text it carries", () => {
    for (const t of HOSTILE_TEXTS) {
      const events: ProgressEvent[] = [
        { kind: "abort-refused", detail: t },
        { kind: "abort-not-needed", vm: t },
        { kind: "aborting", vm: t, migrationId: 7 },
        { kind: "aborted", vm: t },
        { kind: "file-written", host: t, path: t, backup: t, owner: t, group: t, mode: t },
        { kind: "service-restarting", host: t, service: t },
        { kind: "service-not-up", host: t, service: t, detail: t },
        { kind: "host-done", host: t, ok: false, detail: t },
        { kind: "vm-done", vm: t, ok: true, detail: t },
        { kind: "legacy", text: t },
      ];
      for (const e of events) expectInert(progressLine(e));
    }
  });

  test("a diff line, a host, a path, a changed key and an abort target carrying <!channel> render inert", () => {
    const t = HOSTILE_TEXTS[0];
    const msg = renderProposal(
      proposal({
        kind: "auto-converge",
        changes: [
          {
            host: t,
            path: `/etc/nova/${t}.conf`,
            beforeSha256: sha256Hex("a"),
            afterSha256: sha256Hex("b"),
            diff: `--- a\n+++ b\n@@ -1 +1 @@\n-# ${t}\n+live_migration_permit_auto_converge = true # <!channel>\n`,
            changedKeys: [`libvirt.${t}`],
          },
        ],
        serviceRestarts: [t],
        abortFirst: { jobId: "j1", vm: t },
        blockers: [`Live migration 8 of ${t} is in flight`],
      }),
      NOW,
    );
    expectInert(msg, ["U0ALICE01"]);
    expect(text(msg.blocks)).toContain("+live_migration_permit_auto_converge = true # &lt;!channel&gt;");
  });

  test("a requester or approver id that is not a Slack user id is shown, not mentioned", () => {
    const msg = renderProposal(
      proposal({ requestedBy: "<!channel>", status: "rejected", decidedBy: HOSTILE_VM, decidedAt: NOW }),
      NOW,
    );
    expectInert(msg);
  });

  test("refusals and apply answers name people by id only and escape what Redis held", () => {
    expectInert(
      renderRefusal({ reason: "already-decided", status: "approved", by: HOSTILE_VM, at: NOW }, "approve"),
    );
    const decided = renderRefusal(
      { reason: "already-decided", status: "approved", by: "U0BOB0001", at: NOW },
      "approve",
    );
    expect(decided.text).toMatch(/^<@U0BOB0001> already approved this proposal at <!date\^1700000000/);
    expect(renderRefusal({ reason: "not-approver" }, "reject").text).toMatch(
      /Only migbot approvers may reject fix proposals/,
    );
    expectInert(renderApplyAnswer({ kind: "not-applicable", status: HOSTILE_VM }));
    expect(renderApplyAnswer({ kind: "integrity-refused", problem: "seal-mismatch" }).text).toMatch(
      /^FIX_INTEGRITY: .*seal does not match its content.*nothing was applied on any host/,
    );
  });
});

describe("progress read back from Redis", () => {
  test("well-formed events are kept, old text lines become legacy lines, anything else is dropped", () => {
    const stored: unknown = [
      { kind: "vm-batch", batch: 1, batches: 2, vms: ["web-7"], extra: "<!channel>" },
      { kind: "vm-done", vm: "web-7", ok: "yes", detail: "x" },
      { kind: "aborting", vm: "db-1", migrationId: "7" },
      { kind: "no-such-kind" },
      { kind: "__proto__" },
      null,
      42,
      ":white_check_mark: `compute-1`: applied",
    ];
    expect(readProgress(stored)).toEqual([
      { kind: "vm-batch", batch: 1, batches: 2, vms: ["web-7"] },
      { kind: "legacy", text: ":white_check_mark: `compute-1`: applied" },
    ]);
    expect(readProgress("not a list")).toEqual([]);
  });
});
