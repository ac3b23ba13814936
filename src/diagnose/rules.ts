/**
 * Rules that turn evidence into findings: pure functions, no I/O. Each finding says pass, warn or
 * fail with the evidence a person can check, and a fixable one carries a {@link ProposalDraft}
 * with the exact per-host, per-file change (planned by src/fixes/nova-conf-plan, release-aware).
 */
import { DEFAULT_CPU_MODEL } from "../fixes/nova-conf-plan";
import type { HostFileChange, HostRecipe, ProposalDraft, VmRestart } from "../fixes/proposal";
import { draftHostFix } from "../fixes/recipe";
import { VM_RESTART_BATCH_SIZE } from "../fixes/vm-restarts";
import type { NovaServer } from "../migration/ports";
import { type NovaLogEvent, parseNovaComputeLog } from "../migration/samples/nova-log";
import { parseNovaConf } from "../nova-conf/document";
import {
  findEffectiveAssignment,
  type LiveMigrationSettings,
  type SettingSource,
} from "../nova-conf/effective";
import { atLeast, releaseLabel } from "../nova-conf/releases";
import type { CpuComparison, Evidence, GatherProblem, HostEvidence } from "./evidence";
import { missingFeatures } from "./libvirt-cpu";

export type FindingStatus = "pass" | "warn" | "fail";

export interface Finding {
  /** Stable id: `vm`, `source-service`, `destination-capacity`, `cpu`, `settings`, `log-failures`, … */
  id: string;
  title: string;
  status: FindingStatus;
  evidence: string[];
  /** The fix for this finding, to be stored and shown for approval. */
  draft?: ProposalDraft;
  /** Other fixes for the same finding (e.g. the kvm64 model next to the hosts' baseline). */
  alternatives?: ProposalDraft[];
}

/** Which checks to run: everything, or what a stuck / failed migration calls for. */
export type DiagnosisFocus = "all" | "convergence" | "cpu";

export interface RuleOptions {
  focus?: DiagnosisFocus;
  /** A stuck migration that the fix must abort first (not-converging migrations). */
  abortFirst?: { jobId: string; vm: string };
  /** Offer "Retry migration" once a fix is applied. */
  retry?: { vm: string; destination: string | null };
}

/** Log lines quoted per finding at most (newest first). */
export const MAX_QUOTED_LOG_EVENTS = 6;
/** nova's `reserved_host_memory_mb` default (all releases migbot knows). */
export const DEFAULT_RESERVED_HOST_MEMORY_MB = 512;
/** nova's `cpu_allocation_ratio` default (16.0; `initial_cpu_allocation_ratio` from Stein on). */
export const DEFAULT_CPU_ALLOCATION_RATIO = 16;

const FAILURE_KINDS = new Set<NovaLogEvent["kind"]>([
  "failure",
  "aborted",
  "cancelled",
  "stuck",
  "completion-timeout",
  "pre-check-error",
  "pre-migration-failed",
  "post-migration-failed",
  "abort-failed",
]);

/** Problems not yet shown in a finding; rules take the ones they explain. */
class Problems {
  private readonly left: GatherProblem[];
  constructor(ev: Evidence) {
    this.left = [...ev.problems, ...Object.values(ev.hosts).flatMap((h) => h.problems)];
  }
  take(pieces: string[], host?: string): string[] {
    const out: string[] = [];
    for (let i = this.left.length - 1; i >= 0; i--) {
      const p = this.left[i]!;
      if (pieces.includes(p.piece) && (host === undefined || p.host === undefined || p.host === host)) {
        out.unshift(describeProblem(p));
        this.left.splice(i, 1);
      }
    }
    return out;
  }
  rest(): string[] {
    return this.left.splice(0).map(describeProblem);
  }
}

function describeProblem(p: GatherProblem): string {
  return `Could not read ${p.piece}${p.host ? ` on ${p.host}` : ""} [${p.code}]: ${p.message}`;
}

function worst(...statuses: FindingStatus[]): FindingStatus {
  if (statuses.includes("fail")) return "fail";
  if (statuses.includes("warn")) return "warn";
  return "pass";
}

/** The overall verdict of a checklist. */
export function overallStatus(findings: readonly Finding[]): FindingStatus {
  return worst(...findings.map((f) => f.status));
}

/** Every draft a checklist carries, preferred ones first. */
export function draftsOf(findings: readonly Finding[]): ProposalDraft[] {
  return findings.flatMap((f) => [...(f.draft ? [f.draft] : []), ...(f.alternatives ?? [])]);
}

