/**
 * The bot, unchanged, against the lab: signed slash commands and button clicks from the Slack
 * emulator into the real Bolt app, Redis and BullMQ; the worker talks to the sandbox's Nova API
 * (lab data plane) over HTTP and to the lab hosts' real sshd. Every migration is a real QEMU live
 * migration run by the source host's nova-compute agent with `virsh migrate`.
 *
 * First a calm guest converges with no fix (cmp2 → cmp3). Then
 * /migrate dirty-1 to cmp2 → not converging by the third iteration → auto-converge proposed →
 * the migration is aborted at Nova's progress bound → bob approves → nova.conf edited on cmp1 and
 * cmp2 over SSH, agents restarted → Retry → the migration completes; the guest runs on cmp2 (its
 * serial log grows there) and is gone from cmp1. Last, the calm guest (now on the Skylake host) fails
 * the CPU pre-check against the Haswell host's declared CPU.
 *
 * Runs as root where namespaces are permitted; elsewhere it skips and prints why.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { ACTION_APPROVE, ACTION_RETRY } from "../../bot/render/proposal";
import { listDomains, serialLogSize } from "../../src/lab/guest";
import { labDown, labUp, liveAgentPid } from "../../src/lab/lab";
import { acquireLabLock } from "../../src/lab/lock";
import { type LabState, processStartTime } from "../../src/lab/state";
import { SANDBOX_CHANNEL } from "../../src/runtime/stack";
import type { StoredMessage } from "../../src/sandbox/slack/emulator";
import { decodePng } from "../support/png";
import { untilExplained } from "../support/until";
import { type LabStack, startLabStack } from "./lab-stack";
import { LAB_LOCK_WAIT_MS, labSkipReason } from "./support";

const STATE_DIR = `/run/migbot-lab-story-${process.pid}`;
const UP_TIMEOUT_MS = 120_000;
const DOWN_TIMEOUT_MS = 60_000;
/** From /migrate to the tracker's not-converging reply (iteration 3 at the Mitaka source's 5 MiB/s comes after ~20-30 s). */
const NOT_CONVERGING_TIMEOUT_MS = 90_000;
/** Nova's progress bound on the Mitaka source is 60 s without a new low; the abort follows within ~90 s. */
const BOUND_ABORT_TIMEOUT_MS = 180_000;
/** Approve → abort-first, two nova.conf edits over SSH, two agent restarts, Nova shows them up. */
const APPLY_TIMEOUT_MS = 90_000;
/** With QEMU's auto-converge (20 %, +10 %) at 5 MiB/s the migration completes in about a minute. */
const RETRY_COMPLETE_TIMEOUT_MS = 180_000;
const CALM_COMPLETE_TIMEOUT_MS = 90_000;
const CPU_FAIL_TIMEOUT_MS = 60_000;
const SERIAL_GROWTH_TIMEOUT_MS = 15_000;
const POLL_MS = 250;

const skipReason = await labSkipReason();
if (skipReason !== null) console.log(`[lab] skipping the lab story: ${skipReason}`);

/** The chart follows the thread's last words within seconds (drawing ~0.2 s, then the channel's queue). */
const CHART_TIMEOUT_MS = 30_000;
const measured: Record<string, number | string> = {};
let stack: LabStack;
let state: LabState;
let releaseLock: (() => void) | undefined;

/** Waits for a check (test/support/until.ts), the channel's transcript in a timeout's message. */
const until = untilExplained(() => `the channel now:\n${transcript()}`, POLL_MS);

function roots(): StoredMessage[] {
  return stack.slack.messages(SANDBOX_CHANNEL.id);
}

function transcript(): string {
  return roots()
    .slice(-3)
    .map((r) => [r, ...r.replies].map((m) => `${m.ts} ${m.text.slice(0, 400)}`).join("\n  "))
    .join("\n");
}

function root(ts: string): StoredMessage | undefined {
  return roots().find((r) => r.ts === ts);
}

function byTs(ts: string): StoredMessage | undefined {
  for (const r of roots()) for (const m of [r, ...r.replies]) if (m.ts === ts) return m;
  return undefined;
}

