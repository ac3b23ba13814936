/**
 * The guest's CPU on the destination, judged the way the destination's nova-compute judges it:
 * libvirt's cpu-compare (up to Zed) or hypervisor-cpu-compare (2023.1+) of the source's CPU (and of
 * a custom model set there) on the destination, or on every other host when the scheduler picks;
 * no judgement at all where nova does not compare (virt_type qemu, skip_cpu_compare_on_dest). An
 * incompatible CPU asks src/fixes for the CPU-model fix when the whole fleet was read.
 */
import { draftFixes } from "../../fixes/drafts";
import type { CpuComparison, Evidence } from "../evidence";
import { missingFeatures } from "../libvirt-cpu";
import type { Finding, FindingStatus, RuleOptions } from "./finding";
import type { Problems } from "./problems";

function cpuText(c: CpuComparison): string {
  const what =
    c.subject === "host-cpu"
      ? `${c.from}'s CPU (${c.model ?? "unknown model"})`
      : `the custom model ${c.model}${c.extraFlags.length ? ` with cpu_model_extra_flags ${c.extraFlags.join(", ")}` : ""} set on ${c.from}`;
  return `${what} on ${c.on}: libvirt ${c.command} says "${c.verdict.text}"`;
}

/**
 * From 2023.1 the destination compares the source host's whole CPU (its `cpu_info`, host-only
 * features such as ds, acpi and vmx included) with the CPU its hypervisor offers guests, which
 * refuses host-model guests even between identical hosts (nova bug 2039803).
 */
const HYPERVISOR_COMPARE_NOTE =
  "From 2023.1 nova compares the source host's whole CPU (host-only features such as ds, acpi and vmx included) with the CPU the destination's hypervisor offers guests, so it refuses host-model guests even between identical hosts (nova bug 2039803). A CPU model (cpu_mode = custom) is compared as the model instead; nova's own workaround is [workarounds] skip_cpu_compare_on_dest = true on the destination, after which libvirt still refuses, at the switch-over, a guest CPU the destination cannot run.";

/** Which libvirt call the destination's nova-compute makes, in words. */
function judgedBy(ev: Evidence, c: CpuComparison): string {
  const release = ev.hosts[c.on]?.release?.info;
  const api = c.command === "hypervisor-cpu-compare" ? "compareHypervisorCPU" : "compareCPU";
  return `${c.on}'s nova-compute${release ? ` (${release.name})` : ""} asks libvirt's ${api}`;
}

/** The `cpu` finding of a VM diagnosis; null when there is nothing to compare. */
export function cpuFinding(ev: Evidence, opts: RuleOptions, problems: Problems): Finding | null {
  const title = ev.destination
    ? `CPU of ${ev.source ?? "the source"} runnable on ${ev.destination}`
    : "CPU compatibility";
  const taken = problems.take(["cpu", "cpu-compare"], ev.source ?? undefined);
  if (ev.destination) taken.push(...problems.take(["cpu", "cpu-compare"], ev.destination));
  if (!ev.source) return null;
  if (!ev.destination) return schedulerCpuFinding(ev, taken);
  const notCompared = ev.cpuNotCompared.find((n) => n.on === ev.destination);
  if (notCompared && ev.source !== ev.destination) {
    return {
      id: "cpu",
      title,
      status: "pass",
      evidence: [
        `Nova does not compare CPUs here: ${notCompared.why}. No CPU-model fix is needed for this move.`,
        ...taken,
      ],
    };
  }
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
    `Nova's pre-check compares the guest's CPU (the source host's, under host-model) with what the destination offers (${judgedBy(ev, host)}) and refuses the migration${missing.length ? `: ${ev.destination} lacks ${missing.join(", ")}` : ""}.`,
    ...(host.command === "hypervisor-cpu-compare" ? [HYPERVISOR_COMPARE_NOTE] : []),
    ...taken,
  ];
  const finding: Finding = { id: "cpu", title, status: "fail", evidence };
  // A model common to all hosts is only worked out when every host's CPU was read.
  if (ev.fleet) {
    const fixes = draftFixes({ fix: "cpu-model", evidence: { ...ev, fleet: ev.fleet } }, opts);
    evidence.push(...fixes.notes);
    if (fixes.preferred) finding.draft = fixes.preferred;
    if (fixes.alternatives.length > 0) finding.alternatives = fixes.alternatives;
  }
  return finding;
}

/** No destination named: where the source's CPU runs, since Nova's scheduler may pick any host. */
function schedulerCpuFinding(ev: Evidence, taken: string[]): Finding | null {
  const checks = ev.cpuComparisons.filter((c) => c.subject === "host-cpu");
  if (checks.length === 0 && taken.length === 0 && ev.cpuNotCompared.length === 0) return null;
  const title = `CPU of ${ev.source} runnable on the other hosts`;
  const ok = checks.filter((c) => c.verdict.result === "identical" || c.verdict.result === "superset");
  const refused = checks.filter((c) => c.verdict.result === "incompatible");
  const unknown = checks.filter((c) => c.verdict.result === "error");
  const evidence: string[] = [];
  if (ok.length > 0)
    evidence.push(
      `Runs on ${ok.map((c) => `${c.on} (${c.command})`).join(", ")}: each asked the way its nova-compute asks.`,
    );
  for (const n of ev.cpuNotCompared) evidence.push(`Not compared: ${n.why}.`);
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
