import { postCopyEnabled } from "./monitor";
import { type NovaReleaseRef, novaRelease } from "./releases";

/**
 * The `VIR_MIGRATE_*` flags nova-compute passes to libvirt for a live (and a block) migration, and
 * the options that decide them: Mitaka's two flag strings, Newton's permit options.
 */

/**
 * libvirt's virDomainMigrateFlags, in their bit order (include/libvirt/libvirt-domain.h: LIVE
 * = 1 << 0 … ZEROCOPY = 1 << 20). Mitaka resolves each name in its flag strings with
 * `getattr(libvirt, name)`, so a name the host's libvirt-python lacks is ignored like a typo.
 */
export const LIBVIRT_MIGRATE_FLAGS = [
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
] as const;

export type LibvirtMigrateFlag = (typeof LIBVIRT_MIGRATE_FLAGS)[number];

/** [libvirt] live_migration_flag default of Mitaka (13.0.0 nova/virt/libvirt/driver.py), deprecated for removal. */
export const MITAKA_LIVE_MIGRATION_FLAG_DEFAULT =
  "VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED";
/** [libvirt] block_migration_flag default of Mitaka (13.0.0 driver.py), deprecated for removal. */
export const MITAKA_BLOCK_MIGRATION_FLAG_DEFAULT =
  "VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED, VIR_MIGRATE_NON_SHARED_INC";

/** A [libvirt] option that decides flags, with its default (null = unset). */
export interface FlagOption<T> {
  option: string;
  default: T;
  deprecated?: boolean;
}

/** Which flag options exist in a release ([libvirt] group), with their defaults. */
export interface FlagOptions {
  /** Mitaka only; removed in 14.0.0. */
  liveMigrationFlag: FlagOption<string> | null;
  blockMigrationFlag: FlagOption<string> | null;
  /** Mitaka: unset (None) leaves the flag strings alone; 14.0.0+: False; deprecated from 23.0.0. */
  tunnelled: FlagOption<boolean | null>;
  /** 14.0.0+. */
  permitAutoConverge: FlagOption<boolean> | null;
  /** 14.0.0+. */
  permitPostCopy: FlagOption<boolean> | null;
  /** 19.0.0+. */
  withNativeTls: FlagOption<boolean> | null;
  /** 33.0.0+ (`VIR_MIGRATE_PARALLEL` when above 1). */
  parallelConnections: FlagOption<number> | null;
}

/** The flag options of a release, from its nova/conf/libvirt.py (13.0.0: driver.py). */
export function flagOptions(release: NovaReleaseRef): FlagOptions {
  const r = novaRelease(release);
  const mitaka = r.major <= 13;
  return {
    liveMigrationFlag: mitaka
      ? { option: "live_migration_flag", default: MITAKA_LIVE_MIGRATION_FLAG_DEFAULT, deprecated: true }
      : null,
    blockMigrationFlag: mitaka
      ? { option: "block_migration_flag", default: MITAKA_BLOCK_MIGRATION_FLAG_DEFAULT, deprecated: true }
      : null,
    tunnelled: {
      option: "live_migration_tunnelled",
      default: mitaka ? null : false,
      ...(r.major >= 23 && { deprecated: true }),
    },
    permitAutoConverge: mitaka ? null : { option: "live_migration_permit_auto_converge", default: false },
    permitPostCopy: mitaka ? null : { option: "live_migration_permit_post_copy", default: false },
    withNativeTls: r.major >= 19 ? { option: "live_migration_with_native_tls", default: false } : null,
    parallelConnections: r.major >= 33 ? { option: "live_migration_parallel_connections", default: 1 } : null,
  };
}

export interface MigrationFlagsInput {
  /** [libvirt] virt_type. @defaultValue "kvm" */
  virtType?: string;
  /** Mitaka: [libvirt] live_migration_flag. @defaultValue {@link MITAKA_LIVE_MIGRATION_FLAG_DEFAULT} */
  liveMigrationFlag?: string;
  /** Mitaka: [libvirt] block_migration_flag. @defaultValue {@link MITAKA_BLOCK_MIGRATION_FLAG_DEFAULT} */
  blockMigrationFlag?: string;
  /** [libvirt] live_migration_tunnelled; null = unset (Mitaka leaves its flag strings alone then; Newton+ reads False). */
  tunnelled?: boolean | null;
  permitAutoConverge?: boolean;
  permitPostCopy?: boolean;
  /** The host meets `postCopyRequirements` (Newton–Stein). @defaultValue true */
  postCopyAvailable?: boolean;
  /** Newton–Ocata: libvirt ≥ 1.2.3 and QEMU ≥ 1.6.0 (MIN_*_AUTO_CONVERGE). @defaultValue true */
  autoConvergeAvailable?: boolean;
  /** [libvirt] live_migration_with_native_tls (Stein+). */
  withNativeTls?: boolean;
  /** Stein–Victoria: libvirt ≥ 4.4.0 and QEMU ≥ 2.11.0 (MIN_*_NATIVE_TLS_VERSION). @defaultValue true */
  nativeTlsAvailable?: boolean;
  /** [libvirt] live_migration_parallel_connections (33.0.0+). @defaultValue 1 */
  parallelConnections?: number;
  /** Flag names the host's libvirt-python defines (Mitaka's getattr). @defaultValue {@link LIBVIRT_MIGRATE_FLAGS} */
  knownFlags?: readonly string[];
}

export interface MigrationFlags {
  /** Flags of a live migration on shared storage, in libvirt's bit order. */
  live: LibvirtMigrateFlag[];
  /** Flags of a block migration. */
  block: LibvirtMigrateFlag[];
  /** Mitaka: names in the flag strings that libvirt does not define (Nova logs and ignores them). */
  ignored: string[];
}

