// `onet relay --listen /ip4/ADDR/tcp/PORT`: a public bootstrap and relay node for ONET_WAN jobs
// (docs/wan.md): a circuit relay v2 server (hosts behind NAT reserve a relayed address here; its
// identify tells them their public address, with which they hole-punch: src/p2p/holepunch.ts), a
// DHT server (jobs are found by their key), AutoNAT for the hosts asking whether they are reachable.
// It prints its full multiaddrs, one per line, in the form ONET_P2P_BOOTSTRAP takes, then runs
// until SIGINT/SIGTERM. Its identity persists in --key (default <state dir>/relay.key), so the
// printed addresses stay valid across restarts.
import { join } from 'node:path';
import { OnetError } from '../errors.js';
import { loadOrCreateKey, stateDir } from '../p2p/identity.js';
import { createP2pNode, fullAddrs, multiaddrList } from '../p2p/node.js';

export interface RelayOptions {
  listen: string[];
  announce?: string[];
  key?: string;
  /** Print a JSON line instead of the addresses (scripts and tests). */
  json?: boolean;
}

export async function relay(o: RelayOptions): Promise<void> {
  const listen = multiaddrList(o.listen.join(','), '--listen');
  if (!listen.length)
    throw new OnetError(
      'EINVAL',
      '--listen needs at least one multiaddr, e.g. /ip4/0.0.0.0/tcp/4001 (and /tcp/4002/ws)',
    );
  const announce = multiaddrList((o.announce ?? []).join(','), '--announce');
  const keyFile = o.key ?? join(stateDir(), 'relay.key');
  const { key, created } = await loadOrCreateKey(keyFile);
  const node = await createP2pNode({ key, listen, role: 'relay', announce });
  const addrs = fullAddrs(node);
  if (o.json) console.log(JSON.stringify({ peerId: node.peerId.toString(), addrs, key: keyFile, created }));
  else {
    console.error(`onet relay: peer ${node.peerId} (${created ? 'new identity in' : 'identity from'} ${keyFile})`);
    console.error('onet relay: give the hosts of a job ONET_WAN=1 and ONET_P2P_BOOTSTRAP=<one or more of these>:');
    for (const a of addrs) console.log(a);
  }
  const stop = async () => {
    await node.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}
