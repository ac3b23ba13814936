/**
 * The diagnosis rules: pure functions that turn gathered evidence into a checklist of findings,
 * one rule a file (vm, services, capacity, cpu, settings, logs), run here in the order a person
 * reads them. Each finding says pass, warn or fail with the evidence a person can check. Where a
 * fix is needed, the rule hands the evidence to src/fixes (draftFixes), which drafts it.
 */
import type { ProposalDraft } from "../../fixes/drafts";
import type { Evidence, HostEvidence } from "../evidence";
import { capacityFinding } from "./capacity";
import { cpuFinding } from "./cpu";
import type { Finding, RuleOptions } from "./finding";
import { logFinding } from "./logs";
import { leftoverFinding, Problems } from "./problems";
import { serviceFinding } from "./services";
import { settingsFinding } from "./settings";
import { vmFinding } from "./vm";

export type { DiagnosisFocus, Finding, FindingStatus, RuleOptions } from "./finding";
export { MAX_QUOTED_LOG_EVENTS } from "./logs";
export { describeSettings } from "./settings";

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
  const leftover = leftoverFinding(problems);
  if (leftover) out.push(leftover);
  return out;
}
