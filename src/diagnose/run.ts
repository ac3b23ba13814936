/**
 * Runs a diagnosis for the worker: `/diagnose <vm> [to <host>]` and `/diagnose <host>` jobs, and the
 * checks a /migrate thread runs by itself when its migration is not converging or fails. Shows the
 * checklist through the {@link DiagnosisPresenter} and hands each fix draft to the proposal service
 * (src/fixes), which stores it and posts it with Approve / Reject. Nothing here changes a host.
 */
import { createHash } from "node:crypto";
import type { Proposal, ProposalDraft } from "../fixes/drafts";
import type { Logger } from "../log";
import { downtimeFiguresOf, migrationTypeOfRequest } from "../migration/downtime";
import type { MigrationRecord } from "../migration/store";
import type { MigrationType } from "../nova-conf/effective";
import type { NovaServer } from "../openstack/port";
import { predictMigration } from "../predict/measure";
import type { ActionJob, DiagnoseJob } from "../queue/jobs";
import { type DiagnoseTarget, type Evidence, type EvidenceDeps, gatherEvidence } from "./evidence";
import type {
  ChecklistView,
  DiagnosisHeader,
  DiagnosisPost,
  DiagnosisPresenter,
  UnknownTarget,
} from "./presenter";
import { type DiagnosisFocus, draftsOf, evaluate, type Finding, type RuleOptions } from "./rules";

/** What diagnosis needs from src/fixes: store a draft and post it for approval (ProposalService fits). */
export interface ProposalSink {
  propose(
    draft: ProposalDraft,
    origin: { requestedBy: string; channel: string; threadTs: string | null },
  ): Promise<Proposal>;
}

export interface DiagnoseDeps extends EvidenceDeps {
  presenter: DiagnosisPresenter;
  log: Logger;
  /** When absent, drafts are listed in the checklist but not proposed. */
  proposals?: ProposalSink;
}

export type DiagnosisOutcome =
  | { kind: "unknown"; why: UnknownTarget }
  | { kind: "done"; findings: Finding[]; proposals: Proposal[]; threadTs: string };

/** Failure messages that mean the destination cannot run the guest's CPU (Nova, libvirt, the sandbox). */
const CPU_FAILURE_RE =
  /incompatible with host CPU|CPU doesn't have compatibility|InvalidCPUInfo|guest CPU doesn't match specification|does not provide required features/i;

function jobKey(job: DiagnoseJob): string {
  return createHash("sha256")
    .update(
      `${job.user}:${job.channel}:${job.requestedAt}:${job.target}:${job.destination ?? ""}:${job.threadTs ?? ""}`,
    )
    .digest("hex")
    .slice(0, 20);
}

async function isKnownHost(name: string, deps: DiagnoseDeps): Promise<boolean> {
  if (deps.inventory.some((e) => e.name === name) || deps.hosts.has?.(name)) return true;
  const services = await deps.nova.computeServices();
  return services.some((s) => s.host === name);
}

/** Resolves `/diagnose` text into a VM or a host, or says why it cannot be diagnosed. */
async function resolveTarget(
  job: DiagnoseJob,
  deps: DiagnoseDeps,
): Promise<{ ok: true; target: DiagnoseTarget } | { ok: false; why: UnknownTarget }> {
  let server: NovaServer | null;
  try {
    server = await deps.nova.findServer(job.target);
  } catch (err) {
    // Several servers with one name: the person must pick by id.
    if ((err as { code?: string }).code === "NOVA_AMBIGUOUS_NAME") {
      return {
        ok: false,
        why: { reason: "ambiguous-name", target: job.target, detail: (err as Error).message },
      };
    }
    throw err;
  }
  if (job.destination !== null && !(await isKnownHost(job.destination, deps))) {
    return { ok: false, why: { reason: "no-such-destination", destination: job.destination } };
  }
  if (server) return { ok: true, target: { kind: "vm", server, destination: job.destination } };
  if (await isKnownHost(job.target, deps)) {
    if (job.destination !== null)
      return { ok: false, why: { reason: "host-with-destination", host: job.target } };
    return { ok: true, target: { kind: "host", host: job.target } };
  }
  return { ok: false, why: { reason: "no-such-target", target: job.target } };
}

async function proposeAll(
  drafts: ProposalDraft[],
  deps: DiagnoseDeps,
  origin: { requestedBy: string; channel: string; threadTs: string },
): Promise<Proposal[]> {
  if (!deps.proposals) {
    if (drafts.length > 0)
      deps.log.warn("no proposal service: fix drafts not proposed", { drafts: drafts.length });
    return [];
  }
  const out: Proposal[] = [];
  // In order: the preferred fix is posted first and reads first in the thread.
  for (const d of drafts) out.push(await deps.proposals.propose(d, origin));
  return out;
}

