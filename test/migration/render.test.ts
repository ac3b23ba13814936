/**
 * The migration thread's renderers with hostile outside text: a VM named to ping the channel and
 * link elsewhere, host names with backticks and `*`, a Nova fault and log lines carrying mentions
 * and broadcasts. Every message, in every state, must be inert (no `<!…>`, no link, no mention but
 * migbot's own of the people involved) and still show that text, escaped.
 */
import { describe, expect, test } from "vitest";
import type { Block, RenderedMessage } from "../../bot/render/migration";
import {
  renderFailure,
  renderMigrationMessage,
  renderNotConverging,
  renderPhase,
  renderRetryNotice,
  renderRoot,
} from "../../bot/render/migration";
import type { MigrationMessage } from "../../src/migration/presenter";
import {
  emptyPrecopy,
  type MigrationView,
  type NotConvergingFacts,
  PHASES,
  type RetryNote,
} from "../../src/migration/view";

const VM = "<!channel> <https://evil.example|re-approve here>";
const SOURCE = "cmp`1`*x* <!here>";
const DEST = "dst*`<@U0BOB0001>`*";
const FAULT = "No valid host: <@U0BOB0001> says <!here> approve at <https://evil.example|here> & `*now*`";
const LOG_LINE =
  "compute-1: 2026-11-25 22:40:00.000 1 ERROR nova [instance: x] Live Migration failure: ```<!channel>``` <@U0BOB0001>";
const HOSTILE_DETAIL = "virsh domjobinfo failed: error: <!subteam^S0OPS0001> <https://evil.example>";
const ALICE = "U0ALICE01";
const CAROL = "U0CAROL01";
/** Who migbot itself names here: the requester, who also pressed the buttons, and the fix's approver. */
const OWN = new Set([`<@${ALICE}>`, `<@${CAROL}>`]);
const NOW = Date.UTC(2026, 10, 25, 22, 45);

function view(over: Partial<MigrationView> = {}): MigrationView {
  return {
    jobId: "job-1",
    vm: "5a1dc0de-7e57-4b1d-9c1a-0000000000e1",
    serverName: VM,
    serverId: "5a1dc0de-7e57-4b1d-9c1a-0000000000e1",
    instanceName: "instance-000000e1",
    requestedBy: ALICE,
    channel: "C0OPS0001",
    source: SOURCE,
    requestedDestination: DEST,
    destination: DEST,
    flavor: { ramMb: 8192, vcpus: 4 },
    status: "running",
    phase: "precopy",
    startedAt: NOW - 60_000,
    endedAt: null,
    novaMigrationId: 7,
    novaStatus: "running <!here>",
    reservation: { freeRamMb: 4096, freeVcpus: 2, hypervisorState: "up <!channel>" },
    precopy: {
      ...emptyPrecopy(),
      memoryTotalBytes: 8 * 1024 ** 3,
      memoryRemainingBytes: 1024 ** 3,
      verdict: "not-converging",
      reason: "stuck <!channel> <https://evil.example>",
      source: "nova-log",
    },
    downtimeMs: 120,
    failure: null,
    stuck: { sinceIteration: 3, reason: "stuck <!channel>" },
    control: null,
    ...over,
  };
}

const FACTS: NotConvergingFacts = {
  iteration: 3,
  minRemainingPerIteration: [1024 ** 3],
  sampledIterations: [3],
  remainingAtSyncPerIteration: [],
  dirtyRateBytesPerS: 100 * 1024 ** 2,
  transferRateBytesPerS: 112 * 1024 ** 2,
  expectedDowntimeMs: 8000,
  downtimeLimitMs: 50,
  finalDowntimeMs: 500,
  throttlePercent: null,
  reason: "analyzer says <!everyone>",
  source: "nova-log",
  novaWillDo: "Nova aborts <@U0BOB0001> <https://evil.example>",
  later: null,
};

