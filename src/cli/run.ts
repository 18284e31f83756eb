// `onet run -n N -- cmd ...`: a coordinator in this process plus N ranks with the launcher
// environment set; output streamed with a rank prefix; exit status non-zero if any rank fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Coordinator } from '../coordinator/server.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as any).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

function pipeLines(stream: NodeJS.ReadableStream, prefix: string, out: NodeJS.WritableStream): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      out.write(`${prefix}${buf.slice(0, i)}\n`);
      buf = buf.slice(i + 1);
    }
  });
  stream.on('end', () => { if (buf) out.write(`${prefix}${buf}\n`); });
}

export async function run(n: number, cmd: string[], opts: { job?: string; quiet?: boolean } = {}): Promise<number> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`EINVAL: -n ${n}: give the number of ranks, at least 1`);
  if (!cmd.length) throw new Error('EINVAL: nothing to run: onet run -n 4 -- node script.mjs');
  const job = opts.job ?? `run-${process.pid}-${randomBytes(3).toString('hex')}`;
  const env = { ...process.env, ONET_JOB_ID: job };
  const coord = await Coordinator.start({ job, world: n, env });
  const port = await freePort();
  const children: ChildProcess[] = [];
  const codes: number[] = [];
  let failed = false;
  await new Promise<void>((resolve) => {
    let left = n;
    for (let r = 0; r < n; r++) {
      const child = spawn(cmd[0], cmd.slice(1), {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...env, RANK: String(r), WORLD_SIZE: String(n), LOCAL_RANK: String(r), LOCAL_WORLD_SIZE: String(n),
          MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), PYTHONUNBUFFERED: '1' },
      });
      const prefix = n > 1 ? `[rank ${r}] ` : '';
      pipeLines(child.stdout!, prefix, process.stdout);
      pipeLines(child.stderr!, prefix, process.stderr);
      child.on('error', (e) => process.stderr.write(`${prefix}onet run: cannot start ${cmd[0]}: ${e.message}\n`));
      child.on('close', (code, sig) => {
        codes[r] = code ?? (sig ? 128 : 1);
        if (codes[r] !== 0 && !failed) {
          failed = true;
          process.stderr.write(`onet run: rank ${r} exited with ${code ?? sig}; stopping the others in 5 s\n`);
          setTimeout(() => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM')), 5000).unref();
        }
        if (--left === 0) resolve();
      });
      children.push(child);
    }
  });
  await coord.close();
  const bad = codes.map((c, r) => [r, c]).filter(([, c]) => c !== 0);
  if (bad.length) process.stderr.write(`onet run: ${bad.length} of ${n} rank(s) failed: ${bad.map(([r, c]) => `rank ${r} (exit ${c})`).join(', ')}\n`);
  return bad.length ? 1 : 0;
}
