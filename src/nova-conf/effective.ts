import { type Assignment, type NovaConfDocument, normalizeGroup, parseNovaConf } from "./document";
import { NovaConfError } from "./errors";
import { shownValue } from "./redact";
import { atLeast, olderThan, type ReleaseInfo, releaseLabel } from "./releases";

/**
 * The live-migration settings nova-compute would run with, read from its config files the way
 * oslo.config reads them (later `--config-file` overrides earlier, last value in a file wins,
 * deprecated names honoured) with each release's defaults, names, minimums and choices taken
 * from openstack/nova at the release tags (13.0.0 `nova/virt/libvirt/driver.py`, 14.0.0+
 * `nova/conf/libvirt.py`, `nova/conf/compute.py`).
 */
export interface LiveMigrationSettings {
  release: ReleaseInfo;
  /** Auto-converge requested: VIR_MIGRATE_AUTO_CONVERGE in the flags (Mitaka) or permit_auto_converge. */
  autoConverge: boolean;
  /** `live_migration_permit_post_copy` (Newton+); always false on Mitaka, whose nova never switches to post-copy. */
  postCopy: boolean;
  /** Auto-converge actually used: nova leaves it off when post-copy is permitted (post-copy wins). */
  autoConvergeEffective: boolean;
  /** Mitaka: the flags nova passes to libvirt, after its own fix-ups; null from Newton on. */
  migrationFlags: string[] | null;
  downtimeMs: number;
  downtimeSteps: number;
  downtimeDelayS: number;
  /** Seconds per GiB transferred (0 = no timeout). */
  completionTimeoutS: number;
  /** 0 = off (the default from Ocata, and gone from Stein). */
  progressTimeoutS: number;
  timeoutAction: "abort" | "force_complete";
  maxConcurrent: number;
  /** MiB/s; 0 lets libvirt choose. */
  bandwidthMiBps: number;
  /** The CPU mode guests get: an unset cpu_mode resolves to host-model for kvm/qemu, else none. */
  cpuMode: string;
  cpuModels: string[];
  virtType: string;
  /** Where each field above came from: a file and line, or the release default. */
  sources: Record<string, SettingSource>;
  /** Things an operator should know: ignored lines, options of another release, deprecated names. */
  warnings: string[];
}

export type SettingSource = { path: string; line: number; option: string } | "default";

export interface ConfigFile {
  path: string;
  text: string;
}

export interface EffectiveOptions {
  /**
   * What to do with a flag name libvirt does not define in `live_migration_flag` (Mitaka).
   * Mitaka's nova logs "Ignoring unknown libvirt live migration flag" and carries on, but the flag is
   * nearly always a typo (VIR_MIGRATE_AUTOCONVERGE) that leaves the intended behaviour off, so migbot
   * treats it as an error unless told to behave like nova.
   * @defaultValue "error"
   */
  unknownFlags?: "error" | "ignore";
  /**
   * Train+ nova-compute refuses to start when cpu_mode and cpu_models disagree (custom without a
   * model, a model without custom). "warn" reports it as a warning instead, for planning the fix.
   * @defaultValue "error"
   */
  cpuConsistency?: "error" | "warn";
}

/** The default `[libvirt] live_migration_flag` of Mitaka (13.0.0 driver.py). */
export const MITAKA_LIVE_MIGRATION_FLAG_DEFAULT =
  "VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED";

