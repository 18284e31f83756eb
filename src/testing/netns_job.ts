// The job runner for the namespace harness (netns.ts). It needs nothing namespace-specific, so it
// lives in job.ts, shared with the loopback harness (loopback.ts); this name stays for
// bench/fusion.mjs and test/netns/job.ts.
export { runJob, resultsOf, type JobHosts, type RankOut } from './job.js';
