// A job that grows between steps (docs/wan.md "Joining"): ranks train; at step GROW_AT they leave
// epoch 0 of the job and meet the newcomers in epoch 1 (joinEpoch: a new meeting, over libp2p with
// the same ONET_JOB_TOKEN under ONET_WAN=1); syncState hands the newcomers the parameters and the
// optimizer state (momentum) from a live rank, checked by CRC32 on every rank; all train on.
//
// The ranks that start the job (one per host; RANK 0..WORLD0-1):
//   ONET_WAN=1 ONET_JOB_TOKEN=… ONET_JOB_ID=grow1 WORLD0=2 WORLD1=3 RANK=0 node examples/node/wan_join.mjs
// A newcomer, started whenever (it waits at the meeting until the others reach GROW_AT):
//   ONET_WAN=1 ONET_JOB_TOKEN=… ONET_JOB_ID=grow1 JOIN_EPOCH=1 WORLD1=3 RANK=2 node examples/node/wan_join.mjs
// Here every rank knows GROW_AT; a real job would have rank 0 decide it (e.g. when a newcomer
// announces itself on its control plane) and broadcast it, so that every rank leaves at the same step.
import { joinEpoch, stateCrc, syncState } from 'opennetworks';

const E = process.env;
const STEPS = Number(E.STEPS ?? 12),
  GROW_AT = Number(E.GROW_AT ?? 5),
  N = Number(E.PARAMS ?? 4097),
  STEP_MS = Number(E.STEP_MS ?? 0);
const world0 = Number(E.WORLD0 ?? 2),
  world1 = Number(E.WORLD1 ?? 3),
  rank = Number(E.RANK);
const newcomer = E.JOIN_EPOCH === '1';

// The model: N parameters and SGD with momentum. A newcomer starts from garbage: syncState replaces it.
const params = new Float64Array(N).map((_, k) => (newcomer ? Math.random() : (k % 5) - 2));
const momentum = new Float64Array(N);
/** This rank's gradient at `step` (integers: the sum over ranks is exact in any order). */
const grad = (r, step) => new Float64Array(N).map((_, k) => ((k * 7 + step * 13 + r * 5) % 17) - 8);

async function train(comm, step) {
  const g = await comm.allreduce(grad(comm.rank, step));
  for (let k = 0; k < N; k++) {
    momentum[k] = 0.5 * momentum[k] + g[k] / comm.world;
    params[k] -= 0.0625 * momentum[k];
  }
  if (STEP_MS) await new Promise((r) => setTimeout(r, STEP_MS));
}

const out = { rank, newcomer };
let comm;
let step = 0;
if (!newcomer) {
  comm = await joinEpoch(undefined, { epoch: 0, rank, world: world0 });
  for (; step < GROW_AT; step++) {
    await train(comm, step);
    console.log(`rank ${rank}: step ${step + 1} of ${STEPS} on ${comm.world} ranks`);
  }
  out.before = stateCrc([params, momentum]); // what this rank holds when the job grows
}
const t0 = Date.now();
comm = await joinEpoch(comm, { epoch: 1, rank, world: world1 });
out.metMs = Date.now() - t0;
const synced = await syncState(comm, [params, momentum], step);
step = synced.step;
out.synced = synced;
console.log(`rank ${rank}: epoch 1 (${comm.job}), ${comm.world} ranks, state from rank ${synced.src} at step ${step}`);
for (; step < STEPS; step++) await train(comm, step);
out.final = stateCrc([params, momentum]);
out.sample = [params[0], params[1], params[N - 1]];
console.log(`ONET_RESULT ${JSON.stringify(out)}`);
await comm.close();
