/**
 * What a person needs to see about one migration: the tracker keeps this up to date, the Block Kit
 * renderers in bot/render turn it into messages. Plain data, stored in Redis between polls.
 */

export const PHASES = ["pre-migration", "reservation", "precopy", "stop-and-copy", "commitment"] as const;
export type PhaseName = (typeof PHASES)[number];

export const PHASE_TITLES: Record<PhaseName, string> = {
  "pre-migration": "Pre-migration",
  reservation: "Reservation",
  precopy: "Iterative pre-copy",
  "stop-and-copy": "Stop-and-copy",
  commitment: "Commitment",
};

export type MigrationStatus =
  | "starting"
  | "running"
  | "not-converging"
  | "completed"
  | "failed"
  | "aborted"
  | "cancelled";

export interface PrecopyProgress {
  iteration: number | null;
  memoryTotalBytes: number | null;
  memoryProcessedBytes: number | null;
  memoryRemainingBytes: number | null;
  transferRateBytesPerS: number | null;
  dirtyRateBytesPerS: number | null;
  expectedDowntimeMs: number | null;
  downtimeLimitMs: number | null;
  throttlePercent: number | null;
  etaSeconds: number | null;
  /** The convergence analyzer's verdict and its one-sentence reason. */
  verdict: string | null;
  reason: string | null;
  /** Smallest remaining per pre-copy iteration, oldest first. */
  minRemainingPerIteration: number[];
  /** Where the figures came from: `domjobinfo`, `nova-api`, `nova-log`. */
  source: string | null;
}

export interface MigrationView {
  jobId: string;
  vm: string;
  serverId: string | null;
  instanceName: string | null;
  requestedBy: string;
  channel: string;
  source: string | null;
  /** What the operator asked for; null = Nova's scheduler chooses. */
  requestedDestination: string | null;
  /** The destination Nova is actually using, once known. */
  destination: string | null;
  flavor: { ramMb: number | null; vcpus: number | null } | null;
  status: MigrationStatus;
  phase: PhaseName;
  startedAt: number;
  endedAt: number | null;
  novaMigrationId: number | null;
  novaStatus: string | null;
  reservation: { freeRamMb: number | null; freeVcpus: number | null; hypervisorState: string | null } | null;
  precopy: PrecopyProgress | null;
  downtimeMs: number | null;
  failure: { phase: PhaseName; message: string; logLines: string[] } | null;
  /** Set when the migration was judged not converging: approvers may force-complete or abort. */
  stuck: { sinceIteration: number; reason: string } | null;
  /** Set after a person pressed Abort / Force complete. */
  control: { action: "abort" | "force-complete"; by: string; at: number } | null;
}

export function emptyPrecopy(): PrecopyProgress {
  return {
    iteration: null,
    memoryTotalBytes: null,
    memoryProcessedBytes: null,
    memoryRemainingBytes: null,
    transferRateBytesPerS: null,
    dirtyRateBytesPerS: null,
    expectedDowntimeMs: null,
    downtimeLimitMs: null,
    throttlePercent: null,
    etaSeconds: null,
    verdict: null,
    reason: null,
    minRemainingPerIteration: [],
    source: null,
  };
}

export function isFinished(status: MigrationStatus): boolean {
  return status === "completed" || status === "failed" || status === "aborted" || status === "cancelled";
}
