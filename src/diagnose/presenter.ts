/**
 * What a diagnosis tells people, as typed values: the port the presentation adapter
 * (bot/presenters/diagnosis.ts) implements. Plain data only; names and evidence in it come from
 * Nova, the hosts and the person asking, and are escaped where they are rendered.
 */
import type { Prediction } from "../predict/rule";
import type { RequestOrigin } from "../queue/jobs";
import type { Finding } from "./rules";

/** What is being diagnosed, and why when nobody asked for it directly. */
export interface DiagnosisHeader {
  target: string;
  destination: string | null;
  /** Set when a /migrate thread diagnoses its own migration (or, before it starts, its prediction). */
  trouble?: "not-converging" | "failed" | "predicted-not-converging";
}

/** One diagnosis as posted: a stable id (for de-duplicated posts), where, and what about. */
export interface DiagnosisPost {
  id: string;
  channel: string;
  /** The thread it was asked from; null for a new root message. */
  threadTs: string | null;
  header: DiagnosisHeader;
}

/** The checklist: every finding, and the titles of the fixes posted after it for approval. */
export interface ChecklistView {
  header: DiagnosisHeader;
  findings: readonly Finding[];
  fixes: readonly string[];
}

/** Why a `/diagnose` target cannot be diagnosed. */
export type UnknownTarget =
  /** Neither a VM Nova knows nor a compute host. */
  | { reason: "no-such-target"; target: string }
  /** The `to <host>` is not a compute host Nova or the inventory knows. */
  | { reason: "no-such-destination"; destination: string }
  /** A compute host was given with `to <host>`, which only goes with a VM. */
  | { reason: "host-with-destination"; host: string }
  /** Several servers carry the name; `detail` is Nova's client's sentence listing them. */
  | { reason: "ambiguous-name"; target: string; detail: string };

export interface DiagnosisPresenter {
  /** Tells the person privately why their target cannot be diagnosed. */
  unknownTarget(to: RequestOrigin, why: UnknownTarget): Promise<void>;
  /** A diagnosis begins: a root message, or a reply in the thread it was asked from. Returns its ts. */
  started(d: DiagnosisPost): Promise<string>;
  /** The checklist, in the diagnosis' thread. */
  checklist(d: DiagnosisPost, threadTs: string, view: ChecklistView): Promise<void>;
  /** The root message, edited to the verdict once the checklist is in its thread. */
  finished(d: DiagnosisPost, rootTs: string, view: ChecklistView): Promise<void>;
  /**
   * The convergence prediction for a VM, in the diagnosis' thread (src/predict). A presenter without
   * it gets no prediction run (nothing is measured on the hosts then).
   */
  prediction?(d: DiagnosisPost, threadTs: string, prediction: Prediction): Promise<void>;
}
