/**
 * What a person needs to see about one migration: the tracker keeps this up to date, the Block Kit
 * renderers in bot/render turn it into messages. Plain data, stored in Redis between polls; every
 * string in it that came from outside (names, Nova's and the hosts' text) is untrusted, and
 * renderers escape it.
 */
import type { Prediction } from "../predict/rule";

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
  /** The VM as the request named it (a name or Nova's id): the lock, `/migrate status` and the buttons use it. */
  vm: string;
  /** The VM's name in Nova, once found: tenant-chosen text, shown instead of `vm` (absent in older records). */
  serverName?: string;
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
  /** How the server booted, as Nova said (image: local root disk); decides block vs live under "auto". */
  bootedFromImage?: boolean;
  status: MigrationStatus;
  phase: PhaseName;
  startedAt: number;
  endedAt: number | null;
  novaMigrationId: number | null;
  novaStatus: string | null;
  reservation: { freeRamMb: number | null; freeVcpus: number | null; hypervisorState: string | null } | null;
  precopy: PrecopyProgress | null;
  downtimeMs: number | null;
  failure: MigrationFailure | null;
  /** Set when the migration was judged not converging: approvers may force-complete or abort. */
  stuck: { sinceIteration: number; reason: string } | null;
  /**
   * The requested destination was sent below microversion 2.30, where naming a host bypasses Nova's
   * scheduler (no filters, no capacity check by the scheduler; only the compute pre-checks run).
   */
  hostForced?: boolean;
  /** Nova switched the migration to post-copy (`running (post-copy)`): the VM runs on the destination. */
  postCopy?: boolean;
  /**
   * What Force complete does to this migration on its source's release and settings (src/nova-facts
   * forceCompleteEffect): pause the guest for the rest, or switch to post-copy. Unknown: null.
   */
  forceComplete?: "pause" | "switch-to-post-copy" | "nothing" | null;
  /** Set after a person pressed Abort / Force complete. */
  control: { action: "abort" | "force-complete"; by: string; at: number } | null;
  /** The convergence prediction made before triggering (src/predict); absent when none was made. */
  prediction?: Prediction;
  /**
   * The requester's choice when the prediction says it will not converge and a fix exists:
   * waiting for Fix first / Go anyway, or what was chosen and by whom.
   */
  decision?: { state: "waiting" } | { state: PredictDecision; by: string; at: number } | { state: "expired" };
}

/** What a person chose after a "will not converge" prediction. */
export type PredictDecision = "fix-first" | "go-anyway";

/** How a migration ended without completing. */
export interface MigrationFailure {
  phase: PhaseName;
  /**
   * What happened and what to do next, in plain sentences (a code such as
   * `MIGRATION_PROGRESS_TIMEOUT:` first where migbot knows one); may quote Nova's own error text.
   */
  message: string;
  /** A command that shows more, quoted after the message (absent when there is none). */
  command?: string;
  /** The nova-compute log lines that explain it, `host: line`, oldest first. */
  logLines: string[];
}

/** The name to show for the VM: Nova's, else what the request said. */
export function vmLabel(view: Pick<MigrationView, "vm" | "serverName">): string {
  return view.serverName ?? view.vm;
}

/**
 * The figures behind a "not converging" verdict, frozen when the warning is posted (the warning
 * shows what the judgement rested on), plus what happened since.
 */
export interface NotConvergingFacts {
  /** The pre-copy iteration (dirty syncs + 1) the verdict was reached in. */
  iteration: number;
  /** Smallest remaining seen in each sampled iteration, bytes, with the iteration numbers. */
  minRemainingPerIteration: number[];
  sampledIterations: number[];
  /** Remaining right at each dirty sync from iteration 2 on: what a stop-and-copy would have sent. */
  remainingAtSyncPerIteration: number[];
  dirtyRateBytesPerS: number | null;
  transferRateBytesPerS: number | null;
  expectedDowntimeMs: number | null;
  /** The downtime Nova allows now, and the largest it will ever allow (its last step). */
  downtimeLimitMs: number | null;
  finalDowntimeMs: number | null;
  throttlePercent: number | null;
  /** The analyzer's sentence. */
  reason: string;
  /** Where the figures came from (`domjobinfo`, `nova-log`, `nova-api`). */
  source: string | null;
  /** What Nova itself will do if nobody acts (its progress or completion timeout), a sentence, when known. */
  novaWillDo: string | null;
  /** Set when a later verdict held: the migration started throttling or converging after all. */
  later: { state: "throttling" | "converging"; reason: string } | null;
}

/** What a retry's root message says about the earlier migration it follows. */
export interface RetryNote {
  /** The applied fix's title and who approved it (a Slack user id), when the job carried them. */
  fix: string | null;
  approvedBy: string | null;
  /** The earlier migration, when its record is still in Redis. */
  earlier: { vm: string; startedAt: number; source: string | null; destination: string | null } | null;
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
