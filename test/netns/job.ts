// Moved to src/testing/netns_job.ts so benchmarks (bench/multihost.mjs) can use it from dist/.
export * from '../../src/testing/netns_job.js';
