/**
 * Builds a drain's plan: every VM Nova places on the host, where each goes (Nova's scheduler, or
 * the given hosts by free RAM, each then checked like `/diagnose <vm> to <host>` checks it), the
 * pre-flight checks of `/diagnose` per VM (src/diagnose: the same evidence and rules, not copies),
 * what is expected of each, and what to do about the VMs that cannot move. Changes nothing: the
 * host is disabled only once an approver approves the plan (run.ts).
 */

import { type EvidenceDeps, gatherEvidence } from "../diagnose/evidence";
import { draftsOf, evaluate, type Finding } from "../diagnose/rules";
import type { Logger } from "../log";
import { LIVE_MIGRATABLE_SERVER_STATUSES, liveMigrationConcurrency } from "../nova-facts";
import type { NovaServer } from "../openstack/port";
import type { DrainCheck, DrainPlan, DrainVmPlan, PredictedOutcome } from "./types";

/** Live migrations at once when the person gives no `concurrency N` (users ask for 1–3). */
export const DEFAULT_DRAIN_CONCURRENCY = 2;
/** The most `concurrency N` accepts: more at once lengthens each VM's final pause. */
export const MAX_DRAIN_CONCURRENCY = 10;
/** VMs whose pre-flight checks are gathered at once while planning (each reads its hosts over SSH). */
export const PLAN_GATHER_CONCURRENCY = 4;

export interface DrainRequest {
  host: string;
  destinations: string[] | null;
  concurrency: number | null;
  requestedBy: string;
  channel: string;
}

export type PlanRefusal =
  | { kind: "drain-unknown-host"; host: string }
  | { kind: "drain-unknown-destination"; host: string }
  | { kind: "drain-destination-is-source"; host: string }
  /** A given destination's nova-compute is disabled or down: Nova would place nothing there. */
  | { kind: "drain-destination-unavailable"; host: string; state: string; status: string };

export interface PlanDeps extends EvidenceDeps {
  log: Logger;
  /**
   * The convergence prediction (dirty rate against the link and the downtime Nova allows), when
   * wired in: its answer replaces what diagnosis alone can say. Null: it cannot tell for this VM.
   */
  predict?: (server: NovaServer, destination: string | null) => Promise<PredictedOutcome | null>;
}

/** The reason the host's nova-compute is disabled with (Nova keeps 255 characters). */
export function disableReasonFor(planId: string, requestedBy: string): string {
  return `migbot drain ${planId} requested by ${requestedBy}: live-migrating every VM away`;
}

/** Checks the request against Nova and builds the plan; a refusal says what is wrong. */
export async function buildDrainPlan(
  req: DrainRequest,
  meta: { id: string; now: number; ttlS: number },
  deps: PlanDeps,
): Promise<{ ok: true; plan: DrainPlan } | { ok: false; refusal: PlanRefusal }> {
  const services = await deps.nova.computeServices();
  const known = new Set(services.map((s) => s.host));
  if (!known.has(req.host)) return { ok: false, refusal: { kind: "drain-unknown-host", host: req.host } };
  for (const d of req.destinations ?? []) {
    if (d === req.host) return { ok: false, refusal: { kind: "drain-destination-is-source", host: d } };
    if (!known.has(d)) return { ok: false, refusal: { kind: "drain-unknown-destination", host: d } };
    const svc = services.find((s) => s.host === d)!;
    if (svc.status !== "enabled" || svc.state !== "up") {
      return {
        ok: false,
        refusal: { kind: "drain-destination-unavailable", host: d, state: svc.state, status: svc.status },
      };
    }
  }
  const problems: string[] = [];
  // The source's own settings: max_concurrent_live_migrations caps what the drain asks for.
  const hostEvidence = await gatherEvidence({ kind: "host", host: req.host }, deps);
  const settings = hostEvidence.hosts[req.host]?.settings ?? null;
  const asked = req.concurrency ?? DEFAULT_DRAIN_CONCURRENCY;
  let concurrency = asked;
  let concurrencyNote: string | null = null;
  let maxConcurrent: number | null = null;
  if (settings !== null) {
    maxConcurrent = settings.maxConcurrent;
    const cap = liveMigrationConcurrency(settings.release, settings.maxConcurrent);
    if (cap < asked) {
      concurrency = cap;
      concurrencyNote = `${req.host}'s nova-compute runs at most ${cap} live migration${cap === 1 ? "" : "s"} at once (max_concurrent_live_migrations = ${settings.maxConcurrent}), so the drain runs ${cap} instead of ${asked}: more would only wait in Nova's queue.`;
    }
  } else {
    problems.push(
      `${req.host}'s nova.conf could not be read, so max_concurrent_live_migrations is unknown; the drain runs ${asked} at once and Nova queues any beyond its limit.`,
    );
  }

  const servers = await deps.nova.listServers({ host: req.host });
  const free = await freeRamByHost(req.destinations, deps);
  const vms: DrainVmPlan[] = new Array(servers.length);
  // Destinations are assigned in order (biggest VMs first, so they get the room), checks in parallel.
  const order = servers.map((s, i) => ({ s, i })).sort((a, b) => ramOf(b.s) - ramOf(a.s));
  const assigned = new Map<number, string | null>();
  for (const { s, i } of order) assigned.set(i, pickDestination(s, req.destinations, free));
  let next = 0;
  const worker = async () => {
    while (next < servers.length) {
      const i = next++;
      vms[i] = await planVm(servers[i]!, assigned.get(i) ?? null, req.destinations !== null, deps);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PLAN_GATHER_CONCURRENCY, servers.length) }, worker));
  // Largest first: with several slots, the long migrations start early and the short ones fill in
  // around them, so the slots end close together (the drain's wall time near the links' bound).
  vms.sort((a, b) => (b.ramMb ?? 0) - (a.ramMb ?? 0));
  // The links: migrations at once share the source's NIC; each must keep more than its VM dirties.
  const links = linkConcurrency(vms);
  if (links !== null && links.max < concurrency) {
    const was = concurrency;
    concurrency = links.max;
    const why = `the link from ${req.host} carries ~${Math.round(links.linkMiBps)} MiB/s and ${links.vm} dirties ~${Math.round(links.dirtyMiBps)} MiB/s, so more than ${links.max} migration${links.max === 1 ? "" : "s"} at once would leave it less than it writes: the drain runs ${links.max} instead of ${was}.`;
    concurrencyNote =
      concurrencyNote === null
        ? `${why[0]!.toUpperCase()}${why.slice(1)}`
        : `${concurrencyNote} Also, ${why}`;
  }
  return {
    ok: true,
    plan: {
      id: meta.id,
      host: req.host,
      requestedBy: req.requestedBy,
      channel: req.channel,
      destinations: req.destinations,
      concurrency,
      requestedConcurrency: req.concurrency,
      concurrencyNote,
      maxConcurrentLiveMigrations: maxConcurrent,
      disableReason: disableReasonFor(meta.id, req.requestedBy),
      vms,
      problems,
      createdAt: meta.now,
      expiresAt: meta.now + meta.ttlS * 1000,
    },
  };
}