/** The `/diagnose` job: root message (or a reply in `job.threadTs`), the checklist in its thread, then the fixes. */
export async function runDiagnosis(job: DiagnoseJob, deps: DiagnoseDeps): Promise<DiagnosisOutcome> {
  const log = deps.log.child({ diagnose: job.target, destination: job.destination });
  const resolved = await resolveTarget(job, deps);
  if (!resolved.ok) {
    await deps.presenter.unknownTarget(job, resolved.why);
    log.info("diagnosis target unknown", { reason: resolved.why.reason });
    return { kind: "unknown", why: resolved.why };
  }
  const { target } = resolved;
  const post: DiagnosisPost = {
    id: `diagnose:${jobKey(job)}`,
    channel: job.channel,
    threadTs: job.threadTs ?? null,
    header: { target: job.target, destination: job.destination },
  };
  const startedTs = await deps.presenter.started(post);
  // Asked from a thread: everything goes there, and there is no root message of its own to edit.
  const threadTs = post.threadTs ?? startedTs;
  const evidence = await gatherEvidence(target, deps);
  const findings = evaluate(evidence, { retry: retryFor(target) });
  const view = checklistView(post.header, findings);
  await deps.presenter.checklist(post, threadTs, view);
  if (target.kind === "vm") await postPrediction(target, evidence, deps, post, threadTs, log);
  if (post.threadTs === null) await deps.presenter.finished(post, startedTs, view);
  const proposals = await proposeAll(draftsOf(findings), deps, {
    requestedBy: job.user,
    channel: job.channel,
    threadTs,
  });
  log.info("diagnosis posted", {
    findings: findings.map((f) => `${f.id}:${f.status}`).join(" "),
    proposals: proposals.length,
  });
  return { kind: "done", findings, proposals, threadTs };
}

/**
 * Measures the VM's dirty rate on its host and posts the convergence prediction (src/predict), with
 * Nova's figures from the hosts' effective settings just gathered. Read-only; a failure to post is
 * logged, never the end of the diagnosis.
 */
async function postPrediction(
  target: Extract<DiagnoseTarget, { kind: "vm" }>,
  evidence: Evidence,
  deps: DiagnoseDeps,
  post: DiagnosisPost,
  threadTs: string,
  log: Logger,
): Promise<void> {
  const show = deps.presenter.prediction?.bind(deps.presenter);
  const source = evidence.source;
  if (show === undefined || source === null) return;
  try {
    const prediction = await predictMigration(
      {
        hosts: deps.hosts,
        figures: async (host, memoryBytes, type) => {
          const settings = evidence.hosts[host]?.settings;
          return settings ? downtimeFiguresOf(settings, memoryBytes, undefined, type) : undefined;
        },
        hypervisors: () => deps.nova.hypervisors(),
      },
      {
        vm: target.server.name,
        domain: target.server.instanceName,
        source,
        destination: target.destination,
        memoryMb: target.server.flavor.ramMb ?? null,
        ...migrationTypeOf(deps.nova.microversion, target.server.bootedFromImage),
      },
    );
    await show(post, threadTs, prediction);
    log.info("prediction posted", { outcome: prediction.outcome });
  } catch (err) {
    log.warn("prediction not posted", { err });
  }
}

/** How a /migrate of this VM would move it (live or block), when Nova said how it booted. */
function migrationTypeOf(
  microversion: string,
  bootedFromImage: boolean | undefined,
): { migrationType?: MigrationType } {
  const type = migrationTypeOfRequest(microversion, bootedFromImage);
  return type === undefined ? {} : { migrationType: type };
}

function checklistView(header: DiagnosisHeader, findings: Finding[]): ChecklistView {
  return { header, findings, fixes: draftsOf(findings).map((d) => d.title) };
}

function retryFor(target: DiagnoseTarget): RuleOptions["retry"] {
  return target.kind === "vm" ? { vm: target.server.name, destination: target.destination } : undefined;
}

/**
 * The tracker's `onTrouble` hook: a migration judged not converging gets the convergence checks and
 * an auto-converge fix that aborts it first; one that failed on the CPU gets the CPU checks and the
 * CPU-model fix; any other failure gets the whole checklist. Posted in the migration's thread.
 */
