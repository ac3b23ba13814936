/**
 * The private answers: each typed answer worded as before, sent to the person who asked, and inert
 * when Nova's names, states or an error carry mrkdwn meant to ping the channel or link elsewhere.
 */
import { describe, expect, test } from "vitest";
import { createAnswerPresenter } from "../../bot/presenters/answers";
import { renderAnswer } from "../../bot/render/answers";
import { emptyPrecopy, type MigrationView } from "../../src/migration/view";
import type { Answer } from "../../src/queue/answers";

const ALICE = "U0ALICE01";
const HOSTILE = "<!channel> <https://evil.example|re-approve here> `*x*` <@U0BOB0001>";

function view(over: Partial<MigrationView>): MigrationView {
  return {
    jobId: "job-1",
    vm: "db-1",
    serverId: "srv-1",
    instanceName: "instance-00000031",
    requestedBy: ALICE,
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
    precopy: { ...emptyPrecopy(), memoryTotalBytes: 100, memoryRemainingBytes: 48 },
    downtimeMs: null,
    failure: null,
    stuck: null,
    control: null,
    ...over,
  };
}

describe("answers read as before", () => {
  test.each<[Answer, string]>([
    [
      { kind: "unknown-vm", vm: "nosuchvm" },
      "I can't find a VM named `nosuchvm` in Nova. Check the name (`openstack server list --all-projects --name nosuchvm`), then try again.",
    ],
    [
      { kind: "unknown-host", host: "compute-9", known: ["compute-1", "compute-2"] },
      "`compute-9` is not a compute host Nova knows. Known hosts: `compute-1`, `compute-2`.",
    ],
    [
      { kind: "already-there", vm: "web-7", host: "compute-3" },
      "`web-7` already runs on `compute-3`. Pick another host, or leave it out to let Nova's scheduler choose.",
    ],
    [
      { kind: "not-active", vm: "web-7", status: "SHUTOFF", taskState: null },
      "`web-7` is SHUTOFF; Nova live-migrates only ACTIVE or PAUSED VMs with no task in progress. Try again once it is.",
    ],
    [
      { kind: "vm-busy", vm: "db-1" },
      "db-1 is already being migrated by another request; follow its thread, or use `/migrate status db-1`.",
    ],
    [
      { kind: "control-already-asked", by: "U0BOB0001", action: "force-complete" },
      "<@U0BOB0001> already asked to force-complete this migration.",
    ],
    [
      { kind: "control-ended", vm: "db-1", action: "abort", status: "aborted" },
      "That migration of db-1 has already ended (aborted), so there is nothing to abort. A newer one, if any, has its own thread and buttons.",
    ],
    [
      { kind: "status", vm: null, migrations: [view({})] },
      "• db-1: compute-1 → compute-2 — running, Iterative pre-copy 52% (requested by <@U0ALICE01>)",
    ],
    [{ kind: "status", vm: "db-1", migrations: [] }, "migbot has no migration of db-1 on record."],
  ])("%j", (answer, text) => {
    expect(renderAnswer(answer).text).toBe(text);
  });

  test("sent privately to the person who asked, through the reply transport", async () => {
    const sent: unknown[] = [];
    const answer = createAnswerPresenter(
      async (url, user, channel, msg) => void sent.push({ url, user, channel, msg }),
    );
    await answer(
      { channel: "C0OPS0001", user: ALICE, responseUrl: "https://hooks.slack.com/x" },
      { kind: "control-sent", vm: "db-1", action: "abort" },
    );
    expect(sent).toEqual([
      {
        url: "https://hooks.slack.com/x",
        user: ALICE,
        channel: "C0OPS0001",
        msg: { text: "Asked Nova to abort the live migration of db-1; the thread will show when it stops." },
      },
    ]);
  });
});

describe("answers with hostile text are inert", () => {
  const hostile: Answer[] = [
    { kind: "unknown-vm", vm: HOSTILE },
    { kind: "unknown-host", host: HOSTILE, known: [HOSTILE] },
    { kind: "already-there", vm: HOSTILE, host: HOSTILE },
    { kind: "not-active", vm: HOSTILE, status: HOSTILE, taskState: HOSTILE },
    { kind: "vm-busy", vm: HOSTILE },
    { kind: "request-stale", vm: HOSTILE, waitedMinutes: 60 },
    { kind: "action-failed", error: `Nova said: ${HOSTILE}` },
    { kind: "control-unknown", vm: HOSTILE },
    { kind: "control-ended", vm: HOSTILE, action: "force-complete", status: "completed" },
    { kind: "control-too-early", vm: HOSTILE },
    { kind: "control-already-asked", by: HOSTILE, action: "abort" },
    { kind: "control-already-asked", by: null, action: null },
    { kind: "control-sent", vm: HOSTILE, action: "force-complete" },
    { kind: "status", vm: HOSTILE, migrations: [] },
    {
      kind: "status",
      vm: null,
      migrations: [view({ serverName: HOSTILE, source: HOSTILE, destination: HOSTILE, status: "completed" })],
    },
  ];
  test.each(hostile)("%j", (answer) => {
    const { text } = renderAnswer(answer);
    expect(text).not.toContain("<!");
    expect(text).not.toMatch(/<https?:/);
    for (const m of text.match(/<@[^>]*>/g) ?? []) expect(m).toBe(`<@${ALICE}>`);
    if (answer.kind !== "control-already-asked" || answer.by !== null)
      expect(text).toContain("&lt;!channel&gt;");
  });
});
