import { expect, test } from "vitest";
import {
  HEAP_PER_MIGRATION_BYTES,
  migrationCapacity,
  WORKER_BASE_HEAP_BYTES,
} from "../../src/runtime/capacity";

const MB = 1024 * 1024;

test("a worker never takes more migrations than its heap holds, and says when the heap decided", () => {
  // The compose file's old-space cap and the config's maximum concurrency.
  const capped = migrationCapacity(2000, 192 * MB);
  expect(capped.cappedByHeap).toBe(true);
  expect(capped.concurrency).toBe(Math.floor((192 * MB - WORKER_BASE_HEAP_BYTES) / HEAP_PER_MIGRATION_BYTES));
  expect(capped.concurrency).toBeGreaterThanOrEqual(1000);
  // What the config asks for wins when the heap has room.
  expect(migrationCapacity(50, 192 * MB)).toMatchObject({ concurrency: 50, cappedByHeap: false });
  // A tiny heap still follows one migration rather than none.
  expect(migrationCapacity(50, 16 * MB).concurrency).toBe(1);
});
