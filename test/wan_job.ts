// Set-up shared by the ONET_WAN job tests (test/p2p_*.test.ts, test/wan_*.test.ts): `onet relay` as
// the public bootstrap, the environment of a coordinator that can meet its peers only over libp2p,
// and one job's runs with each host's coordinator log. NAT harness on top of it: test/wan_nat_job.ts.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { type JobHosts, type RankOut, resultsOf, runJob } from '../src/testing/job.js';
import { createLoopback, type Loopback } from '../src/testing/loopback.js';
import { ONET, ROOT } from './helpers.js';
import { relayLine } from './relay_line.js';

export const P2P_WORKER = join(ROOT, 'test/fixtures/p2p_worker.mjs');
/** ONET_BOOTSTRAP and MASTER_ADDR at TEST-NET: a meeting there would time out, so hosts meet over libp2p. */
export const NOWHERE = { ONET_BOOTSTRAP: '192.0.2.1:9', MASTER_ADDR: '192.0.2.1', MASTER_PORT: '8' };

export interface Relay {
  peerId: string;
  addrs: string[];
  proc: ChildProcess;
}
type Spawn = (cmd: string, args: string[], env: NodeJS.ProcessEnv) => ChildProcess;
const here: Spawn = (cmd, args, env) =>
  spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });

/** `onet relay --json --listen <listen…>` with its identity in `dir`, started by `start` (default: on
 *  this host); resolves once it printed its addresses. The caller kills `proc`. */
export async function startRelay(listen: string[], dir: string, start: Spawn = here): Promise<Relay> {
  const proc = start(process.execPath, [ONET, 'relay', '--json', '--listen', ...listen], { ONET_STATE_DIR: dir });
  let said = '';
  proc.stderr?.on('data', (d) => (said = (said + d).slice(-2000)));
  // A relay that dies at start fails the test at once, with what it said (not relayLine's 30 s later).
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code, sig) => reject(new Error(`onet relay exited (${code ?? sig}) at start: ${said}`))),
  );
  exited.catch(() => {}); // once running, its exit (killed after the test) is no error
  try {
    return { ...(await Promise.race([relayLine(proc), exited])), proc };
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
}

export interface RelayHosts {
  lo: Loopback;
  /** A fresh directory for the hosts' ONET_STATE_DIRs (the relay's identity is in `relay/`). */
  state: string;
  relay: Relay;
}
/**
 * For the tests of the calling file or describe: `n` loopback hosts (no root), the last of them running
 * `onet relay --listen <listen(its ip)>`, and a state directory; all gone after them. Set in beforeAll.
 */
export function withRelayHosts(n: number, listen: (ip: string) => string[]): RelayHosts {
  const h = {} as RelayHosts;
  beforeAll(async () => {
    h.lo = await createLoopback(n);
    h.state = mkdtempSync(join(tmpdir(), 'onet-wan-'));
    h.relay = await startRelay(listen(h.lo.hosts[n - 1].ip), join(h.state, 'relay'));
  }, 40_000);
  afterAll(async () => {
    h.relay?.proc.kill('SIGKILL');
    await h.lo?.destroy();
    if (h.state) rmSync(h.state, { recursive: true, force: true });
  });
  return h;
}

/** A coordinator of job `token` that meets its peers only over libp2p, through `bootstrap`, no mDNS. */
export const wanEnv = (token: string, bootstrap: string, stateDir: string): NodeJS.ProcessEnv => ({
  ...NOWHERE,
  ONET_WAN: '1',
  ONET_JOB_TOKEN: token,
  ONET_P2P_BOOTSTRAP: bootstrap,
  ONET_P2P_MDNS: '0',
  ONET_STATE_DIR: stateDir,
});

const readIf = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
/** The coordinator logs of one host's run directory (one job each). */
const coordLog = (dir: string) =>
  readdirSync(dir)
    .map((j) => readIf(join(dir, j, 'coord.log')))
    .join('\n');

/** Each rank's ONET_RESULT from p2p_worker.mjs, checked: printed, no wrong sum, `ok` exact allreduces. */
export function exactResults(runs: RankOut[], ok: number): any[] {
  const res = resultsOf(runs);
  for (const r of res) {
    expect(r.missing, JSON.stringify(r).slice(0, 3000)).toBeUndefined();
    expect(r.wrong, `rank ${r.rank}`).toEqual([]);
    expect(r.ok, `rank ${r.rank}`).toBe(ok);
  }
  return res;
}

/** runJob of `worker` (default test/fixtures/p2p_worker.mjs); also returns each host's coordinator log. */
export async function runWanJob(
  net: JobHosts,
  perHost: number[],
  env: (host: number) => NodeJS.ProcessEnv,
  timeoutMs: number,
  worker = P2P_WORKER,
) {
  const logs: string[] = [];
  const runs = await runJob(net, perHost, process.execPath, [worker], env, timeoutMs, (dirs) => {
    logs.push(...dirs.map(coordLog));
  });
  return { runs, logs };
}
