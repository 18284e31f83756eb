// `onet run --web` with PyTorch ranks that use plain env:// (dist.init_process_group("opennetworks")): WORLD_SIZE
// counts the web rank, which never connects to torch's TCPStore, so rank 0's store must not wait for it
// (python/opennetworks/torch/_rendezvous.py, ONET_WEB_RANKS). Two torch ranks and one Node web rank (the browser
// client over `ws`) allreduce together. Skipped without torch in .venv.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers';
import { joinNode, type WebJob, webJob } from './web_helpers';

const PY = join(ROOT, '.venv', 'bin', 'python');

function skipWhy(): string {
  if (!existsSync(join(ROOT, 'dist', 'browser', 'opennetworks.js'))) return 'no browser client: npm run build:ts';
  if (!existsSync(join(ROOT, 'build', 'Release', 'onet.node'))) return 'the native addon is not built';
  if (spawnSync(PY, ['-c', 'import torch']).status !== 0) return 'no torch in .venv';
  return '';
}
const why = skipWhy();

describe.skipIf(!!why)(`torch ranks with env:// next to a web rank${why ? ` (SKIPPED: ${why})` : ''}`, () => {
  let wj: WebJob | undefined;
  afterAll(async () => {
    await wj?.done();
  });

  it('init_process_group does not wait for the web rank; all three allreduce', async () => {
    wj = await webJob(2, 1, [PY, join(ROOT, 'examples', 'pyodide', 'torch_web_peer.py')], {
      PYTHONPATH: join(ROOT, 'python'),
    });
    const comm = await joinNode(wj.urls[0]);
    const y = await comm.allreduce(new Float32Array(4).fill(3), { op: 'sum' }).catch((e: Error) => e.message);
    await comm.close();
    const res = await wj.job.wait();
    const logs = wj.logs.join('\n');
    expect([comm.rank, comm.world, typeof y === 'string' ? y : Array.from(y)], logs).toEqual([2, 3, [6, 6, 6, 6]]);
    expect(res.code, logs).toBe(0);
    expect(logs).toContain('rank 0 of 3 (torch): [6.0, 6.0, 6.0, 6.0]');
    expect(logs).toContain('rank 1 of 3 (torch): [6.0, 6.0, 6.0, 6.0]');
  }, 90_000);
});
