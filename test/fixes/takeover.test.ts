/**
 * A worker that dies mid-apply leaves its proposal `applying`; its re-run apply job waits for the
 * lease to lapse and takes over on the sandbox's hosts over real SSH with real Redis: hosts the dead
 * worker finished count as done, a host whose files it put in place gets nova-compute restarted, the
 * rest are applied, and a file edited by someone else stops it. A re-run whose holder is alive and
 * finishes adds nothing.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, inject, test } from "vitest";
import { createAuditPresenter } from "../../bot/presenters/audit";
import { createProposalPresenter } from "../../bot/presenters/proposals";
import { progressLine } from "../../bot/render/proposal";
import { type ApplyTiming, applyProposal } from "../../src/fixes/apply";
import type { ProposalDraft } from "../../src/fixes/proposal";
import { ProposalStore } from "../../src/fixes/store";
import { createFixActions } from "../../src/fixes/worker";
import { silentLogger } from "../../src/log";
import type { NotifierPort, ReplyPort } from "../../src/notify/port";
import type { ActionJob } from "../../src/queue/jobs";
import { PlanSealer } from "../../src/signing/signatures";
import { type ApplyHarness, draftOf, planChanges, startApplyHarness } from "./harness";

const FAST: Partial<ApplyTiming> = {
  serviceSettleMs: 300,
  servicePollIntervalMs: 100,
  serviceUpTimeoutMs: 15_000,
};
/** What is left of a dead worker's lease when the job runs again. */
const LEASE_LEFT_MS = 1_500;
const ALICE = "U0ALICE01";
const BOB = "U0BOB0001";
const CHANNEL = "C0OPS0001";

let h: ApplyHarness;
const sealer = new PlanSealer(randomBytes(32), "takeover-test");
let store: ProposalStore;
const answers: string[] = [];

beforeAll(async () => {
  h = await startApplyHarness(inject("redisUrl"));
  store = new ProposalStore(h.redis, h.prefix, sealer);
});
afterAll(async () => {
  await h?.stop();
});

const host = (name: string) => h.sandbox.cloud.hosts.get(name)!;

// The proposals here have no Slack message, so nothing is edited; posts are not under test.
const notifier: NotifierPort = { post: async () => "0.0", update: async () => {} };
const reply: ReplyPort = async (_url, _user, _channel, msg) => {
  answers.push(msg.text);
};

function actions() {
  return createFixActions({
    redis: h.redis,
    prefix: h.prefix,
    sealer,
    nova: h.nova,
    hosts: h.hosts,
    presenter: createProposalPresenter({ notifier, reply }),
    audits: createAuditPresenter({ reply }),
    store: h.migrations,
    log: silentLogger,
    applyTiming: FAST,
    applyLeaseMs: 5_000,
    applyLeaseRenewIntervalMs: 1_000,
  });
}

const job = (proposalId: string, planDigest: string): ActionJob => ({
  type: "apply-proposal",
  proposalId,
  planDigest,
  channel: CHANNEL,
  user: BOB,
  requestedAt: Date.now(),
});

async function approvedProposal(draft: ProposalDraft) {
  const p = await store.create(draft, {
    requestedBy: ALICE,
    channel: CHANNEL,
    threadTs: null,
    now: Date.now(),
    ttlS: 600,
  });
  const claim = await store.claim(p.id, BOB, "approve", {
    isApprover: true,
    allowSelfApproval: false,
    now: Date.now(),
  });
  expect(claim.ok).toBe(true);
  return p;
}

/** What a worker that died mid-apply leaves behind: status applying, a lease that ran out. */
async function dieMidApply(id: string, leaseLeftMs: number) {
  await h.redis.hset(store.key(id), {
    status: "applying",
    applyingUntil: String(Date.now() + leaseLeftMs),
    applyingBy: "dead-worker",
  });
}

test("after the lease lapses, a re-run job finishes a half-done apply without redoing the done host", async () => {
  const changes = await planChanges(h, "auto-converge", ["compute-3", "compute-4"]);
  const p = await approvedProposal(draftOf("auto-converge", changes));
  // The dead worker got through compute-3 (written, restarted) before it stopped.
  const first = await applyProposal(
    {
      ...(await store.get(p.id))!,
      changes: changes.filter((c) => c.host === "compute-3"),
      serviceRestarts: ["compute-3"],
    },
    {
      hosts: h.hosts,
      nova: h.nova,
      migrations: h.migrations,
      audit: h.audit,
      log: silentLogger,
      progress: async () => {},
      timing: FAST,
    },
  );
  expect(first.ok).toBe(true);
  // …and said so, as a worker does after each host.
  await store.setProgress(p.id, [
    { kind: "host-done", host: "compute-3", ok: true, detail: first.results[0]!.detail },
  ]);
  const pid3 = host("compute-3").service.pid;
  const pid4 = host("compute-4").service.pid;

  // While the lease still runs the re-run job waits (the first worker may be alive), then takes over.
  await dieMidApply(p.id, LEASE_LEFT_MS);
  const answered = answers.length;
  const t0 = Date.now();
  expect(await actions().handle(job(p.id, p.planDigest))).toBe(true);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(LEASE_LEFT_MS - 50);
  expect(answers.slice(answered)).toEqual([]);
  const done = (await store.get(p.id))!;
  expect(done.status).toBe("applied");
  expect(done.results.map((r) => [r.host, r.ok])).toEqual([
    ["compute-3", true],
    ["compute-4", true],
  ]);
  expect(done.results[0]!.detail).toMatch(/already applied/);
  expect(done.results[1]!.detail).toMatch(/applied; nova-compute is up again/);
  expect(done.progress?.map(progressLine).some((l) => /stopped mid-way; another one continues/.test(l))).toBe(
    true,
  );
  expect(host("compute-3").service.pid).toBe(pid3);
  expect(host("compute-4").service.pid).not.toBe(pid4);
  expect(host("compute-4").fs.get(changes[1]!.path)!.content).toBe(changes[1]!.after);
  expect(host("compute-4").settings?.autoConverge).toBe(true);
});

