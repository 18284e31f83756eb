// Moved to src/testing/netns.ts so benchmarks (bench/multihost.mjs) can use it from dist/.
export * from '../../src/testing/netns.js';
