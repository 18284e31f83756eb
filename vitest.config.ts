import { defineConfig } from 'vitest/config';

// Suites spawn real processes and share two cores: run files one at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
