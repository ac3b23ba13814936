import { NovaFactsError } from "./errors";
import { pythonInt } from "./python-float";
import { type NovaReleaseRef, novaRelease } from "./releases";

/**
 * Nova's two live-migration timeouts ([libvirt] live_migration_progress_timeout and
 * live_migration_completion_timeout) and, from Stein, what it does when the second one fires
 * (live_migration_timeout_action).
 */

export interface ProgressTimeoutOption {
  option: "live_migration_progress_timeout";
  /** Seconds without a new low of data remaining before Nova aborts; 0 = off. */
  defaultS: number;
  deprecated: boolean;
}

export interface CompletionTimeoutOption {
  option: "live_migration_completion_timeout";
  /** Seconds per GiB of {@link liveMigrationDataGiB}; the product is truncated; 0 = off. */
  defaultSPerGiB: number;
  /**
   * oslo.config `min=`. Null before Stein: a negative value is accepted and, as any elapsed time
   * exceeds it, aborts the migration at the monitor's first poll.
   */
  min: number | null;
}

export type TimeoutAction = "abort" | "force_complete";

export interface TimeoutActionOption {
  option: "live_migration_timeout_action";
  default: TimeoutAction;
  choices: readonly TimeoutAction[];
}

export interface TimeoutOptions {
  /** Null from Stein (19.0.0), which removed the option (nova commit 4c3698c0b6). */
  progress: ProgressTimeoutOption | null;
  completion: CompletionTimeoutOption;
  /** Null before Stein: the completion timeout always aborts. */
  action: TimeoutActionOption | null;
}

// live_migration_progress_timeout: default 150 in 13.0.0 driver.py and 14.0.0–14.1.0
// nova/conf/libvirt.py; default 0, deprecated_for_removal ("Serious bugs found in this feature")
// from 15.0.0 (nova commit 510fe1353d); gone from 19.0.0.
const PROGRESS_TIMEOUT_DEFAULT_S_UNTIL_NEWTON = 150;
const PROGRESS_TIMEOUT_DEFAULT_S_FROM_OCATA = 0;
// live_migration_completion_timeout: default 800 at every tag 13.0.0–33.0.0; min=0 from 19.0.0.
const COMPLETION_TIMEOUT_DEFAULT_S_PER_GIB = 800;
// live_migration_timeout_action (19.0.0+ nova/conf/libvirt.py, nova commit 99a075cc94):
// default 'abort', choices ('abort', 'force_complete').
const TIMEOUT_ACTION_DEFAULT: TimeoutAction = "abort";
const TIMEOUT_ACTION_CHOICES: readonly TimeoutAction[] = ["abort", "force_complete"];

/** The timeout options of a release, with their defaults. */
export function timeoutOptions(release: NovaReleaseRef): TimeoutOptions {
  const r = novaRelease(release);
  return {
    progress:
      r.major >= 19
        ? null
        : {
            option: "live_migration_progress_timeout",
            defaultS:
              r.major <= 14 ? PROGRESS_TIMEOUT_DEFAULT_S_UNTIL_NEWTON : PROGRESS_TIMEOUT_DEFAULT_S_FROM_OCATA,
            deprecated: r.major >= 15,
          },
    completion: {
      option: "live_migration_completion_timeout",
      defaultSPerGiB: COMPLETION_TIMEOUT_DEFAULT_S_PER_GIB,
      min: r.major >= 19 ? 0 : null,
    },
    action:
      r.major >= 19
        ? {
            option: "live_migration_timeout_action",
            default: TIMEOUT_ACTION_DEFAULT,
            choices: TIMEOUT_ACTION_CHOICES,
          }
        : null,
  };
}

export interface CompletionTimeoutInput {
  /** {@link liveMigrationDataGiB} of the migration. */
  dataGiB: number;
  /** [libvirt] live_migration_completion_timeout. @defaultValue 800 */
  completionTimeoutSPerGiB?: number;
}

/**
 * The completion timeout of one migration, seconds (0 = none): `int(CONF.libvirt.
 * live_migration_completion_timeout * data_gb)` in `_live_migration_monitor` (driver.py, every
 * release). Nova fires when the elapsed time is strictly greater.
 */
export function completionTimeoutS(release: NovaReleaseRef, input: CompletionTimeoutInput): number {
  const opts = timeoutOptions(release);
  const perGiB = input.completionTimeoutSPerGiB ?? opts.completion.defaultSPerGiB;
  if (!Number.isSafeInteger(perGiB)) {
    throw new NovaFactsError(
      "NOVA_FACTS_INVALID_INPUT",
      `[libvirt] live_migration_completion_timeout = ${perGiB} is not an integer; oslo.config only reads whole seconds there.`,
    );
  }
  if (opts.completion.min !== null && perGiB < opts.completion.min) {
    throw new NovaFactsError(
      "NOVA_FACTS_INVALID_INPUT",
      `[libvirt] live_migration_completion_timeout = ${perGiB} is below its minimum ${opts.completion.min} on this release; oslo.config refuses it. Use 0 to turn the timeout off.`,
    );
  }
  if (!Number.isFinite(input.dataGiB) || input.dataGiB < 0) {
    throw new NovaFactsError(
      "NOVA_FACTS_INVALID_INPUT",
      `dataGiB ${input.dataGiB} is not a size: compute it with liveMigrationDataGiB().`,
    );
  }
  return pythonInt(perGiB * input.dataGiB);
}
