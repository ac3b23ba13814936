import { defaultPython } from "./data-size";
import type { DowntimeStage } from "./downtime";
import { type PythonMajor, pythonInt } from "./python-float";
import { type NovaReleaseRef, novaRelease, versionAtLeast } from "./releases";
import type { TimeoutAction } from "./timeouts";

/**
 * How nova-compute's libvirt driver watches a running live migration (`_live_migration_monitor`
 * in nova/virt/libvirt/driver.py, with helpers in nova/virt/libvirt/migration.py from 14.0.0):
 * its poll cadence, its timeouts, its post-copy switch, force-complete, and the lines it logs.
 */

/** The monitor sleeps this long between two looks at the job (`time.sleep(0.5)`, every release). */
export const NOVA_MONITOR_POLL_INTERVAL_MS = 500;
/** Every 10th running poll it saves the byte counters to the migration record and logs progress. */
export const NOVA_MONITOR_STATS_EVERY_POLLS = 10;
/** … at INFO on every 60th running poll (the count starts at 0, so the first one too), else DEBUG. */
export const NOVA_MONITOR_INFO_EVERY_POLLS = 60;

/** The migration status Nova sets once it switched to post-copy (nova/virt/libvirt/migration.py, 14.0.0+). */
export const POST_COPY_STATUS = "running (post-copy)";

/** Loggers of the monitor's lines: everything sat in driver.py on Mitaka; helpers moved to migration.py in 14.0.0. */
export function monitorLoggers(release: NovaReleaseRef): { driver: string; migration: string } {
  const driver = "nova.virt.libvirt.driver";
  return { driver, migration: novaRelease(release).major <= 13 ? driver : "nova.virt.libvirt.migration" };
}

/**
 * Whether this poll sets a new low watermark of data remaining (and restarts the progress clock):
 * `progress_watermark is None or progress_watermark > info.data_remaining`, plus
 * `progress_watermark == 0` from 13.1.2 (backported to Mitaka; 13.1.1's driver.py has no such test,
 * 13.1.2's does) to 18.x. Stein dropped the watermark with the progress timeout.
 */
export function resetsProgressWatermark(
  release: NovaReleaseRef,
  watermarkBytes: number | null,
  dataRemainingBytes: number,
): boolean {
  const r = novaRelease(release);
  if (r.major >= 19) return false;
  if (watermarkBytes === null || watermarkBytes > dataRemainingBytes) return true;
  return watermarkBytes === 0 && versionAtLeast(r, "13.1.2");
}

export interface TimeoutCheckInput {
  /** Seconds since the monitor started (`now - start`). */
  elapsedS: number;
  /** Seconds since the last new low watermark (`now - progress_time`); ignored from Stein. */
  sinceProgressS: number;
  /** [libvirt] live_migration_progress_timeout (0 = off); ignored from Stein, which has none. */
  progressTimeoutS: number;
  /** {@link completionTimeoutS} of the migration (0 = off). */
  completionTimeoutS: number;
  /** The migration record's status (`running`, {@link POST_COPY_STATUS} …). */
  migrationStatus: string;
  /** [libvirt] live_migration_timeout_action (Stein+). @defaultValue "abort" */
  timeoutAction?: TimeoutAction;
}

export interface TimeoutVerdict {
  /** What the monitor does on this poll. */
  action: "none" | "abort" | "force-complete";
  /** Which timeouts fired, in the order Nova checks them. */
  fired: ("progress" | "completion")[];
  /** The WARNING lines Nova logs for them, with the logger. */
  logs: { logger: string; message: string }[];
}

/**
 * One poll's timeout check. Mitaka checks both timeouts (logging each that fired) and aborts the
 * job (`dom.abortJob()`). Newton–Rocky (`should_abort`, migration.py) skip it in post-copy and stop
 * at the first timeout that fired. From Stein (`should_trigger_timeout_action`) only the completion
 * timeout exists, post-copy still skips it, and live_migration_timeout_action picks abort or
 * force-complete; Nova evaluates it again at every poll while the migration runs.
 */