/** Turns gathered evidence into the checklist. */
export function evaluate(ev: Evidence, opts: RuleOptions = {}): Finding[] {
  const focus = opts.focus ?? "all";
  const problems = new Problems(ev);
  const out: Finding[] = [];
  const source = ev.source ? ev.hosts[ev.source] : undefined;
  const dest = ev.destination ? ev.hosts[ev.destination] : undefined;

  if (ev.kind === "vm") out.push(vmFinding(ev, focus));
  if (ev.kind === "host" && source) {
    out.push(serviceFinding("host-service", source, "host", problems));
  } else if (focus !== "convergence") {
    if (source) out.push(serviceFinding("source-service", source, "source", problems));
    if (dest) out.push(serviceFinding("destination-service", dest, "destination", problems));
  }
  if (ev.kind === "vm" && dest && focus === "all") out.push(capacityFinding(ev, dest, problems));
  if (ev.kind === "vm" && focus !== "convergence") {
    const cpu = cpuFinding(ev, opts, problems);
    if (cpu) out.push(cpu);
  }
  if (focus !== "cpu") {
    const hosts = [source, dest].filter((h): h is HostEvidence => h?.inInventory === true);
    if (hosts.length > 0) out.push(settingsFinding(ev, hosts, opts, problems));
  }
  const logHosts = [source, dest].filter((h): h is HostEvidence => h !== undefined);
  if (logHosts.length > 0) out.push(logFinding(ev, logHosts, problems));
  const rest = problems.rest();
  if (rest.length > 0) {
    out.push({
      id: "evidence",
      title: "Evidence that could not be gathered",
      status: "warn",
      evidence: rest,
    });
  }
  return out;
}

function flavorText(s: NovaServer): string {
  const f = s.flavor;
  const size = f.ramMb !== undefined ? ` (${f.ramMb} MiB, ${f.vcpus ?? "?"} vCPUs)` : "";
  return `${f.name ?? f.id ?? "?"}${size}`;
}

function vmFinding(ev: Evidence, focus: DiagnosisFocus = "all"): Finding {
  const s = ev.server!;
  const where = s.host ? `on ${s.host}` : "on no compute host";
  const base = `${s.name} (${s.id}) is ${s.status} ${where}, flavor ${flavorText(s)}${s.instanceName ? `, libvirt domain ${s.instanceName}` : ""}.`;
  if (s.host === null) {
    return {
      id: "vm",
      title: "VM found and running",
      status: "fail",
      evidence: [base, "Nova does not say which host runs it (is migbot's Nova user an admin?)."],
    };
  }
  // Diagnosing a migration that is stuck right now: MIGRATING is that migration, not a problem.
  if (focus === "convergence" && s.status === "MIGRATING") {
    return {
      id: "vm",
      title: "VM found and running",
      status: "pass",
      evidence: [`${base} (this live migration)`],
    };
  }
  if (s.status !== "ACTIVE" && s.status !== "PAUSED") {
    return {
      id: "vm",
      title: "VM found and running",
      status: "fail",
      evidence: [
        base,
        `Live migration needs an ACTIVE (or PAUSED) VM; ${s.status} is not. A stopped VM can be cold-migrated instead (openstack server migrate).`,
      ],
    };
  }
  if (s.taskState) {
    return {
      id: "vm",
      title: "VM found and running",
      status: "warn",
      evidence: [
        base,
        `Nova shows a task in progress: ${s.taskState}. Wait for it to finish before migrating again.`,
      ],
    };
  }
  return { id: "vm", title: "VM found and running", status: "pass", evidence: [base] };
}

