/**
 * The worker side of fixes: the `apply-proposal` action job (apply, report progress in the
 * proposal's message, then offer the VM restarts or "Retry migration") and `/migrate audit`.
 * Wired through startWorkers' `extraActions` hook.
 */
import type { Redis } from "ioredis";
import type { AuditPresenter } from "../audit/presenter";
import { readAudit } from "../audit/stream";
import type { ServiceName } from "../hosts/catalogue";
import type { HostsPort } from "../hosts/port";
import type { Logger } from "../log";
import type { MigrationStore } from "../migration/store";
import type { NovaPort } from "../openstack/port";
import type { ActionJob, ProposalJob } from "../queue/jobs";
import type { PlanSealer } from "../signing/signatures";
import { type ApplyTiming, applyProposal } from "./apply";
import { followUpVmRestart } from "./drafts/vm-restart";
import { INTEGRITY_PROBLEM_TEXT, type IntegrityProblem, type ProposalPresenter } from "./presenter";
import type { ProgressEvent } from "./progress";
import type { Proposal } from "./proposal";
import { createProposalService, type ProposalService } from "./service";
import { APPLY_LEASE_MS, APPLY_LEASE_RENEW_INTERVAL_MS, newProposalId } from "./store";
import { type RebootPort, runVmRestarts, type VmRestartTiming } from "./vm-restarts";

export interface FixWorkerDeps {
  redis: Redis;
  prefix: string;
  /** Seals the plans this worker stores and checks them before anything is applied. */
  sealer: PlanSealer;
  nova: NovaPort;
  hosts: HostsPort;
  /** Shows proposals, their progress and private answers (Slack in production). */
  presenter: ProposalPresenter;
  /** Answers `/migrate audit`. */
  audits: AuditPresenter;
  store: MigrationStore;
  log: Logger;
  /** @defaultValue DEFAULT_PROPOSAL_TTL_S */
  proposalTtlS?: number;
  applyTiming?: Partial<ApplyTiming>;
  vmRestartTiming?: Partial<VmRestartTiming>;
  serviceFor?: (host: string) => ServiceName;
  /** @defaultValue APPLY_LEASE_MS */
  applyLeaseMs?: number;
  /** @defaultValue APPLY_LEASE_RENEW_INTERVAL_MS */
  applyLeaseRenewIntervalMs?: number;
}

export interface FixActions {
  /** For `extraActions`: true when the job was handled here. */
  handle(job: ActionJob): Promise<boolean>;
  proposals: ProposalService;
}

function hasReboot(nova: NovaPort): nova is NovaPort & RebootPort {
  return typeof (nova as Partial<RebootPort>).rebootServer === "function";
}

