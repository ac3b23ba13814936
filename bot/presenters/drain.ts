/**
 * Implements the {@link DrainPresenter}: the drain's root message (plan, live table, final state)
 * and its thread on Slack through the notifier, with dedupe keys so that a resumed drain posts
 * nothing twice, and private answers through the reply transport. Each VM's migration shows in the
 * drain's thread: its root message becomes a reply there (see {@link drainChildPresenter}).
 */
import type { DrainPresenter } from "../../src/drain/presenter";
import { type MigrationPresenter, replySlot } from "../../src/migration/presenter";
import { CHART_NOT_SHARED } from "../../src/migration/thread";
import type { FileUploadPort, NotifierPort, ReplyPort } from "../../src/notify/port";
import {
  renderDrainAnswer,
  renderDrainChartMessage,
  renderDrainReport,
  renderDrainRoot,
  renderPlanDetails,
} from "../render/drain";
import { renderMigrationMessage } from "../render/migration";
import { createMigrationPresenter } from "./migration";

/** The drain presenter on a notifier and a reply transport. */
export function createDrainPresenter(deps: {
  notifier: NotifierPort;
  reply: ReplyPort;
  /** Where the drain's chart is uploaded. None: no chart. */
  files?: FileUploadPort;
}): DrainPresenter {
  const { notifier, reply, files } = deps;
  return {
    postPlan(view) {
      return notifier.post(view.plan.channel, renderDrainRoot(view), {
        dedupeKey: `drain:${view.plan.id}:root`,
      });
    },
    async postPlanDetails(root, view) {
      await notifier.post(
        view.plan.channel,
        { ...renderPlanDetails(view), thread_ts: root },
        { dedupeKey: `drain:${view.plan.id}:plan`, urgent: true },
      );
    },
    updateRoot(root, view, pace) {
      return notifier.update(view.plan.channel, root, renderDrainRoot(view), { urgent: pace === "prompt" });
    },
    async postReport(root, view) {
      await notifier.post(
        view.plan.channel,
        { ...renderDrainReport(view), thread_ts: root },
        { dedupeKey: `drain:${view.plan.id}:report`, urgent: true },
      );
    },
    async postReportChart(root, view, migrations) {
      if (!files) return;
      const words = renderDrainChartMessage(view);
      // Loaded on the first chart: a process that never draws one never pays its memory.
      const { renderDrainChart } = await import("../../src/chart");
      const image = await renderDrainChart(words.title, migrations);
      await files.upload(
        view.plan.channel,
        {
          bytes: image.png,
          filename: words.filename,
          title: words.title,
          altText: words.altText,
          threadTs: root,
          initialComment: words.initialComment,
        },
        { dedupeKey: `drain:${view.plan.id}:chart` },
      );
    },
    childPresenter: (root) => drainChildPresenter(notifier, root),
    answer(to, answer) {
      return reply(to.responseUrl, to.user, to.channel, renderDrainAnswer(answer));
    },
  };
}

/**
 * A VM's migration inside a drain's thread. Slack threads are one level deep, so the migration's
 * root message is posted as a reply in the drain's thread, and the drain's root stands as the
 * migration's thread (what the record keeps as its root: its phase replies, its diagnosis and fix
 * proposals all land in the drain's thread). Edits of the migration's root go to that reply, found
 * again through its dedupe key.
 */
export function drainChildPresenter(notifier: NotifierPort, drainRoot: string): MigrationPresenter {
  const plain = createMigrationPresenter(notifier);
  const postOwnRoot = (message: Parameters<MigrationPresenter["postRoot"]>[0]) =>
    notifier.post(
      message.view.channel,
      { ...renderMigrationMessage(message), thread_ts: drainRoot },
      { dedupeKey: `${message.view.jobId}:root`, urgent: true },
    );
  return {
    async postRoot(message) {
      await postOwnRoot(message);
      return drainRoot;
    },
    postReply(_root, message) {
      return notifier.post(
        message.view.channel,
        { ...renderMigrationMessage(message), thread_ts: drainRoot },
        { dedupeKey: `${message.view.jobId}:${replySlot(message)}`, urgent: true },
      );
    },
    async update(ref, message, pace) {
      if (message.kind === "root") {
        // The dedupe key returns the reply posted first; nothing is posted again.
        const own = await postOwnRoot(message);
        return notifier.update(message.view.channel, own, renderMigrationMessage(message), {
          urgent: pace === "prompt",
        });
      }
      return plain.update(ref, message, pace);
    },
    postRetryNotice: (notice) => plain.postRetryNotice(notice),
    // One chart for the whole drain comes with its report; forty per-VM charts would bury the thread.
    postChart: async () => CHART_NOT_SHARED,
  };
}
