import type { MigrationSample } from "./sample";

/** The byte counters of Nova's `GET /servers/{id}/migrations/{id}` (microversion 2.23 and later). */
export interface NovaServerMigrationBytes {
  status?: string;
  memory_total_bytes?: number | null;
  memory_processed_bytes?: number | null;
  memory_remaining_bytes?: number | null;
  disk_total_bytes?: number | null;
  disk_processed_bytes?: number | null;
  disk_remaining_bytes?: number | null;
}

// Nova's migration statuses for a live migration, folded into the sample's job states.
const STATUS: Record<string, MigrationSample["jobType"]> = {
  queued: "none",
  preparing: "unbounded",
  running: "unbounded",
  "running (post-copy)": "unbounded",
  completed: "completed",
  failed: "failed",
  error: "failed",
  cancelled: "cancelled",
  aborted: "cancelled",
};

/**
 * A server-migration record → a sample at `t` seconds (the caller's clock: Nova's record carries no
 * elapsed time). Nova refreshes these counters only every 5 s (every 10th 0.5 s poll), and has no
 * iteration count, so the analysis infers iterations from the jumps of remaining memory.
 */
export function sampleFromNovaServerMigration(
  migration: NovaServerMigrationBytes,
  t: number,
): MigrationSample {
  const sample: MigrationSample = { t, source: "nova-api" };
  const jobType = migration.status === undefined ? undefined : STATUS[migration.status];
  if (jobType !== undefined) sample.jobType = jobType;
  const n = (v: number | null | undefined) => (typeof v === "number" ? v : undefined);
  const memRemaining = n(migration.memory_remaining_bytes);
  const memProcessed = n(migration.memory_processed_bytes);
  const memTotal = n(migration.memory_total_bytes);
  if (memRemaining !== undefined) sample.memoryRemainingBytes = memRemaining;
  if (memProcessed !== undefined) sample.memoryProcessedBytes = memProcessed;
  if (memTotal !== undefined) sample.memoryTotalBytes = memTotal;
  const sum = (a: number | undefined, b: number | undefined) =>
    a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0);
  const dataRemaining = sum(memRemaining, n(migration.disk_remaining_bytes));
  const dataProcessed = sum(memProcessed, n(migration.disk_processed_bytes));
  const dataTotal = sum(memTotal, n(migration.disk_total_bytes));
  if (dataRemaining !== undefined) sample.dataRemainingBytes = dataRemaining;
  if (dataProcessed !== undefined) sample.dataProcessedBytes = dataProcessed;
  if (dataTotal !== undefined) sample.dataTotalBytes = dataTotal;
  return sample;
}
