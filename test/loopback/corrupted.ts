// The check of a corrupted-frames run, shared by test/faults.test.ts (ONET_TEST_CORRUPT on network
// namespaces) and test/faults_proxy.test.ts (the fault proxy between loopback hosts).
import { expect } from 'vitest';

const RELAYED =
  /^allreduce #\d+: host (\d+) \(ranks (\d+)\) aborted it: .*checksum mismatch in a message from host \d+ /;

/**
 * Checks a corrupted-frames run (fault_worker.mjs, one rank per host, rank = host): no result
 * is wrong; every failure is EINTERNAL and either the local checksum error or the abort notice of
 * the host that saw it (naming that host, its ranks and "checksum mismatch"), never a deadline;
 * after every failure the job goes on (the last iteration completed). Prints the time from the
 * aborting host's error to each notified host's error.
 */
export function checkCorrupted(res: any[], hosts: number, iters: number): { local: number; relayed: number } {
  let local = 0,
    relayed = 0;
  const delays: number[] = [];
  const byRank = new Map<number, any>(res.map((r) => [r.rank, r]));
  for (const r of res) {
    const first = (r.errors ?? [])
      .slice(0, 3)
      .map((e: any) => `[#${e.i + 1}: ${e.message.slice(0, 170)}]`)
      .join(' ');
    console.log(`corrupted frames, ${hosts} hosts, rank ${r.rank}: ${r.ok} exact, ${r.errors?.length} failed ${first}`);
  }
  for (const r of res) {
    expect(r.missing, JSON.stringify(r)).toBeUndefined();
    expect(r.wrong).toEqual([]);
    expect(r.ok + r.errors.length).toBe(iters);
    for (const e of r.errors) {
      expect(e.code, e.message).toBe('EINTERNAL');
      const m = RELAYED.exec(e.message);
      if (m) {
        relayed++;
        const from = Number(m[1]);
        expect(Number(m[2])).toBe(from); // one rank per host
        expect(from).not.toBe(r.rank);
        expect(e.ranks).toContain(from);
        const origin = byRank.get(from)?.errors.find((x: any) => x.i === e.i);
        expect(origin, `host ${from} aborted #${e.i + 1} but reported no error for it`).toBeDefined();
        delays.push(e.at - origin.at);
      } else {
        expect(e.message).toMatch(/^allreduce #\d+: .*checksum mismatch in a message from host \d+ /);
        local++;
      }
    }
    // The collective right after a failed one runs (and, as every completed one, is exact).
    const failed = new Set(r.errors.map((e: any) => e.i));
    let next = 0;
    for (let i = 1; i < iters; i++) if (failed.has(i - 1) && !failed.has(i)) next++;
    if (failed.size) expect(next, 'collectives that completed right after a failed one').toBeGreaterThan(0);
  }
  const sorted = [...delays].sort((a, b) => a - b);
  const spread = sorted.length
    ? `min ${sorted[0]} ms, median ${sorted[sorted.length >> 1]} ms, max ${sorted.at(-1)} ms (n=${sorted.length})`
    : 'none';
  console.log(
    `${hosts} hosts: ${local} local checksum errors, ${relayed} failures by abort notice; ` +
      `from the aborting host's error to the notified host's error: ${spread}`,
  );
  return { local, relayed };
}
