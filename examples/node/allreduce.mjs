// Run with: npx onet run -n 4 -- node examples/node/allreduce.mjs
import { init } from 'opennetworks';

const comm = await init();
const x = Float32Array.from({ length: 8 }, (_, i) => comm.rank * 100 + i);
await comm.allreduce(x, { op: 'sum' });
console.log(`rank ${comm.rank}/${comm.world}: sum =`, Array.from(x).join(' '));
const all = await comm.allgather(Int32Array.of(comm.rank));
console.log(`rank ${comm.rank}: allgather =`, Array.from(all).join(' '));
await comm.close();
