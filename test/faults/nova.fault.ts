/**
 * Nova's API failing (through an HTTP fault proxy in front of Keystone + Nova: the catalog points
 * migbot at the proxy): 5xx, a cut connection, an answer lost after Nova acted, an answer that never
 * comes (migbot's request timeout), an expired token, and the API refusing connections — while the
 * live-migrate is sent, and while the migration is polled. Nova's own record (read straight from the
 * sandbox, not through the proxy) says how many live migrations each request made.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import type { StoredMessage } from "../../src/sandbox/slack/emulator";
import { type SlackChannel, slackChannel } from "../support/slack-threads";
import { expectPhasesOnce, hostOf, liveMigrations, otherOf, waitFinished, waitReply } from "./support/checks";
import { type FaultStack, memoryLog, startFaultStack } from "./support/fault-stack";
import type { HttpFault, SeenRequest } from "./support/http-proxy";
import { faultCase, ms } from "./support/reliability";

/** How long the API refuses connections in the "refused" cases. */
const NOVA_OUTAGE_MS = 4_000;

let stack: FaultStack;
let ops: SlackChannel;
const mem = memoryLog();

beforeAll(async () => {
  stack = await startFaultStack("faults-nova", { timeScale: 5, log: mem.log });
  ops = slackChannel(stack.slack, { timeoutMs: 120_000 });
});
afterEach(async () => {
  stack.cloud.nova.clear();
  await stack.cloud.nova.refuse(false);
});
afterAll(async () => {
  if (process.env.FAULTS_DEBUG) console.log(mem.lines.join("\n"));
  await stack?.stop();
});

/** Each VM of a case, the pair of hosts it moves between (their CPUs take each other's guests). */
const MOVES: { vm: string; pair: [string, string] }[] = [
  { vm: "app-1", pair: ["compute-3", "compute-4"] },
  { vm: "app-2", pair: ["compute-3", "compute-4"] },
  { vm: "app-3", pair: ["compute-3", "compute-4"] },
  { vm: "batch-1", pair: ["compute-3", "compute-4"] },
  { vm: "vm-42", pair: ["compute-1", "compute-3"] },
];

const isTrigger = (id: string) => (r: SeenRequest) =>
  r.method === "POST" && r.path.includes(`/servers/${id}/action`) && r.body.includes("os-migrateLive");
const isPoll = (id: string) => (r: SeenRequest) =>
  r.method === "GET" && r.path.includes(`/servers/${id}/migrations`);

/** Live-migrate requests for `id` that reached Nova (through the proxy). */
const triggersForwarded = (id: string) =>
  stack.cloud.nova.log.filter((r) => isTrigger(id)(r) && r.forwarded).length;

const FAULTS: { name: string; fault: HttpFault; times?: number }[] = [
  { name: "HTTP 503", fault: { kind: "status", status: 503, body: { message: "Service Unavailable" } } },
  { name: "HTTP 500 ×2", fault: { kind: "status", status: 500, body: {} }, times: 2 },
  { name: "connection cut before Nova saw it", fault: { kind: "reset" } },
  { name: "answer lost after Nova acted", fault: { kind: "reset-after-forward" } },
  {
    name: "expired token (401)",
    fault: {
      kind: "status",
      status: 401,
      body: {
        error: {
          code: 401,
          title: "Unauthorized",
          message: "The request you have made requires authentication.",
        },
      },
    },
  },
];

/** Starts one /migrate per move, each request meeting its own fault on `which` calls. */
async function runWithFaults(which: (id: string) => (r: SeenRequest) => boolean, faults = FAULTS) {
  const runs = [];
  for (const [i, f] of faults.entries()) {
    const { vm, pair } = MOVES[i]!;
    const server = (await stack.truth.findServer(vm))!;
    const to = otherOf(await hostOf(stack.truth, vm), pair);
    const before = (await liveMigrations(stack.truth, vm)).length;
    stack.cloud.nova.inject({ match: which(server.id), fault: f.fault, times: f.times ?? 1 });
    runs.push({ ...f, vm, to, id: server.id, before, triggersBefore: triggersForwarded(server.id) });
  }
  const roots: StoredMessage[] = [];
  for (const r of runs) roots.push(await ops.commandRoot("alice", "/migrate", `${r.vm} to ${r.to}`, r.vm));
  return runs.map((r, i) => ({ ...r, root: roots[i]! }));
}

