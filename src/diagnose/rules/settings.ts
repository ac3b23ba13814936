/**
 * The live-migration settings nova-compute runs with on each inventory host, read from its config
 * files by release. A host without effective auto-converge asks src/fixes for the auto-converge fix.
 */
import { draftFixes } from "../../fixes/drafts";
import type { LiveMigrationSettings, MigrationType, SettingSource } from "../../nova-conf/effective";
import { releaseLabel } from "../../nova-conf/releases";
import { blockMigrationAutoIsBlock, flagOptions, novaFacts, timeoutOptions } from "../../nova-facts";
import type { Evidence, HostEvidence } from "../evidence";
import { type Finding, type FindingStatus, type RuleOptions, worst } from "./finding";
import type { Problems } from "./problems";

function sourceText(src: SettingSource | undefined): string {
  if (src === undefined || src === "default") return "default";
  return `${src.path}:${src.line}`;
}

function onOff(s: LiveMigrationSettings, type: MigrationType): string {
  return s.autoConvergeFor[type]
    ? "ON"
    : s.autoConverge && s.postCopy
      ? "requested but OFF (post-copy wins)"
      : "OFF";
}

/** One host's effective live-migration settings, as a line an operator can check against the file. */
export function describeSettings(host: string, s: LiveMigrationSettings): string {
  const mitaka = flagOptions(s.release).blockMigrationFlag !== null;
  const ac = mitaka
    ? `auto-converge for live migrations ${onOff(s, "live")} (${sourceText(s.sources.liveMigrationFlags)}), for block migrations ${onOff(s, "block")} (${sourceText(s.sources.blockMigrationFlags)})`
    : `auto-converge ${onOff(s, "live")} (${sourceText(s.sources.autoConverge)})`;
  const parts = [
    ac,
    flagOptions(s.release).permitPostCopy
      ? `post-copy ${s.postCopy ? "permitted" : "off"} (${sourceText(s.sources.postCopy)})`
      : "post-copy n/a",
    `max downtime ${s.downtimeMs} ms in ${s.downtimeSteps} steps every ${s.downtimeDelayS} s`,
    `completion timeout ${s.completionTimeoutS === 0 ? "off" : `${s.completionTimeoutS} s/GiB`}${timeoutOptions(s.release).action ? ` then ${s.timeoutAction}` : ""}`,
    `progress timeout ${s.progressTimeoutS === 0 ? "off" : `${s.progressTimeoutS} s`}`,
    `max concurrent live migrations ${s.maxConcurrent === 0 ? "unlimited" : s.maxConcurrent}`,
    `bandwidth ${s.bandwidthMiBps === 0 ? "unlimited" : `${s.bandwidthMiBps} MiB/s`}`,
  ];
  const flags = mitaka
    ? `; live_migration_flag → ${s.flags.live.join(", ")}; block_migration_flag → ${s.flags.block.join(", ")}`
    : "";
  return `${host} (${releaseLabel(s.release)}): ${parts.join(", ")}${flags}.`;
}

/**
 * How Nova moves the VM when migbot asks with `block_migration: "auto"`: a block migration when its
 * root disk is local (booted from an image), else a live migration (booted from a volume, as long
 * as its flavor gives it no ephemeral or swap disk). Null for a host diagnosis or when Nova did not
 * say how the VM booted.
 */
export function migrationTypeOf(ev: Evidence): { type: MigrationType; why: string } | null {
  const vm = ev.server;
  if (!vm || vm.bootedFromImage === undefined) return null;
  return blockMigrationAutoIsBlock(vm.bootedFromImage)
    ? {
        type: "block",
        why: `${vm.name} booted from an image, so its disk is local and Nova moves it (block_migration auto) as a block migration`,
      }
    : {
        type: "live",
        why: `${vm.name} booted from a volume, so Nova moves it (block_migration auto) as a live migration on shared storage, unless its flavor adds an ephemeral or swap disk`,
      };
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
  const kind = migrationTypeOf(ev);
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
    const differs = s.autoConvergeFor.live !== s.autoConvergeFor.block;
    const off = kind ? !s.autoConvergeFor[kind.type] : !s.autoConvergeEffective;
    if (differs) {
      const which = kind
        ? `${kind.why}: on ${h.name} (${s.release.name}) that takes the ${kind.type === "block" ? "block_migration_flag" : "live_migration_flag"} list, where auto-converge is ${s.autoConvergeFor[kind.type] ? "ON" : "OFF"}.`
        : `${h.name} (${s.release.name}) builds block migrations (every VM on a local disk) from block_migration_flag and live migrations from live_migration_flag: auto-converge is ${s.autoConvergeFor.live ? "ON" : "OFF"} for live and ${s.autoConvergeFor.block ? "ON" : "OFF"} for block migrations.`;
      evidence.push(which);
    }
    if (off) {
      status = worst(status, "warn");
      needFix.push(h);
      if (s.postCopy) {
        const switches = novaFacts(s.release).postCopy.autoSwitch
          ? "a busy VM switches to post-copy instead once a poll shows too little progress"
          : "from Stein nova switches to post-copy only on force-complete or when live_migration_timeout_action = force_complete, so until then a busy VM gets neither";
        evidence.push(
          `${h.name}: post-copy is permitted, and nova then leaves auto-converge off (post-copy wins); ${switches}. A migration in post-copy loses the VM if the link fails mid-way.`,
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
