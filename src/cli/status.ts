// `onet status`: ask a running coordinator what every rank is doing and who is late.
import { Control } from '../api/control.js';
import { jobId, jobPaths } from '../coordinator/paths.js';

interface Pending { group: number; seq: number; ageMs: number; arrived: number[]; missing: number[] }

export function describePending(p: Pending): string {
  const age = (p.ageMs / 1000).toFixed(1);
  return `group ${p.group} collective #${p.seq}: ranks ${p.arrived.join(', ')} wait for rank(s) ${p.missing.join(', ')} (${age} s)`;
}

export async function status(o: { job?: string; json?: boolean }): Promise<void> {
  const job = o.job ?? jobId();
  const ctl = new Control(jobPaths(job).endpoint);
  try {
    const s = await ctl.request({ type: 'status' }, 3000);
    if (o.json) return console.log(JSON.stringify(s, null, 2));
    console.log(`job ${s.job}: world ${s.world}, coordinator pid ${s.pid}`);
    for (const r of s.ranks) console.log(`  rank ${r.rank}: ${r.state} (pid ${r.pid}, ${r.framework})`);
    if (!s.pending.length) console.log('  no collective is waiting');
    for (const p of s.pending) console.log(`  ${describePending(p)}`);
  } finally {
    ctl.close();
  }
}
