/**
 * Proposals in real Redis: first click wins (atomically, under concurrency), expiry, the
 * self-approval rule, tampered ids, single-use application, and the message that goes to Slack.
 */

import { randomBytes, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { createProposalPresenter } from "../../bot/presenters/proposals";
import { ACTION_APPROVE, ACTION_REJECT, renderRefusal } from "../../bot/render/proposal";
import { REFUSALS_WRITTEN_PER_USER_PER_MINUTE } from "../../src/audit/stream";
import type { ProposalDraft } from "../../src/fixes/proposal";
import { createProposalService, type ProposalService } from "../../src/fixes/service";
import { PROPOSAL_ID_RE } from "../../src/fixes/store";
import { silentLogger } from "../../src/log";
import type { NotifierPort, SlackText } from "../../src/notify/port";
import { PlanSealer, sha256Hex } from "../../src/signing/signatures";

let redis: Redis;
beforeAll(() => {
  redis = new Redis(inject("redisUrl"));
});
afterAll(() => {
  redis.disconnect();
});

const ALICE = "U0ALICE01";
const BOB = "U0BOB0001";
const DAVE = "U0DAVE001";

function recordingNotifier() {
  const posts: { channel: string; msg: SlackText & { thread_ts?: string }; ts: string }[] = [];
  const updates: { ts: string; msg: SlackText }[] = [];
  let n = 0;
  const notifier: NotifierPort = {
    async post(channel, msg) {
      const ts = `1700000000.${String(++n).padStart(6, "0")}`;
      posts.push({ channel, msg, ts });
      return ts;
    },
    async update(_channel, ts, msg) {
      updates.push({ ts, msg });
    },
  };
  return { notifier, posts, updates };
}

const DRAFT: ProposalDraft = {
  kind: "auto-converge",
  title: "Enable libvirt auto-converge on compute-1",
  reasoning: "db-1 dirties memory faster than the link sends it.",
  warnings: ["Post-copy is also permitted"],
  changes: [
    {
      host: "compute-1",
      path: "/etc/nova/nova.conf",
      beforeSha256: sha256Hex("[libvirt]\n"),
      afterSha256: sha256Hex("[libvirt]\nlive_migration_flag = VIR_MIGRATE_AUTO_CONVERGE\n"),
      diff: "--- a/etc/nova/nova.conf\n+++ b/etc/nova/nova.conf\n@@ -1 +1,2 @@\n [libvirt]\n+live_migration_flag = VIR_MIGRATE_AUTO_CONVERGE\n",
      changedKeys: ["[libvirt] live_migration_flag"],
    },
  ],
  recipes: [],
  serviceRestarts: ["compute-1"],
  vmRestarts: [],
  blockers: [],
};

function service(opts: { ttlS?: number; now?: () => number } = {}) {
  const rec = recordingNotifier();
  const svc = createProposalService({
    redis,
    prefix: `proposals-${randomUUID()}`,
    presenter: createProposalPresenter({
      notifier: rec.notifier,
      reply: async () => {
        throw new Error("the proposal service answers nobody privately");
      },
    }),
    sealer: new PlanSealer(randomBytes(32), "test"),
    log: silentLogger,
    ...opts,
  });
  return { svc, ...rec };
}

const APPROVER = { isApprover: true, allowSelfApproval: false };

async function propose(svc: ProposalService) {
  return svc.propose(DRAFT, { requestedBy: ALICE, channel: "C0OPS0001", threadTs: "1700000000.000001" });
}

describe("propose", () => {
  test("stores the proposal and posts it in the thread; the buttons carry only the opaque id", async () => {
    const { svc, posts } = service();
    const p = await propose(svc);
    expect(p.id).toMatch(PROPOSAL_ID_RE);
    expect(Buffer.from(p.id, "base64url")).toHaveLength(16);
    expect(posts).toHaveLength(1);
    expect(posts[0]!.msg.thread_ts).toBe("1700000000.000001");
    const json = JSON.stringify(posts[0]!.msg.blocks);
    expect(json).toContain("+live_migration_flag = VIR_MIGRATE_AUTO_CONVERGE");
    expect(json).toContain("nova-compute on `compute-1`");
    const buttons = (
      posts[0]!.msg.blocks as {
        type: string;
        elements?: { action_id: string; value: string; confirm?: unknown }[];
      }[]
    )
      .filter((b) => b.type === "actions")
      .flatMap((b) => b.elements!);
    expect(buttons.map((b) => [b.action_id, b.value])).toEqual([
      [ACTION_APPROVE, p.id],
      [ACTION_REJECT, p.id],
    ]);
    expect(buttons.every((b) => b.confirm !== undefined)).toBe(true);
    const stored = await svc.get(p.id);
    expect(stored?.messageTs).toBe(posts[0]!.ts);
    expect(stored?.status).toBe("pending");
    const audit = await svc.audit.read(5);
    expect(audit[0]).toMatchObject({ action: "proposed", actor: ALICE, proposalId: p.id });
    expect(audit[0]!.diff).toContain("VIR_MIGRATE_AUTO_CONVERGE");
  });
});

describe("claim", () => {
  test("two approvers at once: exactly one wins, the other is told who approved and when", async () => {
    const { svc } = service();
    const p = await propose(svc);
    const [a, b] = await Promise.all([
      svc.claim(p.id, BOB, "approve", APPROVER),
      svc.claim(p.id, DAVE, "approve", APPROVER),
    ]);
    const wins = [a, b].filter((r) => r.ok);
    expect(wins).toHaveLength(1);
    const loser = [a, b].find((r) => !r.ok)!;
    const winner = a.ok ? BOB : DAVE;
    expect(!loser.ok && renderRefusal(loser.refusal, loser.decision).text).toMatch(
      new RegExp(`<@${winner}> already approved this proposal at <!date\\^\\d+`),
    );
    expect((await svc.get(p.id))?.decidedBy).toBe(winner);
  });

  test("twenty concurrent clicks, approve and reject mixed: one decision only", async () => {
    const { svc } = service();
    const p = await propose(svc);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        svc.claim(p.id, `U0APPR${String(i).padStart(3, "0")}`, i % 2 ? "approve" : "reject", APPROVER),
      ),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    const decided = (await svc.get(p.id))!;
    expect(["approved", "rejected"]).toContain(decided.status);
  });

  test("the requester may not approve their own proposal unless configured to", async () => {
    const { svc } = service();
    const p = await propose(svc);
    const own = await svc.claim(p.id, ALICE, "approve", APPROVER);
    expect(own).toMatchObject({ ok: false, code: "PROPOSAL_OWN" });
    expect((await svc.get(p.id))?.status).toBe("pending");
    const allowed = await svc.claim(p.id, ALICE, "approve", { isApprover: true, allowSelfApproval: true });
    expect(allowed.ok).toBe(true);
  });

  test("a requester may withdraw (reject) their own proposal", async () => {
    const { svc } = service();
    const p = await propose(svc);
    expect((await svc.claim(p.id, ALICE, "reject", APPROVER)).ok).toBe(true);
    expect((await svc.get(p.id))?.status).toBe("rejected");
  });

  test("non-approvers are refused and decide nothing", async () => {
    const { svc } = service();
    const p = await propose(svc);
    const r = await svc.claim(p.id, "U0CAROL01", "approve", { isApprover: false, allowSelfApproval: false });
    expect(r).toMatchObject({ ok: false, code: "PROPOSAL_NOT_APPROVER" });
    expect((await svc.get(p.id))?.status).toBe("pending");
  });

  test("an expired proposal is refused and reads as expired", async () => {
    let clock = 1_700_000_000_000;
    const { svc } = service({ ttlS: 60, now: () => clock });
    const p = await propose(svc);
    expect(p.expiresAt - p.createdAt).toBe(60_000);
    clock += 60_000;
    const r = await svc.claim(p.id, BOB, "approve", APPROVER);
    expect(r).toMatchObject({ ok: false, code: "PROPOSAL_EXPIRED" });
    expect((await svc.get(p.id))?.status).toBe("expired");
    // Redis keeps the record (for the audit) past the approval window.
    const ttl = await redis.ttl(svc.store.key(p.id));
    expect(ttl).toBeGreaterThan(60);
  });

  test("unknown and tampered ids are refused without touching the real one", async () => {
    const { svc } = service();
    const p = await propose(svc);
    const flipped = `${p.id.slice(0, -1)}${p.id.endsWith("A") ? "B" : "A"}`;
    for (const id of [flipped, `${p.id}x`, "../../etc/passwd", "", "*", `${p.id.slice(0, 10)}' or '1`]) {
      const r = await svc.claim(id, BOB, "approve", APPROVER);
      expect(r).toMatchObject({ ok: false, code: "PROPOSAL_UNKNOWN" });
    }
    expect((await svc.get(p.id))?.status).toBe("pending");
    // Six refusals by one person within a minute: the first ones written one by one, then a summary.
    const audit = await svc.audit.read(10);
    expect(audit.filter((e) => e.action === "decision-refused")).toHaveLength(
      Math.min(6, REFUSALS_WRITTEN_PER_USER_PER_MINUTE),
    );
    expect(audit.filter((e) => e.action === "refusals-summarized")).toHaveLength(
      6 > REFUSALS_WRITTEN_PER_USER_PER_MINUTE ? 1 : 0,
    );
  });

  test("an approved proposal starts applying once; a duplicate job is turned away", async () => {
    const { svc } = service();
    const p = await propose(svc);
    expect(await svc.store.startApplying(p.id)).toBe("pending");
    await svc.claim(p.id, BOB, "approve", APPROVER);
    const starts = await Promise.all([svc.store.startApplying(p.id), svc.store.startApplying(p.id)]);
    expect(starts.sort()).toEqual(["applying", "ok"]);
    const audit = await svc.audit.read(5);
    expect(audit[0]).toMatchObject({ action: "approved", actor: BOB, proposalId: p.id, result: "ok" });
  });

  test("a failed apply is reopened once per failure, by an approver, before expiry (Retry apply)", async () => {
    const { svc } = service();
    const p = await propose(svc);
    expect(await svc.store.reopenFailed(p.id, BOB, { isApprover: true })).toMatchObject({
      ok: false,
      reason: "not-failed",
    });
    await svc.claim(p.id, BOB, "approve", APPROVER);
    expect(await svc.store.startApplying(p.id)).toBe("ok");
    await svc.store.setStatus(p.id, "failed");
    expect(await svc.store.reopenFailed(p.id, DAVE, { isApprover: false })).toMatchObject({
      ok: false,
      reason: "not-approver",
    });
    expect(await svc.store.reopenFailed(p.id, BOB, { isApprover: true, now: p.expiresAt })).toMatchObject({
      ok: false,
      reason: "expired",
    });
    const clicks = await Promise.all([
      svc.store.reopenFailed(p.id, BOB, { isApprover: true }),
      svc.store.reopenFailed(p.id, BOB, { isApprover: true }),
    ]);
    expect(clicks.filter((c) => c.ok)).toEqual([{ ok: true, retry: 1 }]);
    expect(await svc.get(p.id)).toMatchObject({ status: "approved", applyRetries: 1, applyRetriedBy: BOB });
    expect(await svc.store.startApplying(p.id)).toBe("ok");
  });
});

