import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: files that start SSH servers and Redis clients run better a few at a time.
    maxWorkers: 2,
    pool: "forks",
  },
});