export function createFixActions(deps: FixWorkerDeps): FixActions {
  const proposals = createProposalService({
    redis: deps.redis,
    prefix: deps.prefix,
    presenter: deps.presenter,
    sealer: deps.sealer,
    log: deps.log,
    ...(deps.proposalTtlS !== undefined && { ttlS: deps.proposalTtlS }),
  });
  const store = proposals.store;

  /**
   * The approved plan, only if a worker sealed it, the signed approval names this very plan, and
   * it was approved in its channel before it expired. Anything else is refused, audited, and
   * applied nowhere.
   */
  async function checkedPlan(job: ProposalJob, log: Logger): Promise<Proposal | null> {
    const check = await store.getSealed(job.proposalId);
    let problem: IntegrityProblem | null = null;
    if (!check.ok) {
      if (check.reason === "unknown") return null;
      problem = check.reason;
    } else if (check.proposal.planDigest !== job.planDigest) {
      problem = "digest-mismatch";
    } else if (check.proposal.channel !== job.channel) {
      problem = "wrong-channel";
    } else if (job.requestedAt > check.proposal.expiresAt) {
      problem = "approved-after-expiry";
    }
    if (problem === null) return check.ok ? check.proposal : null;
    log.error("proposal refused by its integrity check", { problem });
    await proposals.audit.write({
      actor: job.user,
      action: "integrity-refused",
      proposalId: job.proposalId,
      what: `apply refused: ${INTEGRITY_PROBLEM_TEXT[problem]}; nothing was written to any host`,
      result: "refused",
    });
    await deps.presenter.answer(job, { kind: "integrity-refused", problem });
    return null;
  }

  async function apply(job: ProposalJob): Promise<void> {
    const log = deps.log.child({ proposalId: job.proposalId });
    const known = await store.get(job.proposalId);
    if (known === null) return deps.presenter.answer(job, { kind: "unknown-proposal" });
    const p = await checkedPlan(job, log);
    if (p === null) return;
    const leaseMs = deps.applyLeaseMs ?? APPLY_LEASE_MS;
    const holder = newProposalId();
    const started = await store.startApplying(p.id, { holder, leaseMs });
    if (started !== "ok" && started !== "taken-over") {
      log.info("apply-proposal skipped", { status: started });
      return deps.presenter.answer(job, { kind: "not-applicable", status: started });
    }
    // Renewed while the hosts are worked on (a nova-compute restart alone may take minutes), so a
    // re-run job takes over only from a worker that stopped renewing, i.e. died.
    const renew = setInterval(() => {
      store
        .renewApplyLease(p.id, { holder, leaseMs })
        .then((held) => {
          if (!held) log.warn("apply lease lost to another worker", {});
        })
        .catch((err) => log.warn("apply lease renewal failed", { err }));
    }, deps.applyLeaseRenewIntervalMs ?? APPLY_LEASE_RENEW_INTERVAL_MS);
    try {
      await applyLeased({ ...p, decidedBy: job.user }, started === "taken-over", log);
    } finally {
      clearInterval(renew);
    }
  }

  async function applyLeased(p: Proposal, takenOver: boolean, log: Logger): Promise<void> {
    const events: ProgressEvent[] = takenOver ? [...(p.progress ?? [])] : [];
    const progress = async (event: ProgressEvent) => {
      events.push(event);
      await store.setProgress(p.id, events);
      // Not awaited: the notifier coalesces edits of one message, and the host work must not wait
      // on Slack's edit rate. The final state below is sent urgently and awaited.
      void proposals.refresh(p.id).catch((err) => log.warn("progress edit failed", { err }));
    };
    if (takenOver) {
      log.warn("took over an apply whose worker stopped", {});
      await progress({ kind: "taken-over" });
    } else {
      await proposals.refresh(p.id);
    }

    let outcome: { ok: boolean; results: Proposal["results"] };
    try {
      if (p.kind === "vm-restart") {
        if (!hasReboot(deps.nova)) {
          outcome = {
            ok: false,
            results: [
              {
                host: "nova",
                ok: false,
                detail: "FIX_NOVA_CANNOT_REBOOT: this worker's Nova client cannot reboot servers",
              },
            ],
          };
        } else {
          outcome = await runVmRestarts(p, {
            nova: deps.nova,
            audit: proposals.audit,
            log,
            progress,
            ...(deps.vmRestartTiming && { timing: deps.vmRestartTiming }),
          });
        }
      } else {
        outcome = await applyProposal(p, {
          hosts: deps.hosts,
          nova: deps.nova,
          migrations: deps.store,
          audit: proposals.audit,
          log,
          progress,
          ...(deps.applyTiming && { timing: deps.applyTiming }),
          ...(deps.serviceFor && { serviceFor: deps.serviceFor }),
        });
      }
    } catch (err) {
      log.error("applying a proposal failed", { err });
      outcome = {
        ok: false,
        results: [{ host: "migbot", ok: false, detail: err instanceof Error ? err.message : String(err) }],
      };
    }
    await store.setResults(p.id, outcome.results);
    await store.setStatus(p.id, outcome.ok ? "applied" : "failed");
    await proposals.refresh(p.id, { urgent: true });
    log.info("proposal applied", { ok: outcome.ok, kind: p.kind });
    if (outcome.ok) {
      // Alternatives of the same kind (the kvm64 fallback next to a baseline model) lose their buttons.
      for (const id of await store.supersedeSiblings(p)) {
        await proposals.refresh(id).catch((err) => log.warn("superseded edit failed", { err }));
      }
    }

    if (outcome.ok && p.next === "vm-restart") {
      const draft = await followUpVmRestart(p, deps.nova);
      if (draft) {
        await proposals.propose(draft, {
          requestedBy: p.requestedBy,
          channel: p.channel,
          threadTs: p.threadTs,
        });
      } else {
        await deps.presenter.note(p, { kind: "no-vm-restart" });
      }
    }
  }

  return {
    proposals,
    async handle(job) {
      if (job.type === "apply-proposal") {
        await apply(job);
        return true;
      }
      if (job.type === "audit") {
        await deps.audits.entries(job, await readAudit(deps.redis, deps.prefix, job.count));
        return true;
      }
      return false;
    },
  };
}
