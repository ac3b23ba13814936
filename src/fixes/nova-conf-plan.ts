import { basename } from "node:path";
import { type NovaConfDocument, parseNovaConf, serializeNovaConf } from "../nova-conf/document";
import {
  appendToListOption,
  type IntendedChange,
  proveOnlyKeysChanged,
  removeOption,
  renameOption,
  setOption,
  unifiedDiff,
} from "../nova-conf/edit";
import {
  AUTO_CONVERGE_FLAG,
  type ConfigFile,
  effectiveSettingsOfDocuments,
  findEffectiveAssignment,
  type LiveMigrationSettings,
  optionLabel,
} from "../nova-conf/effective";
import { NovaConfError } from "../nova-conf/errors";
import { type ReleaseInfo, releaseLabel } from "../nova-conf/releases";
import { cpuComparison, flagOptions } from "../nova-facts";

/**
 * The nova.conf side of the two fixes operators apply by hand (see the seed guide): auto-converge
 * for a migration that never converges, and a common CPU model for moving from a newer CPU to an
 * older one. A plan is per file: it edits the file where nova-compute's effective value lives
 * (nova-compute.conf overrides nova.conf on Debian/Ubuntu), or nova.conf when no file sets it.
 */
export type FixKind = "auto-converge" | "cpu-model";

export interface FilePlan {
  path: string;
  before: string;
  after: string;
  diff: string;
  /** "[libvirt] cpu_mode", … */
  changedKeys: string[];
}

export interface NovaConfPlan {
  fix: FixKind;
  release: ReleaseInfo;
  /** Empty when the fix is already in effect. */
  files: FilePlan[];
  warnings: string[];
  /**
   * cpu-model: the host's [libvirt] cpu_model_extra_flags, left as they are. Nova adds them to every
   * guest CPU on top of the model (and from Train checks model plus flags at start-up), so whoever
   * checks the model on the hosts must check it with these flags.
   */
  extraFlags: string[];
}

export const FIX_KINDS: readonly FixKind[] = ["auto-converge", "cpu-model"];

/** The model the seed guide uses: the lowest common denominator of x86-64 CPUs. */
export const DEFAULT_CPU_MODEL = "kvm64";

// libvirt CPU model names (cpu_map): Haswell-noTSX-IBRS, Skylake-Client, kvm64, EPYC-Rome, …
const CPU_MODEL_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

interface Working {
  file: ConfigFile;
  doc: NovaConfDocument;
  intended: IntendedChange[];
}

/** The file edited when no file sets the option: the one named nova.conf, else the first. */
function mainFile(work: Working[]): Working {
  return work.find((w) => basename(w.file.path) === "nova.conf") ?? work[0]!;
}

/** The file holding the effective value of any of `names`, else nova.conf. */
function whereItLives(work: Working[], group: string, names: string[]): Working {
  const found = findEffectiveAssignment(
    work.map((w) => w.doc),
    group,
    names,
  );
  return (found && work.find((w) => w.doc === found.doc)) || mainFile(work);
}

/** Applies one edit; records each key it touched with the value it now has (undefined: removed). */
function edit(w: Working, keys: string[], apply: (doc: NovaConfDocument) => NovaConfDocument): void {
  const after = apply(w.doc);
  if (after === w.doc) return;
  w.doc = after;
  for (const key of keys) {
    const all = after.assignments.filter((a) => a.group === "libvirt" && a.key === key);
    w.intended.push({ section: "libvirt", key, value: all[all.length - 1]?.value });
  }
}

function settingsOf(work: Working[], release: ReleaseInfo): LiveMigrationSettings {
  // Unknown Mitaka flags are planned around the way nova treats them (ignored), so that a typo
  // next to the flag being added does not block the fix; the warning still reaches the operator.
  return effectiveSettingsOfDocuments(
    work.map((w) => w.doc),
    release,
    { unknownFlags: "ignore", cpuConsistency: "warn" },
  );
}

function where(found: { doc: NovaConfDocument; assignment: { lineIndex: number } } | undefined): string {
  return found ? ` (${found.doc.path}:${found.assignment.lineIndex + 1})` : "";
}

