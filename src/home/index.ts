/**
 * src/home holds what a person's App Home tab shows, as plain data: the migrations running now, the
 * fix proposals waiting for a decision, drains (a slot the drain feature fills), and the last
 * outcomes, read from Redis where the workers keep them (and checked, since Redis contents are
 * untrusted: `read.ts`); who has opened the tab lately (`viewers.ts`); and when to show it again
 * (`refresher.ts`: on a change, at most once per user per interval, the latest state winning).
 * Rendering and Slack belong to bot/render/home.ts and bot/presenters/home.ts, behind
 * {@link HomePublisher}.
 */
import type { MigrationStatus, PhaseName } from "../migration/view";

/** One migration, as the Home tab lists it. Every string in it is untrusted text. */
export interface HomeMigration {
  jobId: string;
  /** The VM's name in Nova, else as the request named it (tenant-chosen). */
  vm: string;
  source: string | null;
  destination: string | null;
  phase: PhaseName;
  status: MigrationStatus;
  startedAt: number;
  endedAt: number | null;
  requestedBy: string;
  /** Where its thread is: the channel and the root message's ts (null before the root is posted). */
  channel: string;
  threadTs: string | null;
  /** How it failed, a sentence (failed or aborted migrations only). */
  failure: string | null;
}

/** A fix proposal still waiting for an approver. */
export interface HomeProposal {
  id: string;
  title: string;
  requestedBy: string;
  channel: string;
  /** Its thread, and its own message (the one with the buttons), once posted. */
  threadTs: string | null;
  messageTs: string | null;
  createdAt: number;
  expiresAt: number;
}

/** A drain of a host, as the Home tab lists it (filled by the drain feature through {@link DrainSource}). */
export interface HomeDrain {
  id: string;
  host: string;
  /** e.g. "running", "paused", "cancelling": shown as given. */
  state: string;
  moved: number;
  total: number;
  requestedBy: string;
  channel: string;
  threadTs: string | null;
}

/** The running drains, wherever the drain feature keeps them. */
export interface DrainSource {
  running(): Promise<HomeDrain[]>;
}

/** Everything the Home tab may show, the same for everybody; the publisher picks per person. */
export interface HomeSnapshot {
  /** When it was read, ms since epoch. */
  at: number;
  /** Running migrations, newest first, at most {@link HOME_RUNNING_MAX}; `runningTotal` counts them all. */
  running: HomeMigration[];
  runningTotal: number;
  /** Pending proposals, newest first, at most {@link HOME_PROPOSALS_MAX}; `pendingTotal` counts them all. */
  pending: HomeProposal[];
  pendingTotal: number;
  /** Null while no drain source is wired in. */
  drains: HomeDrain[] | null;
  /** The last finished migrations, newest end first, at most {@link HOME_OUTCOMES_MAX}. */
  outcomes: HomeMigration[];
  /** Records in Redis that failed the checks and were left out. */
  unreadable: number;
  /**
   * Migrations recorded as running whose VM lock no job holds any more (their worker died and no
   * other resumed them, or they are ending right now): left out of `running`, counted here.
   */
  stale: number;
}

/** Running migrations listed (the rest are counted, and `/migrate status` lists them). */
export const HOME_RUNNING_MAX = 20;
/** Pending proposals listed. */
export const HOME_PROPOSALS_MAX = 15;
/** Finished migrations listed under "last outcomes". */
export const HOME_OUTCOMES_MAX = 10;

/** Shows a person their Home tab (bot/presenters/home.ts: chooses what they may see, renders, publishes). */
export interface HomePublisher {
  publish(user: string, snapshot: HomeSnapshot): Promise<void>;
}