async function migrate(text: string, vm: string): Promise<StoredMessage> {
  const before = new Set(roots().map((r) => r.ts));
  const res = await stack.slack.slashCommand({ user: "alice", channel: "ops", command: "/migrate", text });
  expect(res.status).toBe(200);
  return until(`the root message of /migrate ${text}`, 30_000, () =>
    roots().find((r) => !before.has(r.ts) && r.text.includes(vm)),
  );
}

/** Waits for the `n`th chart (a reply sharing a file) in a thread; checks it decodes as a PNG. */
async function chartIn(rootTs: string, n: number, name: string): Promise<StoredMessage> {
  const chart = await until(`${name}'s chart`, CHART_TIMEOUT_MS, () =>
    root(rootTs)!
      .replies.filter((m) => m.files !== undefined)
      .at(n - 1),
  );
  const bytes = stack.slack.file(chart.files![0]!.id)!.bytes!;
  const png = decodePng(bytes);
  expect([png.width, png.height]).toEqual([960, 640]);
  measured[`${name}ChartBytes`] = bytes.length;
  // To look at the chart of a real migration: MIGBOT_LAB_CHART_DIR=/tmp/charts npx vitest run test/lab/story.test.ts
  const dir = process.env.MIGBOT_LAB_CHART_DIR;
  if (dir) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.png`), bytes);
  }
  return chart;
}

function novaConf(host: string): string {
  return readFileSync(join(STATE_DIR, host, "etc-upper", "nova", "nova.conf"), "utf8");
}

describe.skipIf(skipReason !== null)(
  "the bot against the lab: real sshd, libvirtd, QEMU and nova-compute agents",
  () => {
    beforeAll(async () => {
      releaseLock = await acquireLabLock("test/lab/story.test.ts", LAB_LOCK_WAIT_MS);
      const started = Date.now();
      state = await labUp({ hosts: 3, stateDir: STATE_DIR }, () => {});
      stack = await startLabStack({
        redisUrl: inject("redisUrl"),
        prefix: `lab-story-${randomUUID()}`,
        cloud: { labStateDir: STATE_DIR },
      });
      measured.labAndCloudUpMs = Date.now() - started;
    }, LAB_LOCK_WAIT_MS + UP_TIMEOUT_MS);

    afterAll(async () => {
      await stack?.stop();
      if (existsSync(join(STATE_DIR, "state.json"))) await labDown(STATE_DIR, () => {});
      releaseLock?.();
      console.log(`[lab-story] measured: ${JSON.stringify(measured)}`);
    }, DOWN_TIMEOUT_MS);

    test(
      "a guest that dirties slowly converges at the link's bandwidth with no fix",
      async () => {
        const started = Date.now();
        const r = await migrate("calm-1 to cmp3", "calm-1");
        await until("calm-1 completed", CALM_COMPLETE_TIMEOUT_MS, () => {
          const now = root(r.ts);
          if (now && /Failed|Aborted/.test(now.text)) throw new Error(`calm-1 did not complete: ${now.text}`);
          return now && /Completed/.test(now.text) ? now : undefined;
        });
        measured.calmCompletedAfterMs = Date.now() - started;
        expect(stack.sandbox.cloud.migrations.at(-1)!.report?.virshArgs).not.toContain("--auto-converge");
        expect((await stack.nova.findServer("calm-1"))?.host).toBe("cmp3");
        // The thread gets the chart of the real migration (libvirt's own figures).
        const chart = await chartIn(r.ts, 1, "calm");
        expect(chart.text).toMatch(/^Chart of \*calm-1\*'s migration, completed in/);
      },
      CALM_COMPLETE_TIMEOUT_MS + 30_000,
    );

    test(
      "not converging → bounded abort → approve auto-converge → nova.conf edited, agents restarted → retry completes on cmp2",
      async () => {
        const domain = "instance-00000101";
        const agentPidsBefore = ["cmp1", "cmp2"].map((h) => liveAgentPid(STATE_DIR, h));
        const started = Date.now();
        const first = await migrate("dirty-1 to cmp2", "dirty-1");

        const warning = await until("the not-converging reply", NOT_CONVERGING_TIMEOUT_MS, () =>
          root(first.ts)!.replies.find((m) => /is not converging/.test(m.text)),
        );
        measured.notConvergingAfterMs = Date.now() - started;
        const iteration = Number(/judged in pre-copy iteration (\d+)/.exec(warning.text)?.[1]);
        measured.notConvergingIteration = iteration;
        expect((await chartIn(first.ts, 1, "dirtyWarning")).text).toMatch(/^Chart so far of \*dirty-1\*/);
        expect(iteration).toBeGreaterThanOrEqual(2);
        expect(iteration).toBeLessThanOrEqual(3);

        const proposal = await until(
          "an auto-converge proposal with Approve",
          NOT_CONVERGING_TIMEOUT_MS,
          () => {
            const b = stack.slack
              .findButtons(SANDBOX_CHANNEL.id)
              .find((x) => x.threadTs === first.ts && x.actionId === ACTION_APPROVE);
            const m = b && byTs(b.messageTs);
            return m && /auto-converge/i.test(m.text) ? m : undefined;
          },
        );

        // Without the fix, Nova's own bound ends it: the agent on the Mitaka source aborts after
        // live_migration_progress_timeout without a new low of data remaining.
        await until("the first migration to end at Nova's bound", BOUND_ABORT_TIMEOUT_MS, () =>
          /Aborted|Failed|failed|error/.test(root(first.ts)!.text) ? true : undefined,
        );
        measured.withoutFixAbortedAfterMs = Date.now() - started;
        const firstRecord = stack.sandbox.cloud.migrations.find((m) => m.server.seed.name === "dirty-1")!;
        expect(firstRecord.record.status).toBe("error");
        expect(firstRecord.report?.virshArgs).not.toContain("--auto-converge");
        const sourceLog = readFileSync(
          join(STATE_DIR, "cmp1", "fs", "var-log-nova", "nova-compute.log"),
          "utf8",
        );
        const bound =
          /WARNING nova\.virt\.libvirt\.driver .* (Live migration (?:stuck for|not completed after) \d+ sec)/.exec(
            sourceLog,
          );
        expect(bound).not.toBeNull();
        measured.withoutFixBound = bound![1]!;
        expect(sourceLog).toContain("Live Migration failure: ");
        expect(await listDomains(state, "cmp1")).toEqual({ [domain]: "running" });
        expect(await listDomains(state, "cmp2")).not.toHaveProperty(domain);

        const approved = await stack.slack.clickButton({
          user: "bob",
          channel: "ops",
          messageTs: proposal.ts,
          actionId: ACTION_APPROVE,
        });
        expect(approved.ackMs).toBeLessThan(3000);
        const applyStarted = Date.now();
        const applied = await until("the proposal applied", APPLY_TIMEOUT_MS, () => {
          const now = byTs(proposal.ts);
          if (now && /not applied in full/.test(now.text))
            throw new Error(`proposal failed: ${JSON.stringify(now.blocks)}`);
          return now && /applied\./.test(now.text) ? now : undefined;
        });
        measured.applyMs = Date.now() - applyStarted;
        // Real files on the real hosts, edited over real SSH; the agents re-read them on restart.
        expect(novaConf("cmp1")).toMatch(/^live_migration_flag = .*VIR_MIGRATE_AUTO_CONVERGE/m);
        expect(novaConf("cmp2")).toMatch(/^live_migration_permit_auto_converge = true$/m);
        const agentPidsAfter = ["cmp1", "cmp2"].map((h) => liveAgentPid(STATE_DIR, h));
        for (const [i, pid] of agentPidsAfter.entries()) {
          expect(pid).not.toBeNull();
          expect(pid).not.toBe(agentPidsBefore[i]);
        }
        expect(stack.sandbox.cloud.hosts.get("cmp1")!.heartbeat?.autoConverge).toBe(true);

        const rootsBefore = new Set(roots().map((r) => r.ts));
        await stack.slack.clickButton({
          user: "alice",
          channel: "ops",
          messageTs: applied.ts,
          actionId: ACTION_RETRY,
        });
        const retryStarted = Date.now();
        const retried = await until("the retried migration's root message", 30_000, () =>
          roots().find((r) => !rootsBefore.has(r.ts) && r.text.includes("dirty-1")),
        );
        await until("the retried migration completed", RETRY_COMPLETE_TIMEOUT_MS, () => {
          const r = root(retried.ts);
          if (r && /Failed|Aborted/.test(r.text)) throw new Error(`the retry did not complete: ${r.text}`);
          return r && /Completed/.test(r.text) ? r : undefined;
        });
        measured.withFixCompletedAfterMs = Date.now() - retryStarted;
        const retryRecord = stack.sandbox.cloud.migrations.at(-1)!;
        expect(retryRecord.report?.virshArgs).toContain("--auto-converge");
        expect((await stack.nova.findServer("dirty-1"))?.host).toBe("cmp2");

        expect(await listDomains(state, "cmp2")).toMatchObject({ [domain]: "running" });
        expect(await listDomains(state, "cmp1")).not.toHaveProperty(domain);
        const onCmp2 = serialLogSize(state, "cmp2", domain);
        const onCmp1 = serialLogSize(state, "cmp1", domain);
        await until("the guest's serial log growing on cmp2", SERIAL_GROWTH_TIMEOUT_MS, () =>
          serialLogSize(state, "cmp2", domain) > onCmp2 + 1 ? true : undefined,
        );
        expect(serialLogSize(state, "cmp1", domain)).toBe(onCmp1);
      },
      NOT_CONVERGING_TIMEOUT_MS +
        BOUND_ABORT_TIMEOUT_MS +
        APPLY_TIMEOUT_MS +
        RETRY_COMPLETE_TIMEOUT_MS +
        60_000,
    );

    test(
      "the CPU pre-check compares against the declared CPUs with real virsh: a guest on Skylake cannot go to Haswell",
      async () => {
        const caps = await stack.hosts.run("cmp1", { kind: "virsh-capabilities" });
        expect(caps.stdout).toMatch(/<host>[\s\S]*<model>Haswell-noTSX<\/model>/);
        const skylake = /<host>[\s\S]*?(<cpu>[\s\S]*?<\/cpu>)/.exec(
          (await stack.hosts.run("cmp3", { kind: "virsh-capabilities" })).stdout,
        )![1]!;
        const compare = await stack.hosts.run(
          "cmp1",
          { kind: "virsh-cpu-compare", cpuXml: skylake },
          { allowNonZeroExit: true },
        );
        expect(compare.exitCode).toBe(1);
        expect(compare.stderr).toMatch(
          /the CPU is incompatible with host CPU: Host CPU does not provide required features: /,
        );

        // calm-1 runs on cmp3 (Skylake-Client) since the first test; Nova's pre-check on cmp1 (Haswell) refuses it.
        const r = await migrate("calm-1 to cmp1", "calm-1");
        await until("the CPU pre-check failure", CPU_FAIL_TIMEOUT_MS, () => /Failed/.test(root(r.ts)!.text));
        const record = stack.sandbox.cloud.migrations.at(-1)!;
        expect(record.record.status).toBe("error");
        expect(record.server.fault).toMatch(
          /CPU doesn't have compatibility[\s\S]*Host CPU does not provide required features/,
        );
        expect((await stack.nova.findServer("calm-1"))?.host).toBe("cmp3");
      },
      CPU_FAIL_TIMEOUT_MS + 30_000,
    );

    test(
      "down stops everything, the restarted nova-compute agents included",
      async () => {
        await stack.stop();
        const agents = ["cmp1", "cmp2", "cmp3"].map((h) => liveAgentPid(STATE_DIR, h));
        for (const pid of agents) expect(pid).not.toBeNull();
        await labDown(STATE_DIR, () => {});
        for (const pid of agents) expect(processStartTime(pid!)).toBeNull();
        expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).not.toMatch(/^cmp\d/m);
        expect(readFileSync("/proc/mounts", "utf8")).not.toContain(STATE_DIR);
        expect(existsSync(STATE_DIR)).toBe(false);
      },
      DOWN_TIMEOUT_MS,
    );
  },
);
