// ONET_WAN rendezvous in one process (no engine, no root): real js-libp2p nodes on loopback
// addresses (TCP + Noise + yamux), a bootstrap/relay node as `onet relay` builds it, and the
// meeting of src/p2p/meet.ts. Discovery goes through the relay's DHT (the job's key) and the
// peers' own hellos. Bad input: a peer without the token, with another protocol version, off
// the allowlist, and fuzzed protocol messages: each refused with a clear message, job unharmed.
// The whole job over real coordinators and collectives: test/p2p_wan.test.ts.
import { generateKeyPair } from '@libp2p/crypto/keys';
import { lpStream } from '@libp2p/utils';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { OnetError } from '../src/errors.js';
import { type Met, WanMeeting } from '../src/p2p/meet.js';
import {
  checkHello,
  decodeMessage,
  encodeMessage,
  MAX_MESSAGE_BYTES,
  signHello,
  WAN_PROTOCOL,
} from '../src/p2p/messages.js';
import { createP2pNode, fullAddrs, type P2pNode } from '../src/p2p/node.js';
import { Verifier } from '../src/security/auth.js';

const ip = (i: number) => `127.${1 + (process.pid % 250)}.${200 + (i >> 8)}.${1 + (i & 255)}`;
const nodes: P2pNode[] = [];
let relay: P2pNode;
let bootstrap: string[];
let seq = 0;

async function coordinatorNode(): Promise<P2pNode> {
  const n = await createP2pNode({
    key: await generateKeyPair('Ed25519'),
    listen: [`/ip4/${ip(10 + seq++)}/tcp/0`],
    role: 'coordinator',
    bootstrap,
  });
  nodes.push(n);
  return n;
}

interface Party {
  node: P2pNode;
  meeting: WanMeeting;
  logs: string[];
  verifier: Verifier;
}
async function party(
  job: string,
  world: number,
  ranks: number[],
  o: { token?: string; allow?: string[]; version?: number; timeoutMs?: number; bootstrap?: string[] } = {},
): Promise<Party> {
  const id = seq++;
  const node = await coordinatorNode();
  const logs: string[] = [];
  const verifier = new Verifier();
  const meeting = new WanMeeting({
    node,
    job,
    world,
    ranks,
    addr: `${ip(100 + id)}:${4000 + id}`,
    hostname: `h${id}`,
    token: o.token ?? 'the-token',
    allow: o.allow ?? [],
    bootstrap: o.bootstrap ?? bootstrap,
    timeoutMs: o.timeoutMs ?? 20_000,
    verifier,
    log: (level, m) => (level !== 'debug' || process.env.P2P_DEBUG) && logs.push(`${level}: ${m}`),
    version: o.version,
  });
  await meeting.start();
  return { node, meeting, logs, verifier };
}

const settle = (p: Promise<Met>) =>
  p.then(
    (v) => ({ ok: v }),
    (e: OnetError) => ({ err: e }),
  );

beforeAll(async () => {
  relay = await createP2pNode({
    key: await generateKeyPair('Ed25519'),
    listen: [`/ip4/${ip(1)}/tcp/0`],
    role: 'relay',
  });
  bootstrap = fullAddrs(relay);
});
// Each test's nodes stop after it: a later test meets only its own peers (and the relay).
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => Promise.resolve(n.stop()).catch(() => {})));
});
afterAll(async () => {
  await Promise.resolve(relay?.stop()).catch(() => {});
});

