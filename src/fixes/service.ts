/**
 * Proposals behind approval: stored in Redis (store.ts), posted in the thread with Approve and
 * Reject buttons that carry only the proposal id, decided atomically, and audited.
 */
import type { Redis } from "ioredis";
import { slackDate } from "../../bot/render/format";
import { renderProposal } from "../../bot/render/proposal";
import { type AuditLog, createAuditLog } from "../audit/stream";
import { DEFAULT_PROPOSAL_TTL_S } from "../config";
import type { Logger } from "../log";
import type { NotifierPort } from "../migration/ports";
import type { PlanSealer } from "../signing/signatures";
import type { Proposal, ProposalDraft } from "./proposal";
import { type ClaimRefusal, ProposalStore } from "./store";

export interface ProposalServiceOptions {
  redis: Redis;
  prefix: string;
  /** Posts and edits the proposal message; null on a process that only decides (the bot). */
  notifier: NotifierPort | null;
  /** Seals plans (workers, which hold MIGBOT_WORKER_KEY); null on the bot, which only decides. */
  sealer: PlanSealer | null;
  /** How long a proposal can be approved. @defaultValue DEFAULT_PROPOSAL_TTL_S (3600) */
  ttlS?: number;
  log: Logger;
  /** @defaultValue Date.now */
  now?: () => number;
}

export type ClaimOutcome = { ok: true; proposal: Proposal } | { ok: false; reason: string; code: string };

export interface ProposalService {
  readonly store: ProposalStore;
  readonly audit: AuditLog;
  /** Stores the draft and posts it in the thread with Approve / Reject. */
  propose(
    draft: ProposalDraft,
    origin: { requestedBy: string; channel: string; threadTs: string | null },
  ): Promise<Proposal>;
  get(id: string): Promise<Proposal | null>;
  /** First authorized click wins; every other click gets a reason a person can act on. */
  claim(
    id: string,
    user: string,
    decision: "approve" | "reject",
    opts: { isApprover: boolean; allowSelfApproval: boolean },
  ): Promise<ClaimOutcome>;
  /** Re-renders the proposal message from the stored state (progress, results, retry). */
  refresh(id: string, opts?: { urgent?: boolean }): Promise<Proposal | null>;
}

/** The sentence a refused clicker reads, with a code for support. */
export function refusalText(r: ClaimRefusal, decision: "approve" | "reject"): { code: string; text: string } {
  switch (r.reason) {
    case "unknown":
      return {
        code: "PROPOSAL_UNKNOWN",
        text: "migbot does not know this proposal (it may be older than its retention, or the button was altered). Nothing was changed; run /diagnose again for a fresh plan.",
      };
    case "expired":
      return {
        code: "PROPOSAL_EXPIRED",
        text: `This proposal expired at ${slackDate(r.expiresAt)}; nothing was changed. Run /diagnose again: the hosts may have changed since it was planned.`,
      };
    case "not-approver":
      return {
        code: "PROPOSAL_NOT_APPROVER",
        text: `Only migbot approvers may ${decision} fix proposals. Ask an approver, or to be added to MIGBOT_APPROVERS.`,
      };
    case "own-proposal":
      return {
        code: "PROPOSAL_OWN",
        text: "You asked for this proposal, so someone else must approve it (four eyes). Ask another approver to press Approve.",
      };
    case "already-decided": {
      if (r.status === "superseded") {
        return {
          code: "PROPOSAL_SUPERSEDED",
          text: "Another fix of the same kind was applied in this thread, so this alternative is no longer needed. Run /diagnose again if something still fails.",
        };
      }
      const verb = r.status === "rejected" ? "rejected" : "approved";
      return {
        code: "PROPOSAL_ALREADY_DECIDED",
        text: `<@${r.by}> already ${verb} this proposal at ${slackDate(r.at)}. Nothing more to do here.`,
      };
    }
  }
}

export function createProposalService(opts: ProposalServiceOptions): ProposalService {
  const store = new ProposalStore(opts.redis, opts.prefix, opts.sealer);
  const audit = createAuditLog(opts.redis, opts.prefix);
  const ttlS = opts.ttlS ?? DEFAULT_PROPOSAL_TTL_S;
  const now = opts.now ?? Date.now;

  const service: ProposalService = {
    store,
    audit,
    async propose(draft, origin) {
      const notifier = opts.notifier;
      if (notifier === null) {
        throw new Error("FIX_NO_NOTIFIER: this process cannot post proposals (it has no Slack notifier)");
      }
      const proposal = await store.create(draft, { ...origin, now: now(), ttlS });
      await audit.write({
        actor: origin.requestedBy,
        action: "proposed",
        proposalId: proposal.id,
        what: draft.title,
        diff: draft.changes.map((c) => c.diff).join("\n") || null,
        detail: draft.kind === "vm-restart" ? `VMs: ${draft.vmRestarts.map((v) => v.name).join(", ")}` : null,
        result: "info",
      });
      const msg = renderProposal(proposal, now());
      const ts = await notifier.post(
        origin.channel,
        { ...msg, ...(origin.threadTs !== null && { thread_ts: origin.threadTs }) },
        { dedupeKey: `proposal:${proposal.id}` },
      );
      await store.setMessageTs(proposal.id, ts);
      opts.log.info("fix proposal posted", { proposalId: proposal.id, kind: draft.kind });
      return { ...proposal, messageTs: ts };
    },
    get: (id) => store.get(id, now()),
    async claim(id, user, decision, claimOpts) {
      const r = await store.claim(id, user, decision, { ...claimOpts, now: now() });
      const known = await store.get(id, now());
      if (!r.ok) {
        const { code, text } = refusalText(r, decision);
        await audit.writeRefusal({
          actor: user,
          action: "decision-refused",
          proposalId: known ? id : null,
          what: `${decision} refused: ${r.reason}`,
          result: "refused",
        });
        return { ok: false, reason: text, code };
      }
      const proposal = known!;
      await audit.write({
        actor: user,
        action: r.status,
        proposalId: id,
        what: proposal.title,
        diff: proposal.changes.map((c) => c.diff).join("\n") || null,
        result: "ok",
      });
      return { ok: true, proposal };
    },
    async refresh(id, refreshOpts) {
      const p = await store.get(id, now());
      if (!p?.messageTs || !opts.notifier) return p;
      await opts.notifier.update(p.channel, p.messageTs, renderProposal(p, now()), refreshOpts);
      return p;
    },
  };
  return service;
}
