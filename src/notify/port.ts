/** The ports of Slack posting: the notifier (paced, shared limits) and private answers. */

export interface SlackText {
  text: string;
  blocks?: unknown[];
}

/**
 * What the Slack presenters need from the notifier (bot/presenters use it; the domain shows things
 * through its own presenter ports and never posts itself).
 */
export interface NotifierPort {
  post(
    channel: string,
    msg: SlackText & { thread_ts?: string },
    opts: {
      dedupeKey: string;
      /**
       * Jump the channel's post queue. The runner sets it on replies in an existing thread: with many
       * migrations requested at once, their roots and first replies queue for minutes (Slack allows
       * about one post per second per channel), and in arrival order a migration Nova finishes early
       * would wait behind all of them before its final state shows (src/bench/slack.ts: 9 of 50 final
       * states more than 60 s late, the worst 133 s; with thread replies first, the worst 7 s).
       */
      urgent?: boolean;
    },
  ): Promise<string>;
  update(channel: string, ts: string, msg: SlackText, opts?: { urgent?: boolean }): Promise<void>;
}

/** A file to share in a channel or thread (a chart), as the notifier uploads it. */
export interface FileUpload {
  bytes: Uint8Array;
  /** The file's name, with its extension (Slack derives the type from it). */
  filename: string;
  /** The title Slack shows above the file. */
  title: string;
  /** A description of the picture for screen readers. */
  altText?: string;
  /** Reply in this thread (its root's ts). */
  threadTs?: string;
  /** The message text that comes with the file (mrkdwn, already escaped by the renderer). */
  initialComment?: string;
}

/**
 * Shares files in Slack through the notifier's limits (Slack's external upload: a URL, the bytes,
 * then the share). Once per dedupeKey, as for posts; resolves to Slack's file id.
 */
export interface FileUploadPort {
  upload(channel: string, file: FileUpload, opts: { dedupeKey: string; urgent?: boolean }): Promise<string>;
}

/**
 * Sends a private answer through Slack's response_url (else an ephemeral message): the transport
 * under the answer presenter (bot/presenters/answers.ts). The migration and queue code answer with
 * typed values through their answer ports instead.
 */
export type ReplyPort = (
  responseUrl: string | undefined,
  user: string,
  channel: string,
  msg: SlackText,
) => Promise<void>;

/** Publishes a person's App Home tab (views.publish), paced by the shared limiter, latest view wins. */
export interface HomeTabPort {
  publishHome(user: string, view: { blocks: unknown[] }): Promise<void>;
}
