import { DIRTYRATE_CALC_DEFAULT_SECONDS } from "../nova-facts/libvirt-dirtyrate";

/**
 * The periods migbot measures a dirty rate over, short then long: libvirt's default second (about
 * QEMU's dirty-sync period, so the set written in it is what one pass leaves behind), then twice
 * that, which tells a guest writing new pages (the set doubles) from one rewriting a hot set
 * (the set stays: the lab read 34 MiB/s at 1 s, 25 at 2 s, 11 at 4 s on one guest).
 */
export const MEASURE_PERIODS_S = [
  DIRTYRATE_CALC_DEFAULT_SECONDS,
  2 * DIRTYRATE_CALC_DEFAULT_SECONDS,
] as const;
