// Where the WAN rendezvous (meet.ts) finds its candidates: the bootstrap nodes it dials, their registries
// (registry.ts), providers of the job's DHT key, and peers named in hellos (hints). Each candidate keeps its
// greeting state here; greeting them, and keeping their hellos, is meet.ts's part.
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { jobKey } from './dht_key.js';
import { STREAM_MS } from './exchange.js';
import type { MeetOptions } from './meet.js';
import type { PeerHint } from './messages.js';
import { register } from './registry.js';

export type Candidate = { state: 'new' | 'greeted' | 'not-onet' | 'other-job'; nextTry: number; tries: number };

export class Discovery {
  /** Every peer seen, by peer id (never this coordinator). */
  readonly candidates = new Map<string, Candidate>();

  constructor(
    private readonly o: Pick<MeetOptions, 'node' | 'job' | 'token' | 'bootstrap' | 'dht' | 'log'>,
    private readonly me: string,
    /** Called on each new candidate (the rendezvous greets it without waiting for its next round). */
    private readonly onNew: () => void = () => {},
  ) {}

  candidate(id: string): void {
    if (id === this.me || this.candidates.has(id)) return;
    this.candidates.set(id, { state: 'new', nextTry: 0, tries: 0 });
    this.onNew();
  }

  /** A peer named by a hello or a registry: remember its addresses for the dial, greet it. */
  hint(p: PeerHint): void {
    if (p.id === this.me) return;
    try {
      const id = peerIdFromString(p.id);
      const addrs = p.addrs.flatMap((a) => {
        try {
          return [multiaddr(a)];
        } catch {
          return [];
        }
      });
      if (addrs.length) void this.o.node.peerStore.merge(id, { multiaddrs: addrs }).catch(() => {});
      this.candidate(p.id);
    } catch {
      /* not a peer id: ignore the hint */
    }
  }

  private registryTask?: Promise<void>;
  private registryNext = 0;
  /** Ask every bootstrap's registry (registry.ts) for the job's other peers, every 500 ms. */
  registryRound(): void {
    if (this.registryTask || Date.now() < this.registryNext || !this.o.bootstrap.length) return;
    const ns = jobKey(this.o.job, this.o.token).toString();
    this.registryTask = Promise.all(
      this.o.bootstrap.map(async (b) => {
        try {
          const t0 = Date.now();
          const peers = await register(this.o.node, multiaddr(b), ns);
          this.o.log('debug', `registry at ${b}: ${peers.length} peer(s) in ${Date.now() - t0} ms`);
          for (const p of peers) this.hint(p);
        } catch (e) {
          this.o.log('debug', `registry at ${b}: ${(e as Error).message}`);
        }
      }),
    ).then(() => {
      this.registryTask = undefined;
      this.registryNext = Date.now() + 500;
    });
  }

  /** Dial the bootstrap addresses still in `pending`; each one reached leaves it. */
  async dialBootstrap(pending: Set<string>): Promise<void> {
    await Promise.all(
      [...pending].map(async (a) => {
        try {
          await this.o.node.dial(multiaddr(a), { signal: AbortSignal.timeout(STREAM_MS) });
          pending.delete(a);
          this.o.log('info', `WAN rendezvous: connected to bootstrap ${a}`);
        } catch (e) {
          this.o.log('debug', `WAN rendezvous: bootstrap ${a} not reachable yet: ${(e as Error).message}`);
        }
      }),
    );
  }

  private dhtTask?: Promise<void>;
  private dhtNext = 0;
  private provided = 0;
  /** Announce the job's key (every 5 s; a provide can take as long as its query) and look it up (every 1 s). */
  dhtRound(): void {
    if (this.o.dht === false || Date.now() < this.dhtNext) return;
    const key = jobKey(this.o.job, this.o.token);
    const cr = this.o.node.contentRouting;
    if (Date.now() - this.provided > 5000) {
      this.provided = Date.now();
      void cr
        .provide(key, { signal: AbortSignal.timeout(5000) })
        .catch((e) => this.o.log('debug', `DHT provide: ${(e as Error).message}`));
    }
    if (this.dhtTask) return;
    this.dhtTask = (async () => {
      try {
        for await (const p of cr.findProviders(key, { signal: AbortSignal.timeout(3000) })) {
          if (p.id.toString() === this.me) continue;
          if (p.multiaddrs.length)
            await this.o.node.peerStore.merge(p.id, { multiaddrs: p.multiaddrs }).catch(() => {});
          this.candidate(p.id.toString());
        }
      } catch (e) {
        this.o.log('debug', `DHT lookup: ${(e as Error).message}`);
      } finally {
        this.dhtTask = undefined;
        this.dhtNext = Date.now() + 500;
      }
    })();
  }
}
