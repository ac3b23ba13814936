/**
 * The port through which a migration shows itself: the tracker says *what* to show (typed
 * messages carrying the view and the figures, plain data, no Slack syntax), a presenter outside the
 * domain (bot/presenters/migration.ts) renders it and posts it. The presenter owns how messages are
 * delivered (Slack's dedupe keys, queue priority); the tracker owns what a thread holds and when.
 */
import type { Prediction } from "../predict/rule";
import type { RequestOrigin } from "../queue/jobs";
import type { ChartHistory } from "./chart-history";
import type { MigrationRejection } from "./request";
import type { MigrationView, NotConvergingFacts, PhaseName, RetryNote } from "./view";

/**
 * A posted message, as the presenter identifies it. Opaque to the domain: the record keeps it
 * (`MigrationRecord.posts`) to edit the message later and to reply in its thread.
 */
export type MessageRef = string;

/** The root message of a migration's thread: the request and its overall status. */
export interface RootMessage {
  kind: "root";
  view: MigrationView;
  /** The time the message speaks at (elapsed times are counted to it), ms since epoch. */
  at: number;
  /** Set on a retry: the earlier attempt and the fix applied since. */
  retry: RetryNote | null;
}

/** One phase's reply in the thread; the pre-copy reply is edited in place as figures come in. */
export interface PhaseMessage {
  kind: "phase";
  phase: PhaseName;
  view: MigrationView;
  at: number;
  /**
   * Pre-copy only: why the figures do not come from `virsh domjobinfo` (e.g. the source host is
   * unreachable over SSH), a plain sentence that may quote host output; null when they do.
   */
  sourceDetail: string | null;
}

/** The warning that pre-copy is not converging, with the figures it rests on; edited as things change. */
export interface NotConvergingMessage {
  kind: "not-converging";
  view: MigrationView;
  facts: NotConvergingFacts;
}

/** The reply that says how the migration failed or was aborted (`view.failure`). */
export interface FailureMessage {
  kind: "failure";
  view: MigrationView;
}

/**
 * A chart of the migration's figures (src/chart draws it) for its thread: once when it ended
 * (completed, failed or aborted), once with the not-converging warning.
 */
export interface ChartMessage {
  kind: "chart";
  moment: "ended" | "not-converging";
  view: MigrationView;
  history: ChartHistory;
}

/**
 * The convergence prediction, posted before Nova is asked; with the Fix first / Go anyway choice
 * while `view.decision` is waiting, and edited to say what was chosen.
 */
export interface PredictionMessage {
  kind: "prediction";
  view: MigrationView;
  prediction: Prediction;
}

/** A message in a migration's own thread. */
export type ReplyMessage = PhaseMessage | NotConvergingMessage | FailureMessage | PredictionMessage;
export type MigrationMessage = RootMessage | ReplyMessage;

/** Told once in an earlier attempt's thread: a retry started, follow its new message. */
export interface RetryNotice {
  earlier: { jobId: string; channel: string; root: MessageRef };
  /** The retry's job, and the person who asked for it (a Slack user id). */
  jobId: string;
  requestedBy: string;
}

/**
 * How soon an edit must show. `routine`: progress figures, which may wait behind other messages and
 * be merged with the next edit. `prompt`: a change the reader must see now (an outcome, a verdict,
 * a button appearing or going).
 */
export type EditPace = "routine" | "prompt";

/** What a reply is, for the record: its key in `MigrationRecord.posts` (`phase:precopy`, `failure` …). */
export function replySlot(message: ReplyMessage): string {
  return message.kind === "phase" ? `phase:${message.phase}` : message.kind;
}

/** Shows a migration: posts and edits the messages of its thread. */
export interface MigrationPresenter {
  /** Posts the root message; a second call for the same job returns the first one's ref. */
  postRoot(message: RootMessage): Promise<MessageRef>;
  /** Posts a reply in the thread of `root`; once per job and {@link replySlot}, as for the root. */
  postReply(root: MessageRef, message: ReplyMessage): Promise<MessageRef>;
  /** Replaces a posted message with a new rendering, taken at the call (the view may change after). */
  update(ref: MessageRef, message: MigrationMessage, pace: EditPace): Promise<void>;
  /** Posts a {@link RetryNotice} in the earlier thread, once per retry. */
  postRetryNotice(notice: RetryNotice): Promise<void>;
  /** Shares a {@link ChartMessage} in the thread of `root`, once per job and moment; the shared file's ref. */
  postChart(root: MessageRef, message: ChartMessage): Promise<MessageRef>;
}

/** What migbot answers privately about a migration request that it did not start. */
export type MigrationAnswer = MigrationRejection | { kind: "vm-busy"; vm: string };

/** Who to answer privately: the person who asked, where they asked, and Slack's response_url. */
export type AnswerTo = Pick<RequestOrigin, "channel" | "user" | "responseUrl">;

/**
 * Answers the person who asked, privately. Answers are typed values (plain data, the names in
 * them untrusted); the adapter (bot/presenters/answers.ts) words and escapes them.
 */
export type MigrationAnswerPort = (to: AnswerTo, answer: MigrationAnswer) => Promise<void>;