export function monitorTimeoutVerdict(release: NovaReleaseRef, input: TimeoutCheckInput): TimeoutVerdict {
  const r = novaRelease(release);
  const loggers = monitorLoggers(r);
  const fired: TimeoutVerdict["fired"] = [];
  const logs: TimeoutVerdict["logs"] = [];
  const stuck = () =>
    logs.push({
      logger: loggers.migration,
      message: `Live migration stuck for ${pythonInt(input.sinceProgressS)} sec`,
    });
  const notCompleted = () =>
    logs.push({
      logger: loggers.migration,
      message: `Live migration not completed after ${pythonInt(input.completionTimeoutS)} sec`,
    });
  const progressFired = input.progressTimeoutS !== 0 && input.sinceProgressS > input.progressTimeoutS;
  const completionFired = input.completionTimeoutS !== 0 && input.elapsedS > input.completionTimeoutS;

  if (r.major <= 13) {
    if (progressFired) {
      fired.push("progress");
      stuck();
    }
    if (completionFired) {
      fired.push("completion");
      notCompleted();
    }
    return { action: fired.length > 0 ? "abort" : "none", fired, logs };
  }
  if (input.migrationStatus === POST_COPY_STATUS) return { action: "none", fired, logs };
  if (r.major <= 18) {
    if (progressFired) {
      stuck();
      return { action: "abort", fired: ["progress"], logs };
    }
    if (completionFired) {
      notCompleted();
      return { action: "abort", fired: ["completion"], logs };
    }
    return { action: "none", fired, logs };
  }
  if (!completionFired) return { action: "none", fired, logs };
  notCompleted();
  return {
    action: (input.timeoutAction ?? "abort") === "force_complete" ? "force-complete" : "abort",
    fired: ["completion"],
    logs,
  };
}

/**
 * What post-copy needs beyond [libvirt] live_migration_permit_post_copy = True
 * (`_is_post_copy_available`): libvirt ≥ 1.3.3 and QEMU ≥ 2.5.0 on Newton–Queens, libvirt ≥ 1.3.3
 * on Rocky–Stein, nothing from Train (20.0.0 dropped the check: its minimum libvirt is 3.0.0).
 * Null on Mitaka, which has no post-copy.
 */
export function postCopyRequirements(release: NovaReleaseRef): { libvirt?: string; qemu?: string } | null {
  const r = novaRelease(release);
  if (r.major <= 13) return null;
  if (r.major <= 17) return { libvirt: "1.3.3", qemu: "2.5.0" };
  if (r.major <= 19) return { libvirt: "1.3.3" };
  return {};
}

export interface PostCopyInput {
  /** [libvirt] live_migration_permit_post_copy. */
  permitPostCopy: boolean;
  /** The host meets {@link postCopyRequirements}. @defaultValue true */
  postCopyAvailable?: boolean;
  /** The instance has virtual persistent memory (21.0.0+ never uses post-copy for it). @defaultValue false */
  hasVpmems?: boolean;
}

/** Whether Nova may switch this migration to post-copy (`_is_post_copy_enabled` on its flags). */
export function postCopyEnabled(release: NovaReleaseRef, input: PostCopyInput): boolean {
  const r = novaRelease(release);
  if (r.major <= 13 || !input.permitPostCopy) return false;
  if (r.major <= 19 && input.postCopyAvailable === false) return false;
  return !(r.major >= 21 && input.hasVpmems === true);
}

export interface PostCopySwitchInput {
  /** {@link postCopyEnabled} for this migration. */
  postCopyEnabled: boolean;
  /** libvirt's memory iteration (`Iteration` in domjobinfo, QEMU's dirty-sync-count). */
  memoryIteration: number;
  /** Data remaining at this poll, bytes. */
  dataRemainingBytes: number;
  /** Data remaining at the previous running poll, 0.5 s earlier (−1 before the first). */
  previousDataRemainingBytes: number;
  migrationStatus: string;
  /** @defaultValue {@link defaultPython} of the release */
  python?: PythonMajor;
}

/** Python 3's `round()`: to the nearest integer, halves to even. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Newton–Rocky only (`should_switch_to_postcopy`, nova commit 1651850f6f; Stein removed the call):
 * after the first memory iteration, switch when data remaining fell by less than 10 % since the
 * previous poll — `round((previous − current) × 100 / previous) < 10`, which compares two polls
 * half a second apart, not two iterations. From Stein Nova switches only on force-complete or
 * live_migration_timeout_action = force_complete.
 */
export function shouldSwitchToPostCopy(release: NovaReleaseRef, input: PostCopySwitchInput): boolean {
  const r = novaRelease(release);
  if (r.major < 14 || r.major > 18 || !input.postCopyEnabled) return false;
  if (input.migrationStatus === POST_COPY_STATUS || input.previousDataRemainingBytes <= 0) return false;
  if (input.memoryIteration <= 1) return false;
  const python = input.python ?? defaultPython(r);
  const delta = (input.previousDataRemainingBytes - input.dataRemainingBytes) * 100;
  const percent =
    python === 2
      ? Math.floor(delta / input.previousDataRemainingBytes)
      : roundHalfEven(delta / input.previousDataRemainingBytes);
  return percent < 10;
}

