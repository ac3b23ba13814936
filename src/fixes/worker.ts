/**
 * The worker side of fixes: the `apply-proposal` action job (apply, report progress in the
 * proposal's message, then offer the VM restarts or "Retry migration") and `/migrate audit`.
 * Wired through startWorkers' `extraActions` hook.
 */
import type { Redis } from "ioredis";
import { formatAuditAnswer, readAudit } from "../audit/stream";
import type { ServiceName } from "../hosts/catalogue";
import type { Logger } from "../log";
import type { HostsPort, NotifierPort, NovaPort, ReplyPort } from "../migration/ports";
import type { MigrationStore } from "../migration/store";
import type { ActionJob, ProposalJob } from "../queue/jobs";
import type { PlanSealer } from "../signing/signatures";
import { type ApplyTiming, applyProposal } from "./apply";
import type { Proposal, ProposalDraft, VmRestart } from "./proposal";
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
  notifier: NotifierPort;
  store: MigrationStore;
  reply: ReplyPort;
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

/** The draft of the VM-restart step that follows a CPU-model change. */
export async function vmRestartDraft(p: Proposal, nova: NovaPort): Promise<ProposalDraft | null> {
  let vms: VmRestart[] = p.vmRestarts;
  if (vms.length === 0 && p.retry) {
    const server = await nova.findServer(p.retry.vm);
    if (server?.host) vms = [{ serverId: server.id, name: server.name, host: server.host }];
  }
  if (vms.length === 0) return null;
  const model = p.cpuModel ?? "the new";
  return {
    kind: "vm-restart",
    title: `Hard-reboot ${vms.map((v) => v.name).join(", ")} so ${vms.length === 1 ? "it picks" : "they pick"} up the ${model} CPU model`,
    reasoning: `nova.conf now selects ${model} on ${[...new Set(p.changes.map((c) => c.host))].join(", ")}, but a running guest keeps the CPU it was started with until libvirt starts it again. A hard reboot through Nova restarts the guest with the new CPU model, after which it can move to an older-CPU host.`,
    warnings: ["Each VM is down while it reboots (usually under a minute); applications inside it restart."],
    changes: [],
    recipes: [],
    serviceRestarts: [],
    vmRestarts: vms,
    blockers: [],
    ...(p.retry && { retry: p.retry }),
    ...(p.cpuModel !== undefined && { cpuModel: p.cpuModel }),
  };
}

export function createFixActions(deps: FixWorkerDeps): FixActions {
  const proposals = createProposalService({
    redis: deps.redis,
    prefix: deps.prefix,
    notifier: deps.notifier,
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
    let problem: string | null = null;
    if (!check.ok) {
      if (check.reason === "unknown") return null;
      problem = {
        unsealed: "it carries no worker seal",
        "seal-mismatch": "its seal does not match its content (altered after a worker stored it)",
        unreadable: "its stored plan cannot be read",
      }[check.reason];
    } else if (check.proposal.planDigest !== job.planDigest) {
      problem = "the approved plan is not the one stored now (changed after approval)";
    } else if (check.proposal.channel !== job.channel) {
      problem = "it was approved outside the channel it was posted in";
    } else if (job.requestedAt > check.proposal.expiresAt) {
      problem = "it was approved after it expired";
    }
    if (problem === null && check.ok) return check.proposal;
    log.error("proposal refused by its integrity check", { problem });
    await proposals.audit.write({
      actor: job.user,
      action: "integrity-refused",
      proposalId: job.proposalId,
      what: `apply refused: ${problem}; nothing was written to any host`,
      result: "refused",
    });
    await answer(
      job,
      `FIX_INTEGRITY: that proposal failed migbot's integrity check (${problem}), so nothing was applied on any host. This is recorded in the audit log; tell whoever runs migbot's Redis.`,
    );
    return null;
  }

  const answer = (job: ActionJob, text: string) =>
    deps.reply(job.responseUrl, job.user, job.channel, { text });

  async function apply(job: ProposalJob): Promise<void> {
    const log = deps.log.child({ proposalId: job.proposalId });
    const known = await store.get(job.proposalId);
    if (known === null) return answer(job, "That proposal is unknown to migbot; nothing was applied.");
    const p = await checkedPlan(job, log);
    if (p === null) return;
    const leaseMs = deps.applyLeaseMs ?? APPLY_LEASE_MS;
    const holder = newProposalId();
    const started = await store.startApplying(p.id, { holder, leaseMs });
    if (started !== "ok" && started !== "taken-over") {
      log.info("apply-proposal skipped", { status: started });
      return answer(job, `That proposal is ${started}, so it was not applied (again).`);
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
    const lines: string[] = takenOver ? [...(p.progress ?? [])] : [];
    const progress = async (line: string) => {
      lines.push(line);
      await store.setProgress(p.id, lines);
      // Not awaited: the notifier coalesces edits of one message, and the host work must not wait
      // on Slack's edit rate. The final state below is sent urgently and awaited.
      void proposals.refresh(p.id).catch((err) => log.warn("progress edit failed", { err }));
    };
    if (takenOver) {
      log.warn("took over an apply whose worker stopped", {});
      await progress(
        ":recycle: The worker applying this stopped mid-way; another one continues. Hosts whose files already have the planned content count as done, the rest are applied; a file changed by anyone else stops it.",
      );
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
      const draft = await vmRestartDraft(p, deps.nova);
      if (draft) {
        await proposals.propose(draft, {
          requestedBy: p.requestedBy,
          channel: p.channel,
          threadTs: p.threadTs,
        });
      } else {
        await deps.notifier.post(
          p.channel,
          {
            text: "The CPU model is in place; no running VM was named for a restart, so none is proposed. Hard-reboot the VMs that must move before retrying.",
            ...(p.threadTs !== null && { thread_ts: p.threadTs }),
          },
          { dedupeKey: `proposal:${p.id}:no-vm-restart` },
        );
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
        const entries = await readAudit(deps.redis, deps.prefix, job.count);
        await deps.reply(job.responseUrl, job.user, job.channel, { text: formatAuditAnswer(entries) });
        return true;
      }
      return false;
    },
  };
}
