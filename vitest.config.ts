import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// Time limits leave room for a machine busy with other work: at least five
// times the slowest test's time here when the machine is quiet (up to 27 s,
// two test files running at once), and the slowest hook's (a few seconds).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/build.ts'],
    setupFiles: ['test/setup/dsl.ts', 'test/setup/fast-check.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // Test files on every core (vitest leaves one free by default: on two cores, one file at a time).
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