function serviceFinding(
  id: string,
  h: HostEvidence,
  role: "source" | "destination" | "host",
  problems: Problems,
): Finding {
  const title = `nova-compute up on ${role === "host" ? "" : `the ${role} `}${h.name}`;
  const evidence: string[] = [];
  let status: FindingStatus = "pass";
  const novaProblems = problems.take(["services"]);
  const systemdProblems = problems.take(["systemd"], h.name);
  if (h.service === null) {
    if (novaProblems.length > 0) {
      status = "warn";
      evidence.push(...novaProblems);
    } else {
      status = "fail";
      evidence.push(
        `Nova lists no nova-compute service on ${h.name}. Check the host name (openstack compute service list --service nova-compute).`,
      );
    }
  } else {
    // The Nova client also carries the reason a service was disabled; the port does not promise it.
    const reason = (h.service as { disabledReason?: string | null }).disabledReason;
    evidence.push(
      `Nova: nova-compute on ${h.name} is ${h.service.state} and ${h.service.status}${reason ? ` (${reason})` : ""}.`,
    );
    if (h.service.state === "down") {
      status = "fail";
      evidence.push(
        `Nova refuses live migrations ${role === "destination" ? "to" : "from"} a host whose nova-compute is down. Start it (systemctl start nova-compute) and read its log for why it stopped.`,
      );
    } else if (h.service.status === "disabled" && role === "destination") {
      status = "warn";
      evidence.push(
        "The service is disabled: Nova's scheduler will not place the VM there; enable it (openstack compute service set --enable) or pick another host.",
      );
    }
  }
  if (h.systemd !== null) {
    evidence.push(`systemd: nova-compute is ${h.systemd}.`);
    if (h.systemd !== "active" && h.service?.state === "up") {
      status = worst(status, "warn");
      evidence.push(
        "Nova still shows it up: its last report is younger than service_down_time (60 s by default); it will turn down soon.",
      );
    }
    if (h.systemd === "active" && h.service?.state === "down") {
      evidence.push(
        "The unit runs but does not report to Nova: check its log for messaging or database errors.",
      );
    }
  } else if (!h.inInventory) {
    evidence.push(`${h.name} is not in migbot's host inventory, so systemd could not be asked.`);
  }
  evidence.push(...systemdProblems);
  if (systemdProblems.length > 0) status = worst(status, "warn");
  return { id, title, status, evidence };
}

/** `[DEFAULT]` values that decide capacity, read from the host's nova-compute config files. */
function capacityConfig(h: HostEvidence): { reservedMb: number; cpuRatio: number; from: string } {
  let reservedMb = DEFAULT_RESERVED_HOST_MEMORY_MB;
  let cpuRatio = DEFAULT_CPU_ALLOCATION_RATIO;
  let from = "nova defaults";
  if (h.config) {
    try {
      const docs = h.config.files.map((f) => parseNovaConf(f.text, f.path));
      const r = findEffectiveAssignment(docs, "DEFAULT", ["reserved_host_memory_mb"]);
      const c = findEffectiveAssignment(docs, "DEFAULT", ["cpu_allocation_ratio"]);
      if (r && /^\d+$/.test(r.assignment.value.trim())) reservedMb = Number(r.assignment.value.trim());
      if (c && Number(c.assignment.value) > 0) cpuRatio = Number(c.assignment.value);
      if (r || c) from = "the host's nova config";
    } catch {
      // A config that does not parse is reported by the settings check.
    }
  }
  return { reservedMb, cpuRatio, from };
}

function capacityFinding(ev: Evidence, dest: HostEvidence, problems: Problems): Finding {
  const title = `Room on ${dest.name}`;
  const s = ev.server!;
  const needRam = s.flavor.ramMb;
  const needCpu = s.flavor.vcpus;
  const taken = problems.take(["hypervisors", "servers"], dest.name);
  let freeRam: number | null = null;
  let freeCpu: number | null = null;
  let how: string;
  const hv = dest.hypervisor;
  if (hv && hv.freeRamMb !== null && hv.vcpus !== null && hv.vcpusUsed !== null) {
    freeRam = hv.freeRamMb;
    const { cpuRatio } = capacityConfig(dest);
    freeCpu = Math.floor(hv.vcpus * cpuRatio) - hv.vcpusUsed;
    how = `Nova's hypervisor record: ${hv.freeRamMb} MiB RAM free, ${hv.vcpusUsed} of ${hv.vcpus} physical CPUs × ${cpuRatio} allocated.`;
  } else if (dest.size && dest.servers) {
    // Nova stopped reporting hypervisor usage at 2.88; add up the flavors of the servers Nova places there.
    const { reservedMb, cpuRatio, from } = capacityConfig(dest);
    const sizes = dest.servers.map((v) => v.flavor);
    if (sizes.some((f) => f.ramMb === undefined || f.vcpus === undefined)) {
      how = "Nova's answers carry no flavor sizes for the servers there.";
    } else {
      const usedRam = sizes.reduce((a, f) => a + f.ramMb!, 0);
      const usedCpu = sizes.reduce((a, f) => a + f.vcpus!, 0);
      freeRam = dest.size.memoryMb - reservedMb - usedRam;
      freeCpu = Math.floor(dest.size.cpus * cpuRatio) - usedCpu;
      how = `${dest.size.memoryMb} MiB RAM and ${dest.size.cpus} CPUs (virsh capabilities), ${reservedMb} MiB reserved and CPU ratio ${cpuRatio} (${from}), ${dest.servers.length} servers using ${usedRam} MiB and ${usedCpu} vCPUs (Nova).`;
    }
  } else {
    how = "Neither Nova's hypervisor usage nor the host's size and server list could be read.";
  }
  const evidence = [how, ...taken];
  if (needRam === undefined || needCpu === undefined) {
    evidence.push(
      `The VM's flavor size is unknown (Nova before microversion 2.47 gives only the flavor id ${s.flavor.id ?? "?"}).`,
    );
    return { id: "destination-capacity", title, status: "warn", evidence };
  }
  if (freeRam === null || freeCpu === null)
    return { id: "destination-capacity", title, status: "warn", evidence };
  // Nova's live-migration pre-check refuses when free RAM is not strictly above the VM's RAM.
  const ramOk = freeRam > needRam;
  const cpuOk = freeCpu >= needCpu;
  evidence.unshift(
    `Needs ${needRam} MiB RAM and ${needCpu} vCPUs; ${dest.name} has ${freeRam} MiB RAM and ${freeCpu} vCPUs free.`,
  );
  if (!ramOk || !cpuOk) {
    evidence.push(
      `Not enough ${!ramOk ? "RAM" : "vCPUs"}: Nova's pre-check would refuse. Pick another destination or free room on ${dest.name}.`,
    );
  }
  return { id: "destination-capacity", title, status: ramOk && cpuOk ? "pass" : "fail", evidence };
}

