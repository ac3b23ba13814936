/**
 * The migration presenter on a notifier: each message posted once per job (its dedupe key), thread
 * replies and prompt edits ahead of routine traffic, and each rendering taken at the call.
 */
import { describe, expect, test } from "vitest";
import { createMigrationPresenter } from "../../bot/presenters/migration";
import { emptyPrecopy, type MigrationView } from "../../src/migration/view";
import type { NotifierPort } from "../../src/notify/port";

function recorder() {
  const calls: {
    op: string;
    channel: string;
    ts?: string;
    thread?: string;
    key?: string;
    urgent: boolean;
    text: string;
  }[] = [];
  const notifier: NotifierPort = {
    async post(channel, msg, opts) {
      calls.push({
        op: "post",
        channel,
        thread: msg.thread_ts,
        key: opts.dedupeKey,
        urgent: opts.urgent === true,
        text: msg.text,
      });
      return `ts-${calls.length}`;
    },
    async update(channel, ts, msg, opts) {
      calls.push({ op: "update", channel, ts, urgent: opts?.urgent === true, text: msg.text });
    },
  };
  return { calls, presenter: createMigrationPresenter(notifier) };
}

const v: MigrationView = {
  jobId: "job-1",
  vm: "db-1",
  serverId: "srv",
  instanceName: "instance-00000031",
  requestedBy: "U0ALICE01",
  channel: "C0OPS0001",
  source: "compute-1",
  requestedDestination: "compute-2",
  destination: "compute-2",
  flavor: null,
  status: "running",
  phase: "precopy",
  startedAt: 0,
  endedAt: null,
  novaMigrationId: 7,
  novaStatus: "running",
  reservation: null,
  precopy: emptyPrecopy(),
  downtimeMs: null,
  failure: null,
  stuck: null,
  control: null,
};

describe("createMigrationPresenter", () => {
  test("dedupe keys per job and message, urgency by kind and pace", async () => {
    const { calls, presenter } = recorder();
    const root = await presenter.postRoot({ kind: "root", view: v, at: 1000, retry: null });
    await presenter.postReply(root, {
      kind: "phase",
      phase: "precopy",
      view: v,
      at: 1000,
      sourceDetail: null,
    });
    await presenter.postReply(root, { kind: "failure", view: v });
    await presenter.update(root, { kind: "root", view: v, at: 2000, retry: null }, "routine");
    await presenter.update(root, { kind: "root", view: v, at: 2000, retry: null }, "prompt");
    await presenter.postRetryNotice({
      earlier: { jobId: "job-0", channel: "C0OTHER01", root: "ts-0" },
      jobId: "job-1",
      requestedBy: "U0CAROL01",
    });
    expect(
      calls.map(({ op, channel, ts, thread, key, urgent }) => ({ op, channel, ts, thread, key, urgent })),
    ).toEqual([
      {
        op: "post",
        channel: "C0OPS0001",
        ts: undefined,
        thread: undefined,
        key: "job-1:root",
        urgent: false,
      },
      {
        op: "post",
        channel: "C0OPS0001",
        ts: undefined,
        thread: "ts-1",
        key: "job-1:phase:precopy",
        urgent: true,
      },
      { op: "post", channel: "C0OPS0001", ts: undefined, thread: "ts-1", key: "job-1:failure", urgent: true },
      { op: "update", channel: "C0OPS0001", ts: "ts-1", thread: undefined, key: undefined, urgent: false },
      { op: "update", channel: "C0OPS0001", ts: "ts-1", thread: undefined, key: undefined, urgent: true },
      {
        op: "post",
        channel: "C0OTHER01",
        ts: undefined,
        thread: "ts-0",
        key: "job-0:retried-by:job-1",
        urgent: true,
      },
    ]);
  });

  test("an edit is rendered at the call, not when the notifier gets to it", async () => {
    const { calls, presenter } = recorder();
    const live = structuredClone(v);
    const sent = presenter.update("ts-9", { kind: "root", view: live, at: 1000, retry: null }, "routine");
    live.status = "completed";
    await sent;
    expect(calls[0]!.text).toMatch(/Iterative pre-copy — running/);
  });
});

test("Nova's `running (post-copy)` is its own stage to the tracker, not an unknown status", async () => {
  const { novaStage } = await import("../../src/migration/nova-migration");
  expect(novaStage("running (post-copy)")).toBe("post-copy");
  expect(novaStage("Running")).toBe("running");
});
