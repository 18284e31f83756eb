// Issue 15, a peer joining a running ONET_WAN job between steps (docs/wan.md "Joining"), on
// loopback hosts (no root): `onet relay` as the public bootstrap; hosts 0 and 1 train
// (examples/node/wan_join.mjs: SGD with momentum over 4097 doubles, allreduced gradients); host 2
// starts while they train, waits at epoch 1's meeting; at step GROW_AT the two leave epoch 0 and
// meet it over libp2p with the same token, syncState hands it parameters and momentum (CRC32 equal
// on all three, and equal to what the old ranks held), and all three train on. The final state must
// equal a reference computed here, in one process, with the world size of each step. The same with
// torch ranks (examples/torch/wan_join.py: join_epoch, sync_state of a Linear model and its Adam
// state), checked against test/fixtures/wan_join_reference.py. Each epoch's coordinator starts while
// the last one exits and waits for it only before its libp2p node (src/p2p/key_holder.ts, tested here).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { epochJob, joinEpoch, stateCrc } from '../src/api/join.js';
import { identify } from '../src/coordinator/liveness.js';
import { holderFile, holdKey, keyHolder } from '../src/p2p/key_holder.js';
import { onetRun, ROOT, results } from './helpers.js';
import { wanEnv, withRelayHosts } from './wan_job.js';

const EXAMPLE = join(ROOT, 'examples/node/wan_join.mjs');
const N = 4097,
  STEPS = 10,
  GROW_AT = 4;

/** The same training in one process: world 2 for steps < GROW_AT, then 3 (the example's arithmetic). */
function reference(): number {
  const params = new Float64Array(N).map((_, k) => (k % 5) - 2);
  const momentum = new Float64Array(N);
  for (let step = 0; step < STEPS; step++) {
    const world = step < GROW_AT ? 2 : 3;
    for (let k = 0; k < N; k++) {
      let sum = 0;
      for (let r = 0; r < world; r++) sum += ((k * 7 + step * 13 + r * 5) % 17) - 8;
      momentum[k] = 0.5 * momentum[k] + sum / world;
      params[k] -= 0.0625 * momentum[k];
    }
  }
  return stateCrc([params, momentum]);
}

const net = withRelayHosts(4, (ip) => [`/ip4/${ip}/tcp/0`]);
const procs: ChildProcess[] = [];
afterAll(() => {
  for (const p of procs) p.kill('SIGKILL'); // before the hosts go (hooks run last registered first)
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let jobSeq = 0;

/**
 * Hosts 0 and 1 run `cmd args` (epoch 0, world 2); host 2 starts as the newcomer (JOIN_EPOCH=1) once
 * host 0 printed its first step (`late`), else at once (it waits at epoch 1's meeting either way:
 * that saves the Python start-up). Returns each host's ONET_RESULT and the times.
 */
async function growingJob(cmd: string, args: string[], env: NodeJS.ProcessEnv, late = true) {
  const job = `join${process.pid}x${jobSeq++}`;
  const lines: string[][] = [[], [], []];
  const start = (h: number, extra: NodeJS.ProcessEnv) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = net.lo.spawn(h, cmd, args, {
        ...wanEnv('join-test-token', net.relay.addrs[0], join(net.state, `host${h}`)),
        ONET_JOB_ID: job,
        ONET_RUN_DIR: join(net.state, `run${h}`),
        ONET_TIMEOUT: '30',
        ONET_CONNECT_TIMEOUT: '90', // a newcomer may wait at the meeting while the others train
        RANK: String(h),
        WORLD1: '3',
        STEPS: String(STEPS),
        GROW_AT: String(GROW_AT),
        ...env,
        ...extra,
      });
      procs.push(p);
      let out = '';
      const onData = (d: Buffer) => {
        out += d;
        lines[h].push(...String(d).split('\n').filter(Boolean));
      };
      p.stdout!.on('data', onData);
      p.stderr!.on('data', onData);
      const t = setTimeout(() => p.kill('SIGKILL'), 150_000); // generous: Python start-up under load
      p.on('close', (code) => {
        clearTimeout(t);
        resolve({ code, out });
      });
    });
  const t0 = Date.now();
  const old = [0, 1].map((h) => start(h, { WORLD0: '2' }));
  // The newcomer starts once the job is running (a step done on host 0), not before.
  for (let i = 0; late && i < 600 && !lines[0].some((l) => /step 1 of/.test(l)); i++) await sleep(100);
  if (late) expect(lines[0].join('\n'), 'host 0 trains before the newcomer starts').toMatch(/step 1 of/);
  const joined = Date.now() - t0;
  const runs = await Promise.all([...old, start(2, { JOIN_EPOCH: '1' })]);
  const res = runs.map((r, h) => {
    const l = r.out.split('\n').find((x) => x.startsWith('ONET_RESULT '));
    expect(l, `host ${h} (exit ${r.code}): ${r.out.slice(-2000)}`).toBeDefined();
    return JSON.parse(l!.slice(12));
  });
  for (const r of runs) expect(r.code).toBe(0);
  return { res, joined, total: Date.now() - t0 };
}

