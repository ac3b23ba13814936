/**
 * Where the Home tab hears that something changed: the domain already says so through its ports
 * (a migration's thread posts a phase reply or a prompt edit; a proposal is posted or changes; an
 * approver decides), so the composition root tees those ports here, as it wraps them for metrics.
 * The domain itself knows nothing of the Home tab.
 */
import type { DrainPresenter } from "../drain/presenter";
import type { ProposalPresenter } from "../fixes/presenter";
import type { ProposalService } from "../fixes/service";
import type { MigrationPresenter } from "../migration/presenter";

/** Tells the Home tab that what it shows may have changed. */
export type HomeChanged = () => void;

/** The migration presenter, also signalling a started migration, each phase, and prompt edits (outcomes, verdicts). */
export function migrationPresenterWithHome(
  inner: MigrationPresenter,
  changed: HomeChanged,
): MigrationPresenter {
  return {
    async postRoot(message) {
      const ref = await inner.postRoot(message);
      changed();
      return ref;
    },
    async postReply(root, message) {
      const ref = await inner.postReply(root, message);
      changed();
      return ref;
    },
    async update(ref, message, pace) {
      await inner.update(ref, message, pace);
      // Routine edits are progress figures the Home tab does not show; prompt ones change its state.
      if (pace === "prompt") changed();
    },
    postRetryNotice: (notice) => inner.postRetryNotice(notice),
    // A chart changes nothing the Home tab shows.
    postChart: (root, message) => inner.postChart(root, message),
  };
}

/** The proposal presenter, also signalling a proposal posted or changed (applying, applied, failed, superseded). */
export function proposalPresenterWithHome(inner: ProposalPresenter, changed: HomeChanged): ProposalPresenter {
  return {
    async posted(p, now) {
      const ts = await inner.posted(p, now);
      changed();
      return ts;
    },
    async changed(p, now, opts) {
      await inner.changed(p, now, opts);
      changed();
    },
    note: (p, note) => inner.note(p, note),
    answer: (to, answer) => inner.answer(to, answer),
  };
}

/** The proposal service as the bot uses it, also signalling each decision it records. */
export function proposalServiceWithHome(inner: ProposalService, changed: HomeChanged): ProposalService {
  return {
    ...inner,
    async claim(id, user, decision, opts) {
      const outcome = await inner.claim(id, user, decision, opts);
      if (outcome.ok) changed();
      return outcome;
    },
  };
}

/** The drain presenter, also signalling a drain planned, its table's state changing, and its report. */
export function drainPresenterWithHome(inner: DrainPresenter, changed: HomeChanged): DrainPresenter {
  return {
    async postPlan(view) {
      const ref = await inner.postPlan(view);
      changed();
      return ref;
    },
    postPlanDetails: (root, view) => inner.postPlanDetails(root, view),
    async updateRoot(root, view, pace) {
      await inner.updateRoot(root, view, pace);
      // Routine edits are progress figures; prompt ones (a VM done, paused, cancelled) change the tab.
      if (pace === "prompt") changed();
    },
    async postReport(root, view) {
      await inner.postReport(root, view);
      changed();
    },
    postReportChart: (root, view, migrations) => inner.postReportChart(root, view, migrations),
    childPresenter: (root) => inner.childPresenter(root),
    answer: (to, a) => inner.answer(to, a),
  };
}
