import { liveMigrationDataGiB } from "./data-size";
import { type DowntimeStage, downtimeSchedule } from "./downtime";
import type { NovaReleaseRef } from "./releases";
import { completionTimeoutS } from "./timeouts";

/**
 * The figures nova-compute's monitor (`_live_migration_monitor`, nova/virt/libvirt/driver.py) uses
 * for ONE migration, from the source's effective settings: the data size, the downtime stages and
 * the completion timeout scaled by it, and the progress timeout. The analyzer, the sandbox's model
 * and the lab's nova-compute agent all take them from here.
 */
export interface MigrationFiguresInput {
  /** The flavor's RAM, MiB (fractions are rounded: Nova reads `flavor.memory_mb`). */
  memoryMb: number;
  /** Apparent sizes of the disks a block migration copies, bytes. */
  copiedDiskBytes?: readonly number[];
  /** [libvirt] live_migration_downtime, _steps, _delay in effect. @defaultValue the release's */
  downtimeMs?: number;
  downtimeSteps?: number;
  downtimeDelayS?: number;
  /** [libvirt] live_migration_completion_timeout in effect, seconds per GiB. @defaultValue 800 */
  completionTimeoutSPerGiB?: number;
  /** [libvirt] live_migration_progress_timeout in effect (0 = off). @defaultValue 0 */
  progressTimeoutS?: number;
}

export interface MigrationFigures {
  /** `_live_migration_data_gb`. */
  dataGiB: number;
  downtimeStages: DowntimeStage[];
  /** The last (largest) downtime Nova will allow, ms. */
  finalDowntimeMs: number;
  /** Seconds; 0 = none. */
  completionTimeoutS: number;
  /** Seconds; 0 = none. */
  progressTimeoutS: number;
}

/** Nova's figures for one migration from `release`'s source with these settings. */
export function migrationFigures(release: NovaReleaseRef, input: MigrationFiguresInput): MigrationFigures {
  const dataGiB = liveMigrationDataGiB(release, {
    memoryMb: Math.max(0, Math.round(input.memoryMb)),
    ...(input.copiedDiskBytes !== undefined && { copiedDiskBytes: input.copiedDiskBytes }),
  });
  const downtimeStages = downtimeSchedule(release, {
    dataGiB,
    ...(input.downtimeMs !== undefined && { downtimeMs: input.downtimeMs }),
    ...(input.downtimeSteps !== undefined && { steps: input.downtimeSteps }),
    ...(input.downtimeDelayS !== undefined && { delayS: input.downtimeDelayS }),
  });
  return {
    dataGiB,
    downtimeStages,
    finalDowntimeMs: downtimeStages.at(-1)?.downtimeMs ?? 0,
    completionTimeoutS: completionTimeoutS(release, {
      dataGiB,
      ...(input.completionTimeoutSPerGiB !== undefined && {
        completionTimeoutSPerGiB: input.completionTimeoutSPerGiB,
      }),
    }),
    progressTimeoutS: input.progressTimeoutS ?? 0,
  };
}