/** libvirt's virDomainMigrateFlags names (libvirt-domain.h); nova resolves each with getattr(libvirt, name). */
export const LIBVIRT_MIGRATE_FLAGS: readonly string[] = [
  "VIR_MIGRATE_LIVE",
  "VIR_MIGRATE_PEER2PEER",
  "VIR_MIGRATE_TUNNELLED",
  "VIR_MIGRATE_PERSIST_DEST",
  "VIR_MIGRATE_UNDEFINE_SOURCE",
  "VIR_MIGRATE_PAUSED",
  "VIR_MIGRATE_NON_SHARED_DISK",
  "VIR_MIGRATE_NON_SHARED_INC",
  "VIR_MIGRATE_CHANGE_PROTECTION",
  "VIR_MIGRATE_UNSAFE",
  "VIR_MIGRATE_OFFLINE",
  "VIR_MIGRATE_COMPRESSED",
  "VIR_MIGRATE_ABORT_ON_ERROR",
  "VIR_MIGRATE_AUTO_CONVERGE",
  "VIR_MIGRATE_RDMA_PIN_ALL",
  "VIR_MIGRATE_POSTCOPY",
  "VIR_MIGRATE_TLS",
  "VIR_MIGRATE_PARALLEL",
  "VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES",
  "VIR_MIGRATE_POSTCOPY_RESUME",
  "VIR_MIGRATE_ZEROCOPY",
];

// Mitaka–Ocata round these up in code (LIVE_MIGRATION_*_MIN in driver.py / migration.py); from
// Pike on the options carry min= and oslo.config rejects smaller values.
const DOWNTIME_MIN_MS = 100;
const DOWNTIME_STEPS_MIN = 3;
const DOWNTIME_DELAY_MIN_S_ROUNDED = 10;
const DOWNTIME_DELAY_MIN_S_ENFORCED = 3;

type OptType = "bool" | "int" | "str" | "list";

interface OptSpec {
  group: string;
  name: string;
  type: OptType;
  /** First and last nova major that has the option. */
  from: number;
  until?: number;
  deprecatedNames?: string[];
  choices?: (release: ReleaseInfo) => readonly string[];
  min?: (release: ReleaseInfo) => number | undefined;
}

const VIRT_TYPES_OLD = ["kvm", "lxc", "qemu", "uml", "xen", "parallels"] as const;
const VIRT_TYPES_NEW = ["kvm", "lxc", "qemu", "parallels"] as const; // uml and xen dropped in Wallaby (23)
const CPU_MODES = ["host-model", "host-passthrough", "custom", "none"] as const;

const OPTS = {
  virtType: {
    group: "libvirt",
    name: "virt_type",
    type: "str",
    from: 13,
    choices: (r) => (r.major >= 23 ? VIRT_TYPES_NEW : VIRT_TYPES_OLD),
  },
  cpuMode: { group: "libvirt", name: "cpu_mode", type: "str", from: 13, choices: () => CPU_MODES },
  cpuModel: { group: "libvirt", name: "cpu_model", type: "str", from: 13, until: 19 },
  cpuModels: { group: "libvirt", name: "cpu_models", type: "list", from: 20, deprecatedNames: ["cpu_model"] },
  liveMigrationFlag: { group: "libvirt", name: "live_migration_flag", type: "str", from: 13, until: 13 },
  tunnelled: { group: "libvirt", name: "live_migration_tunnelled", type: "bool", from: 13 },
  permitAutoConverge: {
    group: "libvirt",
    name: "live_migration_permit_auto_converge",
    type: "bool",
    from: 14,
  },
  permitPostCopy: { group: "libvirt", name: "live_migration_permit_post_copy", type: "bool", from: 14 },
  downtime: {
    group: "libvirt",
    name: "live_migration_downtime",
    type: "int",
    from: 13,
    min: (r) => (r.major >= 16 ? DOWNTIME_MIN_MS : undefined),
  },
  downtimeSteps: {
    group: "libvirt",
    name: "live_migration_downtime_steps",
    type: "int",
    from: 13,
    min: (r) => (r.major >= 16 ? DOWNTIME_STEPS_MIN : undefined),
  },
  downtimeDelay: {
    group: "libvirt",
    name: "live_migration_downtime_delay",
    type: "int",
    from: 13,
    min: (r) => (r.major >= 16 ? DOWNTIME_DELAY_MIN_S_ENFORCED : undefined),
  },
  completionTimeout: {
    group: "libvirt",
    name: "live_migration_completion_timeout",
    type: "int",
    from: 13,
    min: (r) => (r.major >= 19 ? 0 : undefined),
  },
  progressTimeout: {
    group: "libvirt",
    name: "live_migration_progress_timeout",
    type: "int",
    from: 13,
    until: 18,
  },
  timeoutAction: {
    group: "libvirt",
    name: "live_migration_timeout_action",
    type: "str",
    from: 19,
    choices: () => ["abort", "force_complete"],
  },
  bandwidth: { group: "libvirt", name: "live_migration_bandwidth", type: "int", from: 13 },
  maxConcurrent: {
    group: "DEFAULT",
    name: "max_concurrent_live_migrations",
    type: "int",
    from: 13,
    min: (r) => (r.major >= 20 ? 0 : undefined),
  },
} satisfies Record<string, OptSpec>;

