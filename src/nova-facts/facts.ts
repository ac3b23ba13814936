import {
  abortRule,
  FORCE_COMPLETE_STATUSES,
  IN_PROGRESS_LIVE_MIGRATION_STATUSES,
  MIN_MICROVERSION,
  maxMicroversion,
} from "./api";
import {
  type AllocationRatioOption,
  allocationRatioOption,
  type CapacityOptions,
  capacityOptions,
} from "./capacity";
import { type CpuComparisonFacts, cpuComparison } from "./cpu";
import { type DowntimeOptions, downtimeOptions } from "./downtime";
import { type FlagOptions, flagOptions } from "./migration-flags";
import { postCopyRequirements } from "./monitor";
import { type NovaRelease, type NovaReleaseRef, novaRelease } from "./releases";
import { type TimeoutOptions, timeoutOptions } from "./timeouts";

/** Everything this module knows about one release, in one typed object. */
export interface NovaFacts {
  release: NovaRelease;
  downtime: DowntimeOptions;
  timeouts: TimeoutOptions;
  flags: FlagOptions;
  postCopy: {
    /** Null on Mitaka, which has no post-copy; else what the host needs beyond the permit option. */
    requirements: { libvirt?: string; qemu?: string } | null;
    /** Newton–Rocky switch on their own when a poll shows < 10 % progress; later only on force-complete or timeout. */
    autoSwitch: boolean;
  };
  capacity: CapacityOptions & {
    allocationRatios: { cpu: AllocationRatioOption; ram: AllocationRatioOption; disk: AllocationRatioOption };
  };
  cpu: CpuComparisonFacts;
  api: {
    minMicroversion: typeof MIN_MICROVERSION;
    maxMicroversion: string;
    /** Abortable statuses at this release's highest microversion. */
    abortableAtMax: string[];
    forceCompleteStatuses: readonly string[];
    inProgressStatuses: readonly string[];
  };
}

/** The facts of a release: `novaFacts("zed")`, `novaFacts(13)`, `novaFacts("13.1.4")`. */
export function novaFacts(ref: NovaReleaseRef): NovaFacts {
  const release = novaRelease(ref);
  const max = maxMicroversion(release);
  return {
    release,
    downtime: downtimeOptions(release),
    timeouts: timeoutOptions(release),
    flags: flagOptions(release),
    postCopy: {
      requirements: postCopyRequirements(release),
      autoSwitch: release.major >= 14 && release.major <= 18,
    },
    capacity: {
      ...capacityOptions(release),
      allocationRatios: {
        cpu: allocationRatioOption(release, "cpu"),
        ram: allocationRatioOption(release, "ram"),
        disk: allocationRatioOption(release, "disk"),
      },
    },
    cpu: cpuComparison(release),
    api: {
      minMicroversion: MIN_MICROVERSION,
      maxMicroversion: max,
      abortableAtMax: abortRule(release, max).statuses,
      forceCompleteStatuses: FORCE_COMPLETE_STATUSES,
      inProgressStatuses: IN_PROGRESS_LIVE_MIGRATION_STATUSES,
    },
  };
}
