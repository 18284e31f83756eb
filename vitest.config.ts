import { defineConfig } from 'vitest/config';

// Suites spawn real processes and share two cores: run files one at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The addon links UCX, whose malloc/mmap hooks corrupt V8 now and then (a SIGSEGV in V8's
    // compiler was seen in a vitest worker): off in every worker and what it spawns, also for
    // tests that load build/Release/onet.node directly (src/native/addon.ts does the same).
    env: { UCX_MEM_MMAP_HOOK_MODE: 'none', UCX_MEM_MALLOC_HOOKS: 'no', UCX_MEM_EVENTS: 'no' },
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