/** What nova-compute does with a force-complete request for a running migration. */
export type ForceCompleteEffect = "pause" | "switch-to-post-copy" | "nothing";

/**
 * Mitaka pauses the guest (`live_migration_force_complete` → `self.pause(instance)`). From 14.0.0 the
 * request is queued for the monitor (`run_tasks`, migration.py): already in post-copy → nothing
 * (a warning); post-copy enabled → switch to post-copy; else pause the guest (unpaused again if the
 * migration then fails).
 */
export function forceCompleteEffect(
  release: NovaReleaseRef,
  input: { postCopyEnabled: boolean; migrationStatus: string },
): ForceCompleteEffect {
  if (novaRelease(release).major <= 13) return "pause";
  if (input.migrationStatus === POST_COPY_STATUS) return "nothing";
  return input.postCopyEnabled ? "switch-to-post-copy" : "pause";
}

/** The INFO line of a downtime stage: Nova logs the stage's own time, not the elapsed time. */
export function downtimeIncreaseLogLine(
  release: NovaReleaseRef,
  stage: DowntimeStage,
): { logger: string; message: string } {
  return {
    logger: monitorLoggers(release).migration,
    message: `Increasing downtime to ${stage.downtimeMs} ms after ${stage.atS} sec elapsed time`,
  };
}

export interface ProgressLogInput {
  /** Running polls counted from 0 (Nova's `n`); the line is logged when `n % 10 == 0`. */
  runningPolls: number;
  /** Seconds since the monitor started. */
  elapsedS: number;
  memoryProcessedBytes: number;
  memoryRemainingBytes: number;
  memoryTotalBytes: number;
  /** Disk counters, logged from 20.0.0 (all 0 for a migration without block copy). */
  diskProcessedBytes?: number;
  diskRemainingBytes?: number;
  diskTotalBytes?: number;
  /** @defaultValue {@link defaultPython} of the release */
  python?: PythonMajor;
}

/** Nova's `remaining` percent: 100 when the total is 0, else `round(remaining * 100 / total)`. */
function percentRemaining(remaining: number, total: number, python: PythonMajor): number {
  if (total === 0) return 100;
  return python === 2 ? Math.floor((remaining * 100) / total) : roundHalfEven((remaining * 100) / total);
}

/**
 * The progress line of a running poll, or null on polls where Nova logs none. Its level is INFO
 * every 60th running poll, else DEBUG. `secs` is `n / 2` up to 22.x and the real elapsed time from
 * 23.0.0; the disk part was added in 20.0.0 (with "disk 100% remaining" when no disk is copied).
 */
export function progressLogLine(
  release: NovaReleaseRef,
  input: ProgressLogInput,
): { level: "INFO" | "DEBUG"; logger: string; message: string } | null {
  const r = novaRelease(release);
  if (input.runningPolls % NOVA_MONITOR_STATS_EVERY_POLLS !== 0) return null;
  const python = input.python ?? defaultPython(r);
  const secs = pythonInt(r.major >= 23 ? input.elapsedS : input.runningPolls / 2);
  const memory = percentRemaining(input.memoryRemainingBytes, input.memoryTotalBytes, python);
  const bytes = `bytes processed=${input.memoryProcessedBytes}, remaining=${input.memoryRemainingBytes}, total=${input.memoryTotalBytes}`;
  let message: string;
  if (r.major < 20) {
    message = `Migration running for ${secs} secs, memory ${memory}% remaining; (${bytes})`;
  } else {
    const diskTotal = input.diskTotalBytes ?? 0;
    const diskRemaining = input.diskRemainingBytes ?? 0;
    const disk = percentRemaining(diskRemaining, diskTotal, python);
    message = `Migration running for ${secs} secs, memory ${memory}% remaining (${bytes}); disk ${disk}% remaining (bytes processed=${input.diskProcessedBytes ?? 0}, remaining=${diskRemaining}, total=${diskTotal}).`;
  }
  return {
    level: input.runningPolls % NOVA_MONITOR_INFO_EVERY_POLLS === 0 ? "INFO" : "DEBUG",
    logger: monitorLoggers(r).driver,
    message,
  };
}