describe('a peer joins a running ONET_WAN job between steps', () => {
  it('Node: 2 hosts train, a third joins at step 4, gets the state (CRC32 equal), all 3 finish exactly', async () => {
    const { res, joined, total } = await growingJob(process.execPath, [EXAMPLE], {
      PARAMS: String(N),
      STEP_MS: '300',
    });
    console.log(
      `WAN join (Node): newcomer started ${joined} ms in, all done after ${total} ms; ` +
        `epoch 1 met in ${res.map((r) => r.metMs).join(', ')} ms; ${JSON.stringify(res)}`,
    );
    const want = reference();
    for (const r of res) {
      expect(r.synced.src, `host ${r.rank}: the state comes from a live rank`).toBe(0);
      expect(r.synced.step).toBe(GROW_AT);
      expect(r.synced.crc, `host ${r.rank}: CRC32 after syncState`).toBe(res[0].before);
      expect(r.final, `host ${r.rank}: the final state equals the reference`).toBe(want);
    }
    expect(res[1].before).toBe(res[0].before);
    expect(res[2].newcomer).toBe(true);
  }, 100_000);

  it('torch: join_epoch + sync_state (Linear + Adam): CRC32 equal, the final state equals the reference', async () => {
    const py = join(ROOT, '.venv/bin/python');
    const env = { PYTHONPATH: join(ROOT, 'python'), OMP_NUM_THREADS: '1', PYTHONWARNINGS: 'ignore' };
    const ref = new Promise<any>((resolve) =>
      execFile(
        py,
        [join(ROOT, 'test/fixtures/wan_join_reference.py')],
        { env: { ...process.env, ...env, STEPS: String(STEPS), GROW_AT: String(GROW_AT) }, timeout: 150_000 },
        (err, out) => resolve(err ? { err: String(err) } : JSON.parse(out)),
      ),
    );
    const port = 20000 + ((process.pid * 7) % 20000);
    const { res, joined, total } = await growingJob(
      py,
      [join(ROOT, 'examples/torch/wan_join.py')],
      {
        ...env,
        // torch's own store (epoch e on MASTER_PORT+e); the coordinators meet over libp2p
        MASTER_ADDR: net.lo.hosts[0].ip,
        MASTER_PORT: String(port),
      },
      false,
    );
    const refOut = await ref;
    expect(refOut.err, 'the reference ran').toBeUndefined();
    const want = refOut.crc;
    console.log(
      `WAN join (torch): newcomer started ${joined} ms in, all done after ${total} ms; ` +
        `epoch 1 met in ${res.map((r) => r.met_s).join(', ')} s; ${JSON.stringify(res)}`,
    );
    for (const r of res) {
      expect(r.src, `host ${r.rank}: the state comes from a live rank`).toBe(0);
      expect(r.step).toBe(GROW_AT);
      expect(r.synced, `host ${r.rank}: CRC32 after sync_state`).toBe(res[0].before);
      expect(r.final, `host ${r.rank}: the final state equals the reference`).toBe(want);
    }
    expect(res[1].before).toBe(res[0].before);
  }, 240_000);

  it('one libp2p node per host identity: the next coordinator waits for the last one to exit', async () => {
    const key = join(net.state, 'holder-test', 'p2p.key');
    mkdirSync(join(key, '..'));
    expect(keyHolder(key), 'no holder file: nobody holds it').toBeUndefined();
    // A holder that died (pid gone) holds nothing: taken at once.
    writeFileSync(holderFile(key), '999999999 1\n');
    expect(await holdKey(key, 5000), 'not waited for').toBe(0);
    expect(readFileSync(holderFile(key), 'utf8')).toBe(`${process.pid} ${identify(process.pid).start}\n`);
    expect(keyHolder(key), 'this process holding it is no other holder').toBeUndefined();
    // A live holder: waited for until it exits; still there after the limit: ETIMEDOUT naming it.
    const other = spawn('sleep', ['30']);
    procs.push(other);
    const id = identify(other.pid!);
    writeFileSync(holderFile(key), `${id.pid} ${id.start}\n`);
    expect(keyHolder(key)).toEqual(id);
    await expect(holdKey(key, 100)).rejects.toMatchObject({
      code: 'ETIMEDOUT',
      message: expect.stringMatching(new RegExp(`pid ${id.pid}\\).*give this job its own ONET_STATE_DIR`)),
    });
    // The same pid with another start time is another process (the pid was reused): no holder.
    writeFileSync(holderFile(key), `${id.pid} ${id.start + 1}\n`);
    expect(keyHolder(key)).toBeUndefined();
    writeFileSync(holderFile(key), `${id.pid} ${id.start}\n`);
    const held = holdKey(key, 20_000);
    setTimeout(() => other.kill('SIGKILL'), 300);
    expect(await held).toBeGreaterThanOrEqual(250);
    expect(keyHolder(key)).toBeUndefined();
  }, 30_000);

  it('bad input: epoch ids, ranks, a state of another shape (EMISMATCH naming the rank on every rank)', async () => {
    expect(epochJob('grow1', 0)).toBe('grow1');
    expect(epochJob('grow1', 2)).toBe('grow1.e2');
    expect(() => epochJob('grow1', -1)).toThrow(/epoch -1 must be a non-negative integer/);
    expect(() => epochJob('x'.repeat(62), 1)).toThrow(/must be 1-64 characters .* use a shorter ONET_JOB_ID/);
    await expect(joinEpoch(undefined, { epoch: 1, rank: 3, world: 3, job: 'j' })).rejects.toMatchObject({
      code: 'EINVAL',
      message: expect.stringMatching(/rank 3 of world 3: need 0 <= rank < world/),
    });
    const ran = await onetRun(3, 'test/fixtures/sync_state_bad.mjs', {}, 60_000);
    const res = results(ran.stdout);
    expect(res, ran.stdout + ran.stderr).toHaveLength(3);
    for (const r of res) {
      expect(r.code, r.message).toBe('EMISMATCH');
      expect(r.ranks).toEqual([1]);
      expect(r.message).toMatch(
        /syncState: ranks 1 pass a different state \(1 arrays, 40 bytes\) from the source, rank 0/,
      );
      expect(r.good).toMatchObject({ src: 1, step: 7, a: [2, 2, 2, 2], crc: res[0].good.crc });
    }
  }, 90_000);
});
