// A real coordinator with one test hook, for python/tests/test_error_matrix.py (EINTERNAL has no
// real cause on one host). Once every rank of the job has registered and rank 0 has had a moment
// to post, the engine fails rank 1 with code 7 (EINTERNAL) through failRank: the completion path
// every failure takes, so rank 0's pending collective ends with status 7 and ranks [1].
//   node _error_coord.mjs JOB WORLD
import { Coordinator } from '../../dist/coordinator/server.js';

const [job, world] = [process.argv[2], Number(process.argv[3])];
const coord = await Coordinator.start({ job, world, env: process.env });
const timer = setInterval(() => {
  const ranks = coord.status().ranks;
  if (ranks.length < world) return;
  clearInterval(timer);
  setTimeout(() => coord.engine.failRank(1, 7, 'test hook: rank 1 failed with an internal error'), 1500);
}, 50);
const stop = async () => {
  clearInterval(timer);
  await coord.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
