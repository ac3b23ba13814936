/**
 * A drain's plan and its run, as plain data: what the worker stores in Redis (store.ts), what the
 * presenter port receives (presenter.ts), and what bot/render words and escapes. Every name in it
 * (VM names above all: tenants choose them) is untrusted text.
 */
import type { FindingStatus } from "../diagnose/rules";
import type { Prediction } from "../predict";

/**
 * What is expected of a VM's live migration before it starts. Filled from what diagnosis knows
 * (`source: "diagnosis"`: settings, no dirty rate); the convergence prediction (dirty rate against
 * the link, issue 14 part 2) fills the same slot with `source: "dirty-rate"` once it is wired in.
 */
export interface PredictedOutcome {
  verdict: "will-converge" | "will-not-converge" | "unknown";
  /** One plain sentence: why. */
  reason: string;
  source: "diagnosis" | "dirty-rate";
  /** The measurement behind a `dirty-rate` outcome, for the renderer's full sentence and figures. */
  measured?: Prediction;
}

/** One pre-flight check of `/diagnose`, condensed for the plan. */
export interface DrainCheck {
  id: string;
  title: string;
  status: FindingStatus;
  /** The first evidence line (plain text, may quote host output). */
  detail: string | null;
}

/** One VM in the plan. */
export interface DrainVmPlan {
  serverId: string;
  /** Nova's name for it: tenant-chosen, untrusted. */
  name: string;
  ramMb: number | null;
  /** Where it goes: a given host, or null for Nova's scheduler. */
  destination: string | null;
  /** migrate: in the drain; skip: left on the host (see `advice`). */
  action: "migrate" | "skip";
  /** Why it is skipped, or what stands in its way (plain sentence). */
  reason: string | null;
  /** What to do about a VM that cannot move or will not converge. */
  advice: string | null;
  /** Titles of the fixes diagnosis drafted for it (proposed in the thread when approved). */
  fixes: string[];
  checks: DrainCheck[];
  prediction: PredictedOutcome;
  /** Landed on the host during the drain (added to the table). */
  addedDuringDrain?: boolean;
}

/** The plan an approver approves: sealed by the workers, named by its digest in the signed drain job. */
export interface DrainPlan {
  id: string;
  host: string;
  requestedBy: string;
  channel: string;
  /** The hosts given (`to a,b`), or null for Nova's scheduler. */
  destinations: string[] | null;
  /** Live migrations at once. */
  concurrency: number;
  /** What was asked for (`concurrency N`), null for the default. */
  requestedConcurrency: number | null;
  /** Why the concurrency is lower than asked (Nova's cap on the source, the links), plain sentence; null if not lowered. */
  concurrencyNote: string | null;
  /** The source's `max_concurrent_live_migrations` (0: unlimited), when read. */
  maxConcurrentLiveMigrations: number | null;
  /** The reason the nova-compute service is disabled with. */
  disableReason: string;
  vms: DrainVmPlan[];
  /** Things that could not be read while planning (plain sentences). */
  problems: string[];
  createdAt: number;
  expiresAt: number;
}

export type DrainVmState = "waiting" | "running" | "completed" | "failed" | "aborted" | "skipped";

/** One VM as the drain runs it. */
export interface DrainVmRun {
  serverId: string;
  name: string;
  /** Planned destination (null: the scheduler). */
  destination: string | null;
  state: DrainVmState;
  /** The migration job that moves it (a /migrate record in the same Redis), once started. */
  childJobId: string | null;
  /** Why it did not move (plain sentence). */
  reason: string | null;
  addedDuringDrain: boolean;
}

export type DrainStatus =
  | "pending"
  | "approved"
  | "rejected"
  | "expired"
  | "running"
  | "paused"
  | "cancelling"
  | "finished";

/** The run's state in Redis: what a resumed worker continues from. */
export interface DrainRun {
  status: DrainStatus;
  startedAt: number | null;
  endedAt: number | null;
  /** The nova-compute service was disabled by this drain. */
  hostDisabled: boolean;
  /** Someone pressed "Re-enable host" (who, when). */
  hostReenabled: { by: string; at: number } | null;
  cancel: DrainCancel | null;
  pausedBy: string | null;
  vms: DrainVmRun[];
}

export interface DrainCancel {
  /** finish: running migrations finish, nothing new starts; abort: running ones are aborted too. */
  mode: "finish" | "abort";
  by: string;
  at: number;
}

/** One row of the live table. */
export interface DrainRow {
  name: string;
  destination: string | null;
  state: DrainVmState;
  /** 0..1 of memory copied, when known. */
  progress: number | null;
  etaSeconds: number | null;
  downtimeMs: number | null;
  reason: string | null;
  addedDuringDrain: boolean;
}

/** What the root message shows. */
export interface DrainView {
  plan: DrainPlan;
  status: DrainStatus;
  decidedBy: string | null;
  rows: DrainRow[];
  hostDisabled: boolean;
  hostReenabled: { by: string; at: number } | null;
  cancel: DrainCancel | null;
  pausedBy: string | null;
  startedAt: number | null;
  endedAt: number | null;
  /** Bytes the finished migrations sent, when Nova or libvirt said. */
  bytesSent: number | null;
  at: number;
}
