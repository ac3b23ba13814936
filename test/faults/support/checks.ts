/**
 * What every fault case checks after the fault: the thread a person reads (one root, each phase
 * once, a final state), Nova's own record (exactly one live migration per request), the queue
 * (no job lost), and timings.
 */
import { expect } from "vitest";
import type { NovaPort } from "../../../src/openstack/port";
import type { StoredMessage } from "../../../src/sandbox/slack/emulator";
import type { SlackChannel } from "../../support/slack-threads";

/** Phase replies in the order a thread shows them. */
export const PHASE_PREFIXES = [
  "Pre-migration",
  "Reservation",
  "Iterative pre-copy",
  "Stop-and-copy",
  "Commitment",
];

/** The root message, once its text says the migration finished (Completed, Failed or Aborted). */
export function waitFinished(ops: SlackChannel, rootTs: string, timeoutMs = 90_000): Promise<StoredMessage> {
  return ops.waitFor(
    `migration ${rootTs} to finish`,
    () => {
      const r = ops.roots().find((m) => m.ts === rootTs);
      return r && /Completed|Failed|Aborted/.test(r.text) ? r : undefined;
    },
    timeoutMs,
  );
}

/** Waits for a reply in the thread that starts with `prefix`. */
export function waitReply(ops: SlackChannel, rootTs: string, prefix: string, timeoutMs = 60_000) {
  return ops.waitFor(`"${prefix}" in thread ${rootTs}`, () => ops.reply(rootTs, prefix), timeoutMs);
}

/** Posts and edits in a thread so far: it grows while migbot follows the migration. */
export function threadActivity(ops: SlackChannel, rootTs: string): number {
  const root = ops.root(rootTs);
  return root.edits + root.replies.length + root.replies.reduce((n, r) => n + r.edits, 0);
}

/** Each phase reply exactly once in the thread, in order; returns how many replies the thread has. */
export function expectPhasesOnce(ops: SlackChannel, rootTs: string): number {
  const replies = ops.thread(rootTs);
  const phases = replies.filter((r) => PHASE_PREFIXES.some((p) => r.text.startsWith(p)));
  expect(
    phases.map((r) => PHASE_PREFIXES.find((p) => r.text.startsWith(p))),
    `phase replies of ${rootTs}`,
  ).toEqual(PHASE_PREFIXES);
  // No reply posted twice: every reply's text is distinct (a duplicate post repeats one).
  const texts = replies.map((r) => r.text);
  expect(new Set(texts).size, `duplicate replies in ${rootTs}: ${texts.join(" | ")}`).toBe(texts.length);
  return replies.length;
}

/** Nova's live migrations of a VM (finished ones included): a case compares the count before and after. */
export async function liveMigrations(truth: NovaPort, vm: string) {
  const server = await truth.findServer(vm);
  if (!server) throw new Error(`no server ${vm}`);
  return truth.listMigrations({ instanceUuid: server.id, migrationType: "live-migration" });
}

/** Where a VM is now, and a destination it can live-migrate to on the sandbox (same CPU family). */
export async function hostOf(truth: NovaPort, vm: string): Promise<string> {
  const s = await truth.findServer(vm);
  if (!s?.host) throw new Error(`${vm} has no host`);
  return s.host;
}

/** Two hosts of the sandbox whose CPUs take each other's guests: a VM moves back and forth. */
export function otherOf(host: string, pair: [string, string]): string {
  return host === pair[0] ? pair[1] : pair[0];
}

/** The first time (ms since epoch) `fn` holds, polling every `intervalMs`; null at the deadline. */
export async function firstTime(
  fn: () => boolean,
  timeoutMs: number,
  intervalMs = 50,
): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() <= deadline) {
    if (fn()) return Date.now();
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return null;
}

/** A /migrate a case started: the VM, where it goes, Nova's live migrations of it before, the root. */
export interface StartedMove {
  vm: string;
  to: string;
  before: number;
  root: StoredMessage;
}

/** Alice types `/migrate <vm> to <the other host of pair>`; returns once the root message is posted. */
export async function startMove(
  ops: SlackChannel,
  truth: NovaPort,
  vm: string,
  pair: [string, string],
): Promise<StartedMove> {
  const to = otherOf(await hostOf(truth, vm), pair);
  const before = (await liveMigrations(truth, vm)).length;
  const root = await ops.commandRoot("alice", "/migrate", `${vm} to ${to}`, vm);
  return { vm, to, before, root };
}

/**
 * The move completed as a person reads it: the root says Completed, each phase once and in
 * order, exactly one more live migration in Nova's record, and the VM on its destination.
 */
export async function expectMovedOnce(
  ops: SlackChannel,
  truth: NovaPort,
  m: StartedMove,
  timeoutMs = 90_000,
): Promise<void> {
  const done = await waitFinished(ops, m.root.ts, timeoutMs);
  expect(
    done.text,
    ops
      .thread(m.root.ts)
      .map((r) => r.text)
      .join("\n"),
  ).toMatch(/Completed/);
  expectPhasesOnce(ops, m.root.ts);
  expect((await liveMigrations(truth, m.vm)).length - m.before, `live migrations of ${m.vm}`).toBe(1);
  expect(await hostOf(truth, m.vm)).toBe(m.to);
}
