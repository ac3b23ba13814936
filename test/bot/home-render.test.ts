/**
 * The Home tab's renderer and the checks on what it reads from Redis: what a person reads, hostile
 * names kept inert, Slack's block limit kept and said, and records that do not check out left out.
 */
import { describe, expect, it } from "vitest";
import { HOME_MAX_BLOCKS, type HomeTabView, messageLink, renderHome } from "../../bot/render/home";
import type { HomeMigration, HomeProposal, HomeSnapshot } from "../../src/home/index";
import { checkMigration, checkPendingProposal, readHomeSnapshot } from "../../src/home/read";
import { validateBlocks } from "../../src/sandbox/slack/block-kit";
import { DEFAULT_SLACK_LIMITS } from "../../src/sandbox/slack/limits";
import { expectInert, HOSTILE_TEXTS, HOSTILE_VM } from "../support/hostile";

const NOW = Date.UTC(2026, 10, 29, 12, 0, 0);
const WORKSPACE = "https://migbot-sandbox.slack.com/";

function migration(over: Partial<HomeMigration> = {}): HomeMigration {
  return {
    jobId: "job-1",
    vm: "vm-42",
    source: "compute-1",
    destination: "compute-3",
    phase: "precopy",
    status: "running",
    startedAt: NOW - 65_000,
    endedAt: null,
    requestedBy: "U0ALICE01",
    channel: "C0OPS0001",
    threadTs: "1764417600.000100",
    failure: null,
    ...over,
  };
}

function proposal(over: Partial<HomeProposal> = {}): HomeProposal {
  return {
    id: "p".repeat(22),
    title: "Enable libvirt auto-converge on compute-1 and compute-3",
    requestedBy: "U0ALICE01",
    channel: "C0OPS0001",
    threadTs: "1764417600.000100",
    messageTs: "1764417700.000200",
    createdAt: NOW - 1000,
    expiresAt: NOW + 3_600_000,
    ...over,
  };
}

function snapshot(over: Partial<HomeSnapshot> = {}): HomeSnapshot {
  return {
    at: NOW,
    running: [migration()],
    runningTotal: 1,
    pending: [proposal()],
    pendingTotal: 1,
    drains: null,
    outcomes: [],
    unreadable: 0,
    stale: 0,
    ...over,
  };
}

function view(over: Partial<HomeTabView> = {}): HomeTabView {
  const s = over.snapshot ?? snapshot();
  return {
    user: "U0BOB0001",
    snapshot: s,
    canApprove: true,
    waiting: s.pending,
    waitingMore: 0,
    workspaceUrl: WORKSPACE,
    ...over,
  };
}

const textOf = (blocks: unknown[]) => JSON.stringify(blocks);

describe("renderHome", () => {
  it("shows a running migration with its route, phase and a link to its thread, and a waiting proposal to an approver", () => {
    const { blocks } = renderHome(view());
    const text = textOf(blocks);
    expect(text).toContain("*vm-42* `compute-1` → `compute-3`");
    expect(text).toContain("Iterative pre-copy · running for 1 min 05 s");
    expect(text).toContain("Waiting for your approval* (1)");
    expect(text).toContain("Enable libvirt auto-converge");
    const urls = blocks.map((b) => (b.accessory as { url?: string } | undefined)?.url).filter(Boolean);
    expect(urls).toEqual([
      "https://migbot-sandbox.slack.com/archives/C0OPS0001/p1764417600000100",
      "https://migbot-sandbox.slack.com/archives/C0OPS0001/p1764417700000200?thread_ts=1764417600.000100&cid=C0OPS0001",
    ]);
    expect(validateBlocks(blocks, { ...DEFAULT_SLACK_LIMITS, blocksPerMessage: HOME_MAX_BLOCKS })).toEqual(
      [],
    );
  });

  it("shows no approval section at all to someone who may not approve", () => {
    const text = textOf(renderHome(view({ canApprove: false, waiting: [] })).blocks);
    expect(text).not.toContain("Waiting for your approval");
    expect(text).not.toContain("auto-converge");
  });

  it("lists outcomes with their result and, for failures, why", () => {
    const s = snapshot({
      running: [],
      runningTotal: 0,
      outcomes: [
        migration({ status: "completed", endedAt: NOW - 10_000, startedAt: NOW - 70_000 }),
        migration({
          jobId: "job-2",
          vm: "db-1",
          status: "failed",
          endedAt: NOW - 20_000,
          failure: "MIGRATION_PROGRESS_TIMEOUT: Nova aborted it after 150 s without progress.",
        }),
      ],
    });
    const text = textOf(renderHome(view({ snapshot: s })).blocks);
    expect(text).toContain("Nothing is migrating right now");
    expect(text).toContain("Last outcomes* (2)");
    expect(text).toContain("Completed in 1 min 00 s");
    expect(text).toContain("Failed");
    expect(text).toContain("MIGRATION_PROGRESS_TIMEOUT");
  });

  it("keeps hostile names, titles and failure texts inert", () => {
    const hostile = HOSTILE_TEXTS.map((t, i) =>
      migration({
        jobId: `j${i}`,
        vm: t,
        source: t,
        destination: t,
        failure: t,
        status: "failed",
        endedAt: NOW,
      }),
    );
    const s = snapshot({
      running: [migration({ vm: HOSTILE_VM, source: HOSTILE_VM })],
      outcomes: hostile,
      pending: [proposal({ title: HOSTILE_VM })],
      drains: [
        {
          id: "d1",
          host: HOSTILE_VM,
          state: HOSTILE_VM,
          moved: 1,
          total: 3,
          requestedBy: "<!here>",
          channel: "C0OPS0001",
          threadTs: null,
        },
      ],
    });
    const { blocks } = renderHome(view({ snapshot: s, waiting: s.pending }));
    expectInert(blocks, ["U0ALICE01", "U0BOB0001"]);
    expect(textOf(blocks)).toContain("&lt;!channel&gt;");
  });

  it("stays within 100 blocks however much there is, and says what it left out", () => {
    const many = Array.from({ length: 20 }, (_, i) => migration({ jobId: `j${i}` }));
    const s = snapshot({
      running: many,
      runningTotal: 57,
      outcomes: many.slice(0, 10).map((m) => ({ ...m, status: "completed" as const, endedAt: NOW })),
      pending: Array.from({ length: 15 }, () => proposal()),
      pendingTotal: 40,
      drains: Array.from({ length: 50 }, (_, i) => ({
        id: `d${i}`,
        host: `cmp${i}`,
        state: "running",
        moved: 0,
        total: 40,
        requestedBy: "U0ALICE01",
        channel: "C0OPS0001",
        threadTs: null,
      })),
    });
    const { blocks } = renderHome(view({ snapshot: s, waiting: s.pending, waitingMore: 25 }));
    expect(blocks.length).toBe(HOME_MAX_BLOCKS);
    const text = textOf(blocks);
    expect(text).toContain("37 more running, not listed here");
    expect(text).toMatch(/more lines left out: Slack shows at most 100 blocks here/);
    expect(validateBlocks(blocks, { ...DEFAULT_SLACK_LIMITS, blocksPerMessage: HOME_MAX_BLOCKS })).toEqual(
      [],
    );
  });

  it("links nowhere when the ids do not look like Slack's", () => {
    expect(messageLink(WORKSPACE, "C0OPS0001", "1.2")).toBe(
      "https://migbot-sandbox.slack.com/archives/C0OPS0001/p12",
    );
    expect(messageLink(WORKSPACE, "C0OPS0001/../x", "1.2")).toBeNull();
    expect(messageLink(WORKSPACE, "C0OPS0001", "1.2?x=<")).toBeNull();
    expect(messageLink("https://evil.example/", "C0OPS0001", "1.2")).toBeNull();
    expect(messageLink(null, "C0OPS0001", "1.2")).toBeNull();
  });
});