function cpuText(c: CpuComparison): string {
  const what =
    c.subject === "host-cpu"
      ? `${c.from}'s CPU (${c.model ?? "unknown model"})`
      : `the custom model ${c.model} set on ${c.from}`;
  return `${what} on ${c.on}: libvirt says "${c.verdict.text}"`;
}

function cpuFinding(ev: Evidence, opts: RuleOptions, problems: Problems): Finding | null {
  const title = ev.destination
    ? `CPU of ${ev.source ?? "the source"} runnable on ${ev.destination}`
    : "CPU compatibility";
  const taken = problems.take(["cpu", "cpu-compare"], ev.source ?? undefined);
  if (ev.destination) taken.push(...problems.take(["cpu", "cpu-compare"], ev.destination));
  if (!ev.source) return null;
  if (!ev.destination) return schedulerCpuFinding(ev, taken);
  if (ev.source === ev.destination) {
    return {
      id: "cpu",
      title,
      status: "fail",
      evidence: [
        `${ev.server?.name ?? "The VM"} already runs on ${ev.destination}; choose another destination.`,
      ],
    };
  }
  const host = ev.cpuComparisons.find((c) => c.subject === "host-cpu");
  const custom = ev.cpuComparisons.find((c) => c.subject === "custom-model");
  if (!host) {
    const why =
      ev.hosts[ev.destination]?.inInventory === false
        ? [`${ev.destination} is not in migbot's host inventory.`]
        : [];
    return {
      id: "cpu",
      title,
      status: "warn",
      evidence: [...why, ...taken, "CPU compatibility was not checked."],
    };
  }
  if (host.verdict.result === "error") {
    return { id: "cpu", title, status: "warn", evidence: [cpuText(host), ...taken] };
  }
  if (host.verdict.result !== "incompatible") {
    return { id: "cpu", title, status: "pass", evidence: [cpuText(host), ...taken] };
  }
  if (custom && custom.verdict.result !== "incompatible" && custom.verdict.result !== "error") {
    return {
      id: "cpu",
      title,
      status: "warn",
      evidence: [
        cpuText(host),
        cpuText(custom),
        `Guests started on ${ev.source} since cpu_mode = custom was set carry ${custom.model} and can move; a VM still running with the CPU it got before (not hard-rebooted since) cannot.`,
        ...taken,
      ],
    };
  }
  const missing = missingFeatures(host.verdict.text);
  const evidence = [
    cpuText(host),
    ...(custom ? [cpuText(custom)] : []),
    `Nova's pre-check compares the guest's CPU (the source host's, under host-model) with the destination's and refuses the migration${missing.length ? `: ${ev.destination} lacks ${missing.join(", ")}` : ""}.`,
    ...taken,
  ];
  const finding: Finding = { id: "cpu", title, status: "fail", evidence };
  if (ev.fleet) {
    // Which VMs must restart does not depend on the model chosen, only on where CPUs run.
    const restart = vmRestartDraft(ev, DEFAULT_CPU_MODEL, opts);
    const drafts = cpuModelDrafts(ev, opts);
    evidence.push(...drafts.notes);
    if (drafts.preferred) finding.draft = drafts.preferred;
    if (drafts.alternatives.length > 0) finding.alternatives = drafts.alternatives;
    if (restart.vmRestarts.length > 0) {
      evidence.push(
        `After the model change, ${restart.vmRestarts.length} VM(s) need a hard reboot to pick it up: ${restart.vmRestarts.map((v) => `${v.name} (${v.host})`).join(", ")}. migbot proposes that once the model change is applied.`,
      );
    }
  }
  return finding;
}

