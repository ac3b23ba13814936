/**
 * How a migration that did not complete is explained: the failure's message (a code and plain
 * sentences saying what to do next; Nova's API says only "error", so the reason comes from the
 * nova-compute logs of the hosts involved) and the log lines quoted under it. No Slack syntax: the
 * failure renderer escapes all of it and formats the command.
 */

import type { NovaComputeService, NovaMigration, NovaPort } from "../openstack/port";
import type { HostEvidence } from "./host-evidence";
import { type ExplainingLine, explainNovaEnd, explanationText } from "./instance-log";
import type { MigrationFailure } from "./view";

/** Log lines quoted in a failure reply. */
export const FAILURE_QUOTED_LINES = 8;

/** What ended a migration, without its phase and log lines (those the tracker adds). */
export type FailureReason = Pick<MigrationFailure, "message" | "command">;

/** migbot stopped following a migration Nova still reports in progress. */
export function trackingTimeout(hours: number, serverId: string | null): FailureReason {
  return {
    message: `MIGRATION_TRACKING_TIMEOUT: migbot stopped following after ${hours} h; Nova still reports it in progress.`,
    command: `openstack server migration list --server ${serverId}`,
  };
}

/** Nova accepted the live-migrate but no migration record followed. */
export const NOT_RECORDED: FailureReason = {
  message:
    "MIGRATION_NOT_RECORDED: Nova accepted the request but never created a migration record for it. Check nova-conductor's and nova-scheduler's logs, then try again.",
};

/** Nova cancelled it (an Abort, migbot's or anyone's); who asked, if anyone in Slack, is in the view's `control`. */
export function cancelled(source: string | null): FailureReason {
  return {
    message: `Nova cancelled the live migration; the VM keeps running on ${source ?? "its source host"}.`,
  };
}

/** The nova-compute log lines on `host` that explain the instance's latest migration, host-prefixed, oldest first. */
export async function explainingLines(
  evidence: HostEvidence,
  host: string | null | undefined,
  serverId: string | null,
): Promise<ExplainingLine[]> {
  const reading = await evidence.instanceLog(host, serverId);
  if (reading === null) return [];
  return reading.explaining
    .slice(-FAILURE_QUOTED_LINES)
    .map((q) => ({ event: q.event, text: `${host}: ${q.text}` }));
}

/** The lines quoted under a failure: each host's explaining lines (each host once), the last few. */
export async function quotedLines(
  evidence: HostEvidence,
  hosts: (string | null | undefined)[],
  serverId: string | null,
): Promise<string[]> {
  const unique = hosts.filter((h, i, all): h is string => !!h && all.indexOf(h) === i);
  const lines: string[] = [];
  for (const host of unique)
    lines.push(...(await explainingLines(evidence, host, serverId)).map((q) => q.text));
  return lines.slice(-FAILURE_QUOTED_LINES);
}

/** What {@link novaErrorReason} may consult beyond the hosts' logs. */
export interface NovaErrorContext {
  nova: Pick<NovaPort, "computeServices" | "liveMigrationFailure">;
  /** When migbot asked for the migration (ms since epoch): Nova's actions from then on are this one's. */
  sinceMs: number;
  /**
   * The destination the operator named. When Nova's scheduler refused it, the record names no
   * destination (real Zed), but that host's log holds the check it failed, if any.
   */
  requestedDestination: string | null;
}

/** How a refused destination reads, from its nova-compute service as Nova lists it. */
function destinationHint(dest: string | null, service: NovaComputeService | undefined): string {
  if (dest === null) {
    return "Nova's scheduler found no host that passes its checks; run /diagnose to see why, or name a destination.";
  }
  if (service?.status === "disabled") {
    const reason = service.disabledReason ? ` ("${service.disabledReason}")` : "";
    return `${dest}'s nova-compute is disabled${reason}, and the scheduler never offers a disabled host. Enable it (openstack compute service set --enable ${dest} nova-compute) or choose another destination.`;
  }
  if (service?.state === "down") {
    return `${dest}'s nova-compute is down, so the scheduler does not offer it. Check nova-compute on ${dest}, or choose another destination.`;
  }
  return `${dest} did not pass the scheduler's checks (room, CPU, its nova-compute); run /diagnose ${dest} to see which.`;
}

/**
 * Why Nova set migration `m` to error: from the source's, the destination's (and the named
 * destination's) nova-compute logs; else from Nova itself. Nova's conductor refuses a destination
 * before any compute host logs a word (real Zed: the record in `error` with no destination, and
 * "No valid host was found." in the live-migration action's failed event), so that is asked next,
 * with the named destination's service state to say why.
 */
export async function novaErrorReason(
  evidence: HostEvidence,
  m: NovaMigration,
  serverId: string | null,
  ctx?: NovaErrorContext,
): Promise<FailureReason> {
  // A record with no destination never reached a compute host: the conductor refused it, and the
  // hosts' logs only tell of earlier migrations (real Zed's monitor lines carry no request id).
  const reachedCompute = m.destCompute !== null;
  const hosts = (reachedCompute ? [m.sourceCompute, m.destCompute] : [ctx?.requestedDestination]).filter(
    (h, i, all): h is string => !!h && all.indexOf(h) === i,
  );
  const refusal =
    ctx && serverId ? await ctx.nova.liveMigrationFailure?.(serverId, ctx.sinceMs).catch(() => null) : null;
  for (const host of hosts) {
    const why = explainNovaEnd(await explainingLines(evidence, host, serverId), m.sourceCompute);
    // On the named destination only a pre-check failure it logged for this request counts.
    if (why !== null && (reachedCompute || why.code === "MIGRATION_PRECHECK_FAILED")) {
      return { message: `Nova set the migration to ${m.status}. ${explanationText(why)}` };
    }
  }
  if (refusal && ctx) {
    const dest = ctx.requestedDestination;
    const service =
      dest === null
        ? undefined
        : (await ctx.nova.computeServices().catch(() => [])).find((x) => x.host === dest);
    const said = refusal.details?.trim();
    return {
      message: `MIGRATION_REFUSED: Nova refused the live migration${said ? `: "${said}"` : ""} (its step ${refusal.event} failed; the VM stays on ${m.sourceCompute}). ${destinationHint(dest, service)}`,
    };
  }
  return {
    message: `MIGRATION_FAILED: Nova set the migration to ${m.status} and its nova-compute logs give no reason migbot can read. Look at nova-compute's log on ${m.sourceCompute}${m.destCompute ? ` and ${m.destCompute}` : ""}.`,
  };
}
