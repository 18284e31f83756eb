// `onet status`: ask a running coordinator what every rank is doing and who is late.
import { Control } from '../api/control.js';
import { jobId, jobPaths } from '../coordinator/paths.js';
import { clientAuth } from '../security/auth.js';

interface Pending {
  group: number;
  seq: number;
  ageMs: number;
  coll?: string;
  arrived: number[];
  missing: number[];
}
interface LastOp {
  rank: number;
  coll: string | null;
  group: number;
  seq: number;
  agoMs: number | null;
}

/** "0–6, 8" for [0, 1, 2, 3, 4, 5, 6, 8]. */
export function rankRanges(ranks: number[]): string {
  const r = [...ranks].sort((a, b) => a - b),
    out: string[] = [];
  for (let i = 0; i < r.length; ) {
    let j = i;
    while (j + 1 < r.length && r[j + 1] === r[j] + 1) j++;
    out.push(j > i ? `${r[i]}–${r[j]}` : `${r[i]}`);
    i = j + 1;
  }
  return out.join(', ');
}

function lastSeen(rank: number, lastOps: LastOp[] = []): string {
  const l = lastOps.find((x) => x.rank === rank);
  if (!l?.coll || l.agoMs == null) return `rank ${rank} has not completed a collective yet`;
  const where = `${l.coll} #${l.seq}${l.group ? ` of group ${l.group}` : ''}`;
  return `rank ${rank} last seen in ${where} (${(l.agoMs / 1000).toFixed(1)} s ago)`;
}

/** "ranks 0–6 wait in allreduce #1234 for rank 7, last seen in broadcast #1233 (12.4 s ago)". */
export function describePending(p: Pending, lastOps: LastOp[] = []): string {
  const who = p.arrived.length === 1 ? `rank ${p.arrived[0]} waits` : `ranks ${rankRanges(p.arrived)} wait`;
  const what = `${p.coll ?? 'collective'} #${p.seq}${p.group ? ` of group ${p.group}` : ''}`;
  const age = (p.ageMs / 1000).toFixed(1);
  if (p.missing.length === 1) {
    const seen = lastSeen(p.missing[0], lastOps).replace(`rank ${p.missing[0]} `, '');
    return (
      `${who} in ${what} for rank ${p.missing[0]}, ${seen.startsWith('has') ? 'which ' + seen : seen} — ` +
      `waiting ${age} s`
    );
  }
  return (
    `${who} in ${what} for ranks ${rankRanges(p.missing)} — waiting ${age} s; ` +
    `${p.missing.map((r) => lastSeen(r, lastOps)).join('; ')}`
  );
}

/** "12.3 MB/s" (bytes per second, decimal units). */
export function rateText(bps: number): string {
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(2)} GB/s`;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} MB/s`;
  if (bps >= 1e3) return `${(bps / 1e3).toFixed(1)} kB/s`;
  return `${Math.round(bps)} B/s`;
}

/** ", measured ↑ 12.3 MB/s ↓ 12.1 MB/s over 10 s" when the link's bandwidth was measured. */
export function bandwidthText(l: { sentBps?: number; receivedBps?: number; windowS?: number }): string {
  if (l.sentBps == null || l.receivedBps == null || !l.windowS) return '';
  return `, measured ↑ ${rateText(l.sentBps)} ↓ ${rateText(l.receivedBps)} over ${l.windowS} s`;
}

/** ONET_WAN links: "  wan link to host 1 (12D3Koo…): direct /ip4/…, rtt 3 ms, measured ↑ ↓ …; data: …". */
export function wanLines(w: { peerId: string; meetMs: number; links: any[]; autonat?: { verdict: string } }): string[] {
  return [
    `  wan: libp2p peer ${w.peerId}, hosts met in ${w.meetMs} ms` +
      (w.autonat ? `, AutoNAT: ${w.autonat.verdict}` : ''),
    ...w.links.map(
      (l) =>
        `  wan link to host ${l.host} (${l.peer}): ${l.kind} ${l.remote}, ` +
        `rtt ${l.rttMs == null ? 'unknown' : `${l.rttMs} ms`}${bandwidthText(l)}; data: ${l.data}`,
    ),
  ];
}

export async function status(o: { job?: string; json?: boolean }): Promise<void> {
  const job = o.job ?? jobId();
  const ctl = new Control(jobPaths(job).endpoint);
  try {
    const s = await ctl.request(
      { type: 'status', ...clientAuth(process.env, ['status', job], ['observer', 'admin', 'rank']) },
      3000,
    );
    if (o.json) return console.log(JSON.stringify(s, null, 2));
    console.log(`job ${s.job}: world ${s.world}, coordinator pid ${s.pid}`);
    for (const r of s.ranks) console.log(`  rank ${r.rank}: ${r.state} (pid ${r.pid}, ${r.framework})`);
    if (!s.pending.length) console.log('  no collective is waiting');
    for (const p of s.pending) console.log(`  ${describePending(p, s.lastOps)}`);
    if (s.security?.tokenRequired || s.security?.refusals)
      console.log(`  security: job token required, ${s.security.refusals} refusal(s)`);
    if (s.wan) console.log(wanLines(s.wan).join('\n'));
    if (s.telemetry?.dashboard) console.log(`  dashboard: ${s.telemetry.dashboard}  metrics: ${s.telemetry.metrics}`);
  } finally {
    ctl.close();
  }
}