/** No destination named: where the source's CPU runs, since Nova's scheduler may pick any host. */
function schedulerCpuFinding(ev: Evidence, taken: string[]): Finding | null {
  const checks = ev.cpuComparisons.filter((c) => c.subject === "host-cpu");
  if (checks.length === 0 && taken.length === 0) return null;
  const title = `CPU of ${ev.source} runnable on the other hosts`;
  const ok = checks.filter((c) => c.verdict.result === "identical" || c.verdict.result === "superset");
  const refused = checks.filter((c) => c.verdict.result === "incompatible");
  const unknown = checks.filter((c) => c.verdict.result === "error");
  const evidence: string[] = [];
  if (ok.length > 0)
    evidence.push(`Runs on ${ok.map((c) => c.on).join(", ")} (libvirt cpu-compare on each).`);
  for (const c of [...refused, ...unknown]) evidence.push(cpuText(c));
  if (refused.length > 0) {
    evidence.push(
      `Nova's scheduler does not look at CPUs: if it picks ${refused.map((c) => c.on).join(" or ")}, the pre-check refuses and Nova retries another host (up to migrate_max_retries). Name a destination (/diagnose ${ev.server?.name ?? "<vm>"} to <host>) for a CPU-model fix.`,
    );
  }
  evidence.push(...taken);
  const status: FindingStatus =
    refused.length > 0 || unknown.length > 0 || taken.length > 0 ? "warn" : "pass";
  return { id: "cpu", title, status, evidence };
}

function sourceText(src: SettingSource | undefined): string {
  if (src === undefined || src === "default") return "default";
  return `${src.path}:${src.line}`;
}

/** One host's effective live-migration settings, as a line an operator can check against the file. */
export function describeSettings(host: string, s: LiveMigrationSettings): string {
  const ac = s.autoConvergeEffective ? "ON" : s.autoConverge ? "requested but OFF (post-copy wins)" : "OFF";
  const parts = [
    `auto-converge ${ac} (${sourceText(s.sources.autoConverge)})`,
    atLeast(s.release, "newton")
      ? `post-copy ${s.postCopy ? "permitted" : "off"} (${sourceText(s.sources.postCopy)})`
      : "post-copy n/a",
    `max downtime ${s.downtimeMs} ms in ${s.downtimeSteps} steps every ${s.downtimeDelayS} s`,
    `completion timeout ${s.completionTimeoutS === 0 ? "off" : `${s.completionTimeoutS} s/GiB`}${atLeast(s.release, "stein") ? ` then ${s.timeoutAction}` : ""}`,
    `progress timeout ${s.progressTimeoutS === 0 ? "off" : `${s.progressTimeoutS} s`}`,
    `max concurrent live migrations ${s.maxConcurrent === 0 ? "unlimited" : s.maxConcurrent}`,
    `bandwidth ${s.bandwidthMiBps === 0 ? "unlimited" : `${s.bandwidthMiBps} MiB/s`}`,
  ];
  const flags = s.migrationFlags ? `; live_migration_flag → ${s.migrationFlags.join(", ")}` : "";
  return `${host} (${releaseLabel(s.release)}): ${parts.join(", ")}${flags}.`;
}

function settingsFinding(
  ev: Evidence,
  hosts: HostEvidence[],
  opts: RuleOptions,
  problems: Problems,
): Finding {
  const evidence: string[] = [];
  let status: FindingStatus = "pass";
  const needFix: HostEvidence[] = [];
  for (const h of hosts) {
    const taken = problems.take(["release", "config", "settings"], h.name);
    if (!h.settings) {
      status = worst(status, "warn");
      evidence.push(`${h.name}: the effective settings could not be worked out.`, ...taken);
      continue;
    }
    const s = h.settings;
    const files = h.config
      ? `${h.config.files.map((f) => f.path).join(" + ") || "no config file"}${h.config.missing.length ? ` (absent: ${h.config.missing.join(", ")})` : ""}`
      : "?";
    evidence.push(`${describeSettings(h.name, s)} Read from ${files}; release from ${h.release!.from}.`);
    for (const w of s.warnings) evidence.push(`${h.name}: ${w}`);
    if (!s.autoConvergeEffective) {
      status = worst(status, "warn");
      needFix.push(h);
      if (s.postCopy) {
        evidence.push(
          `${h.name}: post-copy is permitted, and nova then leaves auto-converge off (post-copy wins); a busy VM switches to post-copy instead, which risks losing the VM if the link fails mid-way.`,
        );
      }
    }
    evidence.push(...taken);
  }
  const finding: Finding = { id: "settings", title: "Live-migration settings", status, evidence };
  if (needFix.length > 0) {
    evidence.push(
      `Without auto-converge a VM that dirties memory faster than the link carries it never finishes pre-copy; ${needFix.map((h) => h.name).join(" and ")} ${needFix.length === 1 ? "has" : "have"} it off.`,
    );
    const draft = autoConvergeDraft(ev, needFix, opts);
    if (draft) finding.draft = draft;
  }
  return finding;
}