function planAutoConverge(
  work: Working[],
  release: ReleaseInfo,
  current: LiveMigrationSettings,
  warnings: string[],
) {
  const docs = () => work.map((w) => w.doc);
  const flags = flagOptions(release);
  if (flags.liveMigrationFlag && flags.blockMigrationFlag) {
    // Mitaka builds the flags of a live migration from live_migration_flag and those of a block
    // migration (every VM on local disk: migbot asks for block_migration "auto") from
    // block_migration_flag, so auto-converge goes into each list that lacks it.
    const lists = [
      { option: flags.liveMigrationFlag, has: current.autoConvergeFor.live },
      { option: flags.blockMigrationFlag, has: current.autoConvergeFor.block },
    ];
    for (const { option, has } of lists) {
      if (has) continue;
      const target = whereItLives(work, "libvirt", [option.option]);
      edit(target, [option.option], (doc) =>
        appendToListOption(doc, "libvirt", option.option, AUTO_CONVERGE_FLAG, option.default),
      );
    }
    return;
  }
  const permit = flags.permitAutoConverge!.option;
  const postCopyOption = flags.permitPostCopy!.option;
  if (current.postCopy) {
    const pc = findEffectiveAssignment(docs(), "libvirt", [postCopyOption]);
    warnings.push(
      `Post-copy is also permitted${where(pc)}: nova uses post-copy and leaves auto-converge off. Set [libvirt] ${postCopyOption} = false if auto-converge is what you want.`,
    );
  }
  if (current.autoConverge) return;
  const target = whereItLives(work, "libvirt", [permit]);
  edit(target, [permit], (doc) => setOption(doc, "libvirt", permit, "true"));
}

function planCpuModel(
  work: Working[],
  release: ReleaseInfo,
  current: LiveMigrationSettings,
  model: string,
  warnings: string[],
) {
  if (current.virtType !== "kvm" && current.virtType !== "qemu") {
    throw new NovaConfError(
      "NOVA_CONF_UNSUPPORTED",
      `virt_type is ${current.virtType}: nova only lets kvm and qemu choose a CPU model, so the cpu-model fix does not apply to this host.`,
    );
  }
  if (current.cpuMode !== "custom") {
    const target = whereItLives(work, "libvirt", ["cpu_mode"]);
    edit(target, ["cpu_mode"], (doc) => setOption(doc, "libvirt", "cpu_mode", "custom"));
  }
  const docs = () => work.map((w) => w.doc);
  if (cpuComparison(release).cpuModelOption === "cpu_model") {
    if (current.cpuModels.length === 1 && current.cpuModels[0] === model) return;
    const target = whereItLives(work, "libvirt", ["cpu_model"]);
    edit(target, ["cpu_model"], (doc) => setOption(doc, "libvirt", "cpu_model", model));
    return;
  }
  const found = findEffectiveAssignment(docs(), "libvirt", ["cpu_models", "cpu_model"]);
  if (current.cpuModels.length === 1 && current.cpuModels[0] === model) {
    if (found?.name === "cpu_model") {
      warnings.push(
        `${optionLabel("libvirt", "cpu_model")}${where(found)} already selects ${model}; it is the deprecated name of cpu_models on ${releaseLabel(release)} and still works, so migbot leaves it.`,
      );
    }
    return;
  }
  const target = whereItLives(work, "libvirt", ["cpu_models", "cpu_model"]);
  const hasNew = target.doc.assignments.some((a) => a.group === "libvirt" && a.key === "cpu_models");
  const hasOld = target.doc.assignments.some((a) => a.group === "libvirt" && a.key === "cpu_model");
  if (hasOld && !hasNew) {
    // The operator's cpu_model line becomes the cpu_models line, where they put it: one line
    // changes, and no stale deprecated alias is left to contradict it.
    edit(target, ["cpu_models", "cpu_model"], (doc) =>
      renameOption(doc, "libvirt", "cpu_model", "cpu_models", model),
    );
    return;
  }
  edit(target, ["cpu_models"], (doc) => setOption(doc, "libvirt", "cpu_models", model));
  if (hasOld) {
    // Within one file oslo reads cpu_models before cpu_model, so a leftover cpu_model line is dead;
    // it only misleads the next reader (and logs a deprecation warning). It goes.
    edit(target, ["cpu_model"], (doc) => removeOption(doc, "libvirt", "cpu_model"));
  }
}

