/**
 * A migration's thread as its record knows it: the root message and one reply per phase, each
 * posted once through the {@link MigrationPresenter} with its ref kept in `record.posts`; edits of
 * what was posted, the routine ones sent in the background so that polling never waits on Slack's
 * pacing; and, for a retry, the one notice in the earlier attempt's thread.
 */
import { isTransient } from "../errors";
import type { Logger } from "../log";
import { type ChartHistory, chartPointCount } from "./chart-history";
import {
  type ChartMessage,
  type EditPace,
  type MessageRef,
  type MigrationMessage,
  type MigrationPresenter,
  type PhaseMessage,
  type ReplyMessage,
  type RootMessage,
  replySlot,
} from "./presenter";
import type { TrackedRecord } from "./tracker";
import { PHASES, type PhaseName } from "./view";

export interface ThreadDeps {
  presenter: MigrationPresenter;
  now: () => number;
  log: Logger;
  /** Writes the record (when it changed) after each post, so that a restart never posts again. */
  save: () => Promise<void>;
  /** Fills in what a phase's reply shows before it is posted (the reservation, the downtime). */
  beforePhase: (phase: PhaseName) => Promise<void>;
}

/** Kept in `record.posts` for a chart Slack refused, so that a resumed job does not try it again. */
export const CHART_NOT_SHARED = "not-shared";

/** Whether the chart of `moment` is still to be shared: there are figures, and it was not shared (or refused) before. */
export function chartDue(
  record: Pick<TrackedRecord, "posts" | "chart">,
  moment: ChartMessage["moment"],
): boolean {
  return chartPointCount(record.chart) >= 1 && record.posts[`chart:${moment}`] === undefined;
}

export class MigrationThread {
  /** Routine edits (and a warning's chart) in flight: sent in the background so that the poll loop never waits on pacing. */
  private readonly pendingEdits = new Set<Promise<void>>();

  constructor(
    private readonly record: TrackedRecord,
    private readonly deps: ThreadDeps,
  ) {}

  /** Posts the root message unless it was posted before (a resumed job). */
  async ensureRoot(): Promise<void> {
    if (this.record.posts.root) return;
    this.record.posts.root = await this.deps.presenter.postRoot(this.rootMessage());
    await this.deps.save();
  }

  /** Tells the earlier attempt's thread, once, that a retry started and where to follow it. */
  async noticeEarlierThread(): Promise<void> {
    const retry = this.record.retry;
    if (!retry?.earlier || retry.noticePosted) return;
    try {
      await this.deps.presenter.postRetryNotice({
        earlier: { jobId: retry.earlier.jobId, channel: retry.earlier.channel, root: retry.earlier.rootTs },
        jobId: this.record.view.jobId,
        requestedBy: this.record.view.requestedBy,
      });
      retry.noticePosted = true;
      await this.deps.save();
    } catch (err) {
      // The new migration matters more than the pointer in the old thread.
      this.deps.log.warn("could not tell the earlier thread about the retry", { err });
    }
  }

  /** Posts each phase reply once, in order, filling in any phase that went by between polls. */
  async postPhase(phase: PhaseName): Promise<void> {
    const view = this.record.view;
    const target = PHASES.indexOf(phase);
    for (const p of PHASES.slice(0, target + 1)) {
      if (this.record.postedPhases.includes(p)) continue;
      await this.deps.beforePhase(p);
      await this.reply(this.phaseMessage(p));
      this.record.postedPhases.push(p);
      if (PHASES.indexOf(p) > PHASES.indexOf(view.phase)) view.phase = p;
      await this.deps.save();
    }
  }

  /** Posts a reply in the thread and keeps its ref under its slot (the caller saves the record). */
  async reply(message: ReplyMessage): Promise<MessageRef> {
    const ref = await this.deps.presenter.postReply(this.record.posts.root!, message);
    this.record.posts[replySlot(message)] = ref;
    return ref;
  }

  async updateRoot(pace: EditPace = "routine"): Promise<void> {
    await this.edit(this.record.posts.root, this.rootMessage(), pace);
  }

  async updatePrecopy(pace: EditPace): Promise<void> {
    await this.edit(this.record.posts["phase:precopy"], this.phaseMessage("precopy"), pace);
  }

  /** Edits the not-converging warning, once posted, to the view's current state. */
  async updateWarning(pace: EditPace): Promise<void> {
    const ref = this.record.posts["not-converging"];
    const facts = this.record.convergence?.facts ?? null;
    if (!ref || facts === null) return;
    await this.edit(ref, { kind: "not-converging", view: this.record.view, facts }, pace);
  }

  /**
   * Shares the chart of the figures so far in the thread, once per moment (its ref is kept in
   * `record.posts` under `chart:<moment>`, so a resumed job does not share it again). A migration
   * without any sample has no chart. A chart that cannot be shared is logged, never a
   * reason to fail the migration's job: the thread's words already said everything.
   */
  async shareChart(moment: ChartMessage["moment"], history: ChartHistory | undefined): Promise<void> {
    if (history === undefined) return;
    const slot = `chart:${moment}`;
    const root = this.record.posts.root;
    if (!root || !chartDue(this.record, moment)) return;
    try {
      this.record.posts[slot] = await this.deps.presenter.postChart(root, {
        kind: "chart",
        moment,
        view: this.record.view,
        history,
      });
      await this.deps.save();
    } catch (err) {
      this.deps.log.warn("could not share the migration's chart", { moment, err });
      // Slack refusing it (no files:write scope, say) will refuse again: do not try on every resume.
      if (!isTransient(err)) {
        this.record.posts[slot] = CHART_NOT_SHARED;
        await this.deps.save().catch(() => undefined);
      }
    }
  }

  /**
   * {@link shareChart} in the background (drawing and its turn in the channel take a while): the
   * tracker goes on polling meanwhile, and {@link settle} waits for it.
   */
  shareChartSoon(moment: ChartMessage["moment"], history: ChartHistory | undefined): void {
    const p = this.shareChart(moment, history);
    this.pendingEdits.add(p);
    void p.finally(() => this.pendingEdits.delete(p));
  }

  /** Waits for the routine edits still in flight. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.pendingEdits]);
  }

  private rootMessage(): RootMessage {
    return {
      kind: "root",
      view: this.record.view,
      at: this.deps.now(),
      retry: this.record.retry?.note ?? null,
    };
  }

  private phaseMessage(phase: PhaseName): PhaseMessage {
    const sourceDetail = phase === "precopy" ? (this.record.sourceDetail ?? null) : null;
    return { kind: "phase", phase, view: this.record.view, at: this.deps.now(), sourceDetail };
  }

  /** Sends an edit. Routine edits go in the background (the presenter paces and coalesces them). */
  private edit(ref: MessageRef | undefined, message: MigrationMessage, pace: EditPace): Promise<void> {
    if (!ref) return Promise.resolve();
    const p = this.deps.presenter.update(ref, message, pace);
    if (pace === "prompt") return p;
    const tracked = p.catch((err) => this.deps.log.warn("message edit failed", { err }));
    this.pendingEdits.add(tracked);
    void tracked.finally(() => this.pendingEdits.delete(tracked));
    return Promise.resolve();
  }
}
