// Liveness of local ranks from the process itself (src/coordinator/liveness.ts): a zombie or a
// pid reused by another process is dead, so the survivors get EABORTED naming the rank within
// the coordinator's 200 ms watch instead of waiting out ONET_TIMEOUT.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { alive, identify } from '../src/coordinator/liveness';
import { ONET, ROOT, results } from './helpers';

const started: ChildProcess[] = [];
function track(p: ChildProcess): ChildProcess {
  started.push(p);
  return p;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
afterEach(() => {
  for (const p of started.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/** `sh -c 'cmd & echo $!; exec sleep 600'`: once the shell is `sleep`, nothing reaps cmd when it exits. */
function unreapedChild(cmd: string, env = process.env): Promise<{ parent: ChildProcess; pid: number }> {
  const script = `${cmd} & echo "CHILD $!"; exec sleep 600`;
  const parent = track(spawn('sh', ['-c', script], { env, stdio: ['ignore', 'pipe', 'inherit'] }));
  return new Promise((res, rej) => {
    let out = '';
    parent.stdout!.on('data', (d) => {
      out += d;
      const m = /CHILD (\d+)/.exec(out);
      if (m) res({ parent, pid: Number(m[1]) });
    });
    parent.on('error', rej);
  });
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await sleep(20)) if (Date.now() > end) throw new Error(`never: ${what}`);
}

const procState = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1][0];
  } catch {
    return '';
  }
};

describe('process identity', () => {
  it('a zombie counts as dead although kill(pid, 0) still succeeds', async () => {
    const { pid } = await unreapedChild('sleep 0.2'); // exits after the shell became `sleep 600`, which never reaps
    await until('the child is a zombie', () => procState(pid) === 'Z');
    expect(() => process.kill(pid, 0)).not.toThrow(); // what the old check relied on
    expect(alive({ pid, start: 0 })).toBe(false);
    expect(identify(pid).start).toBe(0);
  });

  it('the identity recorded for a pid that another process holds now counts as dead', async () => {
    const a = track(spawn('sleep', ['600']));
    await until('a started', () => identify(a.pid!).start > 0);
    const recorded = identify(a.pid!);
    expect(alive(recorded)).toBe(true);
    await sleep(50); // start times count 10 ms ticks: b starts on a later one
    const b = track(spawn('sleep', ['600']));
    await until('b started', () => identify(b.pid!).start > 0);
    const now = identify(b.pid!);
    expect(now.start).not.toBe(recorded.start);
    // b holding the pid a was recorded under: the coordinator compares what it recorded at registration.
    expect(alive({ pid: b.pid!, start: recorded.start })).toBe(false);
    expect(alive(now)).toBe(true);
    a.kill('SIGKILL');
    await new Promise((r) => a.once('exit', r));
    await until('a reaped', () => procState(a.pid!) === '');
    expect(alive(recorded)).toBe(false);
  });
});

describe('a zombie rank', () => {
  it('fails the survivors with EABORTED naming it, long before ONET_TIMEOUT', async () => {
    const job = `zombie-${process.pid}`;
    const env = { ...process.env, ONET_JOB_ID: job, ONET_TIMEOUT: '60', ONET_AUTOSTART: '0' };
    const serve = [ONET, 'serve', '--job', job, '--world', '2'];
    const coord = track(spawn(process.execPath, serve, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    await new Promise<void>((res) => coord.stdout!.on('data', (d) => String(d).includes('listening') && res()));
    const sizes = { WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '2' };
    const rankEnv = (r: number) => ({ ...env, ...sizes, RANK: `${r}`, LOCAL_RANK: `${r}` });
    // die_worker: rank 1 SIGKILLs itself right after registering; rank 0 then runs an allreduce.
    const worker = join(ROOT, 'test/fixtures/die_worker.mjs');
    const stdio: ['ignore', 'pipe', 'inherit'] = ['ignore', 'pipe', 'inherit'];
    const survivor = track(spawn(process.execPath, [worker], { env: rankEnv(0), stdio }));
    let out = '';
    survivor.stdout!.on('data', (d) => (out += d));
    const { pid } = await unreapedChild(`'${process.execPath}' '${worker}'`, rankEnv(1));
    await new Promise((res) => survivor.on('close', res));
    expect(procState(pid)).toBe('Z'); // it really was a zombie the whole time
    const [res] = results(out);
    expect(res.code).toBe('EABORTED');
    expect(res.message).toContain(`rank 1 (pid ${pid}) died`);
    expect(res.ranks).toContain(1);
    coord.kill('SIGTERM'); // it unlinks its segments on the way out
    await new Promise((r) => coord.once('exit', r));
  }, 45_000);
});
