/**
 * Fix proposals for fault cases: a real plan (auto-converge) drafted from a host's nova.conf over
 * SSH, posted in #ops with Approve as diagnosis would post it, approved by a click; and what a
 * host's files and nova-compute look like afterwards.
 */
import { expect } from "vitest";
import { ACTION_APPROVE } from "../../../bot/render/proposal";
import type { Proposal } from "../../../src/fixes/proposal";
import type { StoredMessage } from "../../../src/sandbox/slack/emulator";
import { draftOf, type PlannedChange, planChanges } from "../../fixes/harness";
import type { SlackChannel } from "../../support/slack-threads";
import type { FaultStack } from "./fault-stack";

export interface PostedFix {
  proposal: Proposal;
  message: StoredMessage;
  changes: PlannedChange[];
}

/** Drafts auto-converge for `hosts` from their files and posts it in #ops as alice's request. */
export async function postFix(stack: FaultStack, ops: SlackChannel, hosts: string[]): Promise<PostedFix> {
  const changes = await planChanges(
    { sandbox: stack.cloud.sandbox, hosts: stack.hosts },
    "auto-converge",
    hosts,
  );
  expect(changes.length, `auto-converge changes something on ${hosts.join(", ")}`).toBeGreaterThan(0);
  const proposal = await stack.proposals.propose(draftOf("auto-converge", changes), {
    requestedBy: "U0ALICE01",
    channel: ops.id,
    threadTs: null,
  });
  const message = await ops.waitFor("the proposal message", () =>
    proposal.messageTs
      ? ops.message(proposal.messageTs)
      : ops.roots().find((r) => r.text.includes(proposal.title)),
  );
  return { proposal, message, changes };
}

/** Bob presses Approve on the proposal. */
export async function clickApprove(
  ops: SlackChannel,
  message: StoredMessage,
  opts: { twice?: boolean } = {},
) {
  const click = () =>
    ops.slack.clickButton({ user: "bob", channel: ops.id, messageTs: message.ts, actionId: ACTION_APPROVE });
  return opts.twice ? Promise.all([click(), click()]) : [await click()];
}

/** The proposal's stored status. */
export async function proposalStatus(stack: FaultStack, id: string): Promise<string | undefined> {
  return (await stack.proposals.get(id))?.status;
}

/** Whether a host's file is the planned original, the planned result, or neither (torn). */
export function fileState(stack: FaultStack, change: PlannedChange): "old" | "new" | "other" | "missing" {
  const entry = stack.cloud.sandbox.cloud.hosts.get(change.host)!.fs.get(change.path);
  if (!entry) return "missing";
  if (entry.content === change.before) return "old";
  if (entry.content === change.after) return "new";
  return "other";
}

/** Backups of a file migbot left on its host, with whether each holds the planned original. */
export function backupsOf(stack: FaultStack, change: PlannedChange): { path: string; original: boolean }[] {
  const fs = stack.cloud.sandbox.cloud.hosts.get(change.host)!.fs;
  return fs
    .list()
    .filter((p) => p.startsWith(`${change.path}.migbot-backup-`))
    .map((p) => ({ path: p, original: fs.get(p)?.content === change.before }));
}

/** Temp files migbot left beside the file (a write cut short). */
export function tempFilesOf(stack: FaultStack, change: PlannedChange): string[] {
  const dir = change.path.slice(0, change.path.lastIndexOf("/"));
  const base = change.path.slice(change.path.lastIndexOf("/") + 1);
  return stack.cloud.sandbox.cloud.hosts
    .get(change.host)!
    .fs.list()
    .filter((p) => p.startsWith(`${dir}/.${base}.migbot-tmp-`));
}

/** nova-compute on a host: systemd's view, and the settings it runs with. */
export function service(stack: FaultStack, host: string) {
  const h = stack.cloud.sandbox.cloud.hosts.get(host)!;
  return { unit: h.service.unit, pid: h.service.pid, autoConverge: h.settings?.autoConverge ?? null };
}
