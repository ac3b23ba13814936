/**
 * The live-migration settings nova-compute runs with on each inventory host, read from its config
 * files by release. A host without effective auto-converge asks src/fixes for the auto-converge fix.
 */
import { draftFixes } from "../../fixes/drafts";
import type { LiveMigrationSettings, SettingSource } from "../../nova-conf/effective";
import { atLeast, releaseLabel } from "../../nova-conf/releases";
import type { Evidence, HostEvidence } from "../evidence";
import { type Finding, type FindingStatus, type RuleOptions, worst } from "./finding";
import type { Problems } from "./problems";

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

/** The `settings` finding over the inventory hosts involved. */
export function settingsFinding(
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
    const fixes = draftFixes({ fix: "auto-converge", evidence: ev, hosts: needFix }, opts);
    evidence.push(...fixes.notes);
    if (fixes.preferred) finding.draft = fixes.preferred;
  }
  return finding;
}
