/**
 * Proposals behind approval: stored in Redis (store.ts), shown in the thread through the
 * ProposalPresenter (with Approve and Reject buttons that carry only the proposal id), decided
 * atomically, and audited.
 */
import type { Redis } from "ioredis";
import { type AuditLog, createAuditLog } from "../audit/stream";
import { DEFAULT_PROPOSAL_TTL_S } from "../config";
import type { Logger } from "../log";
import type { PlanSealer } from "../signing/signatures";
import { FixError } from "./errors";
import type { ProposalPresenter } from "./presenter";
import type { Proposal, ProposalDraft } from "./proposal";
import { type ClaimRefusal, ProposalStore } from "./store";

export interface ProposalServiceOptions {
  redis: Redis;
  prefix: string;
  /** Posts and edits the proposal message; null on a process that only decides (the bot). */
  presenter: ProposalPresenter | null;
  /** Seals plans (workers, which hold MIGBOT_WORKER_KEY); null on the bot, which only decides. */
  sealer: PlanSealer | null;
  /** How long a proposal can be approved. @defaultValue DEFAULT_PROPOSAL_TTL_S (3600) */
  ttlS?: number;
  log: Logger;
  /** @defaultValue Date.now */
  now?: () => number;
}

/** A support code per refusal, logged beside the sentence the clicker reads. */
export type RefusalCode =
  | "PROPOSAL_UNKNOWN"
  | "PROPOSAL_EXPIRED"
  | "PROPOSAL_NOT_APPROVER"
  | "PROPOSAL_OWN"
  | "PROPOSAL_SUPERSEDED"
  | "PROPOSAL_ALREADY_DECIDED";

export type ClaimOutcome =
  | { ok: true; proposal: Proposal }
  | { ok: false; refusal: ClaimRefusal; decision: "approve" | "reject"; code: RefusalCode };

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

/** The support code of a refusal. */
export function refusalCode(r: ClaimRefusal): RefusalCode {
  switch (r.reason) {
    case "unknown":
      return "PROPOSAL_UNKNOWN";
    case "expired":
      return "PROPOSAL_EXPIRED";
    case "not-approver":
      return "PROPOSAL_NOT_APPROVER";
    case "own-proposal":
      return "PROPOSAL_OWN";
    case "already-decided":
      return r.status === "superseded" ? "PROPOSAL_SUPERSEDED" : "PROPOSAL_ALREADY_DECIDED";
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
      const presenter = opts.presenter;
      if (presenter === null) {
        throw new FixError(
          "FIX_NO_PRESENTER",
          "this process cannot post proposals (it has no Slack notifier)",
        );
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
      const ts = await presenter.posted(proposal, now());
      await store.setMessageTs(proposal.id, ts);
      opts.log.info("fix proposal posted", { proposalId: proposal.id, kind: draft.kind });
      return { ...proposal, messageTs: ts };
    },
    get: (id) => store.get(id, now()),
    async claim(id, user, decision, claimOpts) {
      const r = await store.claim(id, user, decision, { ...claimOpts, now: now() });
      const known = await store.get(id, now());
      if (!r.ok) {
        const refusal: ClaimRefusal = r;
        await audit.writeRefusal({
          actor: user,
          action: "decision-refused",
          proposalId: known ? id : null,
          what: `${decision} refused: ${r.reason}`,
          result: "refused",
        });
        return { ok: false, refusal, decision, code: refusalCode(refusal) };
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
      if (!p?.messageTs || !opts.presenter) return p;
      await opts.presenter.changed(p, now(), refreshOpts);
      return p;
    },
  };
  return service;
}
