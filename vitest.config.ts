import { configDefaults, defineConfig } from "vitest/config";

/**
 * The files that bring the lab up (real sshd, libvirtd and QEMU under TCG, and real OpenStack): they
 * take the lab lock one at a time anyway, and their guests' dirty rates are CPU-bound, so they run
 * after the rest of the suite, one after another, with the two cores to themselves (beside other
 * test files the dirty guest's rate fell below the lab link's 8 MiB/s and it converged without
 * auto-converge).
 */
const LAB_FILES = [
  "test/lab/lab.test.ts",
  "test/lab/story.test.ts",
  "test/lab/predict.test.ts",
  "test/lab/openstack.test.ts",
  "test/lab/openstack-story.test.ts",
];

export default defineConfig({
  test: {
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: files that start SSH servers and Redis clients run better a few at a time.
    maxWorkers: 2,
    pool: "forks",
    projects: [
      {
        extends: true,
        test: {
          name: "suite",
          include: ["test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, ...LAB_FILES],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: "lab",
          include: LAB_FILES,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