const RETRY: RetryNote = {
  fix: "Enable <!channel> auto-converge on *all* `hosts`",
  approvedBy: CAROL,
  earlier: { vm: VM, startedAt: NOW - 3_600_000, source: SOURCE, destination: DEST },
};

/** Every string in a rendered message: its text and everything in its blocks. */
function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(strings);
  return [];
}

function expectInert(msg: RenderedMessage | { text: string; blocks?: Block[] }): void {
  for (const t of strings(msg)) {
    expect(t).not.toContain("<!");
    expect(t).not.toMatch(/<https?:/);
    expect(t).not.toMatch(/<#/);
    for (const m of t.match(/<@[^>]*>/g) ?? []) expect(OWN.has(m), `${m} in ${t}`).toBe(true);
  }
}

const controlled = { action: "abort" as const, by: ALICE, at: NOW - 5000 };
const forced = { action: "force-complete" as const, by: ALICE, at: NOW - 5000 };
const failure = { phase: "precopy" as const, message: FAULT, logLines: [LOG_LINE] };

/** The views a thread goes through, from the first post to each way it ends. */
const STATES: [string, MigrationView][] = [
  ["starting", view({ status: "starting", phase: "pre-migration", novaMigrationId: null })],
  ["running", view()],
  ["not converging", view({ status: "not-converging" })],
  ["abort requested", view({ status: "not-converging", control: controlled })],
  ["completed", view({ status: "completed", phase: "commitment", endedAt: NOW })],
  ["force-completed", view({ status: "completed", phase: "commitment", endedAt: NOW, control: forced })],
  ["failed", view({ status: "failed", endedAt: NOW, failure })],
  [
    "tracking timeout",
    view({
      status: "failed",
      endedAt: NOW,
      failure: {
        ...failure,
        message: "MIGRATION_TRACKING_TIMEOUT: <!here>",
        command: "openstack `x` <!here>",
      },
    }),
  ],
  ["aborted", view({ status: "aborted", endedAt: NOW, control: controlled, failure })],
];

describe("every message of a hostile VM's thread is inert", () => {
  test.each(STATES)("%s", (_state, v) => {
    const messages: MigrationMessage[] = [
      { kind: "root", view: v, at: NOW, retry: null },
      { kind: "root", view: v, at: NOW, retry: RETRY },
      ...PHASES.map((phase) => ({
        kind: "phase" as const,
        phase,
        view: v,
        at: NOW,
        sourceDetail: HOSTILE_DETAIL,
      })),
      { kind: "not-converging", view: v, facts: FACTS },
      {
        kind: "not-converging",
        view: v,
        facts: { ...FACTS, later: { state: "throttling", reason: "<!here> ok" } },
      },
      { kind: "failure", view: v },
    ];
    for (const m of messages) expectInert(renderMigrationMessage(m));
  });

  test("the names and texts are still shown, escaped", () => {
    const root = renderRoot(view(), NOW, { retry: RETRY });
    expect(root.text).toContain("*&lt;!channel&gt; &lt;https://evil.example|re-approve here&gt;*");
    expect(JSON.stringify(root.blocks)).toContain(
      "Retry after *Enable &lt;!channel&gt; auto-converge on ∗all∗ ˋhostsˋ*",
    );
    const failed = renderFailure(view({ status: "failed", endedAt: NOW, failure }));
    const body = strings(failed).join("\n");
    expect(body).toContain(
      "&lt;@U0BOB0001&gt; says &lt;!here&gt; approve at &lt;https://evil.example|here&gt; &amp;",
    );
    // A fence inside a quoted log line cannot close the code block early.
    expect(body).toContain("Live Migration failure: ˋˋˋ&lt;!channel&gt;ˋˋˋ &lt;@U0BOB0001&gt;```");
    expect(failed.text).toContain("&lt;!here&gt;");
    const precopy = renderPhase(view(), "precopy", NOW, { sourceDetail: HOSTILE_DETAIL });
    expect(precopy.text).toContain("(virsh domjobinfo failed: error: &lt;!subteam^S0OPS0001&gt;");
    expect(renderNotConverging(view(), FACTS).text).toContain(
      "If nobody acts, Nova aborts &lt;@U0BOB0001&gt;",
    );
  });

  test("host names cannot break out of their code spans", () => {
    const root = renderRoot(view(), NOW);
    // The backticks in the names are look-alikes, so each code span closes where migbot closes it.
    expect(root.text).toContain("`cmpˋ1ˋ*x* &lt;!here&gt;` → `dst*ˋ&lt;@U0BOB0001&gt;ˋ*`");
  });

  test("people are named by mention only where migbot names them", () => {
    const aborted = renderFailure(view({ status: "aborted", endedAt: NOW, control: controlled, failure }));
    expect(aborted.text).toContain(`(abort requested by <@${ALICE}>)`);
    expect(
      renderRoot(view(), NOW)
        .blocks.map((b) => JSON.stringify(b))
        .join(),
    ).toContain(`Requested by <@${ALICE}>`);
    expect(
      renderRetryNotice({
        earlier: { jobId: "j0", channel: "C1", root: "1.0" },
        jobId: "job-1",
        requestedBy: CAROL,
      }).text,
    ).toBe(`:repeat: Retrying: follow the new message (requested by <@${CAROL}>).`);
    // Something that is not a Slack user id is shown, escaped, never as a mention.
    const odd = renderRoot(view({ requestedBy: "<!channel>" }), NOW);
    expectInert(odd);
    expect(JSON.stringify(odd.blocks)).toContain("Requested by &lt;!channel&gt;");
  });
});

describe("the pre-copy reply says what is true at every moment", () => {
  const GIB = 1024 ** 3;
  const running = (precopy: Partial<MigrationView["precopy"] & object>, over: Partial<MigrationView> = {}) =>
    renderPhase(
      view({
        serverName: "db-1",
        source: "compute-1",
        destination: "compute-2",
        ...over,
        precopy: { ...emptyPrecopy(), ...precopy },
      }),
      "precopy",
      NOW,
    ).text;

  test("in the first pass nothing is shown as '?': unmeasured figures say so in words", () => {
    const text = running({
      iteration: 1,
      memoryTotalBytes: 8 * GIB,
      memoryRemainingBytes: 6 * GIB,
      memoryProcessedBytes: 2 * GIB,
      source: "domjobinfo",
    });
    expect(text).toMatch(/iteration 1 · \S+ 25% of memory copied — 6\.0 GiB of 8\.0 GiB still to copy/);
    expect(text).toMatch(/dirty rate not measured yet \(QEMU measures it from the first dirty sync\)/);
    expect(text).toMatch(/against bandwidth not measured yet/);
    expect(text).not.toContain("?");
  });

  test("bytes sent past the RAM size are said as sent so far, never as 'X of' a smaller total", () => {
    const text = running({
      iteration: 5,
      memoryTotalBytes: 8 * GIB,
      memoryRemainingBytes: 0.4 * GIB,
      memoryProcessedBytes: 8.9 * GIB,
      source: "domjobinfo",
    });
    expect(text).toMatch(/95% of memory copied — 410 MiB of 8\.0 GiB still to copy/);
    expect(text).toMatch(/sent 8\.9 GiB so far \(re-sent pages included\)/);
    expect(text).not.toMatch(/8\.9 GiB of 8\.0 GiB/);
  });

  test("once completed, the reply is a summary: no iteration's live figures, no verdict, no ETA", () => {
    const text = running(
      {
        iteration: 1,
        memoryTotalBytes: 8 * GIB,
        memoryRemainingBytes: 0,
        memoryProcessedBytes: 8.9 * GIB,
        verdict: "converging",
        etaSeconds: 0.268,
        source: "domjobinfo",
      },
      { status: "completed", phase: "commitment", endedAt: NOW },
    );
    expect(text).toMatch(
      /^Iterative pre-copy — done after 1 iteration · \S+ 100% of memory copied · sent 8\.9 GiB in all/,
    );
    expect(text).not.toMatch(/verdict|to go|iteration 1 ·/);
  });

  test("past pre-copy but not yet finished (stop-and-copy), it is already the summary", () => {
    const text = running(
      {
        iteration: 7,
        memoryTotalBytes: 8 * GIB,
        memoryRemainingBytes: 0.1 * GIB,
        verdict: "converging",
        source: "domjobinfo",
      },
      { status: "running", phase: "stop-and-copy" },
    );
    expect(text).toMatch(/^Iterative pre-copy — done after 7 iterations/);
    expect(text).not.toMatch(/verdict/);
  });

  test("a migration that stopped says where it stopped and the last verdict before the end", () => {
    const text = running(
      {
        iteration: 9,
        memoryTotalBytes: 8 * GIB,
        memoryRemainingBytes: 2 * GIB,
        memoryProcessedBytes: 30 * GIB,
        verdict: "not-converging",
        source: "domjobinfo",
      },
      { status: "aborted", endedAt: NOW },
    );
    expect(text).toMatch(
      /stopped \(aborted\) after 9 iterations · \S+ 75% of memory copied when it stopped — 2\.0 GiB of 8\.0 GiB still to copy/,
    );
    expect(text).toMatch(/last verdict before the end: \*?not-converging/);
  });

  test("overcommitted vCPUs are said as such, not as a negative free count", () => {
    const text = renderPhase(
      view({ reservation: { freeRamMb: 5632, freeVcpus: -2, hypervisorState: "up" } }),
      "reservation",
      NOW,
    ).text;
    expect(text).toMatch(/vCPUs overcommitted by 2/);
    expect(text).not.toMatch(/-2/);
  });
});

describe("force complete and post-copy, as the source's release and settings do them", () => {
  const calm = (over: Partial<MigrationView>) =>
    view({
      serverName: "db-1",
      source: "compute-3",
      destination: "compute-4",
      novaStatus: "running",
      ...over,
    });

  test("where post-copy is permitted (Newton+), Force complete says it switches to post-copy, not that it pauses", () => {
    const msg = renderNotConverging(
      calm({ status: "not-converging", forceComplete: "switch-to-post-copy" }),
      FACTS,
    );
    const all = strings(msg).join("\n");
    expect(all).toMatch(/Force complete\* switches it to post-copy/);
    expect(all).toMatch(/Switch to post-copy/);
    expect(all).not.toMatch(/pauses the VM/);
  });

  test("elsewhere (Mitaka, or post-copy not permitted) it says the VM pauses", () => {
    const all = strings(
      renderNotConverging(calm({ status: "not-converging", forceComplete: "pause" }), FACTS),
    ).join("\n");
    expect(all).toMatch(/Force complete\* pauses the VM/);
    expect(all).toMatch(/Pause and finish/);
  });

  test("a migration Nova switched to post-copy says so in its stop-and-copy reply", () => {
    const text = renderPhase(calm({ postCopy: true, downtimeMs: 40 }), "stop-and-copy", NOW).text;
    expect(text).toMatch(
      /as post-copy: the VM was paused only to hand its CPU state over \(downtime 40 ms\); it now runs on compute-4/,
    );
  });
});

test("a host named below microversion 2.30 is said to bypass Nova's scheduler; from 2.30 the scheduler checks it", () => {
  const forced = renderPhase(
    view({ serverName: "vm-42", source: "compute-1", requestedDestination: "compute-3", hostForced: true }),
    "pre-migration",
    NOW,
  ).text;
  expect(forced).toMatch(/below API microversion 2\.30 Nova sends it there without its scheduler/);
  const checked = renderPhase(
    view({ serverName: "vm-42", source: "compute-1", requestedDestination: "compute-3", hostForced: false }),
    "pre-migration",
    NOW,
  ).text;
  expect(checked).toMatch(/\(requested; Nova's scheduler checks it\)/);
});
