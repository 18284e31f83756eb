// Recovery in-process after a rank dies: the survivors shrink the communicator and go on.
// Run with: npx onet run -n 3 -- node examples/node/shrink.mjs
// The last rank crashes after the first step; the others get an OnetError (code EABORTED,
// "rank 2 (pid …) died") within about 200 ms, call comm.shrink() — a new communicator over the
// survivors, ranks renumbered 0..n-2 — and finish. `onet run` still reports the crash (exit 1).
import { init } from 'opennetworks';

const comm = await init();
const x = Float32Array.of(1, 1, 1, 1);
await comm.allreduce(x);
console.log(`rank ${comm.rank}: step 1 on ${comm.world} ranks:`, Array.from(x).join(' '));

if (comm.rank === comm.world - 1) process.kill(process.pid, 'SIGKILL'); // a crash

let survivors = comm;
try {
  await comm.allreduce(Float32Array.of(1, 1, 1, 1));
} catch (e) {
  console.log(`rank ${comm.rank}: step 2 failed: ${e.code}: ${e.message}`);
  // Without arguments shrink() drops the ranks this host's coordinator saw die; across hosts
  // pass them: comm.shrink(e.ranks).
  survivors = await comm.shrink();
}
const y = Float32Array.of(comm.rank + 1, 0, 0, 0);
await survivors.allreduce(y);
console.log(`rank ${comm.rank} (now ${survivors.rank} of ${survivors.world}): step 2 again:`, Array.from(y).join(' '));
await survivors.close();
