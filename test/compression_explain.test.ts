// `onet explain` names the compression choice and the predicted time of every codec (docs/compression.md),
// run as a user runs it: node bin/onet.js (after build:ts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ONET, ROOT, runProc } from './helpers';

const onet = (args: string[], env: NodeJS.ProcessEnv = {}) => runProc(process.execPath, [ONET, ...args], env, 60_000);
const FAST = path.join(ROOT, 'test/fixtures/topo/4x10g.json');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onet-zexplain-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Three hosts on 100 Mbit/s links (12.5 MB/s), 1 ms apart.
function slowTopo(): string {
  const hosts = [0, 1, 2].map((i) => ({ name: `h${i}`, ranks: 1, address: `10.0.0.${i + 1}`, shmGBs: 10 }));
  const links = [];
  for (let a = 0; a < 3; a++)
    for (let b = a + 1; b < 3; b++)
      links.push({ a: `h${a}`, b: `h${b}`, latencyUs: 1000, bandwidthGBs: 0.0125, measured: false });
  const file = path.join(tmp, 'slow.json');
  fs.writeFileSync(file, JSON.stringify({ version: 1, name: '3 hosts, 100 Mbit/s', hosts, links }));
  return file;
}

describe('onet explain: compression', () => {
  it('auto picks a codec on a slow link and off on a fast one, with every codec predicted', async () => {
    const slow = await onet(['explain', '--size', '64MiB', '--topo', slowTopo(), '--json'], {
      ONET_COMPRESSION: 'auto',
    });
    expect(slow.code, slow.stderr).toBe(0);
    const z = JSON.parse(slow.stdout).compression;
    expect(z.setting).toBe('auto');
    expect(Object.keys(z.predictedUs)).toEqual(['off', 'bf16', 'fp16', 'int8', 'topk:0.01', 'zstd', 'lz4']);
    expect(z.chosen).toBe('int8');
    expect(z.predictedUs.int8).toBeLessThan(0.85 * z.predictedUs.off);
    const fast = await onet(['explain', '--size', '64MiB', '--topo', FAST], { ONET_COMPRESSION: 'auto' });
    expect(fast.code, fast.stderr).toBe(0);
    expect(fast.stdout).toMatch(/^compression: off \(auto: no codec beats off by 15 %\)$/m);
    expect(fast.stdout).toMatch(/per codec .*: off [\d.]+ ms, bf16 [\d.]+ ms, .*int8 [\d.]+ ms/);
  });

  it('names a fixed choice, and off on one host', async () => {
    const fixed = await onet(['explain', '--size', '1MiB', '--topo', slowTopo()], { ONET_COMPRESSION: 'bf16' });
    expect(fixed.stdout).toMatch(/^compression: bf16 \(ONET_COMPRESSION=bf16/m);
    const one = await onet(['explain', '--size', '1MiB', '--hosts', '1'], { ONET_COMPRESSION: 'int8' });
    expect(one.stdout).toMatch(/^compression: off \(one host: nothing is compressed inside a host\)$/m);
  });
});
