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
import { type ApplyDeps, type ApplyTiming, applyProposal } from "./apply";
import { followUpVmRestart } from "./drafts/vm-restart";
import { INTEGRITY_PROBLEM_TEXT, type IntegrityProblem, type ProposalPresenter } from "./presenter";
import type { ProgressEvent } from "./progress";
import type { Proposal } from "./proposal";
import { createProposalService, type ProposalService } from "./service";
import { APPLY_LEASE_MS, APPLY_LEASE_RENEW_INTERVAL_MS, newProposalId } from "./store";

/**
 * A re-run apply job waits this long at most for a living holder to finish (an apply restarts
 * nova-compute host after host, each within NOVA_COMPUTE_UP_TIMEOUT_MS): then it gives up.
 */
export const APPLY_TAKEOVER_WAIT_MS = 30 * 60_000;
/** How often a waiting job looks at the lease: a quarter of it, within these bounds. */
export const APPLY_LEASE_MIN_POLL_MS = 100;
export const APPLY_LEASE_MAX_POLL_MS = 5_000;
/** Bounds the wait in count too. */
const APPLY_TAKEOVER_MAX_POLLS = 100_000;

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

/** What a stopped apply reported before it stopped: the hosts it finished, the backups it made. */
function resumeOf(events: readonly ProgressEvent[]): NonNullable<ApplyDeps["resume"]> {
  const backups = new Map<string, string>();
  for (const e of events) if (e.kind === "file-written") backups.set(`${e.host}\u0000${e.path}`, e.backup);
  return {
    finishedHosts: new Set(events.flatMap((e) => (e.kind === "host-done" && e.ok ? [e.host] : []))),
    backups,
  };
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
    let started = await store.startApplying(p.id, { holder, leaseMs });
    if (started === "applying") {
      // This job is running again while the proposal is applying: BullMQ hands a job back when its
      // worker dies (or loses Redis for longer than the job lock). The lease says whether that
      // worker still works on it: wait until it lapses (then take over) or the holder finishes.
      log.info("proposal is applying under another worker's lease; waiting for it", {});
      started = await waitForLease(p.id, holder, leaseMs);
      if (started !== "ok" && started !== "taken-over") {
        // The holder finished it (its message says how), or is still at it after a long wait.
        log.info("apply-proposal left to the worker holding it", { status: started });
        return;
      }
    }
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

  /** Polls the lease of an applying proposal until it lapses (taken over) or the proposal leaves `applying`. */
  async function waitForLease(id: string, holder: string, leaseMs: number): Promise<string> {
    const pollMs = Math.max(
      APPLY_LEASE_MIN_POLL_MS,
      Math.min(APPLY_LEASE_MAX_POLL_MS, Math.floor(leaseMs / 4)),
    );
    const deadline = Date.now() + APPLY_TAKEOVER_WAIT_MS;
    let started = "applying";
    for (let n = 0; started === "applying" && Date.now() < deadline && n < APPLY_TAKEOVER_MAX_POLLS; n++) {
      await new Promise((r) => setTimeout(r, pollMs));
      started = await store.startApplying(id, { holder, leaseMs });
    }
    return started;
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
          ...(takenOver && { resume: resumeOf(events) }),
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