function checkApplied(fix: FixKind, after: LiveMigrationSettings, model: string): void {
  const ok =
    fix === "auto-converge"
      ? after.autoConverge
      : after.cpuMode === "custom" && after.cpuModels.length === 1 && after.cpuModels[0] === model;
  if (!ok) {
    throw new NovaConfError(
      "NOVA_CONF_EDIT_UNSAFE",
      `the planned ${fix} edit would not take effect when nova-compute reads the files. Nothing was written; report this as a migbot bug with the files attached.`,
    );
  }
}

/**
 * The per-file edits that apply `fix` for `release`, proven with `ini` to touch only the intended
 * keys and checked to take effect when the files are read back in order. `files` are in the order
 * nova-compute reads them (nova.conf, then nova-compute.conf).
 */
export function planNovaConfFix(
  fix: FixKind,
  files: ConfigFile[],
  release: ReleaseInfo,
  opts: { model?: string } = {},
): NovaConfPlan {
  if (!FIX_KINDS.includes(fix)) {
    throw new NovaConfError(
      "NOVA_CONF_UNSUPPORTED",
      `unknown fix '${fix}'; choose one of ${FIX_KINDS.join(", ")}.`,
    );
  }
  if (files.length === 0) {
    throw new NovaConfError(
      "NOVA_CONF_UNSUPPORTED",
      "no config files given; pass nova-compute's nova.conf (and nova-compute.conf if it has one).",
    );
  }
  const model = opts.model ?? DEFAULT_CPU_MODEL;
  if (fix === "cpu-model" && !CPU_MODEL_RE.test(model)) {
    throw new NovaConfError(
      "NOVA_CONF_UNSUPPORTED",
      `'${model.slice(0, 80)}' is not a libvirt CPU model name (e.g. kvm64, Haswell-noTSX, Skylake-Client).`,
    );
  }
  const work: Working[] = files.map((file) => ({
    file,
    doc: parseNovaConf(file.text, file.path),
    intended: [],
  }));
  const current = settingsOf(work, release);
  const warnings = [...current.warnings];

  if (fix === "auto-converge") planAutoConverge(work, release, current, warnings);
  else planCpuModel(work, release, current, model, warnings);

  const out: FilePlan[] = [];
  for (const w of work) {
    const after = serializeNovaConf(w.doc);
    if (after === w.file.text) continue;
    // The composite of every edit on this file, proven once more as a whole.
    const intended = w.intended;
    proveOnlyKeysChanged(w.file.text, after, intended, w.file.path);
    out.push({
      path: w.file.path,
      before: w.file.text,
      after,
      // The diff is for people (Slack, audit): secrets in any of its lines are masked.
      diff: unifiedDiff(w.file.path, w.file.text, after, { redactSecrets: true }),
      changedKeys: [...new Set(intended.map((c) => optionLabel("libvirt", c.key)))],
    });
  }
  if (out.length > 0) checkApplied(fix, settingsOf(work, release), model);
  if (out.length > 0 && fix === "cpu-model") {
    warnings.push(
      `Running instances keep their current CPU until a hard reboot; apply this on every compute host the VM may land on, then restart nova-compute.`,
    );
  }
  const extraFlags = fix === "cpu-model" ? current.cpuModelExtraFlags : [];
  if (extraFlags.length > 0) {
    warnings.push(
      `[libvirt] cpu_model_extra_flags = ${extraFlags.join(", ")} stays: nova applies ${extraFlags.length === 1 ? "it" : "them"} on top of ${model}, so every host must run ${model} with ${extraFlags.length === 1 ? "that flag" : "those flags"} (a flag without '-' is required of the host).`,
    );
  }
  return { fix, release, files: out, warnings, extraFlags };
}