function ramOf(s: NovaServer): number {
  return s.flavor.ramMb ?? 0;
}

/** Free RAM of each given destination, as Nova's hypervisors report it (null: the scheduler picks). */
async function freeRamByHost(
  destinations: string[] | null,
  deps: PlanDeps,
): Promise<Map<string, number> | null> {
  if (destinations === null) return null;
  const free = new Map<string, number>();
  const hypervisors = await deps.nova.hypervisors().catch(() => []);
  for (const d of destinations) {
    const h = hypervisors.find((x) => x.serviceHost === d || x.hostname === d);
    free.set(d, h?.freeRamMb ?? 0);
  }
  return free;
}

/**
 * The given host with the most free RAM left after the VMs already assigned (the capacity check of
 * diagnosis then judges it as Nova will); null when no host was given (the scheduler chooses).
 */
function pickDestination(
  s: NovaServer,
  destinations: string[] | null,
  free: Map<string, number> | null,
): string | null {
  if (destinations === null || free === null) return null;
  let best = destinations[0]!;
  for (const d of destinations) if ((free.get(d) ?? 0) > (free.get(best) ?? 0)) best = d;
  free.set(best, (free.get(best) ?? 0) - ramOf(s));
  return best;
}

/** One VM: its pre-flight checks, whether it moves, what is expected and what to do if it cannot. */
export async function planVm(
  server: NovaServer,
  destination: string | null,
  given: boolean,
  deps: PlanDeps,
): Promise<DrainVmPlan> {
  const base = {
    serverId: server.id,
    name: server.name,
    ramMb: server.flavor.ramMb ?? null,
    destination,
  };
  if (!(LIVE_MIGRATABLE_SERVER_STATUSES as readonly string[]).includes(server.status)) {
    return {
      ...base,
      action: "skip",
      reason: `it is ${server.status}, and Nova live-migrates only ACTIVE or PAUSED servers`,
      advice: "cold-migrate instead (openstack server migrate), or start it and drain again",
      fixes: [],
      checks: [],
      prediction: { verdict: "unknown", reason: "not live-migratable in its state", source: "diagnosis" },
    };
  }
  let findings: Finding[] = [];
  try {
    const ev = await gatherEvidence({ kind: "vm", server, destination }, deps);
    findings = evaluate(ev, { retry: { vm: server.name, destination } });
  } catch (err) {
    deps.log.warn("drain: pre-flight checks failed", { vm: server.id, err });
    return {
      ...base,
      action: "migrate",
      reason: null,
      advice: null,
      fixes: [],
      checks: [
        {
          id: "checks",
          title: "Pre-flight checks",
          status: "warn",
          detail: `could not be run: ${err instanceof Error ? err.message : String(err)}`,
        },
      ],
      prediction: { verdict: "unknown", reason: "the checks could not be run", source: "diagnosis" },
    };
  }
  const checks: DrainCheck[] = findings.map((f) => ({
    id: f.id,
    title: f.title,
    status: f.status,
    detail: f.evidence[0] ?? null,
  }));
  // Only what stops the move itself keeps a VM back: the VM, its destination's service, room and
  // CPU. A warning about settings or old log lines does not.
  const blocking = findings.filter(
    (f) => f.status === "fail" && f.id !== "settings" && !f.id.startsWith("log") && f.id !== "problems",
  );
  const fixes = draftsOf(findings).map((d) => d.title);
  const predicted = deps.predict
    ? await deps.predict(server, destination).catch((err) => {
        deps.log.warn("drain: prediction failed", { vm: server.id, err });
        return null;
      })
    : null;
  const prediction = predicted ?? predictionOf(findings);
  if (blocking.length > 0) {
    const first = blocking[0]!;
    return {
      ...base,
      action: "skip",
      reason: `${first.title}: ${first.evidence[0] ?? "failed"}`,
      advice:
        fixes.length > 0
          ? `approve the fix proposed in this thread (${fixes[0]}), then drain again`
          : given
            ? "give another destination, or cold-migrate instead (openstack server migrate)"
            : "cold-migrate instead (openstack server migrate)",
      fixes,
      checks,
      prediction,
    };
  }
  return {
    ...base,
    action: "migrate",
    reason: null,
    advice:
      prediction.verdict === "will-not-converge"
        ? fixes.length > 0
          ? `may not converge: approve the fix proposed in this thread (${fixes[0]}) first, or cold-migrate it`
          : "may not converge: cold-migrate instead if it stalls"
        : null,
    fixes,
    checks,
    prediction,
  };
}

