/**
 * A source host's downtime and timeout figures, as its nova-compute applies them to one migration:
 * read over SSH from the host's release and effective nova.conf, scaled by the VM's size, for the
 * convergence analyzer and for the warning's "what Nova will do if nobody acts".
 */
import { DEFAULT_NOVA_CONF_PATHS } from "../hosts/inventory";
import type { HostsPort } from "../hosts/port";
import type { Logger } from "../log";
import {
  autoConvergeFor,
  effectiveSettings,
  type LiveMigrationSettings,
  type MigrationType,
} from "../nova-conf/effective";
import { releaseFromVersion } from "../nova-conf/releases";
import {
  blockMigrationAutoIsBlock,
  compareMicroversion,
  type DowntimeStage,
  MICROVERSIONS,
  migrationFigures,
} from "../nova-facts";
import type { ConvergenceOptions, ConvergenceReport } from "./convergence";
import { EVIDENCE_TIMEOUT_MS } from "./host-evidence";

/**
 * A host's nova.conf figures are read again after this long. Short, because an approved fix changes
 * them and the retried migration must be judged by the new settings; long enough that many
 * migrations starting together from one host share one read.
 */
export const NOVA_CONF_CACHE_TTL_MS = 10_000;

const MIB = 1024 ** 2;

/** The downtime and timeout figures of a source host's nova-compute, for the analyzer and the warning. */
export interface DowntimeFigures extends Pick<ConvergenceOptions, "downtimeLimitMs" | "finalDowntimeMs"> {
  /** Nova's stages for this migration (they depend on the VM's size). */
  downtimeSchedule?: DowntimeStage[];
  /** Nova aborts after this long without a new low in remaining (0 = off). */
  progressTimeoutS?: number;
  /** Nova gives up on the whole migration after this long (already × GiB; 0 = off). */
  completionTimeoutS?: number;
  timeoutAction?: "abort" | "force_complete";
  /** The release the figures were read for, e.g. `mitaka`. */
  release?: string;
  /** The release as nova-facts takes it (major and, when read from the host, the point version). */
  releaseRef?: { major: number; version?: string };
  /**
   * The source lets QEMU throttle the guest (auto-converge on, and not overridden by post-copy) for
   * this migration's type: Mitaka takes a block migration's flags from block_migration_flag and a
   * live one's from live_migration_flag. For an unknown type, on only when both lists have it.
   */
  autoConverge?: boolean;
  /** [libvirt] live_migration_permit_post_copy in effect on the source. */
  postCopyPermitted?: boolean;
  /** [libvirt] live_migration_bandwidth, MiB/s (0: libvirt's default, no cap). */
  bandwidthMiBps?: number;
}

/**
 * Reads a source host's downtime figures; `memoryBytes` is the VM's RAM (Nova scales steps by it),
 * `migrationType` whether Nova copies the disks too (block) or not (live), when known.
 */
export type DowntimeSource = (
  sourceHost: string,
  memoryBytes: number | null,
  migrationType?: MigrationType,
) => Promise<DowntimeFigures | undefined>;

/**
 * The analyzer's figures from a host's effective live-migration settings, for a VM of
 * `memoryBytes`: Nova's own data size, stages and timeouts (src/nova-facts). Settings nova-compute
 * itself would refuse give no schedule rather than a guessed one.
 */
export function downtimeFiguresOf(
  settings: LiveMigrationSettings,
  memoryBytes: number | null,
  version?: string,
  migrationType?: MigrationType,
): DowntimeFigures {
  const releaseRef = { major: settings.release.major, ...(version !== undefined && { version }) };
  const base: DowntimeFigures = {
    progressTimeoutS: settings.progressTimeoutS,
    timeoutAction: settings.timeoutAction,
    release: settings.release.name,
    releaseRef,
    autoConverge:
      migrationType === undefined ? settings.autoConvergeEffective : autoConvergeFor(settings, migrationType),
    postCopyPermitted: settings.postCopy,
    bandwidthMiBps: settings.bandwidthMiBps,
  };
  try {
    const figures = migrationFigures(releaseRef, {
      memoryMb: (memoryBytes ?? 0) / MIB,
      downtimeMs: settings.downtimeMs,
      downtimeSteps: settings.downtimeSteps,
      downtimeDelayS: settings.downtimeDelayS,
      completionTimeoutSPerGiB: settings.completionTimeoutS,
      progressTimeoutS: settings.progressTimeoutS,
    });
    return {
      ...base,
      downtimeSchedule: figures.downtimeStages,
      finalDowntimeMs: figures.finalDowntimeMs,
      completionTimeoutS: figures.completionTimeoutS,
    };
  } catch {
    return base;
  }
}

