import {
  allocationRatioOption,
  capacityOptions,
  cpuComparison,
  defaultCpuMode,
  destinationComparesCpu,
  downtimeOptions,
  effectiveAllocationRatio,
  flagOptions,
  LIBVIRT_MIGRATE_FLAGS,
  type LibvirtMigrateFlag,
  migrationFlags,
  NovaFactsError,
  timeoutOptions,
  virtTypeOption,
} from "../nova-facts";
import { type Assignment, type NovaConfDocument, normalizeGroup, parseNovaConf } from "./document";
import { NovaConfError } from "./errors";
import { shownValue } from "./redact";
import { KNOWN_RELEASES, type ReleaseInfo, releaseLabel } from "./releases";

/**
 * The live-migration settings nova-compute would run with, read from its config files the way
 * oslo.config reads them (later `--config-file` overrides earlier, last value in a file wins,
 * deprecated names honoured). Which options exist in a release, their defaults, minimums and
 * choices, and how Nova turns them into libvirt flags all come from src/nova-facts, which cites the
 * nova tag and file of each.
 */
export interface LiveMigrationSettings {
  release: ReleaseInfo;
  /**
   * Auto-converge requested for every migration type: Mitaka, VIR_MIGRATE_AUTO_CONVERGE in both
   * live_migration_flag and block_migration_flag; Newton+, live_migration_permit_auto_converge.
   */
  autoConverge: boolean;
  /** `live_migration_permit_post_copy` (Newton+); always false on Mitaka, whose nova never switches to post-copy. */
  postCopy: boolean;
  /** Auto-converge in effect for every migration type (post-copy wins over it from Newton on). */
  autoConvergeEffective: boolean;
  /** Auto-converge in effect per migration type: live (shared storage) and block (local disks copied). */
  autoConvergeFor: { live: boolean; block: boolean };
  /** The VIR_MIGRATE_* flags nova passes to libvirt, per migration type, in libvirt's bit order. */
  flags: { live: string[]; block: string[] };
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
  /** The CPU mode guests get: an unset cpu_mode resolves as nova resolves it (host-model for kvm/qemu, else none). */
  cpuMode: string;
  cpuModels: string[];
  /** [libvirt] cpu_model_extra_flags as written (`+flag`, `-flag` or `flag`), empty where the option does not exist. */
  cpuModelExtraFlags: string[];
  virtType: string;
  /** [workarounds] skip_cpu_compare_on_dest (Yoga 25.1.0+; false where it does not exist). */
  skipCpuCompareOnDest: boolean;
  /** [workarounds] skip_cpu_compare_at_startup (Zed 26.2.1+; false where it does not exist). */
  skipCpuCompareAtStartup: boolean;
  /** Whether this host, as a live-migration destination, compares the guest's CPU at all (kvm only from 13.1.0). */
  comparesCpuAsDestination: boolean;
  /** [DEFAULT] capacity options nova-compute reports to the scheduler. */
  capacity: CapacitySettings;
  /** Where each field above came from: a file and line, or the release default. */
  sources: Record<string, SettingSource>;
  /** Things an operator should know: ignored lines, options of another release, deprecated names. */
  warnings: string[];
}

export interface CapacitySettings {
  reservedHostMemoryMb: number;
  /** [DEFAULT] cpu_allocation_ratio / ram_allocation_ratio as configured; null = not set. */
  cpuAllocationRatio: number | null;
  ramAllocationRatio: number | null;
  /** Stein+: initial_*_allocation_ratio when configured. */
  initialCpuAllocationRatio?: number;
  initialRamAllocationRatio?: number;
}

export type SettingSource = { path: string; line: number; option: string } | "default";

export interface ConfigFile {
  path: string;
  text: string;
}

