/**
 * QEMU migration defaults that hold whenever Nova has not set a value: the allowed downtime before
 * Nova's first downtime stage, and auto-converge's throttle steps (Nova never sets those).
 * From qemu/qemu migration/options.c (migration/migration.c in older trees):
 * DEFAULT_MIGRATE_SET_DOWNTIME, DEFAULT_MIGRATE_CPU_THROTTLE_INITIAL / _INCREMENT,
 * DEFAULT_MIGRATE_MAX_CPU_THROTTLE, DEFAULT_MIGRATE_THROTTLE_TRIGGER_THRESHOLD.
 */

/** `downtime-limit` default, ms. */
export const QEMU_DEFAULT_DOWNTIME_LIMIT_MS = 300;
/** `cpu-throttle-initial` default, percent. */
export const QEMU_AUTO_CONVERGE_INITIAL_PERCENT = 20;
/** `cpu-throttle-increment` default, percent. */
export const QEMU_AUTO_CONVERGE_INCREMENT_PERCENT = 10;
/** `max-cpu-throttle` default, percent. */
export const QEMU_AUTO_CONVERGE_MAX_PERCENT = 99;
/** `throttle-trigger-threshold` default, percent of the bytes sent in a sync period. */
export const QEMU_THROTTLE_TRIGGER_THRESHOLD_PERCENT = 50;
/** QEMU raises the throttle after this many "dirtying too fast" sync periods in a row (`dirty_rate_high_cnt >= 2`, migration/ram.c). */
export const AUTO_CONVERGE_PERIODS_PER_STEP = 2;
/** QEMU only evaluates dirty-rate statistics over periods at least this long (1000 ms, migration/ram.c). */
export const QEMU_SYNC_PERIOD_MIN_S = 1;
