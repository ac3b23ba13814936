/**
 * Gathering a prediction on the hosts: libvirt's version (≥ 7.2 measures), the guest's dirty rate
 * over each of {@link MEASURE_PERIODS_S} (`virsh domdirtyrate-calc`, then `virsh domstats
 * --dirtyrate` until measured), the link (the source's live_migration_bandwidth, else the speed of
 * the NIC its route to the destination leaves through), and Nova's figures for both hosts; then
 * the one rule. Read-only; every step bounded; a step that fails becomes a cannot-measure reason.
 */
import type { HostsPort } from "../hosts/port";
import type { DowntimeSource } from "../migration/downtime";
import type { MigrationType } from "../nova-conf/effective";
import { libvirtMeasuresDirtyRate } from "../nova-facts/libvirt-dirtyrate";
import type { NovaHypervisor } from "../openstack/port";
import { MEASURE_PERIODS_S } from "./measure-period";
import { parseDomstatsDirtyRate, parseLibvirtVersion, parseNicSpeedMbps, parseRouteDevice } from "./parse";
import {
  type CannotMeasure,
  type DirtyRateMeasurement,
  type DirtyRateReading,
  type LinkEstimate,
  type Prediction,
  predictConvergence,
} from "./rule";

/** One host command of the measurement may take this long. */
export const PREDICT_COMMAND_TIMEOUT_MS = 15_000;
/** After a period ends, libvirt may take this long to show the result before the reading counts as failed. */
export const DIRTYRATE_RESULT_GRACE_MS = 5_000;
/** How often `domstats --dirtyrate` is asked while waiting for a result. */
export const DIRTYRATE_POLL_INTERVAL_MS = 250;
/** Destinations whose link is read when the scheduler chooses (the slowest counts). */
export const MAX_CANDIDATE_LINKS = 8;
const MIB = 1024 ** 2;
const BITS_PER_BYTE = 8;