export interface EffectiveOptions {
  /**
   * What to do with a flag name libvirt does not define in `live_migration_flag` or
   * `block_migration_flag` (Mitaka). Mitaka's nova logs "Ignoring unknown libvirt live migration
   * flag" and carries on, but the flag is nearly always a typo (VIR_MIGRATE_AUTOCONVERGE) that
   * leaves the intended behaviour off, so migbot treats it as an error unless told to behave like nova.
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

/** The libvirt flag that turns auto-converge on (one of src/nova-facts' LIBVIRT_MIGRATE_FLAGS). */
export const AUTO_CONVERGE_FLAG: LibvirtMigrateFlag = "VIR_MIGRATE_AUTO_CONVERGE";

/** How a migration copies the guest's disks: live (shared storage, none copied) or block (local disks copied). */
export type MigrationType = "live" | "block";

/** Auto-converge for one migration type on this host, as nova-compute would run it. */
export function autoConvergeFor(settings: LiveMigrationSettings, type: MigrationType): boolean {
  return settings.autoConvergeFor[type];
}

type OptType = "bool" | "int" | "float" | "str" | "list";

interface OptSpec {
  group: string;
  name: string;
  type: OptType;
  /** Whether the release has the option (src/nova-facts). */
  exists: (release: ReleaseInfo) => boolean;
  deprecatedNames?: (release: ReleaseInfo) => string[];
  choices?: (release: ReleaseInfo) => readonly string[];
  min?: (release: ReleaseInfo) => number | null | undefined;
}

// [libvirt] cpu_mode choices, the same at every tag (13.0.0 nova/virt/libvirt/driver.py libvirt_opts;
// 14.0.0+ nova/conf/libvirt.py).
const CPU_MODES = ["host-model", "host-passthrough", "custom", "none"] as const;

const always = () => true;
/** An oslo.config `min=` of a downtime option: only from Pike, where oslo rejects; before that nova rounds up. */
const enforcedMin = (opt: { min: number; belowMinimum: string }) =>
  opt.belowMinimum === "rejected" ? opt.min : undefined;

const OPTS = {
  virtType: {
    group: "libvirt",
    name: "virt_type",
    type: "str",
    exists: always,
    choices: (r) => virtTypeOption(r).choices,
  },
  cpuMode: { group: "libvirt", name: "cpu_mode", type: "str", exists: always, choices: () => CPU_MODES },
  cpuModel: {
    group: "libvirt",
    name: "cpu_model",
    type: "str",
    exists: (r) => cpuComparison(r).cpuModelOption === "cpu_model",
  },
  cpuModels: {
    group: "libvirt",
    name: "cpu_models",
    type: "list",
    exists: (r) => cpuComparison(r).cpuModelOption === "cpu_models",
    deprecatedNames: () => ["cpu_model"],
  },
  cpuModelExtraFlags: {
    group: "libvirt",
    name: "cpu_model_extra_flags",
    type: "list",
    exists: (r) => cpuComparison(r).extraFlags !== null,
  },
  skipCpuCompareOnDest: {
    group: "workarounds",
    name: "skip_cpu_compare_on_dest",
    type: "bool",
    exists: (r) => cpuComparison(r).skipOnDestOption !== null,
  },
  skipCpuCompareAtStartup: {
    group: "workarounds",
    name: "skip_cpu_compare_at_startup",
    type: "bool",
    exists: (r) => cpuComparison(r).startupCheck?.skipOption != null,
  },
  liveMigrationFlag: {
    group: "libvirt",
    name: "live_migration_flag",
    type: "str",
    exists: (r) => flagOptions(r).liveMigrationFlag !== null,
  },
  blockMigrationFlag: {
    group: "libvirt",
    name: "block_migration_flag",
    type: "str",
    exists: (r) => flagOptions(r).blockMigrationFlag !== null,
  },
  tunnelled: { group: "libvirt", name: "live_migration_tunnelled", type: "bool", exists: always },
  permitAutoConverge: {
    group: "libvirt",
    name: "live_migration_permit_auto_converge",
    type: "bool",
    exists: (r) => flagOptions(r).permitAutoConverge !== null,
  },
  permitPostCopy: {
    group: "libvirt",
    name: "live_migration_permit_post_copy",
    type: "bool",
    exists: (r) => flagOptions(r).permitPostCopy !== null,
  },
  withNativeTls: {
    group: "libvirt",
    name: "live_migration_with_native_tls",
    type: "bool",
    exists: (r) => flagOptions(r).withNativeTls !== null,
  },
  parallelConnections: {
    group: "libvirt",
    name: "live_migration_parallel_connections",
    type: "int",
    exists: (r) => flagOptions(r).parallelConnections !== null,
  },
  downtime: {
    group: "libvirt",
    name: "live_migration_downtime",
    type: "int",
    exists: always,
    min: (r) => enforcedMin(downtimeOptions(r).downtimeMs),
  },
  downtimeSteps: {
    group: "libvirt",
    name: "live_migration_downtime_steps",
    type: "int",
    exists: always,
    min: (r) => enforcedMin(downtimeOptions(r).steps),
  },
  downtimeDelay: {
    group: "libvirt",
    name: "live_migration_downtime_delay",
    type: "int",
    exists: always,
    min: (r) => enforcedMin(downtimeOptions(r).delayS),
  },
  completionTimeout: {
    group: "libvirt",
    name: "live_migration_completion_timeout",
    type: "int",
    exists: always,
    min: (r) => timeoutOptions(r).completion.min,
  },
  progressTimeout: {
    group: "libvirt",
    name: "live_migration_progress_timeout",
    type: "int",
    exists: (r) => timeoutOptions(r).progress !== null,
  },
  timeoutAction: {
    group: "libvirt",
    name: "live_migration_timeout_action",
    type: "str",
    exists: (r) => timeoutOptions(r).action !== null,
    choices: (r) => timeoutOptions(r).action?.choices ?? [],
  },
  bandwidth: { group: "libvirt", name: "live_migration_bandwidth", type: "int", exists: always },
  maxConcurrent: {
    group: "DEFAULT",
    name: "max_concurrent_live_migrations",
    type: "int",
    exists: always,
    min: (r) => capacityOptions(r).maxConcurrentLiveMigrations.min,
  },
  reservedHostMemory: {
    group: "DEFAULT",
    name: "reserved_host_memory_mb",
    type: "int",
    exists: always,
    min: (r) => capacityOptions(r).reservedHostMemoryMb.min,
  },
  cpuAllocationRatio: { group: "DEFAULT", name: "cpu_allocation_ratio", type: "float", exists: always },
  ramAllocationRatio: { group: "DEFAULT", name: "ram_allocation_ratio", type: "float", exists: always },
  initialCpuAllocationRatio: {
    group: "DEFAULT",
    name: "initial_cpu_allocation_ratio",
    type: "float",
    exists: (r) => allocationRatioOption(r, "cpu").initialOption !== null,
  },
  initialRamAllocationRatio: {
    group: "DEFAULT",
    name: "initial_ram_allocation_ratio",
    type: "float",
    exists: (r) => allocationRatioOption(r, "ram").initialOption !== null,
  },
} satisfies Record<string, OptSpec>;

type OptId = keyof typeof OPTS;

/** "[libvirt] cpu_models": how an option is named to people. */
export function optionLabel(group: string, name: string): string {
  return `[${group}] ${name}`;
}

/** First and last nova major (of those migbot knows) that have the option, for "only exists from" warnings. */
function existsRange(spec: OptSpec): { first: number; last: number } | null {
  const majors = KNOWN_RELEASES.filter((r) => spec.exists(r)).map((r) => r.major);
  return majors.length === 0 ? null : { first: majors[0]!, last: majors[majors.length - 1]! };
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

function checkMin(found: Found, group: string, n: number, min: number | null | undefined): number {
  if (min !== undefined && min !== null && n < min) {
    throw invalid(found, group, `is below the minimum ${min}`, `Write ${min} or more, or remove the line.`);
  }
  return n;
}

function parseInt10(found: Found, group: string, min: number | null | undefined): number {
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
  return checkMin(found, group, Number(v.replace(/_/g, "")), min);
}

function parseFloat10(found: Found, group: string, min: number | null | undefined): number {
  const v = found.assignment.value.trim();
  // Python's float(): decimal or exponent notation (inf/nan are not ratios anyone means).
  if (!/^[+-]?(?:\d+(?:_\d+)*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(v)) {
    throw invalid(found, group, v === "" ? "is empty" : "is not a number", "Write a number such as 1.0.");
  }
  return checkMin(found, group, Number(v.replace(/_/g, "")), min);
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
  if (!spec.exists(release)) return { value: fallback, source: "default" };
  const found = findEffectiveAssignment(docs, spec.group, [
    spec.name,
    ...(spec.deprecatedNames?.(release) ?? []),
  ]);
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
    float: (f: Found) => parseFloat10(f, spec.group, spec.min?.(release)),
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
  const deprecated = (o: OptSpec) => o.deprecatedNames?.(release) ?? [];
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
        if (a.key !== spec.name && !deprecated(spec).includes(a.key)) continue;
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
        if (a.key === spec.name && !spec.exists(release)) {
          // cpu_model is still read on Train+ as the deprecated name of cpu_models: not "ignored".
          const readAsAlias = specs.some((o) => o.exists(release) && deprecated(o).includes(a.key));
          if (readAsAlias) continue;
          const range = existsRange(spec);
          const when =
            range === null
              ? "is not an option of any release migbot knows"
              : release.major < range.first
                ? `only exists from nova ${range.first}`
                : release.major > range.last
                  ? `was removed after nova ${range.last}`
                  : `is not an option of nova ${release.version.join(".")} (it came in a later point release)`;
          warnings.push(
            `${where(doc, a)}: ${optionLabel(spec.group, a.key)} ${when}; ${releaseLabel(release)} ignores it.`,
          );
        } else if (a.key !== spec.name && spec.exists(release)) {
          warnings.push(
            `${where(doc, a)}: ${optionLabel(spec.group, a.key)} is the deprecated name of ${spec.name} on ${releaseLabel(release)}; it is still read, but rename it.`,
          );
        }
      }
    }
  }
  return [...new Set(warnings)];
}

