/**
 * Fix drafts: what migbot would change to fix what a diagnosis found, one fix a file (auto-converge,
 * CPU model, VM restarts), planned release-aware from the evidence. Diagnosis decides whether a
 * fix is needed and calls {@link draftFixes}, the one way in; src/fixes stores, shows and applies
 * what comes out.
 */
import type { Evidence, HostEvidence } from "../../diagnose/evidence";
import type { ProposalDraft } from "../proposal";
import { autoConvergeDraft } from "./auto-converge";
import type { FixContext } from "./context";
import { cpuModelDrafts, type FleetEvidence } from "./cpu-model";
import { selectVmRestarts, vmRestartNote } from "./vm-restart";

export type { Proposal, ProposalDraft } from "../proposal";
export type { FixContext } from "./context";
export type { FleetEvidence } from "./cpu-model";

/** A fix a diagnosis found needed, with the evidence to draft it from. */
export type FixNeed =
  /** Hosts whose nova-compute runs live migrations without auto-converge. */
  | { fix: "auto-converge"; evidence: Evidence; hosts: HostEvidence[] }
  /** A guest CPU the destination cannot run; every inventory host's CPU was read. */
  | { fix: "cpu-model"; evidence: FleetEvidence };

export interface DraftedFixes {
  /** The fix to propose first; null when none could be planned. */
  preferred: ProposalDraft | null;
  /** Other fixes for the same need, proposed after it (approve one). */
  alternatives: ProposalDraft[];
  /** Sentences for the finding's evidence: why an alternative is missing, which VMs reboot later. */
  notes: string[];
}

/** Drafts the fix for what a diagnosis found. */
export function draftFixes(need: FixNeed, ctx: FixContext): DraftedFixes {
  switch (need.fix) {
    case "auto-converge":
      return { preferred: autoConvergeDraft(need.evidence, need.hosts, ctx), alternatives: [], notes: [] };
    case "cpu-model": {
      // Which VMs must restart does not depend on the model chosen, only on where CPUs run.
      const restarts = selectVmRestarts(need.evidence);
      const drafts = cpuModelDrafts(need.evidence, restarts, ctx);
      const note = vmRestartNote(restarts);
      return { ...drafts, notes: [...drafts.notes, ...(note ? [note] : [])] };
    }
  }
}
