/**
 * What fixes tell people, as typed values: the port the presentation adapter
 * (bot/presenters/proposals.ts) implements. The proposal itself is the view: its stored state
 * (status, decision, progress events, results) is what the message shows.
 */
import type { RequestOrigin } from "../queue/jobs";
import type { Proposal } from "./proposal";

/** Why a worker refused a stored plan before touching any host. */
export type IntegrityProblem =
  | "unsealed"
  | "seal-mismatch"
  | "unreadable"
  | "digest-mismatch"
  | "wrong-channel"
  | "approved-after-expiry";

/** The integrity problem in a sentence (for the audit log and the person who approved). */
export const INTEGRITY_PROBLEM_TEXT: Record<IntegrityProblem, string> = {
  unsealed: "it carries no worker seal",
  "seal-mismatch": "its seal does not match its content (altered after a worker stored it)",
  unreadable: "its stored plan cannot be read",
  "digest-mismatch": "the approved plan is not the one stored now (changed after approval)",
  "wrong-channel": "it was approved outside the channel it was posted in",
  "approved-after-expiry": "it was approved after it expired",
};

/** The private answer to whoever approved, when an apply job does not apply. */
export type ApplyAnswer =
  /** No proposal under that id. */
  | { kind: "unknown-proposal" }
  /** The stored plan failed the worker's integrity check; nothing was applied. */
  | { kind: "integrity-refused"; problem: IntegrityProblem }
  /** Not approved (any more): already applying, applied, rejected, … */
  | { kind: "not-applicable"; status: string };

/** Something said in a proposal's thread, beside its own message. */
export type ProposalNote =
  /** A CPU model was applied but no running VM was named for the restart that should follow. */
  { kind: "no-vm-restart" };

export interface ProposalPresenter {
  /** Posts a new proposal (in its thread when it has one); returns its message's ts. */
  posted(p: Proposal, now: number): Promise<string>;
  /** Edits the proposal's message to its stored state; nothing when it has no message. */
  changed(p: Proposal, now: number, opts?: { urgent?: boolean }): Promise<void>;
  /** Posts a note in the proposal's thread. */
  note(p: Proposal, note: ProposalNote): Promise<void>;
  /** Answers the person behind an apply job privately. */
  answer(to: RequestOrigin, answer: ApplyAnswer): Promise<void>;
}