/**
 * A {@link DowntimeSource} that reads each host's nova-compute release (`nova-compute --version`)
 * and config files (catalogue `read-file`) over SSH and resolves them as nova-compute would, cached
 * per host for {@link NOVA_CONF_CACHE_TTL_MS}. A host it cannot read gives `undefined` (the analyzer
 * then assumes QEMU's default limit).
 */
export function novaConfDowntime(
  hosts: HostsPort,
  opts: {
    log?: Logger;
    now?: () => number;
    timeoutMs?: number;
    /** nova-compute's config files in read order. @defaultValue DEFAULT_NOVA_CONF_PATHS */
    confPaths?: (host: string) => string[];
  } = {},
): DowntimeSource {
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.timeoutMs ?? EVIDENCE_TIMEOUT_MS;
  type Read = { settings: LiveMigrationSettings; version?: string };
  const cache = new Map<string, { at: number; settings: Promise<Read | null> }>();
  const read = async (host: string): Promise<Read | null> => {
    if (!(hosts.has?.(host) ?? true)) return null;
    try {
      const run = { timeoutMs, allowNonZeroExit: true };
      const version = await hosts.run(host, { kind: "nova-compute-version" }, run);
      // Mitaka's nova (Python 2.7 argparse) prints its version on stderr.
      const versionText = `${version.stdout}${version.stderr}`.trim();
      const release = releaseFromVersion(versionText);
      const files: { path: string; text: string }[] = [];
      for (const path of opts.confPaths?.(host) ?? DEFAULT_NOVA_CONF_PATHS) {
        const res = await hosts.run(host, { kind: "read-file", path }, run);
        if (res.exitCode === 0) files.push({ path, text: res.stdout });
      }
      if (files.length === 0) return null;
      const settings = effectiveSettings(files, release, { unknownFlags: "ignore", cpuConsistency: "warn" });
      const point = /\b(\d+\.\d+\.\d+)\b/.exec(versionText)?.[1];
      return { settings, ...(point !== undefined && { version: point }) };
    } catch (err) {
      opts.log?.warn("nova.conf figures unavailable; assuming QEMU's default downtime", { host, err });
      return null;
    }
  };
  return async (host, memoryBytes, migrationType) => {
    let entry = cache.get(host);
    if (entry === undefined || now() - entry.at > NOVA_CONF_CACHE_TTL_MS) {
      entry = { at: now(), settings: read(host) };
      cache.set(host, entry);
    }
    const got = await entry.settings;
    return got === null
      ? undefined
      : downtimeFiguresOf(got.settings, memoryBytes, got.version, migrationType);
  };
}

// One default source per hosts port, so that every migration a worker follows shares its cache.
const defaultDowntimeSources = new WeakMap<HostsPort, DowntimeSource>();

/** The worker's shared {@link novaConfDowntime} for a hosts port (one cache per port). */
export function sharedNovaConfDowntime(hosts: HostsPort, log: Logger, timeoutMs: number): DowntimeSource {
  let source = defaultDowntimeSources.get(hosts);
  if (source === undefined) {
    source = novaConfDowntime(hosts, { log, timeoutMs });
    defaultDowntimeSources.set(hosts, source);
  }
  return source;
}

/** What Nova's own timeouts will do to a migration that does not converge, as a sentence; null without figures. */
export function novaWillDo(d: DowntimeFigures | undefined, report: ConvergenceReport): string | null {
  if (d === undefined) return null;
  if (d.progressTimeoutS !== undefined && d.progressTimeoutS > 0) {
    return `Nova aborts it once the memory still to copy has made no new low for ${d.progressTimeoutS} s (live_migration_progress_timeout on ${d.release ?? "this release"})`;
  }
  if (d.completionTimeoutS !== undefined && d.completionTimeoutS > 0) {
    const left = Math.max(0, d.completionTimeoutS - report.elapsedS);
    const action = d.timeoutAction === "force_complete" ? "force-completes" : "aborts";
    return `Nova ${action} it after ${d.completionTimeoutS} s in total, about ${Math.round(left)} s from now (live_migration_completion_timeout)`;
  }
  return "Nova has no timeout configured and keeps copying for ever";
}

/**
 * How Nova moves a VM migbot asked it to move: below 2.25 migbot sends `block_migration: false`, a
 * live migration; from 2.25 it sends "auto", where Nova block-migrates unless the instance's disks
 * are on shared storage — so a VM booted from an image (local root disk) is a block migration, one
 * booted from a volume a live one (unless its flavor adds an ephemeral or swap disk). Undefined
 * when Nova did not say how the VM booted.
 */
export function migrationTypeOfRequest(
  requestMicroversion: string,
  bootedFromImage: boolean | undefined,
): MigrationType | undefined {
  if (compareMicroversion(requestMicroversion, MICROVERSIONS.BLOCK_MIGRATION_AUTO) < 0) return "live";
  if (bootedFromImage === undefined) return undefined;
  return blockMigrationAutoIsBlock(bootedFromImage) ? "block" : "live";
}
