/**
 * Slack delivering to the app: a slash command (form fields) or a button press (`block_actions`
 * payload) POSTed to the app's URL with Slack's request signature, timed against Slack's 3 s ack
 * deadline. A late or failed ack shows the user Slack's error (`operation_timeout`,
 * `dispatch_failed`); a slash command's immediate answer is shown as Slack shows it (ephemeral, or
 * in the channel after the invocation's echo). Optionally delivers a command twice at once, as a
 * retrying network might, to exercise the app's dedupe.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Logger } from "../../log";
import { buttonsIn, validateBlocks } from "./block-kit";
import { SlackEmulatorError } from "./errors";
import type { SlackLimits } from "./limits";
import type { ResponseUrls } from "./response-urls";
import { signedHeaders } from "./signing";
import { type MessageStore, messageJson } from "./store";
import {
  API_APP_ID,
  BOT_ID,
  BOT_USER_ID,
  type EmulatedChannel,
  type EmulatedUser,
  TEAM_DOMAIN,
  VERIFICATION_TOKEN,
  type Workspace,
} from "./workspace";

/** Slack's deadline for acknowledging a slash command or an interaction. */
export const SLACK_ACK_DEADLINE_MS = 3000;
/** How long the emulator keeps waiting for a late ack, only to measure it (Slack has given up by then). */
export const DELIVERY_HARD_TIMEOUT_MS = 15_000;
/** Random bytes in a trigger_id's last part (hex). */
const TRIGGER_ID_RANDOM_BYTES = 16;

export interface DeliveryResult {
  ackMs: number;
  /** HTTP status of the app's answer; 0 when it could not be reached or did not answer in time. */
  status: number;
}

export interface SlashCommandResult extends DeliveryResult {
  /** The text of the app's immediate response (Bolt's `ack("…")` or `ack({ text })`), if any. */
  responseText?: string;
  /** With `deliverTwice`: the second delivery of the same command. */
  duplicate?: DeliveryResult & { responseText?: string };
}

export interface DeliveryOptions {
  signingSecret: string;
  ackDeadlineMs: number;
  /** Where deliveries go now, or undefined before the app listens. */
  deliveryUrl: () => string | undefined;
  workspace: Workspace;
  store: MessageStore;
  responseUrls: ResponseUrls;
  limits: SlackLimits;
  log: Logger;
}

/** Delivers commands and clicks to the app and keeps the ack statistics. */
export class Delivery {
  /** Deliveries the app did not acknowledge within the deadline. */
  ackViolations = 0;
  slowestAckMs = 0;
  private triggerCounter = 0;

  constructor(private readonly opts: DeliveryOptions) {}

  private newTriggerId(): string {
    this.triggerCounter += 1;
    return `${this.triggerCounter}.${Date.now()}.${randomBytes(TRIGGER_ID_RANDOM_BYTES).toString("hex")}`;
  }