/**
 * Mitaka's flag strings checked name by name: libvirt resolves each with `getattr(libvirt, name)`,
 * so a name it does not define is ignored (a typo that silently leaves the intended flag off).
 */
function checkFlagNames(
  option: string,
  found: Found | undefined,
  raw: string,
  unknownFlags: "error" | "ignore",
  warnings: string[],
): void {
  const known: readonly string[] = LIBVIRT_MIGRATE_FLAGS;
  for (const name of raw.split(",").map((s) => s.trim())) {
    if (name === "" || known.includes(name)) continue;
    if (unknownFlags === "error" && found) {
      throw invalid(
        found,
        "libvirt",
        `names '${name}', which is not a libvirt migration flag`,
        `Known flags: ${known.join(", ")}.`,
      );
    }
    warnings.push(`${option}: nova ignores the unknown libvirt flag '${name}'.`);
  }
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
  const found = (id: OptId): Found | undefined => {
    const spec: OptSpec = OPTS[id];
    if (!spec.exists(release)) return undefined;
    return findEffectiveAssignment(docs, spec.group, [spec.name, ...(spec.deprecatedNames?.(release) ?? [])]);
  };
  const cpuFacts = cpuComparison(release);
  const flagOpts = flagOptions(release);

  const virtType = get<string>("virtType", virtTypeOption(release).default);
  const cpu = cpuSettings(release, virtType, get, found, warnings, options);
  const skipCpuCompareOnDest = get<boolean>("skipCpuCompareOnDest", false);
  const skipCpuCompareAtStartup = get<boolean>("skipCpuCompareAtStartup", false);

  // Flags: Mitaka's two strings, or Newton+'s permit options, turned into libvirt flags by nova-facts.
  let flags: { live: string[]; block: string[] };
  let autoConverge: boolean;
  let postCopy: boolean;
  if (flagOpts.liveMigrationFlag && flagOpts.blockMigrationFlag) {
    const tunnelled = get<boolean | null>("tunnelled", flagOpts.tunnelled.default);
    const liveRaw = get<string>("liveMigrationFlag", flagOpts.liveMigrationFlag.default);
    const blockRaw = get<string>("blockMigrationFlag", flagOpts.blockMigrationFlag.default);
    const unknown = options.unknownFlags ?? "error";
    checkFlagNames("live_migration_flag", found("liveMigrationFlag"), liveRaw, unknown, warnings);
    checkFlagNames("block_migration_flag", found("blockMigrationFlag"), blockRaw, unknown, warnings);
    flags = migrationFlags(release, {
      virtType,
      liveMigrationFlag: liveRaw,
      blockMigrationFlag: blockRaw,
      tunnelled,
    });
    sources.liveMigrationFlags = sources.liveMigrationFlag ?? "default";
    sources.blockMigrationFlags = sources.blockMigrationFlag ?? "default";
    delete sources.liveMigrationFlag;
    delete sources.blockMigrationFlag;
    autoConverge = flags.live.includes(AUTO_CONVERGE_FLAG) && flags.block.includes(AUTO_CONVERGE_FLAG);
    // The list that lacks it is where auto-converge is decided; when both have it, the live list.
    sources.autoConverge =
      flags.live.includes(AUTO_CONVERGE_FLAG) && !autoConverge
        ? sources.blockMigrationFlags
        : sources.liveMigrationFlags;
    // Mitaka's nova never calls migrateStartPostCopy, so a POSTCOPY flag does not make it post-copy.
    postCopy = false;
    sources.postCopy = "default";
  } else {
    autoConverge = get<boolean>("permitAutoConverge", flagOpts.permitAutoConverge?.default ?? false);
    postCopy = get<boolean>("permitPostCopy", flagOpts.permitPostCopy?.default ?? false);
    const tunnelled = get<boolean | null>("tunnelled", flagOpts.tunnelled.default);
    const withNativeTls = get<boolean>("withNativeTls", flagOpts.withNativeTls?.default ?? false);
    const parallelConnections = get<number>(
      "parallelConnections",
      flagOpts.parallelConnections?.default ?? 1,
    );
    flags = migrationFlags(release, {
      virtType,
      tunnelled,
      permitAutoConverge: autoConverge,
      permitPostCopy: postCopy,
      withNativeTls,
      parallelConnections,
    });
    sources.autoConverge = sources.permitAutoConverge!;
    sources.postCopy = sources.permitPostCopy!;
    delete sources.permitAutoConverge;
    delete sources.permitPostCopy;
  }
  delete sources.tunnelled;
  delete sources.withNativeTls;
  delete sources.parallelConnections;
  const autoConvergeFor = {
    live: flags.live.includes(AUTO_CONVERGE_FLAG),
    block: flags.block.includes(AUTO_CONVERGE_FLAG),
  };

  const downtime = downtimeOptions(release);
  let downtimeMs = get<number>("downtime", downtime.downtimeMs.default);
  let downtimeSteps = get<number>("downtimeSteps", downtime.steps.default);
  let downtimeDelayS = get<number>("downtimeDelay", downtime.delayS.default);
  // Mitaka–Ocata round a smaller value up in code instead of refusing it.
  if (downtime.downtimeMs.belowMinimum === "rounded-up")
    downtimeMs = Math.max(downtimeMs, downtime.downtimeMs.min);
  if (downtime.steps.belowMinimum === "rounded-up")
    downtimeSteps = Math.max(downtimeSteps, downtime.steps.min);
  if (downtime.delayS.belowMinimum === "rounded-up")
    downtimeDelayS = Math.max(downtimeDelayS, downtime.delayS.min);

  const timeouts = timeoutOptions(release);
  const progressTimeoutS = timeouts.progress ? get<number>("progressTimeout", timeouts.progress.defaultS) : 0;
  if (!timeouts.progress) sources.progressTimeout = "default";
  const timeoutAction = get<string>("timeoutAction", timeouts.action?.default ?? "abort") as
    | "abort"
    | "force_complete";

  const capacity = capacitySettings(release, get, found);

  const settings: LiveMigrationSettings = {
    release,
    autoConverge,
    postCopy,
    autoConvergeEffective: autoConvergeFor.live && autoConvergeFor.block,
    autoConvergeFor,
    flags,
    downtimeMs,
    downtimeSteps,
    downtimeDelayS,
    completionTimeoutS: get<number>("completionTimeout", timeouts.completion.defaultSPerGiB),
    progressTimeoutS,
    timeoutAction,
    maxConcurrent: get<number>("maxConcurrent", capacityOptions(release).maxConcurrentLiveMigrations.default),
    bandwidthMiBps: get<number>("bandwidth", capacityOptions(release).liveMigrationBandwidth.defaultMiBps),
    ...cpu,
    virtType,
    skipCpuCompareOnDest,
    skipCpuCompareAtStartup,
    comparesCpuAsDestination: destinationComparesCpu(release, { virtType, skipCpuCompareOnDest }),
    capacity,
    sources: renameSources(sources),
    warnings,
  };
  if (autoConverge && postCopy) {
    warnings.push(
      "Both auto-converge and post-copy are permitted: nova uses post-copy and leaves auto-converge off.",
    );
  }
  if (cpuFacts.skipOnDestOption !== null && skipCpuCompareOnDest) {
    warnings.push(
      `[workarounds] ${cpuFacts.skipOnDestOption} = true: as a destination this host accepts any guest CPU without asking libvirt; a guest whose CPU it lacks fails at the switch-over instead of at the pre-check.`,
    );
  }
  return settings;
}

