// Coordinators of one ONET_WAN job meet over libp2p instead of at MASTER_ADDR:MASTER_PORT+1.
// Every coordinator is equal (no one serves the list): each finds candidates (bootstrap nodes'
// peers, providers of the job's DHT key, mDNS, and peers named in hellos), greets each one on
// WAN_PROTOCOL, and keeps the hellos that prove the job token. Once the hellos cover the world,
// each assembles the host list by the same rule as the TCP bootstrap (rendezvous.ts assemble:
// hosts ordered by lowest rank), so all compute the same list; a ready round then compares
// digests of it, so no coordinator connects the mesh before all agree.
//
// Why this terminates: a greeting is symmetric (both sides keep the other's hello), hellos
// gossip the peers each side knows, and every candidate is greeted until the deadline, so once
// any path of discovery joins two coordinators they both learn of all the others.
// (Finding the candidates is discovery.ts; sending one message and reading its answer, exchange.ts.)
import { createHash } from 'node:crypto';
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { assemble, type HostEntry, type Hello as TcpHello } from '../coordinator/rendezvous.js';
import { OnetError } from '../errors.js';
import type { Verifier } from '../security/auth.js';
import { type Candidate, Discovery } from './discovery.js';
import { request, serve } from './exchange.js';
import {
  checkHello,
  checkReady,
  helloParts,
  type RefusalReason,
  readyParts,
  signHello,
  signReady,
  WAN_PROTOCOL,
  WAN_VERSION,
  type WanHello,
  type WanMsg,
  type WanReady,
} from './messages.js';
import type { P2pNode } from './node.js';

export interface MeetOptions {
  node: P2pNode;
  job: string;
  world: number;
  ranks: number[];
  /** ip:port of this host's native transport. */
  addr: string;
  hostname: string;
  token: string;
  /** ONET_P2P_ALLOW: peer ids that may join (empty: any token holder). */
  allow: string[];
  bootstrap: string[];
  timeoutMs: number;
  verifier: Verifier;
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void;
  /** TESTS ONLY: speak another protocol version (what an older or newer OpenNetworks does). */
  version?: number;
  /** Use the DHT (default true). */
  dht?: boolean;
}

export interface Met {
  hosts: HostEntry[];
  /** Peer id of each host, by host index. */
  peers: string[];
  /** ms from meet() to agreement. */
  elapsedMs: number;
}

/** The longest wait between rounds; a hello, a ready or a new candidate starts the next round at once. */
const ROUND_MS = 250;
/** A coordinator refused by a peer and accepted by none for this long gives up (see refusedWith). */
const REFUSED_GRACE_MS = 1000;

export class WanMeeting {
  private readonly me: string;
  private readonly hellos = new Map<string, WanHello>();
  private readonly readies = new Map<string, string>();
  private readonly discovery: Discovery;
  /** Refusals we received, by peer: the error text the user sees on a timeout. */
  private readonly refusedBy = new Map<string, string>();
  private fatal?: OnetError;
  private final?: { hosts: HostEntry[]; peers: string[]; digest: string };
  private stopped = false;
  private readonly version: number;

  constructor(private readonly o: MeetOptions) {
    this.me = o.node.peerId.toString();
    this.version = o.version ?? WAN_VERSION;
    this.discovery = new Discovery(o, this.me, () => this.nudge());
  }

  /** Register the protocol handler (before any peer can greet us). */
  async start(): Promise<void> {
    const answer = (peer: string, m: WanMsg | { bad: string }) => this.answer(peer, m);
    const log: MeetOptions['log'] = (level, msg) => this.o.log(level, msg);
    await this.o.node.handle(WAN_PROTOCOL, (stream, conn) => void serve(stream, conn, answer, log), {
      maxInboundStreams: 64,
      runOnLimitedConnection: true, // hellos may cross a relay before a direct path exists
    });
    this.o.node.addEventListener('peer:discovery', (e) => this.discovery.candidate(e.detail.id.toString()));
    this.o.node.addEventListener('peer:connect', (e) => this.discovery.candidate(e.detail.toString()));
  }

  stop(): void {
    this.stopped = true;
    this.nudge();
  }

