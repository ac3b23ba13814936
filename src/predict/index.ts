/**
 * Convergence prediction before a migration starts: measure the guest's dirty rate on its host
 * (libvirt ≥ 7.2), estimate the link (Nova's live_migration_bandwidth, else the NIC towards the
 * destination), and judge with one pure rule against the downtime Nova will allow and auto-converge.
 * `rule.ts` decides, `parse.ts` reads the host tools' output, `measure.ts` runs the commands.
 */

export * from "./measure";
export * from "./measure-period";
export * from "./parse";
export * from "./rule";
