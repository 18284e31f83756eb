// bench/multihost.mjs end to end, tiny (--quick: 2 namespace hosts, 8 B and 1 MiB allreduce,
// both backends under torchrun): checks the JSON's structure and that every number is a real,
// positive measurement with no wrong elements. No timing assertions: speed lives in the bench.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { schedulerRules } from '../src/coordinator/network.js';
import { netnsUnavailable } from '../src/testing/netns.js';
import { ROOT, runProc } from './helpers.js';

const why =
  netnsUnavailable() ||
  (!existsSync(join(ROOT, '.venv/bin/torchrun')) ? 'needs .venv with torch (torchrun)' : '') ||
  (!existsSync(join(ROOT, 'dist/testing/netns.js')) ? 'needs dist/ (npm run build:ts)' : '');
if (why) console.warn(`bench/multihost test skipped: ${why}`);

describe.skipIf(!!why)('bench/multihost.mjs --quick', () => {
  // Async: a synchronous spawn of this minute-long run would block the worker's RPC to vitest.
  it('measures opennetworks and gloo across 2 namespace hosts and writes the table as JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onet-bench-mh-'));
    try {
      const out = join(dir, 'r.json');
      const p = await runProc(
        process.execPath,
        [join(ROOT, 'bench/multihost.mjs'), '--quick', '--json', out, '--timeout', '120'],
        {},
        280_000,
      );
      expect(p.code, `${p.stdout}\n${p.stderr}`.slice(-4000)).toBe(0);
      expect(p.stdout).toMatch(/\| op \| size \| ours time/);
      const r = JSON.parse(readFileSync(out, 'utf8'));
      expect(r).toMatchObject({ hosts: 2, ranksPerHost: 1, rate: '1gbit', rateBps: 1e9 });
      expect(r.rows.map((x: any) => [x.op, x.size])).toEqual([
        ['all_reduce', 8],
        ['all_reduce', 1 << 20],
      ]);
      for (const row of r.rows) {
        for (const b of ['opennetworks', 'gloo']) {
          const m = row[b];
          expect(m, `${b} at ${row.size} B`).toBeDefined();
          expect(m.wrong).toBe(0);
          expect(m.samples).toBeGreaterThan(0);
          for (const k of ['timeUs', 'minUs', 'maxUs', 'algbwGBs', 'busbwGBs', 'linkPct']) {
            expect(Number.isFinite(m[k]) && m[k] > 0, `${b} ${row.size} B ${k} = ${m[k]}`).toBe(true);
          }
          expect(m.minUs).toBeLessThanOrEqual(m.timeUs);
          expect(m.timeUs).toBeLessThanOrEqual(m.maxUs);
        }
        expect(row.speedup).toBeGreaterThan(0);
      }
      for (const b of ['opennetworks', 'gloo']) {
        expect(r.runs[b]).toHaveLength(1);
        expect(r.runs[b][0]).toMatchObject({ backend: b, world: 2 });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

// The rules the coordinator hands the engine (src/coordinator/network.ts): what the benchmark's
// ONET_TOPO_FILE calibration changes. Same inputs → same rules on every host.
describe('scheduler rules for the engine', () => {
  const hosts = [0, 1, 2].map((h) => ({
    host: h,
    ranks: [2 * h, 2 * h + 1],
    addr: `10.0.0.${h + 1}:4000`,
    hostname: `h${h}`,
  }));
  const colls = ['allreduce', 'allgather', 'broadcast', 'reduce_scatter'];

  it('covers every size of each engine collective, ending without a limit', () => {
    const { rules } = schedulerRules(hosts, {});
    for (const c of colls) {
      const mine = rules.filter((r) => r.coll === c);
      expect(mine.length, c).toBeGreaterThan(0);
      expect(mine[mine.length - 1].maxBytes).toBe(Number.MAX_VALUE);
      mine.slice(1).forEach((r, i) => expect(r.maxBytes).toBeGreaterThan(mine[i].maxBytes));
      for (const r of mine) expect(r.chunkBytes).toBeGreaterThan(0);
    }
    expect(rules.every((r) => colls.includes(r.coll))).toBe(true);
    expect(schedulerRules(hosts, {})).toEqual(schedulerRules(hosts, {}));
  });

  it('follows the link in ONET_TOPO_FILE and ONET_ALGO, and explains itself with ONET_EXPLAIN=1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'onet-rules-'));
    try {
      const file = join(dir, 'topo.json');
      writeFileSync(
        file,
        JSON.stringify({
          version: 1,
          name: 'slow',
          hosts: [
            { name: 'a', ranks: 1 },
            { name: 'b', ranks: 1 },
          ],
          links: [{ a: 'a', b: 'b', latencyUs: 40, bandwidthGBs: 0.125, measured: true }],
        }),
      );
      const fast = schedulerRules(hosts, {}).rules,
        slow = schedulerRules(hosts, { ONET_TOPO_FILE: file }).rules;
      expect(slow).not.toEqual(fast);
      const forced = schedulerRules(hosts, { ONET_ALGO: 'allreduce:rabenseifner' }).rules.filter(
        (r) => r.coll === 'allreduce',
      );
      expect(new Set(forced.map((r) => r.algo))).toEqual(new Set(['rabenseifner']));
      const ex = schedulerRules(hosts, { ONET_TOPO_FILE: file, ONET_EXPLAIN: '1' }).explanation;
      expect(ex).toMatch(/3 hosts × 2 ranks, links from ONET_TOPO_FILE \(slow\)/);
      expect(ex).toMatch(/allreduce: /);
      expect(schedulerRules(hosts, {}).explanation).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the file when ONET_TOPO_FILE is unreadable', () => {
    expect(() => schedulerRules(hosts, { ONET_TOPO_FILE: '/nonexistent/topo.json' })).toThrow(
      /\/nonexistent\/topo\.json/,
    );
  });
});
