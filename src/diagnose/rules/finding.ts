/** What a rule produces: a finding with its verdict and the evidence a person can check. */
import type { FixContext, ProposalDraft } from "../../fixes/drafts";

export type FindingStatus = "pass" | "warn" | "fail";

export interface Finding {
  /** Stable id: `vm`, `source-service`, `destination-capacity`, `cpu`, `settings`, `log-failures`, … */
  id: string;
  title: string;
  status: FindingStatus;
  evidence: string[];
  /** The fix for this finding (drafted by src/fixes), to be stored and shown for approval. */
  draft?: ProposalDraft;
  /** Other fixes for the same finding (e.g. the kvm64 model next to the hosts' baseline). */
  alternatives?: ProposalDraft[];
}

/** Which checks to run: everything, or what a stuck / failed migration calls for. */
export type DiagnosisFocus = "all" | "convergence" | "cpu";

/** How to diagnose, and what the fixes must do besides the fix itself (abort first, offer a retry). */
export interface RuleOptions extends FixContext {
  focus?: DiagnosisFocus;
}

/** The worst of several verdicts. */
export function worst(...statuses: FindingStatus[]): FindingStatus {
  if (statuses.includes("fail")) return "fail";
  if (statuses.includes("warn")) return "warn";
  return "pass";
}
