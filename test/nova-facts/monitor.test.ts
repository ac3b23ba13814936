import { describe, expect, it } from "vitest";
import {
  downtimeIncreaseLogLine,
  forceCompleteEffect,
  monitorLoggers,
  monitorTimeoutVerdict,
  NOVA_MONITOR_POLL_INTERVAL_MS,
  POST_COPY_STATUS,
  postCopyEnabled,
  postCopyRequirements,
  progressLogLine,
  resetsProgressWatermark,
  shouldSwitchToPostCopy,
} from "../../src/nova-facts";
import { readFixture } from "../support/fixtures";

const running = { elapsedS: 100, sinceProgressS: 0, progressTimeoutS: 0, completionTimeoutS: 1600 };

describe("monitor timeouts", () => {
  it("polls every half second", () => {
    expect(NOVA_MONITOR_POLL_INTERVAL_MS).toBe(500);
  });

  it("aborts on Mitaka when progress stalls, logging both timeouts that fired", () => {
    const v = monitorTimeoutVerdict("mitaka", {
      elapsedS: 1700.2,
      sinceProgressS: 151.9,
      progressTimeoutS: 150,
      completionTimeoutS: 1600,
      migrationStatus: "running",
    });
    expect(v.action).toBe("abort");
    expect(v.fired).toEqual(["progress", "completion"]);
    expect(v.logs).toEqual([
      { logger: "nova.virt.libvirt.driver", message: "Live migration stuck for 151 sec" },
      { logger: "nova.virt.libvirt.driver", message: "Live migration not completed after 1600 sec" },
    ]);
  });

  it("leaves post-copy alone from Newton and stops at the first timeout", () => {
    const stuck = { ...running, sinceProgressS: 200, progressTimeoutS: 150, elapsedS: 2000 };
    expect(monitorTimeoutVerdict("newton", { ...stuck, migrationStatus: POST_COPY_STATUS }).action).toBe(
      "none",
    );
    const v = monitorTimeoutVerdict("newton", { ...stuck, migrationStatus: "running" });
    expect(v).toMatchObject({ action: "abort", fired: ["progress"] });
    expect(v.logs).toEqual([
      { logger: "nova.virt.libvirt.migration", message: "Live migration stuck for 200 sec" },
    ]);
  });

  it("has only the completion timeout from Stein, with its action", () => {
    const stalled = { ...running, sinceProgressS: 900, progressTimeoutS: 150, migrationStatus: "running" };
    expect(monitorTimeoutVerdict("stein", stalled).action).toBe("none");
    const late = { ...stalled, elapsedS: 1600.5 };
    expect(monitorTimeoutVerdict("stein", late)).toMatchObject({ action: "abort", fired: ["completion"] });
    expect(monitorTimeoutVerdict("zed", { ...late, timeoutAction: "force_complete" }).action).toBe(
      "force-complete",
    );
    expect(monitorTimeoutVerdict("zed", { ...late, completionTimeoutS: 0 }).action).toBe("none");
    expect(monitorTimeoutVerdict("zed", { ...late, elapsedS: 1600 }).action).toBe("none");
  });

  it("writes the completion warning the way the Nova admin guide quotes it", () => {
    const doc = readFixture("logs/nova-doc-admin-live-migration-usage.rst");
    const quoted =
      /WARNING (\S+) \[req-\.\.\.\] \[instance: \.\.\.\]\s+(live migration not completed after \d+ sec)/i.exec(
        doc,
      );
    expect(quoted).not.toBeNull();
    const v = monitorTimeoutVerdict("zed", {
      ...running,
      elapsedS: 1801,
      completionTimeoutS: 1800,
      migrationStatus: "running",
    });
    expect(v.logs[0]!.logger).toBe(quoted![1]);
    expect(v.logs[0]!.message.toLowerCase()).toBe(quoted![2]!.toLowerCase());
  });

  it("keeps a progress watermark until Stein; from 13.1.2 (a Mitaka backport) a zero one is reset too", () => {
    expect(resetsProgressWatermark("mitaka", null, 10)).toBe(true);
    expect(resetsProgressWatermark("mitaka", 20, 10)).toBe(true);
    expect(resetsProgressWatermark("13.1.1", 0, 10)).toBe(false);
    expect(resetsProgressWatermark("13.1.2", 0, 10)).toBe(true);
    expect(resetsProgressWatermark("mitaka", 0, 10)).toBe(true);
    expect(resetsProgressWatermark("newton", 0, 10)).toBe(true);
    expect(resetsProgressWatermark("rocky", 5, 10)).toBe(false);
    expect(resetsProgressWatermark("stein", null, 10)).toBe(false);
  });
});

