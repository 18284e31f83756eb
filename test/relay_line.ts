// The first line `onet relay --json` prints ({peerId, addrs}), shared by the WAN tests.
import type { ChildProcess } from 'node:child_process';

/** Resolves with the relay's JSON line; rejects after 30 s with what it printed. */
export function relayLine(p: ChildProcess): Promise<{ peerId: string; addrs: string[] }> {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`onet relay printed nothing in 30 s: ${out}`)), 30_000);
    p.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        resolve(JSON.parse(out.slice(0, nl)));
      }
    });
    p.stderr!.on('data', (d) => (out += d));
  });
}
