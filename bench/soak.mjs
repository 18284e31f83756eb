#!/usr/bin/env node
// Soak: mixed collectives with random sizes for a long time, checking every result exactly and
// watching the coordinator for leaks (RSS, open fds, /dev/shm/onet-* segments).
//
//   node bench/soak.mjs                        # one hour, 3 ranks (the documented long form)
//   node bench/soak.mjs --seconds 60 --ranks 3 --json   # the bounded CI form (test/soak.test.ts)
//
// Prints a line per sample ("t=… rss=… fds=… shm=… ops=…") and a verdict; exit 1 on a wrong
// result, a failed collective, or growth of fds / segments / RSS (> --rss-slack MiB) after warm-up.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

if (process.env.ONET_SOAK_RANK) await rank();
else await main();

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

async function main() {
  const seconds = Number(arg('seconds', 3600)),
    ranks = Number(arg('ranks', 3)),
    json = process.argv.includes('--json');
  const slackMiB = Number(arg('rss-slack', 32)),
    warm = Math.min(15, seconds / 4);
  const job = `soak-${process.pid}`;
  const env = { ...process.env, ONET_JOB_ID: job, ONET_ARENA_BYTES: '16MiB', ONET_TIMEOUT: '60' };
  const coord = spawn(process.execPath, [join(ROOT, 'bin/onet.js'), 'serve', '--job', job, '--world', String(ranks)], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((res) => coord.stdout.on('data', (d) => String(d).includes('listening') && res()));
  const t0 = Date.now();
  const outs = [];
  const procs = [...Array(ranks).keys()].map((r) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
      env: {
        ...env,
        ONET_SOAK_RANK: '1',
        ONET_SOAK_SECONDS: String(seconds),
        RANK: String(r),
        WORLD_SIZE: String(ranks),
        LOCAL_RANK: String(r),
        LOCAL_WORLD_SIZE: String(ranks),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    outs.push(() => out);
    return new Promise((res) => p.on('close', (code) => res(code)));
  });
  const sample = () => {
    const status = readFileSync(`/proc/${coord.pid}/status`, 'utf8');
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
    const fds = readdirSync(`/proc/${coord.pid}/fd`).length;
    const shm = readdirSync('/dev/shm').filter((n) => n.startsWith(`onet-${job}-`)).length;
    const ops = outs.map((o) =>
      Number(
        (/ops=(\d+)/g.exec(
          o()
            .split('\n')
            .filter((l) => l.includes('ops='))
            .pop() ?? '',
        ) ?? [0, 0])[1],
      ),
    );
    return {
      t: Math.round((Date.now() - t0) / 1000),
      rssMiB: +(rssKiB / 1024).toFixed(1),
      fds,
      shm,
      ops: Math.min(...ops),
    };
  };
  const samples = [];
  let base;
  const timer = setInterval(
    () => {
      const s = sample();
      samples.push(s);
      if (!base && s.t >= warm) base = s;
      if (!json) console.log(`t=${s.t}s rss=${s.rssMiB}MiB fds=${s.fds} shm=${s.shm} ops=${s.ops}`);
    },
    Math.max(1000, Math.min(30_000, (seconds * 1000) / 20)),
  );
  const codes = await Promise.all(procs);
  clearInterval(timer);
  const end = sample();
  samples.push(end);
  base ??= samples[0];
  coord.kill('SIGTERM');
  await new Promise((r) => coord.on('close', r));
  const results = outs.map((o) => {
    const l = o()
      .split('\n')
      .find((x) => x.startsWith('ONET_RESULT '));
    return l ? JSON.parse(l.slice(12)) : { missing: true };
  });
  const problems = [];
  results.forEach((r, i) => {
    if (r.missing || codes[i] !== 0) problems.push(`rank ${i} exited ${codes[i]} without a result`);
    else if (r.wrong.length || r.errors.length)
      problems.push(
        `rank ${i}: ${r.wrong.length} wrong, ${r.errors.length} errors: ` +
          `${JSON.stringify([...r.wrong, ...r.errors].slice(0, 3))}`,
      );
  });
  if (end.fds > base.fds) problems.push(`coordinator fds grew ${base.fds} → ${end.fds}`);
  if (end.shm > base.shm) problems.push(`/dev/shm/onet-${job}-* grew ${base.shm} → ${end.shm}`);
  if (end.rssMiB > base.rssMiB + slackMiB)
    problems.push(`coordinator RSS grew ${base.rssMiB} → ${end.rssMiB} MiB (slack ${slackMiB})`);
  const leftover = readdirSync('/dev/shm').filter((n) => n.startsWith(`onet-${job}-`)).length;
  if (leftover) problems.push(`${leftover} segment(s) left in /dev/shm after the coordinator exited`);
  const verdict = {
    seconds,
    ranks,
    collectives: results.map((r) => r.ok ?? 0),
    base,
    end,
    leftover,
    problems,
    samples: json ? samples : undefined,
  };
  console.log(
    json
      ? 'ONET_SOAK ' + JSON.stringify(verdict)
      : `${problems.length ? 'FAIL' : 'OK'}: ${verdict.collectives.join('/')} collectives per rank; ` +
          `${problems.join('; ') || 'no growth in fds, segments or RSS'}`,
  );
  process.exit(problems.length ? 1 : 0);
}

async function rank() {
  const { init } = await import(join(ROOT, 'dist/index.js'));
  const comm = await init();
  const seconds = Number(process.env.ONET_SOAK_SECONDS);
  const res = { rank: comm.rank, ok: 0, wrong: [], errors: [] };
  let seed = 99; // the same sequence on every rank: every rank makes the same calls
  const rnd = (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const W = comm.world,
    R = comm.rank,
    t0 = Date.now();
  const bad = (what, got, want) => res.wrong.length < 5 && res.wrong.push({ what, got, want });
  // Stop together: rank 0 decides and broadcasts the verdict every 64 iterations.
  for (let i = 0; ; i++) {
    if (i % 64 === 0) {
      const stop = await comm.broadcast(Int32Array.of(Date.now() - t0 > seconds * 1000 ? 1 : 0), { root: 0 });
      if (stop[0]) break;
      console.log(`ops=${res.ok}`);
    }
    const n = [0, 1, 3, 64, 4097, 1 << 16][rnd(6)];
    const kind = rnd(6);
    try {
      if (kind === 0) {
        const x = Float64Array.from({ length: n }, (_, k) => R + (k % 7));
        await comm.allreduce(x, { op: 'sum' });
        for (let k = 0; k < n; k++)
          if (x[k] !== (W * (W - 1)) / 2 + W * (k % 7)) {
            bad('allreduce', x[k], k);
            break;
          }
      } else if (kind === 1) {
        const g = await comm.allgather(Int32Array.from({ length: n }, (_, k) => R * 1000 + k));
        for (let k = 0; k < W * n; k++)
          if (g[k] !== Math.floor(k / n) * 1000 + (k % n)) {
            bad('allgather', g[k], k);
            break;
          }
      } else if (kind === 2) {
        const root = rnd(W);
        const x = await comm.broadcast(
          Int32Array.from({ length: n }, (_, k) => (R === root ? k + 5 : -1)),
          { root },
        );
        for (let k = 0; k < n; k++)
          if (x[k] !== k + 5) {
            bad('broadcast', x[k], k);
            break;
          }
      } else if (kind === 3) {
        const y = await comm.reduceScatter(
          Int32Array.from({ length: n * W }, (_, k) => k),
          { op: 'max' },
        );
        for (let k = 0; k < n; k++)
          if (y[k] !== R * n + k) {
            bad('reduceScatter', y[k], k);
            break;
          }
      } else if (kind === 4) {
        const y = await comm.alltoall(Int32Array.from({ length: n * W }, (_, k) => R * 100000 + k));
        for (let k = 0; k < n * W; k++)
          if (y[k] !== Math.floor(k / n) * 100000 + R * n + (k % n)) {
            bad('alltoall', y[k], k);
            break;
          }
      } else await comm.barrier();
      res.ok++;
    } catch (e) {
      res.errors.push({ i, code: e.code, message: String(e.message).slice(0, 300) });
      if (res.errors.length > 5) break;
    }
  }
  console.log('ONET_RESULT ' + JSON.stringify(res));
  await comm.close();
}