  private woken = false;
  private wakeNap?: () => void;
  /** Something the loop acts on arrived (a hello, a ready, a new candidate): run the next round now. */
  private nudge(): void {
    this.woken = true;
    this.wakeNap?.();
  }
  /** Wait up to `ms` between rounds, less when nudged (also when nudged during the round just run). */
  private async nap(ms: number): Promise<void> {
    if (!this.woken)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        this.wakeNap = () => {
          clearTimeout(t);
          resolve();
        };
      });
    this.wakeNap = undefined;
    this.woken = false;
  }

  private hello(): WanHello {
    const peers = [...this.hellos.keys()].map((id) => ({ id, addrs: this.addrsOf(id) }));
    return {
      type: 'hello',
      v: this.version,
      job: this.o.job,
      ranks: this.o.ranks,
      addr: this.o.addr,
      hostname: this.o.hostname,
      peers,
    };
  }

  private addrsOf(id: string): string[] {
    try {
      return this.o.node
        .getConnections(peerIdFromString(id))
        .map((c) => c.remoteAddr.toString())
        .slice(0, 8);
    } catch {
      return [];
    }
  }

  // ---- inbound ----------------------------------------------------------------------------

  private refuse(peer: string, reason: RefusalReason, error: string): WanMsg {
    if (reason === 'token' || reason === 'allow') this.o.verifier.refusals++;
    this.o.log('warn', `WAN rendezvous refused peer ${peer}: it ${error}`);
    return {
      type: 'refused',
      v: this.version,
      reason,
      error: `coordinator ${this.me} (job ${this.o.job}) refused it: it ${error}`,
    };
  }

  /** The answer to one inbound message from `peer`. */
  answer(peer: string, m: WanMsg | { bad: string }): WanMsg {
    if ('bad' in m) return this.refuse(peer, 'malformed', `sent a malformed message: ${m.bad}`);
    if (m.type === 'hello') {
      const bad = checkHello(m, this.o.job, this.o.world, this.version);
      if (bad) return this.refuse(peer, bad[0], bad[1]);
      const why = this.verifyAllowed(peer);
      if (why) return this.refuse(peer, 'allow', why);
      const proof = this.o.verifier.verify(this.o.token, m.auth, helloParts(m, peer, this.me));
      if (proof) return this.refuse(peer, 'token', `has no valid proof of the job token: ${proof}`);
      if (this.final && !this.final.peers.includes(peer))
        return this.refuse(peer, 'started', 'came after the job had assembled its hosts; start it with the others');
      this.keep(peer, m);
      return signHello(this.hello(), this.o.token, this.me, peer);
    }
    if (m.type === 'ready') {
      const bad = checkReady(m, this.o.job, this.version);
      if (bad) return this.refuse(peer, bad[0], bad[1]);
      const proof = this.o.verifier.verify(this.o.token, m.auth, readyParts(m, peer, this.me));
      if (proof) return this.refuse(peer, 'token', `has no valid proof of the job token: ${proof}`);
      if (!this.hellos.has(peer)) return this.refuse(peer, 'hosts', 'sent ready before a hello');
      this.readies.set(peer, m.digest);
      this.nudge();
      return { type: 'ok', v: this.version };
    }
    return this.refuse(peer, 'malformed', `sent a ${m.type} message where a hello or ready was expected`);
  }

  private verifyAllowed(peer: string): string {
    if (!this.o.allow.length || this.o.allow.includes(peer)) return '';
    return `is not on this host's ONET_P2P_ALLOW list (${this.o.allow.length} peer id(s))`;
  }

  private keep(peer: string, h: WanHello): void {
    if (this.refusers.has(peer)) return;
    this.hellos.set(peer, h);
    const c = this.discovery.candidates.get(peer);
    if (c) c.state = 'greeted';
    else this.discovery.candidates.set(peer, { state: 'greeted', nextTry: 0, tries: 0 });
    // Gossip: the peers it knows are candidates too.
    for (const p of h.peers) this.discovery.hint(p);
    this.nudge();
  }

  // ---- outbound ---------------------------------------------------------------------------

  /**
   * A refusal we got (or a peer we refuse to count). Neither side can tell who is wrong when two
   * coordinators hold different tokens or versions, so one refusal is never fatal: the ones that
   * agree go on (the job unharmed). A coordinator refused by two or more peers and accepted by
   * none for REFUSED_GRACE_MS is the odd one out: it fails at once, saying why. (Two hosts that
   * disagree with only each other both wait for ONET_CONNECT_TIMEOUT, and the timeout names it.)
   */
  private refusedWith(peer: string, reason: RefusalReason, error: string): void {
    this.refusedBy.set(peer, error);
    const c = this.discovery.candidates.get(peer);
    if (c && (reason === 'job' || reason === 'version')) c.state = 'other-job';
    if (reason === 'token' || reason === 'allow' || reason === 'version') {
      this.firstRefusal ??= Date.now();
      this.refusal ??= { reason, error };
      this.refusers.add(peer);
      // A peer that turned us away is not in our job, whatever hello it sent us.
      this.hellos.delete(peer);
      this.readies.delete(peer);
    }
  }
  private firstRefusal?: number;
  private refusal?: { reason: RefusalReason; error: string };
  private readonly refusers = new Set<string>();

  private refusedForGood(): OnetError | undefined {
    if (!this.refusal || this.refusers.size < 2 || this.hellos.size) return undefined;
    if (Date.now() - this.firstRefusal! < REFUSED_GRACE_MS) return undefined;
    const { reason, error } = this.refusal;
    if (reason === 'version') return new OnetError('EPROTO', `ONET_WAN rendezvous: ${error}`);
    return new OnetError(
      'EACCES',
      `ONET_WAN rendezvous: ${error}; give every host the same ONET_JOB_TOKEN` +
        `${reason === 'allow' ? " and put this host's peer id on the others' ONET_P2P_ALLOW" : ''}`,
    );
  }

  private async greet(peer: string, c: Candidate): Promise<void> {
    c.tries++;
    const t0 = Date.now();
    try {
      const hello = signHello(this.hello(), this.o.token, this.me, peer);
      const reply = await request(this.o.node, peer, hello, this.o.bootstrap);
      if ('bad' in reply) throw new Error(`answered with a malformed message: ${reply.bad}`);
      if (reply.type === 'refused') return this.refusedWith(peer, reply.reason, reply.error);
      if (reply.type !== 'hello') throw new Error(`answered a hello with ${reply.type}`);
      const bad = checkHello(reply, this.o.job, this.o.world, this.version);
      if (bad) {
        if (bad[0] === 'version' || bad[0] === 'job') return this.refusedWith(peer, bad[0], `peer ${peer} ${bad[1]}`);
        throw new Error(bad[1]);
      }
      const proof = this.o.verifier.verify(this.o.token, reply.auth, helloParts(reply, peer, this.me));
      if (proof) {
        this.o.verifier.refusals++;
        throw new Error(`its answer has no valid proof of the job token (${proof})`);
      }
      if (this.verifyAllowed(peer)) {
        this.o.verifier.refusals++;
        throw new Error(this.verifyAllowed(peer));
      }
      this.keep(peer, reply);
      this.o.log('debug', `WAN rendezvous: greeted ${peer} (ranks ${reply.ranks.join(',')}) in ${Date.now() - t0} ms`);
    } catch (e) {
      const name = (e as Error).name;
      if (name === 'UnsupportedProtocolError') {
        c.state = 'not-onet'; // a relay, or some other libp2p node: not a coordinator
        return;
      }
      c.nextTry = Date.now() + Math.min(2000, 200 * 2 ** Math.min(c.tries, 4));
      this.o.log('debug', `WAN rendezvous: greeting ${peer} failed (${(e as Error).message}); will retry`);
    }
  }

  // ---- the loop ---------------------------------------------------------------------------

  private covered(): Set<number> {
    const s = new Set(this.o.ranks);
    for (const h of this.hellos.values()) for (const r of h.ranks) s.add(r);
    return s;
  }

  private assembleNow(): { hosts: HostEntry[]; peers: string[]; digest: string } {
    const all: [string, TcpHello][] = [
      [this.me, { v: 1, job: this.o.job, ranks: this.o.ranks, addr: this.o.addr, hostname: this.o.hostname }],
      ...[...this.hellos].map(
        ([id, h]) =>
          [id, { v: 1, job: h.job, ranks: h.ranks, addr: h.addr, hostname: h.hostname }] as [string, TcpHello],
      ),
    ];
    const hosts = assemble(
      all.map(([, h]) => h),
      this.o.world,
    );
    const peers = hosts.map((h) => all.find(([, x]) => x.addr === h.addr)![0]);
    const digest = createHash('sha256').update(JSON.stringify(hosts)).digest('hex');
    return { hosts, peers, digest };
  }

  /** Find the job's other coordinators and agree on the host list; throws naming what is missing. */
  async meet(): Promise<Met> {
    const t0 = Date.now();
    const deadline = t0 + this.o.timeoutMs;
    const pendingBootstrap = new Set(this.o.bootstrap);
    for (const c of this.o.node.getPeers()) this.discovery.candidate(c.toString());
    const inflight = new Map<string, Promise<void>>();
    while (!this.stopped && Date.now() < deadline) {
      this.fatal ??= this.refusedForGood();
      if (this.fatal) throw this.fatal;
      if (pendingBootstrap.size) await this.discovery.dialBootstrap(pendingBootstrap);
      this.discovery.registryRound();
      this.discovery.dhtRound();
      const now = Date.now();
      for (const [id, c] of this.discovery.candidates) {
        const wanted = c.state === 'new' || (c.state === 'greeted' && !this.hellos.has(id));
        if (!wanted || inflight.has(id) || now < c.nextTry) continue;
        inflight.set(
          id,
          this.greet(id, c).finally(() => inflight.delete(id)),
        );
      }
      if (this.covered().size >= this.o.world) {
        this.final ??= this.assembleNow();
        const agreed = await this.agree();
        if (agreed) {
          this.o.log(
            'info',
            `WAN rendezvous: ${agreed.hosts.length} hosts agree (digest ${agreed.digest.slice(0, 12)}) after ` +
              `${Date.now() - t0} ms`,
          );
          return { hosts: agreed.hosts, peers: agreed.peers, elapsedMs: Date.now() - t0 };
        }
      }
      await this.nap(ROUND_MS);
    }
    if (this.fatal) throw this.fatal;
    const have = this.covered();
    const missing = [...Array(this.o.world).keys()].filter((r) => !have.has(r));
    const refusals = [...this.refusedBy.values()];
    const waiting = this.final
      ? ` (the host list is complete; waiting for ready from ${this.unready().join(', ')})`
      : '';
    throw new OnetError(
      'ETIMEDOUT',
      `ONET_WAN rendezvous of job ${this.o.job}: no coordinator for rank(s) ${missing.join(', ') || 'none'} ` +
        'found within ' +
        `${this.o.timeoutMs / 1000} s${waiting} (bootstrap: ${this.o.bootstrap.join(', ') || 'none'}` +
        `${pendingBootstrap.size ? `, unreachable: ${[...pendingBootstrap].join(', ')}` : ''}; ` +
        `${this.discovery.candidates.size} peer(s) seen, ${this.hellos.size} of this job)` +
        `${refusals.length ? `; refused: ${refusals.join('; ')}` : ''}; start every host with the same ` +
        'ONET_JOB_ID, ONET_JOB_TOKEN and ONET_P2P_BOOTSTRAP, or raise ONET_CONNECT_TIMEOUT',
      missing,
    );
  }

  private unready(): string[] {
    return (this.final?.peers ?? []).filter((p) => p !== this.me && !this.readies.has(p));
  }

  private readySent = new Set<string>();
  /** Tell every host our digest (once each) and check theirs; the agreed list once all match. */
  private async agree(): Promise<typeof this.final> {
    const f = this.final!;
    await Promise.all(
      f.peers
        .filter((p) => p !== this.me && !this.readySent.has(p))
        .map(async (p) => {
          const r: WanReady = { type: 'ready', v: this.version, job: this.o.job, digest: f.digest };
          try {
            const reply = await request(this.o.node, p, signReady(r, this.o.token, this.me, p), this.o.bootstrap);
            if ('bad' in reply) throw new Error(reply.bad);
            if (reply.type === 'refused') throw new Error(reply.error);
            this.readySent.add(p);
          } catch (e) {
            this.o.log('debug', `WAN rendezvous: ready to ${p} failed (${(e as Error).message}); will retry`);
          }
        }),
    );
    for (const p of f.peers) {
      const d = this.readies.get(p);
      if (p === this.me || d === undefined) continue;
      if (d !== f.digest) {
        const mine = f.hosts.map((h) => `${h.ranks.join(',')}@${h.addr}`).join(' ');
        throw new OnetError(
          'EINVAL',
          `ONET_WAN rendezvous: host ${p} assembled another host list than this one (${mine}); is a stale ` +
            'coordinator of this job still running somewhere?',
        );
      }
    }
    // Done when every host told us its digest and heard ours (a ready we failed to deliver is retried).
    const unsent = f.peers.some((p) => p !== this.me && !this.readySent.has(p));
    return this.unready().length || unsent ? undefined : f;
  }

  /** Peer ids of the job's hosts (after meet()). */
  get peerIds(): PeerId[] {
    return (this.final?.peers ?? []).filter((p) => p !== this.me).map((p) => peerIdFromString(p));
  }
}
