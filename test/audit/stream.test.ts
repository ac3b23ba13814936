/** The audit stream in real Redis: order, fields, the cap, and the /migrate audit answer. */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, inject, test } from "vitest";
import { renderAuditAnswer } from "../../bot/render/audit";
import {
  AUDIT_STREAM_MAXLEN,
  auditKey,
  createAuditLog,
  REFUSALS_WRITTEN_PER_USER_PER_MINUTE,
  readAudit,
} from "../../src/audit/stream";
import { expectInert, HOSTILE_TEXTS } from "../support/hostile";

let redis: Redis;
beforeAll(() => {
  redis = new Redis(inject("redisUrl"));
});
afterAll(() => {
  redis.disconnect();
});

test("entries come back newest first with who, what, where, the diff and the result", async () => {
  const prefix = `audit-${randomUUID()}`;
  const log = createAuditLog(redis, prefix);
  await log.write({
    actor: "U0ALICE01",
    action: "proposed",
    proposalId: "p1",
    what: "auto-converge",
    result: "info",
  });
  await log.write({
    actor: "U0BOB0001",
    action: "approved",
    proposalId: "p1",
    what: "auto-converge",
    result: "ok",
  });
  await log.write({
    actor: "U0BOB0001",
    action: "host-change",
    proposalId: "p1",
    host: "compute-1",
    what: "wrote /etc/nova/nova.conf",
    diff: "--- a\n+++ b\n+live_migration_flag = X\n",
    result: "ok",
  });
  const entries = await readAudit(redis, prefix, 10);
  expect(entries.map((e) => e.action)).toEqual(["host-change", "approved", "proposed"]);
  expect(entries[0]).toMatchObject({ actor: "U0BOB0001", host: "compute-1", result: "ok" });
  expect(entries[0]!.diff).toContain("+live_migration_flag = X");
  expect(entries[0]!.at).toBeGreaterThan(Date.now() - 10_000);
  expect((await log.read(1)).map((e) => e.action)).toEqual(["host-change"]);

  const answer = renderAuditAnswer(entries).text;
  expect(answer).toMatch(/^Last 3 audit entries, newest first:/);
  expect(answer).toMatch(
    /<@U0BOB0001> \*host-change\* on `compute-1`: wrote \/etc\/nova\/nova.conf \(diff: 4 lines\)/,
  );
});

test("the stream is capped near its limit", async () => {
  const prefix = `audit-${randomUUID()}`;
  const log = createAuditLog(redis, prefix);
  // Fill past the cap through the log itself, many writes in flight at once on one connection.
  for (let chunk = 0; chunk < (AUDIT_STREAM_MAXLEN + 500) / 500; chunk++) {
    await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        log.write({ actor: "U0ALICE01", action: "proposed", what: `n${chunk * 500 + i}`, result: "info" }),
      ),
    );
  }
  await log.write({ actor: "U0BOB0001", action: "approved", what: "last", result: "ok" });
  const len = await redis.xlen(auditKey(prefix));
  expect(len).toBeLessThan(AUDIT_STREAM_MAXLEN + 200);
  expect(len).toBeGreaterThanOrEqual(AUDIT_STREAM_MAXLEN);
  expect((await log.read(1))[0]!.what).toBe("last");
  await redis.del(auditKey(prefix));
});

test("an empty log says so", () => {
  expect(renderAuditAnswer([]).text).toMatch(/audit log is empty/);
});

test("refused clicks in a loop cannot flush the stream: a few are written, then one summary, then they are counted", async () => {
  const prefix = `audit-${randomUUID()}`;
  const log = createAuditLog(redis, prefix);
  await log.write({
    actor: "U0BOB0001",
    action: "approved",
    what: "the entry that must survive",
    result: "ok",
  });
  const at = Date.UTC(2026, 10, 29, 12, 0, 10);
  const ids: (string | null)[] = [];
  for (let i = 0; i < 30; i++) {
    ids.push(
      await log.writeRefusal({
        at,
        actor: "U0CAROL01",
        action: "decision-refused",
        what: "approve refused: not-approver",
        result: "refused",
      }),
    );
  }
  expect(ids.filter((id) => id !== null)).toHaveLength(REFUSALS_WRITTEN_PER_USER_PER_MINUTE + 1);
  const entries = await log.read(50);
  expect(entries.filter((e) => e.action === "decision-refused")).toHaveLength(
    REFUSALS_WRITTEN_PER_USER_PER_MINUTE,
  );
  expect(entries.find((e) => e.action === "refusals-summarized")?.what).toMatch(/counted, not written/);
  expect(entries.some((e) => e.what === "the entry that must survive")).toBe(true);
  // Another person's refusal in the same minute still gets its own entry.
  expect(
    await log.writeRefusal({
      at,
      actor: "U0DAVE001",
      action: "decision-refused",
      what: "x",
      result: "refused",
    }),
  ).not.toBeNull();
});

test("the /migrate audit answer escapes everything read back from Redis", () => {
  const entries = HOSTILE_TEXTS.map((t, i) => ({
    id: `1700000000000-${i}`,
    at: 1_700_000_000_000,
    actor: t,
    action: "vm-restart" as const,
    proposalId: t,
    host: t,
    what: `hard reboot of ${t}`,
    diff: `+${t}\n`,
    result: "failed" as const,
    detail: `Nova says ${t}`,
  }));
  expectInert(renderAuditAnswer(entries));
  const named = renderAuditAnswer([{ ...entries[0]!, actor: "U0BOB0001" }]).text;
  expect(named).toMatch(/:x: <!date\^1700000000\^[^>]*> <@U0BOB0001> \*vm-restart\* on `&lt;!channel&gt;/);
});
