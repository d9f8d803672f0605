import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/build.ts'],
    setupFiles: ['test/setup/dsl.ts', 'test/setup/fast-check.ts'],
    testTimeout: 60_000,
  },
});
