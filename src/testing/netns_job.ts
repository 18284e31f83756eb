// The job runner for the namespace harness (netns.ts). It needs nothing namespace-specific, so it
// lives in job.ts, shared with the loopback harness (loopback.ts); this name stays for
// bench/fusion.mjs and test/netns/job.ts.
export { type JobHosts, type RankOut, resultsOf, runJob } from './job.js';