function ordered(set: Set<string>): LibvirtMigrateFlag[] {
  return LIBVIRT_MIGRATE_FLAGS.filter((f) => set.has(f));
}

/** Mitaka's `_parse_migration_flags` (13.0.0 driver.py): the strings, then its fix-ups. */
function mitakaFlags(
  input: MigrationFlagsInput,
  ignored: string[],
): { live: Set<string>; block: Set<string> } {
  const known = input.knownFlags ?? LIBVIRT_MIGRATE_FLAGS;
  // str2sum: `for s in [i.strip() for i in str_val.split(',') if i]`, getattr(libvirt, s).
  const parse = (text: string) => {
    const set = new Set<string>();
    for (const piece of text.split(",")) {
      if (piece === "") continue;
      const name = piece.trim();
      if (known.includes(name) && (LIBVIRT_MIGRATE_FLAGS as readonly string[]).includes(name)) set.add(name);
      else if (!ignored.includes(name)) ignored.push(name);
    }
    return set;
  };
  const live = parse(input.liveMigrationFlag ?? MITAKA_LIVE_MIGRATION_FLAG_DEFAULT);
  const block = parse(input.blockMigrationFlag ?? MITAKA_BLOCK_MIGRATION_FLAG_DEFAULT);
  const virtType = input.virtType ?? "kvm";
  for (const flags of [live, block]) {
    // _check_required_migration_flags
    if (virtType === "xen") flags.delete("VIR_MIGRATE_PEER2PEER");
    else flags.add("VIR_MIGRATE_PEER2PEER");
    flags.add("VIR_MIGRATE_UNDEFINE_SOURCE");
    flags.delete("VIR_MIGRATE_PERSIST_DEST");
  }
  // _check_block_migration_flags
  live.delete("VIR_MIGRATE_NON_SHARED_INC");
  block.add("VIR_MIGRATE_NON_SHARED_INC");
  // _handle_live_migration_tunnelled: None leaves the strings as they are.
  for (const flags of [live, block]) {
    if (input.tunnelled === true) flags.add("VIR_MIGRATE_TUNNELLED");
    if (input.tunnelled === false) flags.delete("VIR_MIGRATE_TUNNELLED");
  }
  return { live, block };
}

/**
 * Newton+'s `_parse_migration_flags` (driver.py): `_prepare_migration_flags` (LIVE, PEER2PEER unless
 * virt_type xen — always from 23.0.0 —, UNDEFINE_SOURCE, PERSIST_DEST from 15.0.0; block adds
 * NON_SHARED_INC), then TUNNELLED when live_migration_tunnelled, POSTCOPY when permitted (and
 * available), AUTO_CONVERGE when permitted and POSTCOPY is not set (post-copy wins), TLS when
 * live_migration_with_native_tls (19.0.0+), PARALLEL when live_migration_parallel_connections > 1
 * (33.0.0+).
 */
function newtonFlags(major: number, input: MigrationFlagsInput): Set<string> {
  const flags = new Set<string>(["VIR_MIGRATE_LIVE", "VIR_MIGRATE_UNDEFINE_SOURCE"]);
  if (major >= 23 || (input.virtType ?? "kvm") !== "xen") flags.add("VIR_MIGRATE_PEER2PEER");
  if (major >= 15) flags.add("VIR_MIGRATE_PERSIST_DEST");
  // Newton–Queens test `tunnelled is None or tunnelled`, but the option defaults to False there (and
  // a config file cannot set None), so unset means no tunnel on every Newton+ release.
  if (input.tunnelled === true) flags.add("VIR_MIGRATE_TUNNELLED");
  const postCopy = postCopyEnabled(major, {
    permitPostCopy: input.permitPostCopy === true,
    ...(input.postCopyAvailable !== undefined && { postCopyAvailable: input.postCopyAvailable }),
  });
  if (postCopy) flags.add("VIR_MIGRATE_POSTCOPY");
  // 14.0.0–15.x also need libvirt ≥ 1.2.3 / QEMU ≥ 1.6.0; 16.0.0's minimum versions made that moot.
  const autoConvergeAvailable = major >= 16 || input.autoConvergeAvailable !== false;
  if (input.permitAutoConverge === true && !postCopy && autoConvergeAvailable) {
    flags.add("VIR_MIGRATE_AUTO_CONVERGE");
  }
  // 19.0.0–22.x check MIN_LIBVIRT_NATIVE_TLS_VERSION / MIN_QEMU_NATIVE_TLS_VERSION; 23.0.0 does not.
  const tlsAvailable = major >= 23 || input.nativeTlsAvailable !== false;
  if (major >= 19 && input.withNativeTls === true && tlsAvailable) flags.add("VIR_MIGRATE_TLS");
  if (major >= 33 && (input.parallelConnections ?? 1) > 1) flags.add("VIR_MIGRATE_PARALLEL");
  return flags;
}

/** The flags Nova migrates with, for a live and a block migration. */
export function migrationFlags(release: NovaReleaseRef, input: MigrationFlagsInput = {}): MigrationFlags {
  const r = novaRelease(release);
  const ignored: string[] = [];
  if (r.major <= 13) {
    const { live, block } = mitakaFlags(input, ignored);
    return { live: ordered(live), block: ordered(block), ignored };
  }
  const live = newtonFlags(r.major, input);
  const block = new Set(live);
  block.add("VIR_MIGRATE_NON_SHARED_INC");
  return { live: ordered(live), block: ordered(block), ignored };
}
