// Soak, bounded CI form: 3 ranks run mixed collectives with random sizes for ~45 s against one
// coordinator (a separate process); every result is checked exactly, and after warm-up the
// coordinator's open fds and this job's /dev/shm/onet-* segments must not grow, nor its RSS by
// more than a slack. The hour-long form is `node bench/soak.mjs` (docs/reliability.md).

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runProc } from './helpers';

describe('soak (bounded)', () => {
  it('mixed collectives for 45 s: exact results, no growth in coordinator fds, segments or RSS', async () => {
    const r = await runProc(
      process.execPath,
      [join(ROOT, 'bench/soak.mjs'), '--seconds', '45', '--ranks', '3', '--json', '--rss-slack', '24'],
      {},
      150_000,
    );
    const line = r.stdout.split('\n').find((l) => l.startsWith('ONET_SOAK '));
    expect(line, r.stdout.slice(-2000) + r.stderr.slice(-2000)).toBeDefined();
    const v = JSON.parse(line!.slice(10));
    console.log(
      `soak: ${v.collectives.join('/')} collectives per rank; coordinator rss ${v.base.rssMiB} → ${v.end.rssMiB} ` +
        `MiB, fds ${v.base.fds} → ${v.end.fds}, shm ${v.base.shm} → ${v.end.shm}`,
    );
    expect(v.problems).toEqual([]);
    expect(Math.min(...v.collectives)).toBeGreaterThan(100);
    expect(v.leftover).toBe(0);
    expect(r.code).toBe(0);
  }, 180_000);
});
