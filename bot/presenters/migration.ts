/**
 * bot/presenters holds the adapters that implement the domain's presenter ports: each renders the
 * domain's typed messages with bot/render and delivers them through the notifier or the reply
 * transport. Constructed by the composition root (src/runtime) and handed to the workers.
 *
 * This one implements {@link MigrationPresenter}: a migration's thread on Slack, posted through the
 * notifier (src/notify), with the dedupe keys that make a post happen once per job whatever the
 * retries, and the notifier's urgency (thread replies and prompt edits before routine traffic).
 * Charts are drawn here (src/chart) and shared through the notifier's file upload.
 */

import { type MigrationPresenter, replySlot } from "../../src/migration/presenter";
import type { FileUploadPort, NotifierPort } from "../../src/notify/port";
import { renderChartMessage } from "../render/chart";
import { renderMigrationMessage, renderRetryNotice } from "../render/migration";

/** The migration presenter on a notifier; `files` shares the charts (without it, charts are refused). */
export function createMigrationPresenter(notifier: NotifierPort, files?: FileUploadPort): MigrationPresenter {
  return {
    postRoot(message) {
      // A new root waits its turn in the channel's post queue (see NotifierPort.post's `urgent`).
      return notifier.post(message.view.channel, renderMigrationMessage(message), {
        dedupeKey: `${message.view.jobId}:root`,
      });
    },
    postReply(root, message) {
      return notifier.post(
        message.view.channel,
        { ...renderMigrationMessage(message), thread_ts: root },
        // Replies in an existing thread go before new roots (see NotifierPort.post's `urgent`).
        { dedupeKey: `${message.view.jobId}:${replySlot(message)}`, urgent: true },
      );
    },
    update(ref, message, pace) {
      // Rendered now, at the call: the view it reads goes on changing while the edit waits.
      return notifier.update(message.view.channel, ref, renderMigrationMessage(message), {
        urgent: pace === "prompt",
      });
    },
    async postRetryNotice(notice) {
      await notifier.post(
        notice.earlier.channel,
        { ...renderRetryNotice(notice), thread_ts: notice.earlier.root },
        { dedupeKey: `${notice.earlier.jobId}:retried-by:${notice.jobId}`, urgent: true },
      );
    },
    async postChart(root, message) {
      if (!files) throw new Error("charts need the notifier's file upload; none was given to the presenter");
      const words = renderChartMessage(message);
      // Loaded on the first chart: a process that never draws one (the bot) never pays its memory.
      const { renderMigrationChart } = await import("../../src/chart");
      const image = await renderMigrationChart({
        title: words.heading,
        subtitle: words.subheading,
        history: message.history,
      });
      return files.upload(
        message.view.channel,
        {
          bytes: image.png,
          filename: words.filename,
          title: words.title,
          altText: words.altText,
          threadTs: root,
          initialComment: words.initialComment,
        },
        // Routine: the chart waits behind every thread's phase replies, so it never delays the
        // words that say how a migration ended (the channel's post budget is shared).
        { dedupeKey: `${message.view.jobId}:chart:${message.moment}` },
      );
    },
  };
}