function blockersFor(ev: Evidence, hosts: string[], opts: RuleOptions): string[] {
  if (ev.migrationsInFlight === null) {
    return [
      "Nova's migration list could not be read, so migbot cannot tell whether a migration runs on these hosts; it is checked again before applying.",
    ];
  }
  const stuckServer = opts.abortFirst ? ev.server?.id : undefined;
  return ev.migrationsInFlight
    .filter(
      (m) => hosts.includes(m.sourceCompute) || (m.destCompute !== null && hosts.includes(m.destCompute)),
    )
    .filter((m) => stuckServer === undefined || m.serverId !== stuckServer)
    .map(
      (m) =>
        `Live migration ${m.id} (${m.sourceCompute} → ${m.destCompute ?? "?"}, ${m.status}) is in flight: nova-compute must not restart under it.`,
    );
}

function autoConvergeDraft(ev: Evidence, hosts: HostEvidence[], opts: RuleOptions): ProposalDraft | null {
  const changes: HostFileChange[] = [];
  const recipes: HostRecipe[] = [];
  const warnings: string[] = [];
  const lines: string[] = [];
  for (const h of hosts) {
    if (!h.config || !h.release) continue;
    try {
      const {
        plan,
        changes: planned,
        recipe,
      } = draftHostFix(h.name, "auto-converge", h.config.files, h.release.info);
      changes.push(...planned);
      if (recipe) recipes.push(recipe);
      for (const w of plan.warnings) warnings.push(`${h.name}: ${w}`);
      lines.push(
        atLeast(h.release.info, "newton")
          ? `${h.name} (${h.release.info.name}): [libvirt] live_migration_permit_auto_converge = true`
          : `${h.name} (${h.release.info.name}): VIR_MIGRATE_AUTO_CONVERGE appended to [libvirt] live_migration_flag (oslo.config has no "+=", so the whole list is written)`,
      );
    } catch (err) {
      warnings.push(`${h.name}: no plan: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (changes.length === 0) return null;
  const restarts = [...new Set(changes.map((c) => c.host))];
  const vm = ev.server?.name;
  return {
    kind: "auto-converge",
    title: `Enable libvirt auto-converge on ${restarts.join(" and ")}`,
    reasoning: [
      `${vm ? `${vm}'s` : "A busy VM's"} memory can be dirtied faster than the migration link copies it, so iterative pre-copy never gets the remainder under the downtime limit.`,
      "Auto-converge lets QEMU throttle the guest's vCPUs step by step until pre-copy catches up; it costs the guest some CPU only while a migration runs.",
      ...lines,
      "nova-compute reads this at start, so it is restarted on each host; only migrations started after the restart use it.",
      ...(opts.abortFirst
        ? ["The stuck migration is aborted first: nova-compute must not restart under it."]
        : []),
    ].join("\n"),
    warnings,
    changes,
    recipes,
    serviceRestarts: restarts,
    vmRestarts: [],
    blockers: blockersFor(ev, restarts, opts),
    ...(opts.abortFirst && { abortFirst: opts.abortFirst }),
    ...(opts.retry && { retry: opts.retry }),
  };
}

interface CpuDrafts {
  preferred: ProposalDraft | null;
  alternatives: ProposalDraft[];
  notes: string[];
}

/** The cpu-model fix on every inventory host, with the hosts' baseline model preferred and kvm64 as fallback. */
function cpuModelDrafts(ev: Evidence, opts: RuleOptions): CpuDrafts {
  const fleet = ev.fleet!;
  const notes: string[] = [];
  const baseline = fleet.baseline;
  const baselineUsable =
    baseline !== null && fleet.baselineRefusedBy.length === 0 && baseline.model !== DEFAULT_CPU_MODEL;
  if (baseline && !baselineUsable && fleet.baselineRefusedBy.length > 0) {
    notes.push(
      `The hosts' baseline ${baseline.model} is refused by ${fleet.baselineRefusedBy.map((r) => `${r.host} ("${r.text}")`).join(", ")}; only kvm64 is offered.`,
    );
  }
  const kvm64 = cpuModelDraft(ev, DEFAULT_CPU_MODEL, opts, baselineUsable ? baseline!.model : null);
  if (!baselineUsable) return { preferred: kvm64, alternatives: [], notes };
  const preferred = cpuModelDraft(ev, baseline!.model, opts, null);
  notes.push(
    `Two fixes are offered: ${baseline!.model}, the common baseline of the hosts' CPUs (virsh cpu-baseline on ${baseline!.ranOn}, then checked with cpu-compare on every host), and kvm64. Approve one; the second then finds the files changed and is refused.`,
  );
  return { preferred, alternatives: [kvm64], notes };
}

function cpuModelDraft(
  ev: Evidence,
  model: string,
  opts: RuleOptions,
  betterModel: string | null,
): ProposalDraft {
  const fleet = ev.fleet!;
  const restart = vmRestartDraft(ev, model, opts);
  const changes: HostFileChange[] = [];
  const recipes: HostRecipe[] = [];
  const warnings: string[] = [];
  const blockers: string[] = [];
  const lines: string[] = [];
  for (const name of fleet.hosts) {
    const h = ev.hosts[name];
    if (!h?.config || !h.release) {
      const why = h?.problems.map(describeProblem).join("; ") || "not read";
      blockers.push(
        `${name}'s nova-compute config could not be read (${why}); the model must be set on every host the VM may land on. Re-run /diagnose when it answers.`,
      );
      continue;
    }
    try {
      const {
        plan,
        changes: planned,
        recipe,
      } = draftHostFix(name, "cpu-model", h.config.files, h.release.info, { model });
      changes.push(...planned);
      if (recipe) recipes.push(recipe);
      // The plan's own note about hard reboots is said once, in the reasoning.
      for (const w of plan.warnings) if (!/hard reboot/.test(w)) warnings.push(`${name}: ${w}`);
      const option = atLeast(h.release.info, "train") ? "cpu_models" : "cpu_model";
      lines.push(
        plan.files.length === 0
          ? `${name}: already cpu_mode = custom, ${option} = ${model}.`
          : `${name} (${h.release.info.name}): cpu_mode = custom, ${option} = ${model}.`,
      );
    } catch (err) {
      blockers.push(`${name}: no plan: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const restarts = [...new Set(changes.map((c) => c.host))];
  const why =
    model === DEFAULT_CPU_MODEL
      ? `kvm64 is the lowest common x86-64 model: it runs on any host, including older ones added later, but guests lose newer instructions (SSE4.2, AES-NI, AVX…).${betterModel ? ` ${betterModel} (the other proposal) keeps those; prefer it unless older hosts are coming.` : ""}`
      : `${model} is the common baseline of all ${fleet.hosts.length} hosts' CPUs (virsh cpu-baseline): it keeps the instructions every host has (which kvm64 drops) and libvirt confirmed it on each host. A host with an older CPU added later would need the model revisited.`;
  return {
    kind: "cpu-model",
    title: `Give guests the ${model} CPU model on all ${fleet.hosts.length} compute hosts${model === DEFAULT_CPU_MODEL && betterModel ? " (fallback)" : model !== DEFAULT_CPU_MODEL ? " (hosts' baseline, preferred)" : ""}`,
    reasoning: [
      `Under host-model a guest gets its host's CPU, so a VM started on a newer CPU (${ev.source}) cannot move to an older one (${ev.destination}). A CPU model common to all hosts lets VMs move in any direction.`,
      why,
      ...lines,
      "nova-compute is restarted on each changed host. Running VMs keep their CPU until a hard reboot: a VM-restart proposal follows once this is applied.",
      restart.reasoning,
    ].join("\n"),
    warnings: [...warnings, ...restart.warnings],
    changes,
    recipes,
    serviceRestarts: restarts,
    // The VMs the follow-up vm-restart proposal reboots (src/fixes reads them from here).
    vmRestarts: restart.vmRestarts,
    blockers: [...blockers, ...blockersFor(ev, restarts, opts)],
    ...(opts.retry && { retry: opts.retry }),
    next: "vm-restart",
    cpuModel: model,
  };
}

/**
 * The VMs that must be hard-rebooted to pick up a new CPU model: the affected VM first, then every
 * ACTIVE VM on a host whose CPU is not runnable on some other host (they were started with that
 * CPU and would fail the same way). VMs on hosts whose CPU runs everywhere are left alone.
 */
export function vmRestartDraft(ev: Evidence, model: string, opts: RuleOptions = {}): ProposalDraft {
  const fleet = ev.fleet;
  const affected = ev.server;
  const restarts: VmRestart[] = [];
  const skipped: string[] = [];
  const seen = new Set<string>();
  const add = (s: NovaServer, host: string) => {
    if (seen.has(s.id)) return;
    seen.add(s.id);
    if (s.status !== "ACTIVE") {
      skipped.push(`${s.name} (${s.status}) picks the model up at its next start`);
      return;
    }
    restarts.push({ serverId: s.id, name: s.name, host });
  };
  if (affected?.host) add(affected, affected.host);
  const lines: string[] = [];
  const hostsToRestart = fleet ? Object.keys(fleet.notRunnableOn).filter((h) => fleet.hosts.includes(h)) : [];
  for (const host of fleet?.hosts ?? []) {
    if (!hostsToRestart.includes(host)) continue;
    const h = ev.hosts[host];
    const refusers = [...new Set(fleet!.notRunnableOn[host]!.map((r) => r.on))];
    lines.push(`${host} (${h?.cpu?.model ?? "?"}): its CPU is not runnable on ${refusers.join(", ")}.`);
    if (!h?.servers) {
      skipped.push(`the servers on ${host} could not be listed`);
      continue;
    }
    for (const s of [...h.servers].sort((a, b) => a.name.localeCompare(b.name))) add(s, host);
  }
  const runsEverywhere = (fleet?.hosts ?? []).filter((h) => !hostsToRestart.includes(h));
  return {
    kind: "vm-restart",
    title: `Hard-reboot ${restarts.length} VM(s) so they run with the ${model} CPU model`,
    reasoning: [
      `A running guest keeps the CPU it was started with; only a hard reboot (through Nova) starts it with the new ${model} model.`,
      ...(affected ? [`${affected.name} is the VM that could not move.`] : []),
      ...lines,
      ...(lines.length > 0
        ? [
            "VMs on those hosts were started with a CPU that other hosts lack, so they would fail to move the same way.",
          ]
        : []),
      ...(runsEverywhere.length > 0
        ? [
            `VMs on ${runsEverywhere.join(", ")} are left alone: those CPUs run on every host; they pick up the model at their next restart.`,
          ]
        : []),
      `Reboots run in batches of ${VM_RESTART_BATCH_SIZE}, host by host, each batch waiting for its VMs to be ACTIVE again.`,
    ].join("\n"),
    warnings: skipped.map((s) => `Not included: ${s}.`),
    changes: [],
    recipes: [],
    serviceRestarts: [],
    vmRestarts: restarts,
    blockers: [],
    ...(opts.retry && { retry: opts.retry }),
    cpuModel: model,
  };
}

function logFinding(ev: Evidence, hosts: HostEvidence[], problems: Problems): Finding {
  const taken = hosts.flatMap((h) => problems.take(["log"], h.name));
  const uuid = ev.server?.id.toLowerCase();
  const found: { host: string; e: NovaLogEvent }[] = [];
  let others = 0;
  for (const h of hosts) {
    if (!h.log) continue;
    for (const e of parseNovaComputeLog(h.log.text).events) {
      if (!FAILURE_KINDS.has(e.kind)) continue;
      if (uuid && e.instanceUuid && e.instanceUuid !== uuid) {
        others++;
        continue;
      }
      found.push({ host: h.name, e });
    }
  }
  found.sort((a, b) => (b.e.timestamp ?? "").localeCompare(a.e.timestamp ?? ""));
  const read = hosts.filter((h) => h.log).map((h) => `${h.name}:${h.log!.path}`);
  const evidence: string[] = [];
  for (const { host, e } of found.slice(0, MAX_QUOTED_LOG_EVENTS)) {
    evidence.push(
      `${e.timestamp ?? "(no timestamp)"} ${host} ${e.level ?? ""} ${e.message}`.replace(/\s+/g, " "),
    );
  }
  if (found.length > MAX_QUOTED_LOG_EVENTS)
    evidence.push(`… and ${found.length - MAX_QUOTED_LOG_EVENTS} older ones.`);
  if (others > 0) evidence.push(`${others} failure line(s) about other instances were left out.`);
  if (found.length === 0 && read.length > 0) {
    evidence.push(
      `No live-migration failures${uuid ? ` of ${ev.server!.name}` : ""} in the last lines of ${read.join(", ")}.`,
    );
  }
  evidence.push(...taken);
  const status: FindingStatus = found.length > 0 || taken.length > 0 ? "warn" : "pass";
  return {
    id: "log-failures",
    title: "Recent live-migration failures in nova-compute's log",
    status,
    evidence,
  };
}
