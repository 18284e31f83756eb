// Issue 15: three hosts, host 2 lost. Between two allreduces (every rank paused after #5), host 0's
// connections to host 2 are reset by the fault proxy (as a killed host's kernel does) while host 1's
// link to host 2 goes silent (stalled: bytes held, sockets open). In allreduce #6 host 0 fails at
// once and sends its abort notice to host 1, which learns of the loss from that notice,
// deterministically, ~1.5 s before its own heartbeat would tell it. The notice carries the lost ranks
// (docs/protocol.md §9): host 1's error must blame rank 2, the lost one, not rank 0, the notice's
// sender — and both survivors shrink by it and go on exactly (a shrink whose lists differ fails).
// Before the fix, host 1 got `host 0 (ranks 0) aborted it: …`, ranks [0].

import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { between, type FaultProxy } from '../src/testing/fault_proxy.js';
import { resultsOf, runJob } from '../src/testing/job.js';
import { createLoopback, type Loopback } from '../src/testing/loopback.js';
import { ROOT } from './helpers.js';

const WORKER = join(ROOT, 'test/fixtures/lost_ranks_worker.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('abort notices carry the lost ranks (3 loopback hosts, fault proxy)', () => {
  let lo: Loopback;
  let proxy: FaultProxy;
  beforeAll(async () => {
    lo = await createLoopback(3, { proxy: true });
    proxy = lo.proxy!;
  });
  afterAll(() => lo?.destroy());

  it('host 1, told by host 0, blames the lost host 2 (ranks [2]), as host 0 does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onet-lost-'));
    // Allreduces of 1024 doubles, a pause after #5, then on until the first error (at most 30 s); the
    // survivors shrink by its ranks and run 20 more.
    const env = {
      LOST_RANK: '2',
      LOST_AFTER: '20',
      LOST_PAUSE_AT: '4',
      LOST_PAUSE_DIR: dir,
      ONET_TIMEOUT: '30',
      ONET_HEARTBEAT_MS: '500',
    };
    const job = runJob(lo, [1, 1, 1], process.execPath, [WORKER], env, 60_000);
    const ready = () => [0, 1, 2].every((r) => existsSync(join(dir, `ready${r}`)));
    for (let i = 0; i < 1500 && !ready(); i++) await sleep(20);
    expect(ready(), 'every rank paused after allreduce #5').toBe(true);
    proxy.set(between(1, 2), { stall: true }); // host 1 hears nothing from host 2, nor host 2 from it
    const at = Date.now();
    expect(proxy.reset(between(0, 2))).toBeGreaterThan(0); // host 0 loses host 2 at once
    writeFileSync(join(dir, 'go'), '');
    const res = resultsOf(await job);
    rmSync(dir, { recursive: true, force: true });
    proxy.clear();
    for (const r of res) {
      const e = r.error;
      const shrunk = `after the shrink ${r.after} exact${r.shrinkError ? `, ${JSON.stringify(r.shrinkError)}` : ''}`;
      console.log(
        `rank ${r.rank}: ${r.ok} exact, then after ${e ? e.at - at : '-'} ms ${e?.code} ` +
          `ranks ${JSON.stringify(e?.ranks)} ${e?.message}; ${shrunk}`,
      );
      expect(r.missing, JSON.stringify(r)).toBeUndefined();
      expect(r.wrong).toEqual([]);
      expect(r.ok).toBe(5);
    }
    const [r0, r1] = res;
    // Host 0: its own error, naming host 2.
    expect(r0.error.code).toBe('EABORTED');
    expect(r0.error.message).toMatch(/host 2 \(127\.[\d.]+:\d+\).*; ranks 2 \(host 2\) are lost/);
    // Host 1: host 0's notice (its own link to host 2 is silent), blaming the lost ranks.
    expect(r1.error.code).toBe('EABORTED');
    expect(r1.error.message).toMatch(/^allreduce #6: host 0 aborted it: .*; ranks 2 \(host 2\) are lost/);
    for (const r of [r0, r1]) {
      expect(r.error.ranks, r.error.message).toEqual([2]);
      expect(r.shrinkError).toBeUndefined();
      expect(r.after, `rank ${r.rank}: exact allreduces after shrink(e.ranks)`).toBe(20);
    }
  }, 90_000);
});
