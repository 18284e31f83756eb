// ONET_TRACE: a real job's timeline is valid Chrome-trace JSON with, per rank, one slice per
// collective and its phases (posted, matched, local reduce, network, complete) nested inside.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Coordinator } from '../src/coordinator/server';
import { startRanks } from './telemetry_util';

const dir = mkdtempSync(join(tmpdir(), 'onet-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PHASES = ['posted', 'matched', 'local reduce', 'network', 'complete'];

describe('ONET_TRACE timeline', () => {
  it.each([1, 3])('world %i: every collective of every rank, phases nested, from engine timestamps', async (W) => {
    const job = `trace-${process.pid}-${W}`;
    const path = join(dir, `trace-${W}.json`);
    // The engine's timeline: fast-lane calls never reach the coordinator.
    const env = {
      ...process.env,
      ONET_JOB_ID: job,
      ONET_TRACE: path,
      ONET_TW_MODE: 'script',
      ONET_FASTLANE_MAX_BYTES: '0',
    };
    const coord = await Coordinator.start({ job, world: W, env, log: () => {} });
    try {
      const ran = await startRanks(W, env);
      for (const r of ran) expect(r.code, r.stderr).toBe(0);
    } finally {
      await coord.close(); // the final drain and the closing bracket
    }
    const events = JSON.parse(readFileSync(path, 'utf8')) as any[];
    expect(Array.isArray(events)).toBe(true);
    // 28 allreduces, 4 allgathers, 4 broadcasts, 1 barrier; with one rank the "mismatched" allreduce succeeds.
    const colls = W > 1 ? 37 : 38;
    for (let r = 0; r < W; r++) {
      const mine = events.filter((e) => e.tid === r && e.ph === 'X');
      expect(events.find((e) => e.ph === 'M' && e.name === 'thread_name' && e.tid === r)?.args.name).toBe(`rank ${r}`);
      const tops = mine.filter((e) => / #\d+$/.test(e.name));
      expect(tops.length).toBe(colls);
      expect(tops.map((e) => e.args.seq)).toEqual([...tops.map((e) => e.args.seq)].sort((a, b) => a - b));
      expect(tops[0]).toMatchObject({
        name: 'allreduce #1',
        cat: 'onet',
        pid: 1,
        args: { seq: 1, dtype: 'f32', bytes: 8, ranks: W },
      });
      expect(tops.filter((e) => e.name.startsWith('barrier')).length).toBe(1);
      for (const p of PHASES) expect(mine.filter((e) => e.name === p).length, p).toBe(colls);
      // Phases of each collective lie inside its slice, in order.
      for (const top of tops.slice(0, 5)) {
        const inside = mine.filter(
          (e) => PHASES.includes(e.name) && e.ts >= top.ts && e.ts + e.dur <= top.ts + top.dur + 0.02,
        );
        const first = PHASES.map((p) => inside.find((e) => e.name === p));
        for (const e of first) expect(e, top.name).toBeDefined();
        for (let i = 1; i < first.length; i++) expect(first[i]!.ts).toBeGreaterThanOrEqual(first[i - 1]!.ts);
        expect(first[3]!.dur).toBe(0); // network: empty until the multi-host transport lands
      }
    }
  });
});
