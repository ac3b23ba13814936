/**
 * A drain plan's expected outcome per VM from the convergence prediction (src/predict): the VM's
 * dirty rate measured on its host against the link and the downtime Nova allows. The plan keeps
 * diagnosis' own reading where the prediction cannot be made.
 */

import type { HostsPort } from "../hosts/port";
import type { Logger } from "../log";
import { migrationTypeOfRequest, sharedNovaConfDowntime } from "../migration/downtime";
import type { NovaPort, NovaServer } from "../openstack/port";
import { type Prediction, predictMigration } from "../predict";
import type { PredictedOutcome } from "./types";

/** Each SSH read behind the prediction (nova.conf for Nova's figures) gives up after this. */
const DRAIN_PREDICT_EVIDENCE_TIMEOUT_MS = 10_000;

/** The plan's slot from a prediction: what a person reads in the plan, plain text. */
export function predictedOutcomeOf(p: Prediction): PredictedOutcome | null {
  if (p.outcome === "cannot-measure" || !p.writes || !p.link) return null;
  const rate =
    p.writes.rateMiBps === null
      ? `rewrites ~${p.writes.writtenMiB.toFixed(0)} MiB faster than once a second`
      : `dirties ~${p.writes.rateMiBps.toFixed(0)} MiB/s`;
  const against = `${rate} against a ${p.link.mibPerS.toFixed(0)} MiB/s link`;
  switch (p.outcome) {
    case "will-converge":
      return { verdict: "will-converge", reason: against, source: "dirty-rate", measured: p };
    case "converges-only-with-auto-converge":
      return {
        verdict: "will-converge",
        reason: `${against}; converges only with auto-converge, which is on`,
        source: "dirty-rate",
        measured: p,
      };
    default:
      return {
        verdict: "will-not-converge",
        reason:
          p.fix === "auto-converge"
            ? `${against}; will not converge without auto-converge`
            : `${against}; will not converge, even with auto-converge`,
        source: "dirty-rate",
        measured: p,
      };
  }
}

/** The plan's `predict` hook: measures each VM where it runs, with the source's nova.conf figures. */
export function drainPredictor(deps: { hosts: HostsPort; nova: NovaPort; log: Logger }) {
  const figures = sharedNovaConfDowntime(deps.hosts, deps.log, DRAIN_PREDICT_EVIDENCE_TIMEOUT_MS);
  return async (server: NovaServer, destination: string | null): Promise<PredictedOutcome | null> => {
    if (!server.host) return null;
    const type = migrationTypeOfRequest(deps.nova.microversion, server.bootedFromImage);
    const prediction = await predictMigration(
      { hosts: deps.hosts, figures, hypervisors: () => deps.nova.hypervisors() },
      {
        vm: server.name,
        domain: server.instanceName,
        source: server.host,
        destination,
        memoryMb: server.flavor.ramMb ?? null,
        ...(type !== undefined && { migrationType: type }),
      },
    );
    return predictedOutcomeOf(prediction);
  };
}