export async function diagnoseMigrationTrouble(
  record: MigrationRecord,
  kind: "not-converging" | "failed",
  deps: DiagnoseDeps,
): Promise<DiagnosisOutcome | null> {
  const v = record.view;
  const threadTs = record.posts.root;
  const log = deps.log.child({ jobId: v.jobId, vm: v.vm, trouble: kind });
  if (!threadTs || !v.serverId) {
    log.warn("no thread or server to diagnose in");
    return null;
  }
  const server = await deps.nova.getServer(v.serverId);
  const destination = v.destination ?? v.requestedDestination;
  const cpuFailure = kind === "failed" && CPU_FAILURE_RE.test(v.failure?.message ?? "");
  const focus: DiagnosisFocus = kind === "not-converging" ? "convergence" : cpuFailure ? "cpu" : "all";
  const opts: RuleOptions = {
    focus,
    // A fix for a stuck migration restarts nova-compute, which must not happen under it.
    ...(kind === "not-converging" && { abortFirst: { jobId: v.jobId, vm: v.vm } }),
    retry: { vm: v.vm, destination: v.requestedDestination },
  };
  // The VM may have been left on either host by a failure; diagnose from where Nova has it now.
  const evidence = await gatherEvidence(
    { kind: "vm", server, destination: destination && destination !== server.host ? destination : null },
    deps,
  );
  const findings = evaluate(evidence, opts);
  const post: DiagnosisPost = {
    id: `diagnose:trouble:${v.jobId}:${kind}`,
    channel: v.channel,
    threadTs,
    header: { target: v.vm, destination, trouble: kind },
  };
  await deps.presenter.checklist(post, threadTs, checklistView(post.header, findings));
  const proposals = await proposeAll(draftsOf(findings), deps, {
    requestedBy: v.requestedBy,
    channel: v.channel,
    threadTs,
  });
  log.info("trouble diagnosed", { focus, findings: findings.length, proposals: proposals.length });
  return { kind: "done", findings, proposals, threadTs };
}

/**
 * The tracker's `onFixFirst` hook: the requester chose Fix first after a "will not converge"
 * prediction, so the convergence checks run in the migration's thread and their fixes (auto-converge
 * on the source) are proposed with a retry of the migration once applied. Nothing was sent to Nova,
 * so nothing is aborted first.
 */
export async function diagnoseBeforeStart(
  record: MigrationRecord,
  deps: DiagnoseDeps,
): Promise<DiagnosisOutcome | null> {
  const v = record.view;
  const threadTs = record.posts.root;
  if (!threadTs || !v.serverId) return null;
  const server = await deps.nova.getServer(v.serverId);
  const evidence = await gatherEvidence({ kind: "vm", server, destination: v.requestedDestination }, deps);
  const findings = evaluate(evidence, {
    focus: "convergence",
    retry: { vm: v.vm, destination: v.requestedDestination },
  });
  const post: DiagnosisPost = {
    id: `diagnose:fix-first:${v.jobId}`,
    channel: v.channel,
    threadTs,
    header: { target: v.vm, destination: v.requestedDestination, trouble: "predicted-not-converging" },
  };
  await deps.presenter.checklist(post, threadTs, checklistView(post.header, findings));
  const proposals = await proposeAll(draftsOf(findings), deps, {
    requestedBy: v.requestedBy,
    channel: v.channel,
    threadTs,
  });
  return { kind: "done", findings, proposals, threadTs };
}

export interface DiagnosisActions {
  /** For startWorkers' `extraActions`: true when the job was a diagnosis and was handled. */
  handle(job: ActionJob): Promise<boolean>;
  /** For the migration tracker's `onTrouble` hook; never throws (a diagnosis must not fail a migration). */
  onTrouble(record: MigrationRecord, kind: "not-converging" | "failed"): Promise<void>;
  /** For the tracker's `onFixFirst` hook; never throws. */
  onFixFirst(record: MigrationRecord): Promise<void>;
}

/** Wires diagnosis into a worker. */
export function diagnosisActions(deps: DiagnoseDeps): DiagnosisActions {
  return {
    async handle(job) {
      if (job.type !== "diagnose") return false;
      await runDiagnosis(job, deps);
      return true;
    },
    async onTrouble(record, kind) {
      try {
        await diagnoseMigrationTrouble(record, kind, deps);
      } catch (err) {
        deps.log.error("diagnosis of a troubled migration failed", { jobId: record.view.jobId, kind, err });
      }
    },
    async onFixFirst(record) {
      try {
        await diagnoseBeforeStart(record, deps);
      } catch (err) {
        deps.log.error("fix-first diagnosis failed", { jobId: record.view.jobId, err });
      }
    },
  };
}
