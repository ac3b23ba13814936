/**
 * libvirt's memory dirty-rate measurement: `virsh domdirtyrate-calc` starts it, `virsh domstats
 * --dirtyrate` reads it. What the commands take and print, per libvirt release, read from:
 * - libvirt's API table (docs/hvsupport): virDomainStartDirtyRateCalc first in 7.2.0 (QEMU driver);
 * - NEWS.rst v8.1.0 "qemu: Support mode option for dirtyrate calculation": `--mode` and the
 *   `calc_mode` field arrive in 8.1.0;
 * - v9.0.0 docs/manpages/virsh.rst (Debian 12's libvirt-clients 9.0.0-4 virsh(1)), `domdirtyrate-calc`
 *   and `domstats --dirtyrate`;
 * - v9.0.0 include/libvirt/libvirt-domain.h virDomainDirtyRateStatus (as libvirt-python 9.0.0 exports it:
 *   VIR_DOMAIN_DIRTYRATE_UNSTARTED 0, _MEASURING 1, _MEASURED 2; Debian 12's python3-libvirt 9.0.0-1).
 * The libvirt repository itself (github:libvirt/libvirt) was too large to fetch here (1.15 GB), so
 * the 9.0.0 facts come from Debian 12's 9.0.0 packages and the lab capture, the 7.2.0 and 8.1.0
 * ones from libvirt's published API support table and NEWS.
 */

/** The first libvirt with virDomainStartDirtyRateCalc / `virsh domdirtyrate-calc` (hvsupport: 7.2.0). */
export const LIBVIRT_DIRTYRATE_MIN_VERSION = { major: 7, minor: 2, micro: 0 } as const;
/** The first libvirt whose `domdirtyrate-calc` takes `--mode` and whose stats print `calc_mode` (NEWS 8.1.0). */
export const LIBVIRT_DIRTYRATE_MODE_MIN_VERSION = { major: 8, minor: 1, micro: 0 } as const;

/** `--seconds` when omitted (virsh.rst 9.0.0: "would be default to 1s if missing"). */
export const DIRTYRATE_CALC_DEFAULT_SECONDS = 1;
/** The longest `--seconds` virsh accepts (virsh.rst 9.0.0: "allows 60s at most now"). */
export const DIRTYRATE_CALC_MAX_SECONDS = 60;

/** virDomainDirtyRateStatus (libvirt-domain.h): the number `dirtyrate.calc_status` prints. */
export const DIRTYRATE_STATUS = {
  /** VIR_DOMAIN_DIRTYRATE_UNSTARTED: no measurement started since the domain started. */
  unstarted: 0,
  /** VIR_DOMAIN_DIRTYRATE_MEASURING: the period has not ended yet. */
  measuring: 1,
  /** VIR_DOMAIN_DIRTYRATE_MEASURED: `megabytes_per_second` holds the result. */
  measured: 2,
} as const;
export type DirtyRateStatus = keyof typeof DIRTYRATE_STATUS;

/** `--mode` values (8.1.0+); page-sampling is the default when omitted. */
export const DIRTYRATE_CALC_MODES = ["page-sampling", "dirty-bitmap", "dirty-ring"] as const;
export type DirtyRateCalcMode = (typeof DIRTYRATE_CALC_MODES)[number];

/**
 * The `domstats --dirtyrate` fields (virsh.rst 9.0.0), printed `  dirtyrate.<field>=<value>` under
 * `Domain: '<name>'`: calc_status (number, {@link DIRTYRATE_STATUS}), calc_start_time (the start
 * of the last calculation, QEMU's clock in seconds), calc_period (seconds), megabytes_per_second
 * (MiB/s, only once measured), calc_mode (8.1.0+), vcpu.<n>.megabytes_per_second (dirty-ring only).
 */
export const DOMSTATS_DIRTYRATE_FIELDS = {
  status: "dirtyrate.calc_status",
  startTime: "dirtyrate.calc_start_time",
  period: "dirtyrate.calc_period",
  rate: "dirtyrate.megabytes_per_second",
  mode: "dirtyrate.calc_mode",
} as const;

/**
 * What virsh 9.0.0 prints on success of `domdirtyrate-calc`, as captured in the lab
 * (test/fixtures/libvirt-dirtyrate/dirty-guest.txt); the 1–60 s range and the default of 1 s are
 * also what `virsh help domdirtyrate-calc` says there (virsh-help-domdirtyrate-calc.txt).
 */
export const DIRTYRATE_CALC_STARTED_TEXT = "Start to calculate domain's memory dirty rate successfully.";

/** A libvirt version as `virsh version` prints it ("Using library: libvirt 9.0.0"). */
export interface LibvirtVersion {
  major: number;
  minor: number;
  micro: number;
}

/** Whether this libvirt can measure a dirty rate at all (≥ 7.2.0). */
export function libvirtMeasuresDirtyRate(v: LibvirtVersion): boolean {
  const min = LIBVIRT_DIRTYRATE_MIN_VERSION;
  if (v.major !== min.major) return v.major > min.major;
  if (v.minor !== min.minor) return v.minor > min.minor;
  return v.micro >= min.micro;
}