describe("what the Home tab reads from Redis", () => {
  const record = {
    view: {
      jobId: "abc",
      vm: "vm-42",
      serverName: "vm-42",
      status: "running",
      phase: "precopy",
      startedAt: NOW,
      endedAt: null,
      channel: "C0OPS0001",
      source: "compute-1",
      destination: null,
      requestedDestination: "compute-3",
      requestedBy: "U0ALICE01",
      failure: null,
    },
    posts: { root: "1764417600.000100" },
  };

  it("takes a well-formed record", () => {
    expect(checkMigration(record)).toMatchObject({
      vm: "vm-42",
      destination: "compute-3",
      threadTs: "1764417600.000100",
    });
  });

  it.each([
    ["not an object", "x"],
    ["no view", { posts: {} }],
    ["an unknown status", { ...record, view: { ...record.view, status: "pwned" } }],
    ["an unknown phase", { ...record, view: { ...record.view, phase: "<!channel>" } }],
    ["a channel that is not a channel id", { ...record, view: { ...record.view, channel: "C1/../../x" } }],
    ["a start that is not a time", { ...record, view: { ...record.view, startedAt: "yesterday" } }],
    ["a VM name that is not text", { ...record, view: { ...record.view, vm: { a: 1 }, serverName: 7 } }],
  ])("leaves out a record with %s", (_why, raw) => {
    expect(checkMigration(raw)).toBeUndefined();
  });

  it("drops a root ts that could be used to bend the thread link", () => {
    expect(checkMigration({ ...record, posts: { root: "1.2&evil=1" } })?.threadTs).toBeNull();
  });

  it("takes only pending, unexpired, well-formed proposals", () => {
    const p = { ...proposal(), status: "pending" };
    expect(checkPendingProposal(p, NOW)).toMatchObject({ title: p.title });
    expect(checkPendingProposal({ ...p, status: "approved" }, NOW)).toBeUndefined();
    expect(checkPendingProposal({ ...p, expiresAt: NOW - 1 }, NOW)).toBeUndefined();
    expect(checkPendingProposal({ ...p, title: 42 }, NOW)).toBeUndefined();
    expect(checkPendingProposal({ ...p, messageTs: "<x>" }, NOW)?.messageTs).toBeNull();
  });

  it("lists as running only what a live job holds the VM for, and counts the rest as stale", async () => {
    const live = record;
    const dead = { ...record, view: { ...record.view, jobId: "dead", vm: "vm-7", serverName: "vm-7" } };
    const done = { ...record, view: { ...record.view, jobId: "done", status: "completed", endedAt: NOW } };
    const snap = await readHomeSnapshot({
      migrations: {
        recentUnchecked: async () => [live, dead, done, "garbage"],
        vmHolders: async (vms) => vms.map((vm) => (vm === "vm-42" ? "abc" : null)),
      },
      proposals: { recentIds: async () => [], get: async () => null },
      drains: null,
      now: () => NOW,
    });
    expect(snap.running.map((m) => m.jobId)).toEqual(["abc"]);
    expect(snap.stale).toBe(1);
    expect(snap.outcomes.map((m) => m.jobId)).toEqual(["done"]);
    expect(snap.unreadable).toBe(1);
    const text = JSON.stringify(renderHome(view({ snapshot: snap, waiting: [] })).blocks);
    expect(text).toContain("1 more recorded as running but held by no worker");
  });
});
