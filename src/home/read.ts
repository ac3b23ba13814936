/**
 * Reads the Home tab's snapshot from Redis: migration records (src/migration/store.ts), proposals
 * (src/fixes/store.ts) and drains (a source handed in). Redis contents are untrusted: every field
 * used is checked, a record that fails is left out and counted, and ids that end up in links
 * (channel ids, message ts) must look like Slack's.
 */
import type { ProposalStore } from "../fixes/store";
import type { MigrationStore } from "../migration/store";
import { type MigrationStatus, PHASES, type PhaseName } from "../migration/view";
import {
  type DrainSource,
  HOME_OUTCOMES_MAX,
  HOME_PROPOSALS_MAX,
  HOME_RUNNING_MAX,
  type HomeMigration,
  type HomeProposal,
  type HomeSnapshot,
} from "./index";

/** Migration records looked at, most recently started first: running ones older than these are not listed. */
export const HOME_MIGRATIONS_SCANNED = 300;
/** Proposals looked at, newest first. */
export const HOME_PROPOSALS_SCANNED = 100;
/** Text fields longer than this are cut when read (the renderer clips again to Block Kit's limits). */
export const HOME_TEXT_MAX_CHARS = 500;

const STATUSES: ReadonlySet<string> = new Set<MigrationStatus>([
  "starting",
  "running",
  "not-converging",
  "completed",
  "failed",
  "aborted",
  "cancelled",
]);
const FINISHED: ReadonlySet<string> = new Set(["completed", "failed", "aborted", "cancelled"]);
const PHASE_SET: ReadonlySet<string> = new Set(PHASES);
/** Slack ids as they appear in links: a channel (public, private, DM) and a message ts. */
export const CHANNEL_ID_RE = /^[CGD][A-Z0-9]{2,30}$/;
export const MESSAGE_TS_RE = /^\d{1,12}\.\d{1,8}$/;
const JOB_ID_RE = /^[A-Za-z0-9_:.-]{1,200}$/;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function text(v: unknown): string | undefined {
  return typeof v === "string" ? v.slice(0, HOME_TEXT_MAX_CHARS) : undefined;
}

function textOrNull(v: unknown): string | null | undefined {
  if (v === null || v === undefined) return null;
  return text(v);
}

function time(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function ts(v: unknown): string | null {
  return typeof v === "string" && MESSAGE_TS_RE.test(v) ? v : null;
}

/** A migration record from Redis as the Home tab needs it, or undefined when it does not check out. */
export function checkMigration(raw: unknown): HomeMigration | undefined {
  if (!isObj(raw) || !isObj(raw.view)) return undefined;
  const v = raw.view;
  const jobId = typeof v.jobId === "string" && JOB_ID_RE.test(v.jobId) ? v.jobId : undefined;
  const vm = text(v.serverName) ?? text(v.vm);
  const status =
    typeof v.status === "string" && STATUSES.has(v.status) ? (v.status as MigrationStatus) : undefined;
  const phase = typeof v.phase === "string" && PHASE_SET.has(v.phase) ? (v.phase as PhaseName) : undefined;
  const startedAt = time(v.startedAt);
  const channel = typeof v.channel === "string" && CHANNEL_ID_RE.test(v.channel) ? v.channel : undefined;
  const source = textOrNull(v.source);
  const destination = textOrNull(v.destination) ?? textOrNull(v.requestedDestination);
  const requestedBy = text(v.requestedBy);
  if (
    jobId === undefined ||
    vm === undefined ||
    status === undefined ||
    phase === undefined ||
    startedAt === undefined ||
    channel === undefined ||
    source === undefined ||
    destination === undefined ||
    requestedBy === undefined
  ) {
    return undefined;
  }
  const endedAt = v.endedAt === null || v.endedAt === undefined ? null : (time(v.endedAt) ?? null);
  const failure = isObj(v.failure) ? (text(v.failure.message) ?? null) : null;
  return {
    jobId,
    vm,
    source,
    destination,
    phase,
    status,
    startedAt,
    endedAt,
    requestedBy,
    channel,
    threadTs: isObj(raw.posts) ? ts(raw.posts.root) : null,
    failure,
  };
}

/** A proposal as the store read it (its JSON parsed, not checked), if it is pending and checks out. */
export function checkPendingProposal(raw: unknown, now: number): HomeProposal | undefined {
  if (!isObj(raw) || raw.status !== "pending") return undefined;
  const id = text(raw.id);
  const title = text(raw.title);
  const requestedBy = text(raw.requestedBy);
  const channel =
    typeof raw.channel === "string" && CHANNEL_ID_RE.test(raw.channel) ? raw.channel : undefined;
  const createdAt = time(raw.createdAt);
  const expiresAt = time(raw.expiresAt);
  if (
    id === undefined ||
    title === undefined ||
    requestedBy === undefined ||
    channel === undefined ||
    createdAt === undefined ||
    expiresAt === undefined ||
    expiresAt <= now
  ) {
    return undefined;
  }
  return {
    id,
    title,
    requestedBy,
    channel,
    threadTs: ts(raw.threadTs),
    messageTs: ts(raw.messageTs),
    createdAt,
    expiresAt,
  };
}

export interface HomeSources {
  migrations: Pick<MigrationStore, "recentUnchecked" | "vmHolders">;
  proposals: Pick<ProposalStore, "recentIds" | "get">;
  /** Null until the drain feature provides one. */
  drains: DrainSource | null;
  now?: () => number;
}

/** Reads what the Home tab shows now. */
export async function readHomeSnapshot(sources: HomeSources): Promise<HomeSnapshot> {
  const now = (sources.now ?? Date.now)();
  let unreadable = 0;
  const candidates: { m: HomeMigration; lockName: string }[] = [];
  const finished: HomeMigration[] = [];
  for (const raw of await sources.migrations.recentUnchecked(HOME_MIGRATIONS_SCANNED)) {
    const m = checkMigration(raw);
    if (m === undefined) {
      unreadable++;
      continue;
    }
    if (FINISHED.has(m.status)) finished.push(m);
    // The VM lock is taken under the name the request used (checkMigration made sure it is text).
    else candidates.push({ m, lockName: String((raw as { view: { vm: string } }).view.vm) });
  }
  // Running is what a live job still holds the VM for; a record alone may outlive a dead worker.
  const holders = await sources.migrations.vmHolders(candidates.map((c) => c.lockName));
  const running = candidates.filter((c, i) => holders[i] === c.m.jobId).map((c) => c.m);
  const stale = candidates.length - running.length;
  finished.sort((a, b) => (b.endedAt ?? b.startedAt) - (a.endedAt ?? a.startedAt));

  const pending: HomeProposal[] = [];
  const ids = await sources.proposals.recentIds(HOME_PROPOSALS_SCANNED);
  const proposals = await Promise.all(ids.map((id) => sources.proposals.get(id, now).catch(() => null)));
  for (const raw of proposals) {
    if (raw === null) continue;
    const p = checkPendingProposal(raw, now);
    if (p !== undefined) pending.push(p);
    else if (isObj(raw) && raw.status === "pending") unreadable++;
  }

  const drains = sources.drains === null ? null : await sources.drains.running();
  return {
    at: now,
    running: running.slice(0, HOME_RUNNING_MAX),
    runningTotal: running.length,
    pending: pending.slice(0, HOME_PROPOSALS_MAX),
    pendingTotal: pending.length,
    drains,
    outcomes: finished.slice(0, HOME_OUTCOMES_MAX),
    unreadable,
    stale,
  };
}
