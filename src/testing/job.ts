// Run one multi-host job on any set of "hosts" that can spawn a process as host i: network
// namespaces (netns.ts, root) or loopback addresses (loopback.ts, any user). Ranks are spread
// over the hosts as `perHost` says, each started with the environment a launcher would give it
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE) plus a per-host run directory (the hosts share
// this machine's filesystem, real hosts would not) and the bootstrap on host 0's address.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What runJob needs of a harness: host 0's address and a way to start a process on host i. */
export interface JobHosts {
  hosts: { ip: string }[];
  spawn(i: number, cmd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
}

export interface RankOut {
  rank: number;
  code: number | null;
  out: string;
}

let port = 29600 + (process.pid % 300);

/** `env` may differ per host (a function of the host index); `beforeCleanup` sees each host's
 *  run directory (coordinator logs) before it is removed. */
export async function runJob(
  net: JobHosts,
  perHost: number[],
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv | ((host: number) => NodeJS.ProcessEnv) = {},
  timeoutMs = 120_000,
  beforeCleanup?: (dirs: string[]) => Promise<void> | void,
): Promise<RankOut[]> {
  const envOf = typeof env === 'function' ? env : () => env;
  const world = perHost.reduce((a, b) => a + b, 0);
  const job = `mh${process.pid}x${port}`;
  const bootstrap = `${net.hosts[0].ip}:${port++}`;
  const dirs = perHost.map(() => mkdtempSync(join(tmpdir(), 'onet-host-')));
  const runs: Promise<RankOut>[] = [];
  let rank = 0;
  perHost.forEach((n, h) => {
    for (let l = 0; l < n; l++, rank++) {
      const r = rank;
      const p = net.spawn(h, cmd, args, {
        ONET_RUN_DIR: dirs[h],
        ONET_JOB_ID: job,
        ONET_BOOTSTRAP: bootstrap,
        WORLD_SIZE: String(world),
        RANK: String(r),
        LOCAL_RANK: String(l),
        LOCAL_WORLD_SIZE: String(n),
        ONET_CONNECT_TIMEOUT: '30',
        ...envOf(h),
      });
      runs.push(
        new Promise((resolve) => {
          let out = '';
          p.stdout!.on('data', (d) => (out += d));
          p.stderr!.on('data', (d) => (out += d));
          const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
          p.on('close', (code) => {
            clearTimeout(t);
            resolve({ rank: r, code, out });
          });
        }),
      );
    }
  });
  const res = await Promise.all(runs);
  try {
    await beforeCleanup?.(dirs);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  return res;
}

/** Each rank's `ONET_RESULT {json}` line, or {rank, missing, code, tail} when it printed none. */
export function resultsOf(runs: RankOut[]): any[] {
  return runs.map((r) => {
    const l = r.out.split('\n').find((x) => x.includes('ONET_RESULT '));
    if (l) return JSON.parse(l.slice(l.indexOf('ONET_RESULT ') + 12));
    return { rank: r.rank, missing: true, code: r.code, tail: r.out.slice(-1500) };
  });
}
