import { NovaFactsError } from "./errors";
import { type PythonMajor, pythonIntDivide } from "./python-float";
import { type NovaReleaseRef, novaRelease } from "./releases";

/**
 * The data size Nova scales its downtime delay and completion timeout by:
 * `_live_migration_data_gb` in nova/virt/libvirt/driver.py, the same code from 13.0.0 to 33.0.0 —
 *
 *     ram_gb = instance.flavor.memory_mb * units.Mi / units.Gi   # at least 2
 *     for path in disk_paths: size_gb = os.stat(path).st_size / units.Gi   # each at least 2
 *     return ram_gb + disk_gb
 *
 * `disk_paths` is empty unless the migration is a block migration (`_live_migration`: only when
 * `migrate_data.block_migration`, and from 20.0.0 not for virt_type parallels); then it lists the
 * guest's local file/block disks that are neither read-only, shareable nor attached volumes
 * (`_live_migration_copy_disk_paths`). A disk it cannot stat counts 0 (a warning is logged).
 *
 * Under Python 2 both divisions are integer divisions (floor): a 3.5 GiB flavor counts 3 GiB.
 */
export interface DataSizeInput {
  /** The flavor's RAM, MiB (`flavor.memory_mb`). */
  memoryMb: number;
  /**
   * Apparent sizes (`os.stat().st_size`, e.g. the qcow2 file's length) of the local disks a block
   * migration copies, bytes. Leave empty for a live migration on shared storage.
   */
  copiedDiskBytes?: readonly number[];
  /** @defaultValue {@link defaultPython} of the release */
  python?: PythonMajor;
}

/** Nova's floor for RAM and for each copied disk: 2 GiB each (`if ram_gb < 2: ram_gb = 2`). */
export const DATA_GIB_FLOOR_PER_ITEM = 2;

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

/**
 * The Python nova-compute is assumed to run when the caller does not say: 2 where the tag
 * declares Python 2.7 (Mitaka–Train: the only interpreter every one of those tags supports),
 * 3 from Ussuri (21.0.0), which declares Python 3 only. Pass `python: 3` for a Pike–Train
 * deployment on Python 3.
 */
export function defaultPython(release: NovaReleaseRef): PythonMajor {
  return novaRelease(release).python.includes(2) ? 2 : 3;
}

/** `_live_migration_data_gb`: GiB Nova counts for one migration (RAM, plus each copied disk on block migration). */
export function liveMigrationDataGiB(release: NovaReleaseRef, input: DataSizeInput): number {
  const r = novaRelease(release);
  const python = input.python ?? defaultPython(r);
  if (!Number.isInteger(input.memoryMb) || input.memoryMb < 0) {
    throw new NovaFactsError(
      "NOVA_FACTS_INVALID_INPUT",
      `memoryMb ${input.memoryMb} is not a flavor RAM size: give the flavor's memory_mb, a whole number of MiB.`,
    );
  }
  let ramGiB = pythonIntDivide(input.memoryMb * MIB, GIB, python);
  if (ramGiB < DATA_GIB_FLOOR_PER_ITEM) ramGiB = DATA_GIB_FLOOR_PER_ITEM;
  let diskGiB = 0;
  for (const bytes of input.copiedDiskBytes ?? []) {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new NovaFactsError(
        "NOVA_FACTS_INVALID_INPUT",
        `disk size ${bytes} is not a byte count: give each copied disk's apparent size (stat st_size) in bytes.`,
      );
    }
    let sizeGiB = pythonIntDivide(bytes, GIB, python);
    if (sizeGiB < DATA_GIB_FLOOR_PER_ITEM) sizeGiB = DATA_GIB_FLOOR_PER_ITEM;
    diskGiB += sizeGiB;
  }
  return ramGiB + diskGiB;
}
