import { defineConfig } from 'vitest/config';

// Time limits leave room for a machine busy with other work: at least five
// times the slowest test's time here when the machine is quiet (about 11 s),
// and the slowest hook's (a few seconds).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/build.ts'],
    setupFiles: ['test/setup/dsl.ts', 'test/setup/fast-check.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
