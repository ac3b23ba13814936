/** The words around a migration's chart: what the picture and the thread say, hostile names inert. */
import { describe, expect, test } from "vitest";
import { createMigrationPresenter } from "../../bot/presenters/migration";
import { renderChartMessage } from "../../bot/render/chart";
import { addChartSample, emptyChartHistory } from "../../src/migration/chart-history";
import type { ChartMessage } from "../../src/migration/presenter";
import type { MigrationView } from "../../src/migration/view";
import type { FileUpload, NotifierPort } from "../../src/notify/port";
import { expectInert, HOSTILE_TEXTS, HOSTILE_VM } from "../support/hostile";
import { decodePng } from "../support/png";

const NOW = 1_780_000_000_000;

function view(over: Partial<MigrationView> = {}): MigrationView {
  return {
    jobId: "job:1/../x",
    vm: "5a1dc0de-7e57-4b1d-9c1a-0000000000e1",
    serverName: HOSTILE_VM,
    serverId: "5a1dc0de-7e57-4b1d-9c1a-0000000000e1",
    instanceName: "instance-000000e1",
    requestedBy: "U0ALICE01",
    channel: "C0OPS0001",
    source: "compute-1 <!here>",
    requestedDestination: "compute-2",
    destination: "compute-2",
    flavor: { ramMb: 8192, vcpus: 4 },
    status: "completed",
    phase: "commitment",
    startedAt: NOW - 95_000,
    endedAt: NOW,
    novaMigrationId: 7,
    novaStatus: "completed",
    reservation: null,
    precopy: null,
    downtimeMs: 120,
    failure: null,
    stuck: null,
    control: null,
    ...over,
  };
}

function history() {
  const h = emptyChartHistory();
  for (let i = 0; i < 10; i++) {
    addChartSample(
      h,
      {
        t: i * 3,
        source: "domjobinfo",
        iteration: 1 + Math.floor(i / 4),
        memoryRemainingBytes: (10 - i) * 1024 ** 2,
        memoryTotalBytes: 8 * 1024 ** 3,
        bandwidthBytesPerS: 112 * 1024 ** 2,
      },
      500,
    );
  }
  return h;
}

function chart(moment: ChartMessage["moment"], over: Partial<MigrationView> = {}): ChartMessage {
  return { kind: "chart", moment, view: view(over), history: history() };
}

describe("renderChartMessage", () => {
  test("says the outcome in the picture's heading and the thread's message", () => {
    const done = renderChartMessage(chart("ended"));
    expect(done.heading).toBe(`${HOSTILE_VM}: completed in 1 min 35 s, downtime 120 ms`);
    expect(done.subheading).toBe("compute-1 <!here> → compute-2 · 8.0 GiB of memory");
    expect(done.initialComment).toMatch(
      /^Chart of \*&lt;!channel&gt; .*'s migration, completed in 1 min 35 s/,
    );
    expect(done.filename).toBe("migration-job1x-ended.png");
    const stuck = renderChartMessage(
      chart("not-converging", {
        status: "not-converging",
        endedAt: null,
        stuck: { sinceIteration: 3, reason: "" },
      }),
    );
    expect(stuck.heading).toMatch(/: not converging at iteration 3, /);
    expect(stuck.initialComment).toMatch(/^Chart so far of /);
    const aborted = renderChartMessage(chart("ended", { status: "aborted" }));
    expect(aborted.heading).toMatch(/: aborted after 1 min 35 s$/);
  });

  test.each(HOSTILE_TEXTS)("keeps %s inert in everything Slack shows as text", (name) => {
    const words = renderChartMessage(chart("ended", { serverName: name, source: name, destination: name }));
    expectInert([words.initialComment, words.title, words.altText]);
  });
});

describe("the presenter's postChart", () => {
  test("draws the PNG and shares it in the thread, once per job and moment", async () => {
    const uploads: { channel: string; file: FileUpload; dedupeKey: string }[] = [];
    const notifier: NotifierPort = { post: async () => "1.0", update: async () => {} };
    const presenter = createMigrationPresenter(notifier, {
      upload: async (channel, file, opts) => {
        uploads.push({ channel, file, dedupeKey: opts.dedupeKey });
        return "F0CHART01";
      },
    });
    expect(await presenter.postChart("1700000000.000100", chart("ended"))).toBe("F0CHART01");
    const [u] = uploads;
    expect(u!.channel).toBe("C0OPS0001");
    expect(u!.dedupeKey).toBe("job:1/../x:chart:ended");
    expect(u!.file.threadTs).toBe("1700000000.000100");
    expect(decodePng(u!.file.bytes).width).toBe(960);
  });

  test("without a file upload port, says so instead of dropping the chart silently", async () => {
    const notifier: NotifierPort = { post: async () => "1.0", update: async () => {} };
    await expect(createMigrationPresenter(notifier).postChart("1.0", chart("ended"))).rejects.toThrow(
      /file upload/,
    );
  });
});