export interface PredictDeps {
  hosts: HostsPort;
  /** Nova's figures (downtime stages, timeouts, auto-converge, bandwidth cap) of a host for this VM. */
  figures: DowntimeSource;
  /** Nova's hypervisors (their host_ip is where migration traffic goes). */
  hypervisors: () => Promise<NovaHypervisor[]>;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface PredictRequest {
  vm: string;
  /** The libvirt domain (`instance-…`). */
  domain: string | null;
  source: string;
  /** Null: the scheduler chooses; the slowest link to a possible destination counts. */
  destination: string | null;
  memoryMb: number | null;
  migrationType?: MigrationType;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Measures a domain's dirty rate over each period, or says why it cannot be measured there. */
export async function measureDirtyRate(
  deps: Pick<PredictDeps, "hosts" | "sleep" | "now">,
  host: string,
  domain: string,
): Promise<DirtyRateMeasurement | CannotMeasure> {
  const sleep = deps.sleep ?? defaultSleep;
  const now = deps.now ?? Date.now;
  const run = { timeoutMs: PREDICT_COMMAND_TIMEOUT_MS, allowNonZeroExit: true };
  if (!deps.hosts.has(host)) return { reason: "no-host-access", host };
  try {
    const versionOut = await deps.hosts.run(host, { kind: "virsh-version" }, run);
    const version = parseLibvirtVersion(versionOut.stdout);
    if (version === null) {
      return {
        reason: "measurement-failed",
        host,
        detail: `virsh version did not name the libvirt library: ${(versionOut.stderr || versionOut.stdout).trim().slice(0, 200)}`,
      };
    }
    const versionText = `${version.major}.${version.minor}.${version.micro}`;
    if (!libvirtMeasuresDirtyRate(version)) return { reason: "libvirt-too-old", host, version: versionText };
    const readings: DirtyRateReading[] = [];
    for (const seconds of MEASURE_PERIODS_S) {
      const calc = await deps.hosts.run(host, { kind: "virsh-domdirtyrate-calc", domain, seconds }, run);
      if (calc.exitCode !== 0) {
        const text = (calc.stderr || calc.stdout).trim();
        if (/not running/i.test(text)) return { reason: "not-running", host };
        return { reason: "measurement-failed", host, detail: text.slice(0, 300) };
      }
      const startedAt = now();
      await sleep(seconds * 1000);
      const deadline = startedAt + seconds * 1000 + DIRTYRATE_RESULT_GRACE_MS;
      let reading: DirtyRateReading | null = null;
      for (;;) {
        const out = await deps.hosts.run(host, { kind: "virsh-domstats-dirtyrate", domain }, run);
        const stats = parseDomstatsDirtyRate(out.stdout);
        if (stats?.status === "measured" && stats.mibPerS !== null && stats.periodS === seconds) {
          reading = { periodS: seconds, mibPerS: stats.mibPerS };
          break;
        }
        if (now() >= deadline) break;
        await sleep(DIRTYRATE_POLL_INTERVAL_MS);
      }
      if (reading === null) {
        return {
          reason: "measurement-failed",
          host,
          detail: `libvirt showed no result ${seconds + DIRTYRATE_RESULT_GRACE_MS / 1000} s after a ${seconds} s measurement`,
        };
      }
      readings.push(reading);
    }
    return { readings, libvirt: versionText };
  } catch (err) {
    return { reason: "measurement-failed", host, detail: message(err) };
  }
}

/** The NIC speed on `source` towards `address`, or why it is unknown. */
async function nicTowards(
  hosts: HostsPort,
  source: string,
  address: string,
): Promise<{ name: string; mbps: number } | string> {
  const run = { timeoutMs: PREDICT_COMMAND_TIMEOUT_MS, allowNonZeroExit: true };
  const route = await hosts.run(source, { kind: "ip-route-get", address }, run);
  const dev = parseRouteDevice(route.stdout);
  if (dev === null) return `no route from ${source} to ${address}: ${(route.stderr || route.stdout).trim()}`;
  if (dev === "lo") return `${address} is ${source} itself`;
  const speed = await hosts.run(source, { kind: "read-nic-speed", iface: dev }, run);
  const mbps = parseNicSpeedMbps(speed.stdout);
  if (mbps === null) return `${dev} on ${source} reports no link speed (virtual or down)`;
  return { name: dev, mbps };
}

/** The link a migration from `source` gets: Nova's cap if set, else the (slowest) NIC towards the destination(s). */
export async function estimateLink(
  deps: Pick<PredictDeps, "hosts" | "hypervisors">,
  source: string,
  destination: string | null,
  bandwidthMiBps: number | undefined,
): Promise<LinkEstimate | CannotMeasure> {
  if (bandwidthMiBps !== undefined && bandwidthMiBps > 0) {
    return { mibPerS: bandwidthMiBps, from: "live_migration_bandwidth" };
  }
  try {
    const hypervisors = await deps.hypervisors();
    const targets = hypervisors
      .filter((h) =>
        destination === null
          ? h.serviceHost !== source
          : h.serviceHost === destination || h.hostname === destination,
      )
      .filter((h) => typeof h.hostIp === "string" && h.hostIp !== "")
      .slice(0, MAX_CANDIDATE_LINKS);
    if (targets.length === 0) {
      return {
        reason: "link-unknown",
        host: source,
        detail:
          destination === null
            ? "Nova lists no other host's address"
            : `Nova lists no address for ${destination}`,
      };
    }
    let slowest: { name: string; mbps: number } | null = null;
    for (const t of targets) {
      const nic = await nicTowards(deps.hosts, source, t.hostIp!);
      if (typeof nic === "string") return { reason: "link-unknown", host: source, detail: nic };
      if (slowest === null || nic.mbps < slowest.mbps) slowest = nic;
    }
    const mibPerS = (slowest!.mbps * 1e6) / BITS_PER_BYTE / MIB;
    return { mibPerS: Math.round(mibPerS * 10) / 10, from: "nic", nic: slowest! };
  } catch (err) {
    return { reason: "link-unknown", host: source, detail: message(err) };
  }
}

/** Measures on the hosts and predicts: the whole pre-start check for one VM. */
export async function predictMigration(deps: PredictDeps, req: PredictRequest): Promise<Prediction> {
  const memoryBytes = req.memoryMb === null ? null : req.memoryMb * MIB;
  const [sourceFigures, destinationFigures] = await Promise.all([
    deps.figures(req.source, memoryBytes, req.migrationType).catch(() => undefined),
    req.destination === null
      ? Promise.resolve(undefined)
      : deps.figures(req.destination, memoryBytes, req.migrationType).catch(() => undefined),
  ]);
  const measurement: DirtyRateMeasurement | CannotMeasure =
    req.domain === null
      ? { reason: "measurement-failed", host: req.source, detail: "Nova did not say the VM's libvirt domain" }
      : await measureDirtyRate(deps, req.source, req.domain);
  const link =
    "reason" in measurement
      ? measurement
      : await estimateLink(deps, req.source, req.destination, sourceFigures?.bandwidthMiBps);
  return predictConvergence({
    vm: req.vm,
    source: req.source,
    destination: req.destination,
    memoryMb: req.memoryMb,
    measurement,
    link,
    nova: {
      ...(sourceFigures?.release !== undefined && { release: sourceFigures.release }),
      ...(sourceFigures?.downtimeSchedule !== undefined && {
        downtimeSchedule: sourceFigures.downtimeSchedule,
      }),
      ...(sourceFigures?.progressTimeoutS !== undefined && {
        progressTimeoutS: sourceFigures.progressTimeoutS,
      }),
      ...(sourceFigures?.completionTimeoutS !== undefined && {
        completionTimeoutS: sourceFigures.completionTimeoutS,
      }),
      autoConvergeSource: sourceFigures?.autoConverge === true,
      autoConvergeDestination:
        destinationFigures === undefined ? null : destinationFigures.autoConverge === true,
    },
  });
}
