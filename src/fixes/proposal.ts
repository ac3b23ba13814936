/**
 * A fix proposal: what migbot would change, where, and why, waiting for an approver. src/fixes
 * drafts proposals when a diagnosis asks (drafts/), stores them in Redis, shows them through its
 * ProposalPresenter port, and applies them once approved. A Slack button carries only the opaque
 * proposal id.
 */
import type { ProgressEvent } from "./progress";

export type ProposalKind = "auto-converge" | "cpu-model" | "vm-restart";

export type ProposalStatus =
  | "pending"
  | "approved"
  | "rejected"
  | "expired"
  | "applying"
  | "applied"
  | "failed"
  /** Another proposal of the same kind in the same thread was applied (e.g. the kvm64 fallback once the baseline model is in place). */
  | "superseded";

/**
 * One file on one host, as planned. Neither text is kept (nova.conf holds database, RabbitMQ and
 * Keystone passwords, and proposals live in Redis): only the hashes that prove, at apply time,
 * that the file is still what was planned and that the edit comes out as approved, and the diff
 * people read, with secrets masked.
 */
export interface HostFileChange {
  host: string;
  path: string;
  /** SHA-256 (hex) of the file as read when the plan was made; applying refuses if it changed since. */
  beforeSha256: string;
  /** SHA-256 (hex) of the file as planned. */
  afterSha256: string;
  /** Unified diff for people, secrets masked. */
  diff: string;
  /** Keys the change touches, e.g. `libvirt.live_migration_flag`. */
  changedKeys: string[];
}

/**
 * How one host's nova.conf change is made again when it is applied, from the files as they are
 * then: the fix, its inputs and each input file's hash when planned. The edit is deterministic,
 * so the same inputs give the same result, which must hash to the planned `afterSha256`.
 */
export interface HostRecipe {
  host: string;
  fix: "auto-converge" | "cpu-model";
  /** The host's release; `version` when it was read from the host (`nova-compute --version`). */
  release: { name: string; major: number; version?: string };
  /** For cpu-model: the CPU model written. */
  model?: string;
  /** Every file the plan read, in the order nova-compute reads them, with its hash then. */
  inputs: { path: string; sha256: string }[];
}

export interface VmRestart {
  serverId: string;
  name: string;
  host: string;
}

/** A drafted fix, before it is stored and shown. */
export interface ProposalDraft {
  kind: ProposalKind;
  /** One line, e.g. "Enable libvirt auto-converge on compute-1 and compute-2". */
  title: string;
  /** Why, in a few sentences an operator can check. */
  reasoning: string;
  warnings: string[];
  changes: HostFileChange[];
  /** One per host with changes: how to make them again at apply time. */
  recipes: HostRecipe[];
  /** Hosts whose nova-compute restarts after the change. */
  serviceRestarts: string[];
  /** For `vm-restart`: the VMs to hard-reboot, in batches. */
  vmRestarts: VmRestart[];
  /** Things that stop it being applied right now (e.g. a migration in flight on a host). */
  blockers: string[];
  /** A stuck migration to abort first: nova-compute must not restart under it. */
  abortFirst?: { jobId: string; vm: string };
  /** Offer "Retry migration" with this request once applied. */
  retry?: {
    vm: string;
    destination: string | null;
    /** The migration job this retries (the new migrate job's `retryOf`). */
    jobId?: string;
  };
  /** After this one is applied, propose the next step (cpu-model → vm-restart). */
  next?: "vm-restart";
  /** For cpu-model: the CPU model written (kvm64 or a common baseline). */
  cpuModel?: string;
}

export interface Proposal extends ProposalDraft {
  id: string;
  /** SHA-256 of the stored plan as Redis holds it: what an approval (the signed apply job) names. */
  planDigest: string;
  status: ProposalStatus;
  /** Who ran the command that led to this proposal. */
  requestedBy: string;
  channel: string;
  /** The thread it was posted in, and the message carrying its buttons. */
  threadTs: string | null;
  messageTs: string | null;
  createdAt: number;
  expiresAt: number;
  decidedBy: string | null;
  decidedAt: number | null;
  /** What happened when it was applied, host by host. */
  results: { host: string; ok: boolean; detail: string }[];
  /** What happened while it was applied, oldest first (shown under the proposal). */
  progress?: ProgressEvent[];
  /** Who pressed "Retry migration" after it was applied (single use). */
  retriedBy?: string | null;
  /** Applies started after a failed one ("Retry apply"), and who asked for the last. */
  applyRetries?: number;
  applyRetriedBy?: string | null;
}
