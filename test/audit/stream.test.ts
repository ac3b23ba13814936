/** The audit stream in real Redis: order, fields, the cap, and the /migrate audit answer. */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, inject, test } from "vitest";
import {
  AUDIT_STREAM_MAXLEN,
  auditKey,
  createAuditLog,
  formatAuditAnswer,
  readAudit,
} from "../../src/audit/stream";

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

  const answer = formatAuditAnswer(entries);
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
  expect(formatAuditAnswer([])).toMatch(/audit log is empty/);
});