describe("alternatives", () => {
  test("once one CPU-model fix is applied, its pending sibling in the thread is superseded and cannot be approved", async () => {
    const { svc } = service();
    const ctx = { requestedBy: ALICE, channel: "C0OPS0001", threadTs: "1700000000.000009" };
    const baseline = await svc.propose(
      { ...DRAFT, kind: "cpu-model", title: "CPU model Haswell-noTSX" },
      ctx,
    );
    const kvm64 = await svc.propose({ ...DRAFT, kind: "cpu-model", title: "CPU model kvm64" }, ctx);
    const other = await svc.propose(DRAFT, ctx);
    const elsewhere = await svc.propose(
      { ...DRAFT, kind: "cpu-model" },
      { ...ctx, threadTs: "1700000000.000010" },
    );

    expect(await svc.claim(baseline.id, BOB, "approve", APPROVER)).toMatchObject({ ok: true });
    expect(await svc.store.supersedeSiblings((await svc.get(baseline.id))!)).toEqual([kvm64.id]);

    expect((await svc.get(kvm64.id))?.status).toBe("superseded");
    expect((await svc.get(other.id))?.status).toBe("pending");
    expect((await svc.get(elsewhere.id))?.status).toBe("pending");
    const refused = await svc.claim(kvm64.id, BOB, "approve", APPROVER);
    expect(refused).toMatchObject({ ok: false, code: "PROPOSAL_SUPERSEDED" });
  });
});