type OptId = keyof typeof OPTS;

/** "[libvirt] cpu_models": how an option is named to people. */
export function optionLabel(group: string, name: string): string {
  return `[${group}] ${name}`;
}

function has(spec: OptSpec, release: ReleaseInfo): boolean {
  return release.major >= spec.from && (spec.until === undefined || release.major <= spec.until);
}

/** Where an option's effective value is set: the file, the assignment, and the name written there. */
export interface Found {
  doc: NovaConfDocument;
  assignment: Assignment;
  /** The name actually written in the file (a deprecated name when so). */
  name: string;
}

/**
 * oslo.config's `_get_file_value`: files newest first; within a file the current name before the
 * deprecated ones; within a name the last assignment in the file.
 */
export function findEffectiveAssignment(
  docs: NovaConfDocument[],
  group: string,
  names: string[],
): Found | undefined {
  const g = normalizeGroup(group);
  for (let d = docs.length - 1; d >= 0; d--) {
    const doc = docs[d]!;
    for (const name of names) {
      let last: Assignment | undefined;
      for (const a of doc.assignments) if (a.group === g && a.key === name) last = a;
      if (last) return { doc, assignment: last, name };
    }
  }
  return undefined;
}

function invalid(found: Found, group: string, problem: string, fix: string): NovaConfError {
  const line = found.assignment.lineIndex + 1;
  return new NovaConfError(
    "NOVA_CONF_INVALID_VALUE",
    `${found.doc.path}:${line}: ${optionLabel(group, found.name)} = ${JSON.stringify(shownValue(found.name, found.assignment.value))} ${problem}; nova-compute would fail on it. ${fix}`,
    { path: found.doc.path, line, key: found.name },
  );
}

const TRUE_VALUES = ["true", "1", "on", "yes"];
const FALSE_VALUES = ["false", "0", "off", "no"];

function parseBool(found: Found, group: string): boolean {
  const v = found.assignment.value.toLowerCase();
  if (TRUE_VALUES.includes(v)) return true;
  if (FALSE_VALUES.includes(v)) return false;
  throw invalid(found, group, "is not a boolean", "Write true or false.");
}

function parseInt10(found: Found, group: string, min: number | undefined): number {
  const v = found.assignment.value.trim();
  // Python's int() accepts a sign and digit-group underscores ("1_000").
  if (!/^[+-]?\d+(?:_\d+)*$/.test(v)) {
    throw invalid(
      found,
      group,
      v === "" ? "is empty" : "is not an integer",
      "Write a whole number or remove the line.",
    );
  }
  const n = Number(v.replace(/_/g, ""));
  if (min !== undefined && n < min) {
    throw invalid(found, group, `is below the minimum ${min}`, `Write ${min} or more, or remove the line.`);
  }
  return n;
}