describe("post-copy", () => {
  it("exists from Newton, with host requirements until Stein", () => {
    expect(postCopyRequirements("mitaka")).toBeNull();
    expect(postCopyRequirements("newton")).toEqual({ libvirt: "1.3.3", qemu: "2.5.0" });
    expect(postCopyRequirements("rocky")).toEqual({ libvirt: "1.3.3" });
    expect(postCopyRequirements("train")).toEqual({});
    expect(postCopyEnabled("mitaka", { permitPostCopy: true })).toBe(false);
    expect(postCopyEnabled("stein", { permitPostCopy: true, postCopyAvailable: false })).toBe(false);
    expect(postCopyEnabled("train", { permitPostCopy: true, postCopyAvailable: false })).toBe(true);
    expect(postCopyEnabled("ussuri", { permitPostCopy: true, hasVpmems: true })).toBe(false);
  });

  const slow = {
    postCopyEnabled: true,
    memoryIteration: 2,
    previousDataRemainingBytes: 1000,
    dataRemainingBytes: 950,
    migrationStatus: "running",
  };

  it("switches on its own only on Newton–Rocky, when a poll shows under 10 % progress", () => {
    expect(shouldSwitchToPostCopy("newton", slow)).toBe(true);
    expect(shouldSwitchToPostCopy("rocky", slow)).toBe(true);
    expect(shouldSwitchToPostCopy("stein", slow)).toBe(false);
    expect(shouldSwitchToPostCopy("zed", slow)).toBe(false);
    expect(shouldSwitchToPostCopy("newton", { ...slow, memoryIteration: 1 })).toBe(false);
    expect(shouldSwitchToPostCopy("newton", { ...slow, dataRemainingBytes: 800 })).toBe(false);
    expect(shouldSwitchToPostCopy("newton", { ...slow, previousDataRemainingBytes: -1 })).toBe(false);
    expect(shouldSwitchToPostCopy("newton", { ...slow, migrationStatus: POST_COPY_STATUS })).toBe(false);
  });

  it("rounds the progress like the release's Python", () => {
    // (1000 − 905) × 100 / 1000 = 9.5: Python 2 floors to 9 (switch), Python 3 rounds half to even, 10.
    const edge = { ...slow, dataRemainingBytes: 905 };
    expect(shouldSwitchToPostCopy("newton", edge)).toBe(true);
    expect(shouldSwitchToPostCopy("queens", { ...edge, python: 3 })).toBe(false);
  });

  it("force-completes by pausing on Mitaka and by post-copy when enabled later", () => {
    expect(forceCompleteEffect("mitaka", { postCopyEnabled: true, migrationStatus: "running" })).toBe(
      "pause",
    );
    expect(forceCompleteEffect("newton", { postCopyEnabled: false, migrationStatus: "running" })).toBe(
      "pause",
    );
    expect(forceCompleteEffect("zed", { postCopyEnabled: true, migrationStatus: POST_COPY_STATUS })).toBe(
      "nothing",
    );
    // The admin guide: "When post-copy is enabled, manual force-completion does not pause the
    // instance but switches to the post-copy process."
    const doc = readFixture("logs/nova-doc-admin-live-migration-usage.rst");
    expect(doc).toMatch(/post-copy is enabled, manual force-completion does not pause the\s+instance/);
    expect(forceCompleteEffect("zed", { postCopyEnabled: true, migrationStatus: "running" })).toBe(
      "switch-to-post-copy",
    );
  });
});

describe("monitor log lines", () => {
  it("logs a downtime stage with the stage's own time", () => {
    expect(downtimeIncreaseLogLine("zed", { atS: 150, downtimeMs: 95 })).toEqual({
      logger: "nova.virt.libvirt.migration",
      message: "Increasing downtime to 95 ms after 150 sec elapsed time",
    });
    expect(downtimeIncreaseLogLine("mitaka", { atS: 0, downtimeMs: 46 }).logger).toBe(
      "nova.virt.libvirt.driver",
    );
    expect(monitorLoggers("newton").migration).toBe("nova.virt.libvirt.migration");
  });

  const counters = { memoryProcessedBytes: 300, memoryRemainingBytes: 700, memoryTotalBytes: 1000 };

  it("logs progress every 10th running poll, at INFO every 60th", () => {
    expect(progressLogLine("zed", { ...counters, runningPolls: 5, elapsedS: 3 })).toBeNull();
    expect(progressLogLine("zed", { ...counters, runningPolls: 10, elapsedS: 5.6 })!.level).toBe("DEBUG");
    expect(progressLogLine("zed", { ...counters, runningPolls: 60, elapsedS: 31 })!.level).toBe("INFO");
    expect(progressLogLine("zed", { ...counters, runningPolls: 0, elapsedS: 0.5 })!.level).toBe("INFO");
  });

  it("uses each release's wording: half the poll count before Wallaby, disk figures from Train", () => {
    expect(progressLogLine("mitaka", { ...counters, runningPolls: 60, elapsedS: 33.7 })!.message).toBe(
      "Migration running for 30 secs, memory 70% remaining; (bytes processed=300, remaining=700, total=1000)",
    );
    expect(progressLogLine("stein", { ...counters, runningPolls: 60, elapsedS: 33.7 })!.message).toMatch(
      /^Migration running for 30 secs, memory 70% remaining; \(/,
    );
    expect(progressLogLine("train", { ...counters, runningPolls: 60, elapsedS: 33.7 })!.message).toBe(
      "Migration running for 30 secs, memory 70% remaining (bytes processed=300, remaining=700, total=1000); disk 100% remaining (bytes processed=0, remaining=0, total=0).",
    );
    expect(progressLogLine("wallaby", { ...counters, runningPolls: 60, elapsedS: 33.7 })!.message).toMatch(
      /^Migration running for 33 secs,/,
    );
  });
});
