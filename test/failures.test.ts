// Dead processes: a killed rank fails its peers' collectives with a name; a killed
// coordinator is noticed by its ranks; nothing is left in /dev/shm after `onet clean`.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ONET, onetRun, ROOT, results, runProc } from './helpers';

const segments = (pid: number) =>
  readdirSync('/dev/shm').filter((n) => n.startsWith('onet-') && n.includes(`-${pid}-`));

describe('failures', () => {
  it('a rank killed with SIGKILL fails the others with EABORTED naming it', async () => {
    const r = await onetRun(2, 'test/fixtures/die_worker.mjs', { ONET_TIMEOUT: '60' });
    const [res] = results(r.stdout);
    expect(res.code).toBe('EABORTED');
    expect(res.message).toMatch(/rank 1 \(pid \d+\) died/);
    expect(res.ranks).toContain(1);
    expect(res.ms).toBeLessThan(10_000);
    expect(r.code).not.toBe(0); // onet run reports the dead rank
  });

  it('a coordinator killed with SIGKILL is noticed by its ranks, and onet clean leaves no segment', async () => {
    const job = `orphan-${process.pid}`;
    const env = { ...process.env, ONET_JOB_ID: job };
    const coord = spawn(process.execPath, [ONET, 'serve', '--job', job, '--world', '2'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((res) => coord.stdout.on('data', (d) => String(d).includes('listening') && res()));
    const rank = spawn(process.execPath, [join(ROOT, 'test/fixtures/orphan_worker.mjs')], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    rank.stdout.on('data', (d) => (out += d));
    await new Promise<void>((res) => rank.stdout.on('data', () => out.includes('ONET_READY') && res()));
    expect(segments(coord.pid!).length).toBeGreaterThan(0); // the ctl segment, while it lives
    coord.kill('SIGKILL');
    await new Promise((res) => rank.on('close', res));
    const [r] = results(out);
    expect(r.code).toBe('EABORTED');
    expect(r.message).toMatch(new RegExp(`coordinator pid ${coord.pid} died`));
    const clean = await runProc(process.execPath, [ONET, 'clean']);
    expect(clean.code).toBe(0);
    expect(segments(coord.pid!)).toEqual([]);
  });
});
