// Two hosts, each on its own private LAN behind its own NAT router (createNatNet), and `onet relay` on
// the public host between them; one ONET_WAN job of one rank per host, with an unreachable torch
// store (TEST-NET), so they can only meet over libp2p. Shared by test/wan_nat.test.ts and
// test/wan_holepunch.test.ts (the general WAN job set-up: test/wan_job.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNatNet, type NatNet, type NatOptions } from '../src/testing/netns.js';
import { type Relay, runWanJob, startRelay, wanEnv } from './wan_job.js';

/** A TCP connect from inside namespace `ns`: 'connect', the error code, or 'timeout' (1 s). */
export function tcpFrom(ns: string, ip: string, port: number): string {
  const js =
    `const s=require('net').connect(${port},'${ip}');s.on('connect',()=>{console.log('connect');process.exit()});` +
    "s.on('error',e=>{console.log(e.code);process.exit()});" +
    "setTimeout(()=>{console.log('timeout');process.exit()},1000)";
  return execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', js], { encoding: 'utf8' }).trim();
}

/** Two NATed LANs and `onet relay` on the public host; `fn` runs with them, then all is torn down. */
export async function withNatRelay<T>(
  opts: NatOptions,
  fn: (net: NatNet, relay: Relay, state: string) => Promise<T>,
): Promise<T> {
  const net = createNatNet(2, opts);
  const state = mkdtempSync(join(tmpdir(), 'onet-nat-'));
  let relay: Relay | undefined;
  try {
    relay = await startRelay([`/ip4/${net.pub.ip}/tcp/4001`], join(state, 'relay'), (cmd, args, env) =>
      net.spawnPub(cmd, args, env),
    );
    return await fn(net, relay, state);
  } finally {
    relay?.proc.kill('SIGKILL');
    net.destroy();
    rmSync(state, { recursive: true, force: true });
  }
}

/** The job: both hosts' runs and coordinator logs. */
export function runNatPair(
  net: NatNet,
  o: { bootstrap: string; state: string; token: string; connectTimeoutS: number; timeoutMs: number },
  extraEnv: Record<string, string> = {},
) {
  return runWanJob(
    net,
    [1, 1],
    (h) => ({
      ...wanEnv(o.token, o.bootstrap, join(o.state, `h${h}`)),
      ONET_P2P_STATUS: '1',
      ONET_CONNECT_TIMEOUT: String(o.connectTimeoutS),
      ...extraEnv,
    }),
    o.timeoutMs,
  );
}