describe('ONET_WAN rendezvous over libp2p (loopback, one process)', () => {
  it('relay addresses carry /p2p/<peer id>', () => {
    expect(bootstrap.length).toBeGreaterThan(0);
    for (const a of bootstrap)
      expect(a).toMatch(new RegExp(`^/ip4/${ip(1).replace(/\./g, '\\.')}/tcp/\\d+/p2p/12D3Koo`));
  });

  for (const split of [
    [[0], [1], [2]],
    [[2], [0, 1]],
  ]) {
    const world = split.flat().length;
    it(`hosts ${split.map((r) => r.join(',')).join(' | ')} find each other through the relay and agree`, async () => {
      const job = `meet${seq}`;
      const parties = await Promise.all(split.map((r) => party(job, world, r)));
      const met = await Promise.all(parties.map((p) => p.meeting.meet()));
      for (const m of met) expect(m.hosts).toEqual(met[0].hosts);
      // Hosts ordered by lowest rank, as the TCP bootstrap orders them.
      expect(met[0].hosts.map((h) => Math.min(...h.ranks))).toEqual(
        [...met[0].hosts.map((h) => Math.min(...h.ranks))].sort(),
      );
      expect(met[0].hosts.flatMap((h) => h.ranks).sort()).toEqual([...Array(world).keys()]);
      console.log(`world ${world} over ${split.length} hosts: met in ${met.map((m) => m.elapsedMs).join(', ')} ms`);
    }, 40_000);
  }

  // A peer without the token cannot even compute the job's registry/DHT key; here it found the
  // hosts anyway (their addresses as its bootstrap, as mDNS or a leak would give them).
  it('a peer without the token is refused with a clear message; the job meets', async () => {
    const job = 'tokjob';
    const good = await Promise.all([party(job, 2, [0]), party(job, 2, [1])]);
    const direct = good.map((p) => fullAddrs(p.node)[0]);
    const bad = await party(job, 2, [1], { token: 'wrong', timeoutMs: 15_000, bootstrap: direct });
    const [a, b, c] = await Promise.all([...good, bad].map((p) => settle(p.meeting.meet())));
    expect('ok' in a && 'ok' in b, JSON.stringify([a, b])).toBe(true);
    const e = (c as { err: OnetError }).err;
    expect(e?.code, e?.message).toBe('EACCES');
    expect(e.message).toMatch(
      /refused it: it has no valid proof of the job token: its HMAC does not match the job token/,
    );
    expect(e.message).toMatch(/give every host the same ONET_JOB_TOKEN/);
    expect(good.some((p) => p.logs.some((l) => /refused peer 12D3Koo\w+: it has no valid proof/.test(l)))).toBe(true);
    expect(good.reduce((s, p) => s + p.verifier.refusals, 0)).toBeGreaterThan(0);
  }, 40_000);

  it('a peer of another protocol version is refused, naming both versions', async () => {
    const job = 'verjob';
    const good = await Promise.all([party(job, 2, [0]), party(job, 2, [1])]);
    const direct = good.map((p) => fullAddrs(p.node)[0]);
    const newer = await party(job, 2, [1], { version: 2, timeoutMs: 15_000, bootstrap: direct });
    const [a, b, c] = await Promise.all([...good, newer].map((p) => settle(p.meeting.meet())));
    expect('ok' in a && 'ok' in b, JSON.stringify([a, b])).toBe(true);
    const e = (c as { err: OnetError }).err;
    expect(e?.code, e?.message).toBe('EPROTO');
    expect(e.message).toMatch(/speaks WAN rendezvous version 2, this coordinator speaks 1; run the same OpenNetworks/);
  }, 40_000);

  it('with ONET_P2P_ALLOW, a token holder whose peer id is not listed is refused', async () => {
    const job = 'allowjob';
    const a = await party(job, 2, [0]);
    const b = await party(job, 2, [1]);
    const direct = [a, b].map((p) => fullAddrs(p.node)[0]);
    const stranger = await party(job, 2, [1], { timeoutMs: 15_000, bootstrap: direct });
    // Each allows only the other (set now that the peer ids are known); the stranger allows only a.
    (a.meeting as any).o.allow = [b.node.peerId.toString()];
    (b.meeting as any).o.allow = [a.node.peerId.toString()];
    (stranger.meeting as any).o.allow = [a.node.peerId.toString()];
    const [ra, rb, rs] = await Promise.all([a, b, stranger].map((p) => settle(p.meeting.meet())));
    expect('ok' in ra && 'ok' in rb, JSON.stringify([ra, rb])).toBe(true);
    const e = (rs as { err: OnetError }).err;
    expect(e?.code, e?.message).toBe('EACCES');
    expect(e.message).toMatch(/not on this host's ONET_P2P_ALLOW list/);
  }, 40_000);

  it('no peer anywhere: ETIMEDOUT naming the missing ranks and the bootstrap', async () => {
    const lone = await party('lonejob', 3, [0], { timeoutMs: 1500 });
    const r = await settle(lone.meeting.meet());
    const e = (r as { err: OnetError }).err;
    expect(e.code).toBe('ETIMEDOUT');
    expect(e.ranks).toEqual([1, 2]);
    expect(e.message).toMatch(/no coordinator for rank\(s\) 1, 2 found within 1.5 s \(bootstrap: \/ip4\//);
  }, 20_000);
});

describe('fuzzed rendezvous messages (fast-check)', () => {
  const anyValue = fc.oneof(
    fc.integer(),
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.integer({ min: -2, max: 9 })),
    fc.object(),
  );
  const hex = (minLength = 0, maxLength = 64) =>
    fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength, maxLength });
  const helloish = fc.record(
    {
      type: fc.constantFrom('hello', 'ready', 'ok', 'refused', 'x'),
      v: fc.oneof(fc.constant(1), anyValue),
      job: fc.oneof(fc.constant('fz'), anyValue),
      ranks: fc.oneof(fc.array(fc.integer({ min: -1, max: 4 })), anyValue),
      addr: fc.oneof(fc.constant('127.0.0.1:5'), anyValue),
      hostname: anyValue,
      peers: fc.oneof(fc.array(fc.record({ id: fc.string(), addrs: fc.array(fc.string()) })), anyValue),
      digest: fc.oneof(hex(64, 64), anyValue),
      reason: fc.oneof(fc.constantFrom('token', 'version', 'job'), anyValue),
      error: anyValue,
      auth: fc.oneof(fc.record({ ts: fc.integer(), nonce: hex(), mac: hex() }), anyValue),
    },
    { requiredKeys: [] },
  );

  it('decodeMessage and checkHello never throw on 10,000 inputs', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          helloish.map((o) => encodeMessage(o as any)),
        ),
        (bytes) => {
          const m = decodeMessage(bytes);
          if (!('bad' in m)) checkHello(m, 'fz', 4);
        },
      ),
      { numRuns: 10_000 },
    );
    expect(decodeMessage(new Uint8Array(MAX_MESSAGE_BYTES + 1))).toHaveProperty('bad');
  });

  it('a live meeting answers 200 fuzzed streams with refusals, then its job meets', async () => {
    const job = 'fuzzjob';
    const target = await party(job, 2, [0]);
    const attacker = await coordinatorNode();
    const to = target.node.peerId.toString();
    const answers = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          helloish.map((o) => encodeMessage(o as any)),
          // Well-formed hellos signed with the wrong token, or replayed: still refused.
          fc
            .constant(0)
            .map(() =>
              encodeMessage(
                signHello(
                  { type: 'hello', v: 1, job, ranks: [1], addr: '127.0.0.1:9', hostname: 'x', peers: [] },
                  'not-the-token',
                  attacker.peerId.toString(),
                  to,
                ),
              ),
            ),
        ),
        async (bytes) => {
          let key: string;
          try {
            const s = await attacker.dialProtocol(target.node.getMultiaddrs()[0], WAN_PROTOCOL);
            const lp = lpStream(s);
            await lp.write(bytes);
            const reply = decodeMessage((await lp.read({ signal: AbortSignal.timeout(5000) })).subarray());
            key = 'bad' in reply ? 'bad' : reply.type === 'refused' ? `refused:${reply.reason}` : reply.type;
            await s.close().catch(() => {});
          } catch (e) {
            key = `dropped:${(e as Error).name}`; // not even a length-prefixed message: the stream is reset
          }
          answers.set(key, (answers.get(key) ?? 0) + 1);
        },
      ),
      { numRuns: 200 },
    );
    console.log('answers to fuzzed streams:', Object.fromEntries(answers));
    // Nothing the attacker sent got in: every answer is a refusal or a dropped stream.
    expect(
      [...answers.keys()].every((k) => /^(refused|dropped):/.test(k)),
      JSON.stringify([...answers]),
    ).toBe(true);
    expect(answers.get('refused:token')).toBeGreaterThan(0);
    // Raw garbage that is not even a length prefix: the stream is dropped, the node lives on.
    const s = await attacker.dialProtocol(target.node.getMultiaddrs()[0], WAN_PROTOCOL);
    s.send(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
    await s.close().catch(() => {});
    const partner = await party(job, 2, [1]);
    const met = await Promise.all([target.meeting.meet(), partner.meeting.meet()]).catch((e) => {
      console.log(`target log:\n${target.logs.join('\n')}\npartner log:\n${partner.logs.join('\n')}`);
      throw e;
    });
    expect(met[0].hosts).toEqual(met[1].hosts);
    expect(met[0].peers).not.toContain(attacker.peerId.toString());
  }, 90_000);
});
