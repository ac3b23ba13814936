/** What a fix must do besides the change itself, as the diagnosis that asked for it knows. */
import type { ProposalDraft } from "../proposal";

export interface FixContext {
  /** A stuck migration that the fix must abort first (not-converging migrations). */
  abortFirst?: ProposalDraft["abortFirst"];
  /** Offer "Retry migration" once a fix is applied. */
  retry?: { vm: string; destination: string | null };
}
