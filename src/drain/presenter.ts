/**
 * The port through which a drain shows itself: typed views (plain data, no Slack syntax) that the
 * adapter in bot/presenters/drain.ts renders with bot/render/drain.ts and posts.
 */
import type { DrainChartMigration } from "../chart/drain-migrations";
import type { AnswerTo, EditPace, MessageRef, MigrationPresenter } from "../migration/presenter";
import type { PlanRefusal } from "./plan";
import type { DrainView } from "./types";

/** Why a drain request was not planned or run, answered privately to the person who asked. */
export type DrainAnswer =
  | PlanRefusal
  /** Another drain holds the host (its id, and its root message when posted). */
  | { kind: "drain-busy"; host: string; holder: string }
  /** The approved drain job did not match a sealed plan (altered in Redis, or a forged approval). */
  | { kind: "drain-plan-refused"; host: string | null; reason: string }
  /** The host could not be disabled: nothing was migrated. */
  | { kind: "drain-disable-failed"; host: string; error: string }
  /** Re-enable asked of a drain that never disabled the host, or one still running. */
  | { kind: "drain-reenable-refused"; host: string; why: "running" | "not-disabled" | "unknown" }
  | { kind: "drain-reenabled"; host: string };

export interface DrainPresenter {
  /** Posts the plan as a new root message (with Approve / Reject); once per drain. */
  postPlan(view: DrainView): Promise<MessageRef>;
  /** The per-VM checks behind the plan, in its thread; once per drain. */
  postPlanDetails(root: MessageRef, view: DrainView): Promise<void>;
  /** Replaces the root message with the current table (and its buttons). */
  updateRoot(root: MessageRef, view: DrainView, pace: EditPace): Promise<void>;
  /** The final report in the thread: what moved, what did not and why; once per drain. */
  postReport(root: MessageRef, view: DrainView): Promise<void>;
  /** Shares one chart for the whole drain in its thread (each VM's memory remaining), once per drain. */
  postReportChart(root: MessageRef, view: DrainView, migrations: DrainChartMigration[]): Promise<void>;
  /** A migration presenter whose messages go in the drain's thread (each VM's details). */
  childPresenter(root: MessageRef): MigrationPresenter;
  /** Answers the person privately. */
  answer(to: AnswerTo, answer: DrainAnswer): Promise<void>;
}
