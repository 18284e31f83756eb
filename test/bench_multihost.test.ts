// bench/multihost.mjs end to end, tiny (--quick: 2 namespace hosts, 8 B and 1 MiB allreduce,
// both backends under torchrun): checks the JSON's structure and that every number is a real,
// positive measurement with no wrong elements. No timing assertions: speed lives in the bench.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netnsUnavailable } from '../src/testing/netns.js';
import { ROOT } from './helpers.js';

const why = netnsUnavailable()
  || (!existsSync(join(ROOT, '.venv/bin/torchrun')) ? 'needs .venv with torch (torchrun)' : '')
  || (!existsSync(join(ROOT, 'dist/testing/netns.js')) ? 'needs dist/ (npm run build:ts)' : '');
if (why) console.warn(`bench/multihost test skipped: ${why}`);

describe.skipIf(!!why)('bench/multihost.mjs --quick', () => {
  it('measures opennetworks and gloo across 2 namespace hosts and writes the table as JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'onet-bench-mh-'));
    try {
      const out = join(dir, 'r.json');
      const p = spawnSync(process.execPath, [join(ROOT, 'bench/multihost.mjs'), '--quick', '--json', out, '--timeout', '120'],
        { cwd: ROOT, encoding: 'utf8', timeout: 280_000 });
      expect(p.status, `${p.stdout}\n${p.stderr}`.slice(-4000)).toBe(0);
      expect(p.stdout).toMatch(/\| op \| size \| ours time/);
      const r = JSON.parse(readFileSync(out, 'utf8'));
      expect(r).toMatchObject({ hosts: 2, ranksPerHost: 1, rate: '1gbit', rateBps: 1e9 });
      expect(r.rows.map((x: any) => [x.op, x.size])).toEqual([['all_reduce', 8], ['all_reduce', 1 << 20]]);
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
