import { defineConfig } from "vitest/config";

/**
 * `npm run faults`: the fault suite (test/faults/*.fault.ts), one file at a time — its cases restart
 * Redis, kill processes and hold ports, and each file runs a whole stack — on the test command's
 * private redis-server. The reporter writes RELIABILITY.md and prints the last line.
 */
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/faults/**/*.fault.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
    pool: "forks",
    reporters: ["default", "./test/faults/support/reporter.ts"],
  },
});
