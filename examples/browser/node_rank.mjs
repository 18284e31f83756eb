// A Node rank of a job with browser ranks: `onet run -n 1 --web 2 -- node examples/browser/node_rank.mjs`
// runs every collective with the browser tabs that open the printed join URLs. CHECK_PLAN (JSON,
// optional) lists the passes: [{"dtypes": ["f32"], "counts": [0, 1]}, ...]; every rank runs the same.
import { init } from 'opennetworks';
import { asWebApi, runAll } from './collectives.mjs';

const comm = await init();
const plan = process.env.CHECK_PLAN ? JSON.parse(process.env.CHECK_PLAN) : [{}];
let checks = 0;
for (const pass of plan) checks += await runAll(asWebApi(comm), pass);
console.log(`rank ${comm.rank}: ${checks} checks passed`);
await comm.close();
