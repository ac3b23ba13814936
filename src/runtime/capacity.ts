/**
 * How many migrations one worker process may follow at once: what the config asks for, but never
 * more than its V8 heap can hold. A worker that takes more than its memory allows dies of a heap
 * out-of-memory with every migration it follows (the track benchmark at 1,000 under a 128 MB
 * old-space cap); bounded, the rest wait in the queue for this worker or another.
 */
import { getHeapStatistics } from "node:v8";

/** Live heap a worker uses before it follows anything (measured: ~24 MB after loading; margin for BullMQ, Redis and Slack state). */
export const WORKER_BASE_HEAP_BYTES = 48 * 1024 * 1024;
/**
 * Live heap one followed migration costs, with headroom (measured: ~75 KB each with 400 followed,
 * src/bench/track.ts, BENCHMARKS.md): its tracker, record, samples, pending Slack edits.
 */
export const HEAP_PER_MIGRATION_BYTES = 128 * 1024;

export interface MigrationCapacity {
  /** Migrations this worker follows at once. */
  concurrency: number;
  /** True when the heap, not the config, set it. */
  cappedByHeap: boolean;
  /** What the heap allows, and the limit it was computed from. */
  heapAllows: number;
  heapLimitBytes: number;
}

/** The concurrency to run with, given what the config asks and the heap limit of this process. */
export function migrationCapacity(
  configured: number,
  heapLimitBytes: number = getHeapStatistics().heap_size_limit,
): MigrationCapacity {
  const heapAllows = Math.max(
    1,
    Math.floor((heapLimitBytes - WORKER_BASE_HEAP_BYTES) / HEAP_PER_MIGRATION_BYTES),
  );
  return {
    concurrency: Math.min(configured, heapAllows),
    cappedByHeap: heapAllows < configured,
    heapAllows,
    heapLimitBytes,
  };
}