/**
 * What diagnosis knows about convergence before a migration starts: the settings check (auto-converge,
 * post-copy, downtime) but not the VM's dirty rate. The dirty-rate prediction replaces this slot.
 */
export function predictionOf(findings: readonly Finding[]): PredictedOutcome {
  const settings = findings.find((f) => f.id === "settings");
  if (settings?.draft?.kind === "auto-converge" || settings?.status === "fail") {
    return {
      verdict: "unknown",
      reason:
        "auto-converge is not on for this migration: a VM that dirties memory faster than the link carries will not converge (its dirty rate is not measured before the drain; the drain watches each migration and stops one that does not converge)",
      source: "diagnosis",
    };
  }
  return {
    verdict: "unknown",
    reason:
      "dirty rate not measured before the drain; each migration is watched and one that does not converge is stopped",
    source: "diagnosis",
  };
}

/** Why the links hold the drain below what was asked, when they do. */
export interface LinkConcurrency {
  /** The most migrations at once that still leave each its dirtiest VM's rate. */
  max: number;
  /** The link the VMs' migrations share (the source's NIC towards the destinations), MiB/s. */
  linkMiBps: number;
  /** The dirtiest VM expected to converge, and its measured write rate (MiB/s). */
  vm: string;
  dirtyMiBps: number;
}

/**
 * How many live migrations the source's link carries at once. With no per-migration cap
 * (`live_migration_bandwidth` unset: the prediction read the NIC), the migrations running together
 * share the NIC, so each gets the link over the concurrency; a VM converges only while its share
 * stays above its dirty rate. The bound is therefore the link over the highest measured rate among
 * the VMs expected to converge (the ones that will not converge anyway do not set it). Null when no
 * VM was measured against a NIC, or when the link allows more than any drain asks.
 */
export function linkConcurrency(vms: readonly DrainVmPlan[]): LinkConcurrency | null {
  let linkMiBps: number | null = null;
  let dirtiest: { vm: string; rate: number } | null = null;
  for (const v of vms) {
    const p = v.prediction.measured;
    if (v.action !== "migrate" || p === undefined || p.link?.from !== "nic" || p.writes === undefined)
      continue;
    linkMiBps = linkMiBps === null ? p.link.mibPerS : Math.min(linkMiBps, p.link.mibPerS);
    if (v.prediction.verdict !== "will-converge") continue;
    const rate = p.writes.rateMiBps ?? 0;
    if (dirtiest === null || rate > dirtiest.rate) dirtiest = { vm: v.name, rate };
  }
  if (linkMiBps === null || dirtiest === null || dirtiest.rate <= 0) return null;
  const max = Math.max(1, Math.floor(linkMiBps / dirtiest.rate));
  if (max >= MAX_DRAIN_CONCURRENCY) return null;
  return { max, linkMiBps, vm: dirtiest.vm, dirtyMiBps: dirtiest.rate };
}