type Getter = <T>(id: OptId, fallback: T) => T;

/** cpu_mode, the CPU model option(s) and cpu_model_extra_flags, with Train+'s start-up consistency rules. */
function cpuSettings(
  release: ReleaseInfo,
  virtType: string,
  get: Getter,
  found: (id: OptId) => Found | undefined,
  warnings: string[],
  options: EffectiveOptions,
): Pick<LiveMigrationSettings, "cpuMode" | "cpuModels" | "cpuModelExtraFlags"> {
  const facts = cpuComparison(release);
  const modelOption = facts.cpuModelOption;
  // Train+ nova-compute checks cpu_mode and cpu_models at start-up (`_check_cpu_compatibility`) and
  // refuses to start; before Train only instances fail to start.
  const refusesAtStart = facts.startupCheck !== null && options.cpuConsistency !== "warn";
  const rawCpuMode = get<string | null>("cpuMode", null);
  let cpuModels: string[];
  if (modelOption === "cpu_models") {
    cpuModels = get<string[]>("cpuModels", []);
  } else {
    const m = get<string | null>("cpuModel", null);
    cpuModels = m === null || m === "" ? [] : [m];
  }
  const cpuMode = rawCpuMode ?? defaultCpuMode(release, { virtType });
  const cpuModeFound = found("cpuMode");
  const modelsFound = found(modelOption === "cpu_models" ? "cpuModels" : "cpuModel");
  if (
    facts.startupCheck !== null &&
    virtType !== "kvm" &&
    virtType !== "qemu" &&
    rawCpuMode !== null &&
    rawCpuMode !== "none"
  ) {
    if (refusesAtStart && cpuModeFound) {
      throw invalid(
        cpuModeFound,
        "libvirt",
        `asks for a CPU model, but virt_type ${virtType} does not support selecting CPU models`,
        "Remove cpu_mode (or set it to none) on this host.",
      );
    }
    warnings.push(
      `cpu_mode = ${rawCpuMode} is ignored: virt_type ${virtType} does not support selecting CPU models.`,
    );
  }
  if (cpuMode === "custom" && cpuModels.length === 0) {
    if (refusesAtStart && cpuModeFound) {
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
    if (refusesAtStart && modelsFound) {
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
  const cpuModelExtraFlags = get<string[]>("cpuModelExtraFlags", []);
  const choices = facts.extraFlags?.choices ?? null;
  const extraFound = found("cpuModelExtraFlags");
  if (choices !== null && extraFound) {
    const bad = cpuModelExtraFlags.filter((f) => !choices.includes(f.toLowerCase()));
    if (bad.length > 0) {
      throw invalid(
        extraFound,
        "libvirt",
        `names ${bad.map((f) => `'${f}'`).join(", ")}, but ${releaseLabel(release)} accepts only ${choices.join(", ")} there`,
        `Use ${choices.join(", ")} or remove the line.`,
      );
    }
  }
  return { cpuMode, cpuModels, cpuModelExtraFlags };
}

/** The [DEFAULT] capacity options, validated as nova-compute validates them. */
function capacitySettings(
  release: ReleaseInfo,
  get: Getter,
  found: (id: OptId) => Found | undefined,
): CapacitySettings {
  const reservedHostMemoryMb = get<number>(
    "reservedHostMemory",
    capacityOptions(release).reservedHostMemoryMb.default,
  );
  const ratio = (id: OptId, resource: "cpu" | "ram"): number | null => {
    const value = get<number | null>(id, null);
    const f = found(id);
    if (value !== null && f) {
      try {
        effectiveAllocationRatio(release, resource, { configured: value });
      } catch (err) {
        if (err instanceof NovaFactsError)
          throw invalid(f, "DEFAULT", "is not a ratio nova accepts", err.message);
        throw err;
      }
    }
    return value;
  };
  const cpuAllocationRatio = ratio("cpuAllocationRatio", "cpu");
  const ramAllocationRatio = ratio("ramAllocationRatio", "ram");
  const initialCpu = ratio("initialCpuAllocationRatio", "cpu");
  const initialRam = ratio("initialRamAllocationRatio", "ram");
  return {
    reservedHostMemoryMb,
    cpuAllocationRatio,
    ramAllocationRatio,
    ...(initialCpu !== null && { initialCpuAllocationRatio: initialCpu }),
    ...(initialRam !== null && { initialRamAllocationRatio: initialRam }),
  };
}

/**
 * The allocation ratio Nova uses for a host with these settings (src/nova-facts
 * `effectiveAllocationRatio`): the configured one, else the release's fallback or the node's
 * initial ratio. `existingNodeRatio` is what Nova already stores for the node (Stein+), when known.
 */
export function allocationRatioOf(
  settings: Pick<LiveMigrationSettings, "release" | "capacity">,
  resource: "cpu" | "ram",
  existingNodeRatio?: number,
): number {
  const c = settings.capacity;
  const configured = resource === "cpu" ? c.cpuAllocationRatio : c.ramAllocationRatio;
  const initial = resource === "cpu" ? c.initialCpuAllocationRatio : c.initialRamAllocationRatio;
  return effectiveAllocationRatio(settings.release, resource, {
    configured,
    ...(initial !== undefined && { configuredInitial: initial }),
    ...(existingNodeRatio !== undefined && { existingNodeRatio }),
  });
}

// Sources are keyed by the LiveMigrationSettings field they explain.
const SOURCE_FIELD: Record<string, string> = {
  downtime: "downtimeMs",
  downtimeSteps: "downtimeSteps",
  downtimeDelay: "downtimeDelayS",
  completionTimeout: "completionTimeoutS",
  progressTimeout: "progressTimeoutS",
  bandwidth: "bandwidthMiBps",
  cpuModel: "cpuModels",
  reservedHostMemory: "reservedHostMemoryMb",
};

function renameSources(sources: Record<string, SettingSource>): Record<string, SettingSource> {
  const out: Record<string, SettingSource> = {};
  for (const [k, v] of Object.entries(sources)) out[SOURCE_FIELD[k] ?? k] = v;
  return out;
}
