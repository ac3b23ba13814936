import { defaultPython } from "./data-size";
import { NovaFactsError } from "./errors";
import { type PythonMajor, pythonInt, pythonPow } from "./python-float";
import { type NovaReleaseRef, novaRelease } from "./releases";

/**
 * Nova's downtime schedule: how the libvirt driver raises QEMU's allowed downtime during a live
 * migration ([libvirt] live_migration_downtime, _steps, _delay).
 */

/** How Nova grows the allowed downtime from step to step. */
export type DowntimeFormula = "exponential" | "linear";

/** One stage: from `atS` seconds after the monitor started (strictly after), Nova allows `downtimeMs`. */
export interface DowntimeStage {
  atS: number;
  downtimeMs: number;
}

/** What Nova does with a value below an option's minimum. */
export type BelowMinimum = "rounded-up" | "rejected";

export interface DowntimeIntOption {
  /** The option in [libvirt]. */
  option: string;
  default: number;
  min: number;
  /** Mitaka–Ocata round a smaller value up in code; from Pike oslo.config refuses it (`min=`). */
  belowMinimum: BelowMinimum;
}

export interface DowntimeOptions {
  formula: DowntimeFormula;
  downtimeMs: DowntimeIntOption;
  steps: DowntimeIntOption;
  /** Seconds per GiB of {@link liveMigrationDataGiB} between two stages. */
  delayS: DowntimeIntOption;
}

// Defaults 500 ms / 10 steps / 75 s per GiB at every tag from 13.0.0 to 33.0.0 (13.0.0
// nova/virt/libvirt/driver.py libvirt_opts; 14.0.0+ nova/conf/libvirt.py).
const DEFAULT_DOWNTIME_MS = 500;
const DEFAULT_STEPS = 10;
const DEFAULT_DELAY_S = 75;
// 13.0.0 driver.py / 14.0.0–15.x nova/conf/libvirt.py: LIVE_MIGRATION_DOWNTIME_MIN = 100,
// LIVE_MIGRATION_DOWNTIME_STEPS_MIN = 3, LIVE_MIGRATION_DOWNTIME_DELAY_MIN = 10, applied by
// `if downtime < ...MIN: downtime = ...MIN` in the steps function.
const ROUNDED_MIN_DOWNTIME_MS = 100;
const ROUNDED_MIN_STEPS = 3;
const ROUNDED_MIN_DELAY_S = 10;
// 16.0.0+ nova/conf/libvirt.py: cfg.IntOpt(..., min=100), (min=3), (min=3): the delay's floor
// dropped from 10 to 3 when the minimums moved into oslo.config.
const ENFORCED_MIN_DOWNTIME_MS = 100;
const ENFORCED_MIN_STEPS = 3;
const ENFORCED_MIN_DELAY_S = 3;

/**
 * Exponential up to Newton 14.x (`LibvirtDriver._migration_downtime_steps`, driver.py, last in
 * 14.1.0); linear from Ocata 15.0.0 (`downtime_steps` in nova/virt/libvirt/migration.py, nova
 * commit bcd584f "Change exponential function to linear"), unchanged to 33.0.0.
 */
export function downtimeFormula(release: NovaReleaseRef): DowntimeFormula {
  return novaRelease(release).major <= 14 ? "exponential" : "linear";
}

/** The three downtime options of a release: defaults, minimums and what a smaller value does. */
export function downtimeOptions(release: NovaReleaseRef): DowntimeOptions {
  const r = novaRelease(release);
  const enforced = r.major >= 16;
  const opt = (option: string, def: number, rounded: number, min: number): DowntimeIntOption => ({
    option,
    default: def,
    min: enforced ? min : rounded,
    belowMinimum: enforced ? "rejected" : "rounded-up",
  });
  return {
    formula: downtimeFormula(r),
    downtimeMs: opt(
      "live_migration_downtime",
      DEFAULT_DOWNTIME_MS,
      ROUNDED_MIN_DOWNTIME_MS,
      ENFORCED_MIN_DOWNTIME_MS,
    ),
    steps: opt("live_migration_downtime_steps", DEFAULT_STEPS, ROUNDED_MIN_STEPS, ENFORCED_MIN_STEPS),
    delayS: opt("live_migration_downtime_delay", DEFAULT_DELAY_S, ROUNDED_MIN_DELAY_S, ENFORCED_MIN_DELAY_S),
  };
}

