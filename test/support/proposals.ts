/** Fix proposals as a person meets them in Slack: a message with Approve in a thread, then applied. */
import { ACTION_APPROVE } from "../../bot/render/proposal";
import type { DeliveryResult, StoredMessage } from "../../src/sandbox/slack/emulator";
import type { SlackChannel } from "./slack-threads";

/** Waits for a pending proposal (a message with Approve) in a thread matching `kind`, not one of `seen`. */
export function nextProposal(
  ops: SlackChannel,
  rootTs: string,
  seen: ReadonlySet<string>,
  kind: RegExp,
): Promise<StoredMessage> {
  return ops.waitFor(`a ${kind} proposal in the thread`, () =>
    ops.slack
      .findButtons(ops.id)
      .filter((b) => b.threadTs === rootTs && b.actionId === ACTION_APPROVE && !seen.has(b.messageTs))
      .map((b) => ops.message(b.messageTs))
      .find((m) => m !== undefined && kind.test(m.text)),
  );
}

/**
 * `user` presses Approve on a proposal; waits until the message says it was applied (a proposal
 * that says it was not applied in full fails at once, showing why).
 */
export async function approveProposal(
  ops: SlackChannel,
  proposal: StoredMessage,
  user: string,
): Promise<{ ack: DeliveryResult; applied: StoredMessage }> {
  const ack = await ops.slack.clickButton({
    user,
    channel: proposal.channel,
    messageTs: proposal.ts,
    actionId: ACTION_APPROVE,
  });
  const applied = await ops.waitFor("the proposal applied", () => {
    const now = ops.message(proposal.ts);
    if (now && /not applied in full/.test(now.text))
      throw new Error(`proposal not applied: ${JSON.stringify(now.blocks)}`);
    return now && /applied\./.test(now.text) ? now : undefined;
  });
  return { ack, applied };
}