  /**
   * POSTs a signed form body to the app and times the ack. At the deadline Slack gives up and tells
   * the user (`onTimeout`); the emulator keeps waiting a while longer only to measure the ack.
   */
  private async deliver(
    form: URLSearchParams,
    onTimeout: () => void,
  ): Promise<DeliveryResult & { body: string; contentType: string; late: boolean }> {
    const deliveryUrl = this.opts.deliveryUrl();
    if (!deliveryUrl) {
      throw new SlackEmulatorError(
        "EMU_NO_DELIVERY_URL",
        "the Slack emulator has no delivery URL: call setDeliveryUrl('http://127.0.0.1:PORT/slack/events') once the app listens",
      );
    }
    const { ackDeadlineMs } = this.opts;
    const body = form.toString();
    const started = performance.now();
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      this.ackViolations += 1;
      onTimeout();
    }, ackDeadlineMs);
    try {
      const res = await fetch(deliveryUrl, {
        method: "POST",
        headers: signedHeaders(this.opts.signingSecret, body),
        body,
        signal: AbortSignal.timeout(DELIVERY_HARD_TIMEOUT_MS),
      });
      const text = await res.text();
      const ackMs = performance.now() - started;
      this.slowestAckMs = Math.max(this.slowestAckMs, ackMs);
      return {
        ackMs,
        status: late ? 0 : res.status,
        body: text,
        contentType: res.headers.get("content-type") ?? "",
        late,
      };
    } catch (err) {
      const ackMs = performance.now() - started;
      this.opts.log.warn("slack emulator could not deliver to the app", { err, deliveryUrl });
      return { ackMs, status: 0, body: "", contentType: "", late: late || ackMs >= ackDeadlineMs };
    } finally {
      clearTimeout(timer);
    }
  }

  /** A user runs a slash command in a channel. */
  async slashCommand(args: {
    user: string;
    channel: string;
    command: string;
    text: string;
    deliverTwice: boolean;
  }): Promise<SlashCommandResult> {
    const { command, text } = args;
    if (!command.startsWith("/")) {
      throw new SlackEmulatorError("EMU_BAD_COMMAND", `a slash command starts with "/": got "${command}"`);
    }
    const { workspace, responseUrls } = this.opts;
    const { user, channel } = workspace.resolveUserAndChannel(args.user, args.channel);
    const responseUrl = responseUrls.create({ kind: "command", channel: channel.id, user: user.id });
    const form = new URLSearchParams({
      token: VERIFICATION_TOKEN,
      team_id: workspace.teamId,
      team_domain: TEAM_DOMAIN,
      channel_id: channel.id,
      channel_name: channel.name,
      user_id: user.id,
      user_name: user.name,
      command,
      text,
      api_app_id: API_APP_ID,
      is_enterprise_install: "false",
      response_url: responseUrl.url,
      trigger_id: this.newTriggerId(),
    });
    const once = () => this.deliverCommandOnce(form, command, text, user, channel, responseUrl.id);
    if (!args.deliverTwice) return once();
    const [first, second] = await Promise.all([once(), once()]);
    return { ...first, duplicate: second };
  }

  private async deliverCommandOnce(
    form: URLSearchParams,
    command: string,
    text: string,
    user: EmulatedUser,
    channel: EmulatedChannel,
    responseUrlId: string,
  ): Promise<DeliveryResult & { responseText?: string }> {
    const { store } = this.opts;
    const showError = (error: string) =>
      store.postEphemeral({
        channel: channel.id,
        user: user.id,
        text: `${command} failed with the error "${error}"`,
      });
    const result = await this.deliver(form, () => showError("operation_timeout"));
    if (result.late) return { ackMs: result.ackMs, status: 0 };
    if (result.status !== 200) {
      showError("dispatch_failed");
      return { ackMs: result.ackMs, status: result.status };
    }
    // The immediate response: plain text is an ephemeral reply; JSON may ask for in_channel.
    let message: { text?: string; blocks?: unknown[]; response_type?: string } = {};
    if (result.body.length > 0) {
      if (result.contentType.includes("application/json")) {
        try {
          message = JSON.parse(result.body) as typeof message;
        } catch {
          message = { text: result.body };
        }
      } else message = { text: result.body };
    }
    const hasContent = (message.text ?? "") !== "" || (message.blocks?.length ?? 0) > 0;
    if (hasContent) {
      const problems = message.blocks ? validateBlocks(message.blocks, this.opts.limits) : [];
      if (problems.length > 0) {
        showError("invalid_blocks");
      } else if (message.response_type === "in_channel") {
        // Slack shows the invocation itself in the channel, then the app's answer.
        store.post({ channel: channel.id, user: user.id, text: `${command} ${text}`.trim() });
        const stored = store.post({
          channel: channel.id,
          user: BOT_USER_ID,
          bot_id: BOT_ID,
          text: message.text ?? "",
          blocks: message.blocks,
        });
        this.opts.responseUrls.answered(responseUrlId, stored.ts, false);
      } else {
        const stored = store.postEphemeral({
          channel: channel.id,
          user: user.id,
          text: message.text ?? "",
          blocks: message.blocks,
        });
        this.opts.responseUrls.answered(responseUrlId, stored.ts, true);
      }
    }
    return { ackMs: result.ackMs, status: result.status, responseText: message.text };
  }

  /** A user presses a button found in a message's blocks: a real `block_actions` payload. */
  async clickButton(args: {
    user: string;
    channel: string;
    messageTs: string;
    actionId?: string;
    label?: string;
  }): Promise<DeliveryResult> {
    const { messageTs, actionId, label } = args;
    const { workspace, store, responseUrls } = this.opts;
    const { teamId } = workspace;
    const { user, channel } = workspace.resolveUserAndChannel(args.user, args.channel);
    const found = findMessageForClick(store, channel.id, messageTs, user.id);
    if (!found) {
      throw new SlackEmulatorError(
        "EMU_MESSAGE_NOT_FOUND",
        `no message ${messageTs} in #${channel.name} that ${user.name} can see`,
      );
    }
    const blocks = found.kind === "channel" ? found.msg.blocks : found.eph.blocks;
    const buttons = buttonsIn(blocks).filter(
      (b) =>
        (actionId === undefined || b.actionId === actionId) && (label === undefined || b.label === label),
    );
    if (buttons.length === 0) {
      throw new SlackEmulatorError(
        "EMU_BUTTON_NOT_FOUND",
        `message ${messageTs} has no button matching ${JSON.stringify({ actionId, label })}; it has: ${buttonsIn(
          blocks,
        )
          .map((b) => `"${b.label}" (${b.actionId})`)
          .join(", ")}`,
      );
    }
    if (buttons.length > 1) {
      throw new SlackEmulatorError(
        "EMU_BUTTON_AMBIGUOUS",
        `message ${messageTs} has ${buttons.length} buttons matching; pass actionId to pick one`,
      );
    }
    const button = buttons[0]!;
    const threadTs = found.kind === "channel" ? found.msg.thread_ts : found.eph.thread_ts;
    const responseUrl = responseUrls.create({
      kind: "action",
      channel: channel.id,
      user: user.id,
      sourceTs: messageTs,
      sourceEphemeral: found.kind === "ephemeral",
    });
    const container: Record<string, unknown> = {
      type: "message",
      message_ts: messageTs,
      channel_id: channel.id,
      is_ephemeral: found.kind === "ephemeral",
    };
    if (threadTs) container.thread_ts = threadTs;
    const action: Record<string, unknown> = {
      action_id: button.actionId,
      block_id: button.blockId,
      text: { type: "plain_text", text: button.label, emoji: true },
      type: "button",
      action_ts: store.nextTs(),
    };
    if (button.value !== undefined) action.value = button.value;
    if (button.style !== undefined) action.style = button.style;
    const payload: Record<string, unknown> = {
      type: "block_actions",
      user: { id: user.id, username: user.name, name: user.name, team_id: teamId },
      api_app_id: API_APP_ID,
      token: VERIFICATION_TOKEN,
      container,
      trigger_id: this.newTriggerId(),
      team: { id: teamId, domain: TEAM_DOMAIN },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: channel.id, name: channel.name },
      // Slack leaves `message` out of payloads from ephemeral messages.
      ...(found.kind === "channel" ? { message: messageJson(found.msg, teamId) } : {}),
      state: { values: {} },
      response_url: responseUrl.url,
      actions: [action],
    };
    const result = await this.deliver(new URLSearchParams({ payload: JSON.stringify(payload) }), () =>
      // Slack marks the click with a warning icon; the emulator makes that visible to the clicker.
      store.postEphemeral({
        channel: channel.id,
        user: user.id,
        text: `"${button.label}" failed with the error "operation_timeout" (the app did not acknowledge within ${this.opts.ackDeadlineMs} ms)`,
      }),
    );
    return { ackMs: result.ackMs, status: result.status };
  }
}

/** The message a user can press a button in: a channel message, or an ephemeral one shown to them. */
function findMessageForClick(store: MessageStore, channelId: string, ts: string, userId: string) {
  const msg = store.get(channelId, ts);
  if (msg && !msg.deleted) return { kind: "channel" as const, msg };
  const eph = store.ephemeral(channelId, ts, userId);
  if (eph) return { kind: "ephemeral" as const, eph };
  return undefined;
}