export interface DowntimeScheduleInput {
  /** {@link liveMigrationDataGiB} of the migration. */
  dataGiB: number;
  /** [libvirt] live_migration_downtime. @defaultValue the release's default (500) */
  downtimeMs?: number;
  /** [libvirt] live_migration_downtime_steps. @defaultValue the release's default (10) */
  steps?: number;
  /** [libvirt] live_migration_downtime_delay, seconds per GiB. @defaultValue the release's default (75) */
  delayS?: number;
  /** @defaultValue {@link defaultPython} of the release */
  python?: PythonMajor;
}

function checkedInt(value: number, opt: DowntimeIntOption): number {
  if (!Number.isSafeInteger(value)) {
    throw new NovaFactsError(
      "NOVA_FACTS_INVALID_INPUT",
      `[libvirt] ${opt.option} = ${value} is not an integer; oslo.config only reads whole numbers there.`,
    );
  }
  if (value >= opt.min) return value;
  if (opt.belowMinimum === "rounded-up") return opt.min;
  throw new NovaFactsError(
    "NOVA_FACTS_INVALID_INPUT",
    `[libvirt] ${opt.option} = ${value} is below its minimum ${opt.min}; oslo.config refuses it on this release, so nova-compute cannot use it. Set ${opt.min} or more.`,
  );
}

/**
 * The stages Nova sets for one migration, `steps + 1` of them, stage i at `i × int(delay × dataGiB)`
 * seconds, computed as the release's Python computes them (values below a minimum rounded up on
 * Mitaka–Ocata, refused from Pike; correctly rounded `**` for the exponential form; integer
 * division on Python 2 for the linear form).
 *
 * Exponential (≤ 14.x): `offset = downtime / float(steps + 1)`, `base = (downtime − offset) ** (1 / float(steps))`,
 * stage i = `int(offset + base ** i)`. Linear (≥ 15.0.0): `base = downtime / steps`,
 * `offset = (downtime − base) / steps`, stage i = `int(base + offset * i)`.
 */
export function downtimeSchedule(release: NovaReleaseRef, input: DowntimeScheduleInput): DowntimeStage[] {
  const r = novaRelease(release);
  const opts = downtimeOptions(r);
  const python = input.python ?? defaultPython(r);
  if (!Number.isFinite(input.dataGiB) || input.dataGiB < 0) {
    throw new NovaFactsError(
      "NOVA_FACTS_INVALID_INPUT",
      `dataGiB ${input.dataGiB} is not a size: compute it with liveMigrationDataGiB().`,
    );
  }
  const downtime = checkedInt(input.downtimeMs ?? opts.downtimeMs.default, opts.downtimeMs);
  const steps = checkedInt(input.steps ?? opts.steps.default, opts.steps);
  const delayPerGiB = checkedInt(input.delayS ?? opts.delayS.default, opts.delayS);
  const delay = pythonInt(delayPerGiB * input.dataGiB);
  const stages: DowntimeStage[] = [];
  if (opts.formula === "exponential") {
    const offset = downtime / (steps + 1);
    const base = pythonPow(downtime - offset, 1 / steps);
    for (let i = 0; i <= steps; i++) {
      stages.push({ atS: delay * i, downtimeMs: pythonInt(offset + pythonPow(base, i)) });
    }
  } else {
    const base = python === 2 ? Math.floor(downtime / steps) : downtime / steps;
    const offset = python === 2 ? Math.floor((downtime - base) / steps) : (downtime - base) / steps;
    for (let i = 0; i <= steps; i++) {
      stages.push({ atS: delay * i, downtimeMs: pythonInt(base + offset * i) });
    }
  }
  return stages;
}

/**
 * The downtime Nova has set `elapsedS` seconds after its monitor started: the last stage whose
 * time has been passed (`elapsed > step[0]`, `update_downtime` in migration.py from 14.0.0; Mitaka
 * pops stages one per 0.5 s poll with the same test). Undefined before the first stage applies,
 * when QEMU's own limit holds.
 */
export function downtimeAllowedAt(schedule: readonly DowntimeStage[], elapsedS: number): number | undefined {
  let current: number | undefined;
  for (const stage of schedule) if (elapsedS > stage.atS) current = stage.downtimeMs;
  return current;
}