async function expectOneMigrationEach(runs: Awaited<ReturnType<typeof runWithFaults>>) {
  const results: string[] = [];
  for (const r of runs) {
    const done = await waitFinished(ops, r.root.ts, 150_000);
    expect(
      done.text,
      `${r.name}: ${ops
        .thread(r.root.ts)
        .map((m) => m.text)
        .join("\n")}`,
    ).toMatch(/Completed/);
    expectPhasesOnce(ops, r.root.ts);
    expect(
      (await liveMigrations(stack.truth, r.vm)).length - r.before,
      `${r.name}: Nova's live migrations`,
    ).toBe(1);
    expect(
      triggersForwarded(r.id) - r.triggersBefore,
      `${r.name}: live-migrate requests that reached Nova`,
    ).toBe(1);
    expect(await hostOf(stack.truth, r.vm)).toBe(r.to);
    // The root's ts is when it was posted (wall clock): the thread's whole life.
    const end = Math.max(...[done, ...ops.thread(r.root.ts)].map((m) => Number(m.ts) * 1000));
    results.push(`${r.name} ${ms(end - Number(r.root.ts) * 1000)}`);
  }
  return results;
}

describe("Nova API faults", () => {
  test("during the trigger (503, 500 twice, cut, answer lost, expired token)", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "Nova API: 503, 500 twice, connection cut, answer lost after Nova acted, expired token (401)",
      when: "on the live-migrate request (one fault per concurrent /migrate)",
      userSees: "each thread completes; a retry is invisible (or a short delay before Reservation)",
      mustHold:
        "exactly one live-migrate request reaches Nova per /migrate (none re-sent after Nova acted), one live migration in Nova's record, phases once",
    });
    const t0 = Date.now();
    const runs = await runWithFaults(isTrigger);
    const results = await expectOneMigrationEach(runs);
    // Every fault was served to its own live-migrate request.
    for (const r of runs) {
      const served = stack.cloud.nova.log.filter(
        (l) =>
          isTrigger(r.id)(l) && l.outcome === (r.fault.kind === "status" ? r.fault.status : r.fault.kind),
      ).length;
      expect(served, r.name).toBe(r.times ?? 1);
    }
    c.measure(
      `${results.length}/${FAULTS.length} completed, 1 live-migrate reached Nova for each, ${ms(Date.now() - t0)} for all (root to last reply: ${results.join(", ")})`,
    );
  });

  test("while polling (503, 500 twice, cut, answer lost, expired token)", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "Nova API: 503, 500 twice, connection cut, answer lost, expired token (401)",
      when: "on the migration polls during pre-copy (one fault per concurrent /migrate)",
      userSees: "the threads carry on and complete",
      mustHold: "one live migration each, phases once, final state posted",
    });
    // Each fault hits its migration's first poll after the trigger (the small VMs finish within two).
    const nthPoll = (id: string, n: number) => {
      let seen = 0;
      return (r: SeenRequest) => isPoll(id)(r) && ++seen >= n;
    };
    const started = [];
    for (const [i, f] of FAULTS.entries()) {
      const { vm, pair } = MOVES[i]!;
      const server = (await stack.truth.findServer(vm))!;
      const to = otherOf(await hostOf(stack.truth, vm), pair);
      const before = (await liveMigrations(stack.truth, vm)).length;
      const triggersBefore = triggersForwarded(server.id);
      stack.cloud.nova.inject({ match: nthPoll(server.id, 1), fault: f.fault, times: f.times ?? 1 });
      const root = await ops.commandRoot("alice", "/migrate", `${vm} to ${to}`, vm);
      started.push({ ...f, vm, to, id: server.id, before, triggersBefore, root });
    }
    const results = await expectOneMigrationEach(started);
    // Every fault was served to a poll of its own migration.
    const faultedPolls = started.map(
      (r) =>
        stack.cloud.nova.log.filter(
          (l) => isPoll(r.id)(l) && l.outcome === (r.fault.kind === "status" ? r.fault.status : r.fault.kind),
        ).length,
    );
    for (const [i, r] of started.entries())
      expect(
        faultedPolls[i],
        `${r.name}: ${JSON.stringify(stack.cloud.nova.log.filter((l) => l.path.includes(r.id)).map((l) => [l.method, l.path.replace(/^.*servers\//, ""), l.outcome]))}`,
      ).toBe(r.times ?? 1);
    c.measure(
      `${results.length}/${FAULTS.length} completed (root to last reply: ${results.join(", ")}); faulted polls served: ${faultedPolls.join(", ")}`,
    );
  });

  test("a poll that never answers (migbot's request timeout)", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "Nova API never answers a poll (request timeout, 30 s)",
      when: "mid-pre-copy",
      userSees: "the thread pauses, then completes",
      mustHold: "one live migration; phases once; another migration is not held up",
    });
    const vm = "vm-42";
    const server = (await stack.truth.findServer(vm))!;
    const to = otherOf(await hostOf(stack.truth, vm), ["compute-1", "compute-3"]);
    const before = (await liveMigrations(stack.truth, vm)).length;
    const triggersBefore = triggersForwarded(server.id);
    stack.cloud.nova.inject({
      match: (r) => isPoll(server.id)(r),
      fault: { kind: "hang", forward: true },
    });
    const root = await ops.commandRoot("alice", "/migrate", `${vm} to ${to}`, vm);
    const other = { vm: "app-1", pair: ["compute-3", "compute-4"] as [string, string] };
    const otherServer = (await stack.truth.findServer(other.vm))!;
    const otherTo = otherOf(await hostOf(stack.truth, other.vm), other.pair);
    const otherBefore = (await liveMigrations(stack.truth, other.vm)).length;
    const otherTriggersBefore = triggersForwarded(otherServer.id);
    const otherRoot = await ops.commandRoot("alice", "/migrate", `${other.vm} to ${otherTo}`, other.vm);
    const t0 = Date.now();
    const otherDone = await waitFinished(ops, otherRoot.ts, 150_000);
    c.measure(`the other migration completed ${ms(Date.now() - t0)} after start, during the hang`);
    expect(otherDone.text).toMatch(/Completed/);
    const results = await expectOneMigrationEach([
      {
        name: "hang",
        fault: { kind: "hang", forward: true },
        vm,
        to,
        id: server.id,
        before,
        triggersBefore,
        root,
      },
      {
        name: "other",
        fault: { kind: "hang", forward: true },
        vm: other.vm,
        to: otherTo,
        id: otherServer.id,
        before: otherBefore,
        triggersBefore: otherTriggersBefore,
        root: otherRoot,
      },
    ]);
    c.measure(`${results.length}/2 completed, ${ms(Date.now() - t0)}`);
  });

  test("the API refusing connections at the trigger and mid-pre-copy", async (ctx) => {
    const c = faultCase(ctx, {
      fault: "Nova API refuses connections (port closed)",
      when: `as the /migrate is queued, for ${NOVA_OUTAGE_MS / 1000} s; then again mid-pre-copy for as long`,
      userSees: "the thread starts a few seconds late, pauses in pre-copy, completes",
      mustHold: "one live-migrate request reaches Nova; one live migration; phases once",
    });
    const vm = "vm-42";
    const server = (await stack.truth.findServer(vm))!;
    const to = otherOf(await hostOf(stack.truth, vm), ["compute-1", "compute-3"]);
    const before = (await liveMigrations(stack.truth, vm)).length;
    const triggersBefore = triggersForwarded(server.id);
    await stack.cloud.nova.refuse(true);
    const rootsBefore = ops.roots().length;
    await ops.command("alice", "/migrate", `${vm} to ${to}`);
    await new Promise((r) => setTimeout(r, NOVA_OUTAGE_MS));
    await stack.cloud.nova.refuse(false);
    const back = Date.now();
    const root = await ops.waitFor("the root message", () =>
      ops
        .roots()
        .slice(rootsBefore)
        .find((r) => r.text.includes(vm)),
    );
    await waitReply(ops, root.ts, "Iterative pre-copy", 90_000);
    c.measure(`pre-copy reply ${ms(Date.now() - back)} after the API was back`);
    await stack.cloud.nova.refuse(true);
    await new Promise((r) => setTimeout(r, NOVA_OUTAGE_MS));
    await stack.cloud.nova.refuse(false);
    await expectOneMigrationEach([
      { name: "refused", fault: { kind: "reset" }, vm, to, id: server.id, before, triggersBefore, root },
    ]);
    c.measure("completed; 1 live-migrate reached Nova; 1 live migration");
  });
});