function parseList(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

interface Resolved<T> {
  value: T;
  source: SettingSource;
}

function resolve<T>(
  docs: NovaConfDocument[],
  release: ReleaseInfo,
  spec: OptSpec,
  fallback: T,
  convert: (found: Found) => T,
): Resolved<T> {
  if (!has(spec, release)) return { value: fallback, source: "default" };
  const found = findEffectiveAssignment(docs, spec.group, [spec.name, ...(spec.deprecatedNames ?? [])]);
  if (!found) return { value: fallback, source: "default" };
  return {
    value: convert(found),
    source: {
      path: found.doc.path,
      line: found.assignment.lineIndex + 1,
      option: optionLabel(spec.group, found.name),
    },
  };
}

function typed(release: ReleaseInfo, spec: OptSpec) {
  return {
    bool: (f: Found) => parseBool(f, spec.group),
    int: (f: Found) => parseInt10(f, spec.group, spec.min?.(release)),
    str: (f: Found) => {
      const choices = spec.choices?.(release);
      if (choices && !choices.includes(f.assignment.value)) {
        throw invalid(
          f,
          spec.group,
          `is not one of ${choices.join(", ")}`,
          `Use one of those for ${releaseLabel(release)}.`,
        );
      }
      return f.assignment.value;
    },
    list: (f: Found) => parseList(f.assignment.value),
  };
}

/** Options of other releases or other sections that nova silently ignores: worth telling the operator. */
function collectWarnings(docs: NovaConfDocument[], release: ReleaseInfo): string[] {
  const warnings: string[] = [];
  const where = (doc: NovaConfDocument, a: Assignment) => `${doc.path}:${a.lineIndex + 1}`;
  const specs = Object.values(OPTS) as OptSpec[];
  for (const doc of docs) {
    for (const s of doc.sections) {
      if (s.group !== "DEFAULT" && s.group.toLowerCase() === "default") {
        warnings.push(
          `${doc.path}:${s.headerIndex + 1}: section [${s.name}] is not [DEFAULT] (oslo.config matches DEFAULT case-sensitively), so its options are ignored.`,
        );
      }
    }
    for (const a of doc.assignments) {
      if (/^[A-Za-z0-9_-]+\s*[+-]$/.test(a.key)) {
        const base = a.key.replace(/\s*[+-]$/, "");
        warnings.push(
          `${where(doc, a)}: '${a.key}=' is not oslo.config syntax (there is no '+=' or '-='); nova reads an unknown option '${a.key}' and ignores it. Set ${base} to the full value instead.`,
        );
        continue;
      }
      for (const spec of specs) {
        if (a.key !== spec.name && !(spec.deprecatedNames ?? []).includes(a.key)) continue;
        if (a.group !== normalizeGroup(spec.group)) {
          if (
            a.key === spec.name &&
            !specs.some((o) => o.name === a.key && normalizeGroup(o.group) === a.group)
          ) {
            warnings.push(
              `${where(doc, a)}: ${a.key} belongs in [${spec.group}], not [${doc.sections[a.sectionIndex]!.name}]; nova ignores it there.`,
            );
          }
          continue;
        }
        if (a.key === spec.name && !has(spec, release)) {
          const when =
            release.major < spec.from
              ? `only exists from nova ${spec.from}`
              : `was removed after nova ${spec.until}`;
          // cpu_model is still read on Train+ as the deprecated name of cpu_models: not "ignored".
          const readAsAlias = specs.some((o) => has(o, release) && (o.deprecatedNames ?? []).includes(a.key));
          if (!readAsAlias) {
            warnings.push(
              `${where(doc, a)}: ${optionLabel(spec.group, a.key)} ${when}; ${releaseLabel(release)} ignores it.`,
            );
          }
        } else if (a.key !== spec.name && has(spec, release)) {
          warnings.push(
            `${where(doc, a)}: ${optionLabel(spec.group, a.key)} is the deprecated name of ${spec.name} on ${releaseLabel(release)}; it is still read, but rename it.`,
          );
        }
      }
    }
  }
  return [...new Set(warnings)];
}

/** Mitaka's `_parse_migration_flags` and the fix-ups that follow it (13.0.0 driver.py). */
function mitakaFlags(
  found: Found | undefined,
  raw: string,
  virtType: string,
  tunnelled: boolean | null,
  unknownFlags: "error" | "ignore",
  warnings: string[],
): string[] {
  const flags: string[] = [];
  for (const name of raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")) {
    if (!LIBVIRT_MIGRATE_FLAGS.includes(name)) {
      if (unknownFlags === "error" && found) {
        throw invalid(
          found,
          "libvirt",
          `names '${name}', which is not a libvirt migration flag`,
          `Known flags: ${LIBVIRT_MIGRATE_FLAGS.join(", ")}.`,
        );
      }
      warnings.push(`live_migration_flag: nova ignores the unknown libvirt flag '${name}'.`);
      continue;
    }
    if (!flags.includes(name)) flags.push(name);
  }
  const add = (f: string) => {
    if (!flags.includes(f)) flags.push(f);
  };
  const drop = (f: string) => {
    const i = flags.indexOf(f);
    if (i >= 0) flags.splice(i, 1);
  };
  // Direct (non-p2p) migration is unsupported except on xen, where p2p is unsupported.
  if (virtType === "xen") drop("VIR_MIGRATE_PEER2PEER");
  else add("VIR_MIGRATE_PEER2PEER");
  add("VIR_MIGRATE_UNDEFINE_SOURCE");
  drop("VIR_MIGRATE_PERSIST_DEST");
  // NON_SHARED_INC in the live flags would turn every live migration into a block migration.
  drop("VIR_MIGRATE_NON_SHARED_INC");
  if (tunnelled === true) add("VIR_MIGRATE_TUNNELLED");
  if (tunnelled === false) drop("VIR_MIGRATE_TUNNELLED");
  return flags;
}

/**
 * The live-migration settings nova-compute would use, given its config files in the order it reads
 * them (`--config-file nova.conf --config-file nova-compute.conf`: later files override).
 * Throws NOVA_CONF_PARSE for a file oslo.config cannot read and NOVA_CONF_INVALID_VALUE for a value
 * nova would reject, each naming file, line and key.
 */
export function effectiveSettings(
  files: ConfigFile[],
  release: ReleaseInfo,
  options: EffectiveOptions = {},
): LiveMigrationSettings {
  const docs = files.map((f) => parseNovaConf(f.text, f.path));
  return effectiveSettingsOfDocuments(docs, release, options);
}

/** {@link effectiveSettings} on already parsed documents. */
export function effectiveSettingsOfDocuments(
  docs: NovaConfDocument[],
  release: ReleaseInfo,
  options: EffectiveOptions = {},
): LiveMigrationSettings {
  const warnings = collectWarnings(docs, release);
  const sources: Record<string, SettingSource> = {};
  const get = <T>(id: OptId, fallback: T): T => {
    const spec: OptSpec = OPTS[id];
    const r = resolve(docs, release, spec, fallback, typed(release, spec)[spec.type] as (f: Found) => T);
    sources[id] = r.source;
    return r.value;
  };

  const virtType = get<string>("virtType", "kvm");
  const rawCpuMode = get<string | null>("cpuMode", null);
  const cpuModels = atLeast(release, "train")
    ? get<string[]>("cpuModels", [])
    : (() => {
        const m = get<string | null>("cpuModel", null);
        sources.cpuModels = sources.cpuModel ?? "default";
        delete sources.cpuModel;
        return m === null || m === "" ? [] : [m];
      })();
  const kvmLike = virtType === "kvm" || virtType === "qemu";
  const cpuMode = rawCpuMode ?? (kvmLike ? "host-model" : "none");

  const cpuModeFound = findEffectiveAssignment(docs, "libvirt", ["cpu_mode"]);
  const modelsFound = findEffectiveAssignment(
    docs,
    "libvirt",
    atLeast(release, "train") ? ["cpu_models", "cpu_model"] : ["cpu_model"],
  );
  if (cpuMode === "custom" && cpuModels.length === 0) {
    const modelOption = atLeast(release, "train") ? "cpu_models" : "cpu_model";
    if (atLeast(release, "train") && cpuModeFound && options.cpuConsistency !== "warn") {
      throw invalid(
        cpuModeFound,
        "libvirt",
        `needs ${modelOption}, which is not set`,
        `Set it, e.g. ${modelOption} = kvm64.`,
      );
    }
    warnings.push(
      `cpu_mode = custom needs ${modelOption}, which is not set; instances would fail to start on this host.`,
    );
  }
  if (cpuMode !== "custom" && cpuModels.length > 0) {
    if (atLeast(release, "train") && modelsFound && options.cpuConsistency !== "warn") {
      throw invalid(
        modelsFound,
        "libvirt",
        `is set while cpu_mode is ${cpuMode}`,
        "Set cpu_mode = custom or remove the model.",
      );
    }
    warnings.push(
      `A CPU model is set while cpu_mode is ${cpuMode}; nova refuses to start instances with that.`,
    );
  }

  let migrationFlags: string[] | null = null;
  let autoConverge: boolean;
  let postCopy: boolean;
  if (release.major <= 13) {
    const tunnelled = get<boolean | null>("tunnelled", null);
    const raw = get<string>("liveMigrationFlag", MITAKA_LIVE_MIGRATION_FLAG_DEFAULT);
    const found = findEffectiveAssignment(docs, "libvirt", ["live_migration_flag"]);
    migrationFlags = mitakaFlags(found, raw, virtType, tunnelled, options.unknownFlags ?? "error", warnings);
    sources.migrationFlags = sources.liveMigrationFlag ?? "default";
    delete sources.liveMigrationFlag;
    delete sources.tunnelled;
    autoConverge = migrationFlags.includes("VIR_MIGRATE_AUTO_CONVERGE");
    sources.autoConverge = sources.migrationFlags;
    // Mitaka's nova never calls migrateStartPostCopy, so a POSTCOPY flag does not make it post-copy.
    postCopy = false;
    sources.postCopy = "default";
  } else {
    autoConverge = get<boolean>("permitAutoConverge", false);
    postCopy = get<boolean>("permitPostCopy", false);
    sources.autoConverge = sources.permitAutoConverge!;
    sources.postCopy = sources.permitPostCopy!;
    delete sources.permitAutoConverge;
    delete sources.permitPostCopy;
  }

  let downtimeMs = get<number>("downtime", 500);
  let downtimeSteps = get<number>("downtimeSteps", 10);
  let downtimeDelayS = get<number>("downtimeDelay", 75);
  if (release.major <= 15) {
    downtimeMs = Math.max(downtimeMs, DOWNTIME_MIN_MS);
    downtimeSteps = Math.max(downtimeSteps, DOWNTIME_STEPS_MIN);
    downtimeDelayS = Math.max(downtimeDelayS, DOWNTIME_DELAY_MIN_S_ROUNDED);
  }
  const progressTimeoutS = olderThan(release, "stein")
    ? get<number>("progressTimeout", olderThan(release, "ocata") ? 150 : 0)
    : 0;
  if (!olderThan(release, "stein")) sources.progressTimeout = "default";
  const timeoutAction = get<string>("timeoutAction", "abort") as "abort" | "force_complete";

  const settings: LiveMigrationSettings = {
    release,
    autoConverge,
    postCopy,
    autoConvergeEffective: autoConverge && !postCopy,
    migrationFlags,
    downtimeMs,
    downtimeSteps,
    downtimeDelayS,
    completionTimeoutS: get<number>("completionTimeout", 800),
    progressTimeoutS,
    timeoutAction,
    maxConcurrent: get<number>("maxConcurrent", 1),
    bandwidthMiBps: get<number>("bandwidth", 0),
    cpuMode,
    cpuModels,
    virtType,
    sources: renameSources(sources),
    warnings,
  };
  if (autoConverge && postCopy) {
    warnings.push(
      "Both auto-converge and post-copy are permitted: nova uses post-copy and leaves auto-converge off.",
    );
  }
  return settings;
}

// Sources are keyed by the LiveMigrationSettings field they explain.
const SOURCE_FIELD: Record<string, string> = {
  downtime: "downtimeMs",
  downtimeSteps: "downtimeSteps",
  downtimeDelay: "downtimeDelayS",
  completionTimeout: "completionTimeoutS",
  progressTimeout: "progressTimeoutS",
  bandwidth: "bandwidthMiBps",
};

function renameSources(sources: Record<string, SettingSource>): Record<string, SettingSource> {
  const out: Record<string, SettingSource> = {};
  for (const [k, v] of Object.entries(sources)) out[SOURCE_FIELD[k] ?? k] = v;
  return out;
}
