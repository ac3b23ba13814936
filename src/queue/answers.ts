/**
 * What the workers answer privately to the person who asked: typed answers (plain data; names and
 * error texts in them are untrusted), worded and escaped by bot/render/answers.ts and sent by the
 * adapter in bot/presenters/answers.ts (response_url, else an ephemeral message).
 */
import type { AnswerTo, MigrationAnswer } from "../migration/presenter";
import type { MigrationView } from "../migration/view";

/** Abort or force-complete, as the person asked it. */
export type ControlAction = "abort" | "force-complete";

/** An answer to an Abort or Force complete (button or command). */
export type ControlAnswer =
  /** The job the request was bound to is not a migration of that VM in this channel. */
  | { kind: "control-unknown"; vm: string }
  /** That migration has ended; nothing to act on. */
  | { kind: "control-ended"; vm: string; action: ControlAction; status: MigrationView["status"] }
  /** Nova has no migration id for it yet. */
  | { kind: "control-too-early"; vm: string }
  /** Someone (a Slack user id, null when unknown) asked first. */
  | { kind: "control-already-asked"; by: string | null; action: ControlAction | null }
  /** Sent to Nova; the thread shows the outcome. */
  | {
      kind: "control-sent";
      vm: string;
      action: ControlAction;
      /** For force-complete: what Nova does on this source (pause, or switch to post-copy). */
      effect?: MigrationView["forceComplete"];
    };

/** Every answer a worker gives. */
export type Answer =
  | MigrationAnswer
  | ControlAnswer
  /** `/migrate status [vm]`: the migrations to list (newest first, already cut to the list's length). */
  | { kind: "status"; vm: string | null; migrations: MigrationView[] }
  /** A migration request waited too long for a worker and was not started. */
  | { kind: "request-stale"; vm: string; waitedMinutes: number }
  /** An action job failed: the error's message (untrusted text). */
  | { kind: "action-failed"; error: string }
  /**
   * Fix first / Go anyway after a "will not converge" prediction: recorded, someone chose first
   * (`by`), or the migration is not waiting for a choice (any more).
   */
  | {
      kind: "decision";
      vm: string;
      choice: "fix-first" | "go-anyway";
      result: "recorded" | "already-chosen" | "not-waiting";
      by?: string;
    };

/** Answers the person who asked, privately (see the module comment). */
export type AnswerPort = (to: AnswerTo, answer: Answer) => Promise<void>;