test("a re-run job that waits on a live holder's lease adds nothing once the holder finishes", async () => {
  const [change] = await planChanges(h, "auto-converge", ["compute-2"]);
  const p = await approvedProposal(draftOf("auto-converge", [change!]));
  const pid = host("compute-2").service.pid;
  await h.redis.hset(store.key(p.id), {
    status: "applying",
    applyingUntil: String(Date.now() + 5_000),
    applyingBy: "live-worker",
  });
  const answered = answers.length;
  // The holder finishes while the re-run waits.
  const finish = setTimeout(() => void h.redis.hset(store.key(p.id), "status", "applied"), 500);
  try {
    await actions().handle(job(p.id, p.planDigest));
  } finally {
    clearTimeout(finish);
  }
  expect((await store.get(p.id))!.status).toBe("applied");
  expect(answers.slice(answered)).toEqual([]);
  expect(host("compute-2").fs.get(change!.path)!.content).toBe(change!.before);
  expect(host("compute-2").service.pid).toBe(pid);
});

test("files a stopped worker renamed into place before restarting nova-compute: the takeover restarts it", async () => {
  const [change] = await planChanges(h, "auto-converge", ["compute-1"]);
  const p = await approvedProposal(draftOf("auto-converge", [change!]));
  // The dead worker got as far as the rename: the new file is in place, nova-compute still runs the old one.
  const entry = host("compute-1").fs.get(change!.path)!;
  host("compute-1").fs.put(change!.path, change!.after, entry.owner, entry.group, entry.mode);
  const pid = host("compute-1").service.pid;
  expect(host("compute-1").settings?.autoConverge).toBe(false);
  await dieMidApply(p.id, -1);

  await actions().handle(job(p.id, p.planDigest));
  const done = (await store.get(p.id))!;
  expect(done.status).toBe("applied");
  expect(done.results[0]!.detail).toMatch(/applied; nova-compute is up again/);
  expect(host("compute-1").service.pid).not.toBe(pid);
  expect(host("compute-1").settings?.autoConverge).toBe(true);
});

test("a host file that is neither the planned original nor the planned result stops the takeover", async () => {
  const [change] = await planChanges(h, "cpu-model", ["compute-5"]);
  const p = await approvedProposal(draftOf("cpu-model", [change!]));
  const edited = `${change!.before}# tuned by hand while the worker was down\n`;
  host("compute-5").fs.put(change!.path, edited, "root", "nova", 0o640);
  const pid = host("compute-5").service.pid;
  await dieMidApply(p.id, -1);

  await actions().handle(job(p.id, p.planDigest));
  const done = (await store.get(p.id))!;
  expect(done.status).toBe("failed");
  expect(done.results[0]!.detail).toMatch(
    /changed on compute-5 since the plan was made.*run \/diagnose again/,
  );
  expect(host("compute-5").fs.get(change!.path)!.content).toBe(edited);
  expect(host("compute-5").service.pid).toBe(pid);
});

test("only the lease holder renews; an approved proposal starts once", async () => {
  const [change] = await planChanges(h, "auto-converge", ["compute-2"]);
  const p = await approvedProposal(draftOf("auto-converge", [change!]));
  const now = Date.now();
  expect(await store.startApplying(p.id, { holder: "w1", now, leaseMs: 1_000 })).toBe("ok");
  expect(await store.startApplying(p.id, { holder: "w2", now: now + 500, leaseMs: 1_000 })).toBe("applying");
  expect(await store.renewApplyLease(p.id, { holder: "w1", now: now + 900, leaseMs: 1_000 })).toBe(true);
  expect(await store.applyingUntil(p.id)).toBe(now + 1_900);
  expect(await store.startApplying(p.id, { holder: "w2", now: now + 1_500, leaseMs: 1_000 })).toBe(
    "applying",
  );
  expect(await store.startApplying(p.id, { holder: "w2", now: now + 2_000, leaseMs: 1_000 })).toBe(
    "taken-over",
  );
  expect(await store.renewApplyLease(p.id, { holder: "w1", now: now + 2_100, leaseMs: 1_000 })).toBe(false);
});
