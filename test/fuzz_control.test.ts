// Property-based fuzzing of the control plane (fast-check): parseControl either returns a
// well-formed message or throws an OnetError with code EINVAL/EPROTO that names the problem, for any
// bytes; and a live coordinator fed 10,000+ malformed frames over a real ZeroMQ socket answers
// every one with an error and still serves well-formed ranks afterwards.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { type Comm, init } from '../src/api/comm';
import { parseControl } from '../src/bridge/protocol';
import { Coordinator } from '../src/coordinator/server';
import { OnetError } from '../src/errors';

const TYPES = ['register', 'mapped', 'group', 'post', 'status', 'ping', 'close', 'abort'];

// Frames near the valid ones find more than random bytes: known types with fields of any type.
const anyValue = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer({ min: -3, max: 70 })),
  fc.constant(2 ** 53),
  fc.constant(-1),
  fc.object(),
);
const nearValid = fc.record(
  {
    v: fc.oneof(fc.constant(1), anyValue),
    type: fc.oneof(fc.constantFrom(...TYPES), anyValue),
    job: fc.oneof(fc.constantFrom('j', 'a/b', ''), anyValue),
    rank: anyValue,
    world: anyValue,
    localRank: anyValue,
    localWorld: anyValue,
    pid: anyValue,
    framework: anyValue,
    group: anyValue,
    ranks: anyValue,
    slot: anyValue,
    auth: fc.oneof(fc.constant(undefined), anyValue),
  },
  { requiredKeys: [] },
);
const frames = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
  fc.json().map((s) => Buffer.from(s)),
  nearValid.map((o) => Buffer.from(JSON.stringify(o))),
);

describe('parseControl under fuzzing', () => {
  it('accepts or rejects every frame with an EINVAL/EPROTO error naming the problem (20,000 frames)', () => {
    fc.assert(
      fc.property(frames, (f) => {
        let m: any;
        try {
          m = parseControl(f);
        } catch (e: any) {
          expect(e).toBeInstanceOf(OnetError);
          expect(['EINVAL', 'EPROTO']).toContain(e.code);
          expect(e.message).toMatch(/^\S/);
          expect(e.message).not.toMatch(/^(EINVAL|EPROTO):/);
          return;
        }
        // Accepted: the fields the coordinator relies on have the promised types.
        expect(m.v).toBe(1);
        expect(TYPES).toContain(m.type);
        if (m.type === 'register') {
          expect(Number.isInteger(m.rank) && m.rank >= 0 && m.rank < m.world).toBe(true);
          expect(m.job).toMatch(/^[A-Za-z0-9_.-]{1,64}$/);
        }
        if (m.type === 'post') expect(Number.isInteger(m.slot) && m.slot >= 0 && m.slot < 64).toBe(true);
        if (m.type === 'group')
          expect(m.ranks.every((r: number, i: number) => Number.isInteger(r) && (i === 0 || r > m.ranks[i - 1]))).toBe(
            true,
          );
      }),
      { numRuns: 20_000, seed: 42 },
    );
  });
});

describe('coordinator under a flood of malformed frames', () => {
  const job = `fuzz-${process.pid}`;
  const env = { ...process.env, ONET_JOB_ID: job, ONET_TIMEOUT: '5', ONET_ARENA_BYTES: '1MiB' };
  let coord: Coordinator;
  let comms: Comm[];
  beforeAll(async () => {
    coord = await Coordinator.start({ job, world: 2, env, log: () => {} });
    comms = await Promise.all([0, 1].map((rank) => init({ rank, world: 2, localRank: rank, localWorld: 2, job, env })));
  });
  afterAll(async () => {
    await Promise.all(comms.map((c) => c.close()));
    await coord.close();
  });

  it('answers 10,000+ malformed frames with errors and keeps serving the ranks', async () => {
    // Malformed only: drop anything that happens to parse (a stray valid `close` would end a rank).
    const bad = fc.sample(frames, { numRuns: 12_000, seed: 7 }).filter((f) => {
      try {
        parseControl(f);
        return false;
      } catch {
        return true;
      }
    });
    expect(bad.length).toBeGreaterThan(10_000);
    const s = new zmq.Dealer({ linger: 0, receiveTimeout: 10_000 });
    s.connect(coord.endpoint);
    let answered = 0;
    // In batches, so the ROUTER's high-water mark never drops a reply.
    for (let i = 0; i < bad.length; i += 200) {
      const batch = bad.slice(i, i + 200);
      for (const f of batch) await s.send(f);
      for (let k = 0; k < batch.length; k++) {
        const m = JSON.parse((await s.receive())[0].toString());
        expect(m.type).toBe('error');
        expect(['EINVAL', 'EPROTO']).toContain(m.code);
        answered++;
      }
    }
    s.close();
    expect(answered).toBe(bad.length);
    // Multipart garbage and empty messages too.
    const m = new zmq.Dealer({ linger: 0, receiveTimeout: 5000 });
    m.connect(coord.endpoint);
    await m.send([Buffer.alloc(0), Buffer.from('x'), Buffer.from('{}')]);
    expect(JSON.parse((await m.receive())[0].toString()).code).toBe('EINVAL');
    m.close();
    const r = await Promise.all(comms.map((c) => c.allreduce(Float32Array.of(c.rank + 1, 10))));
    expect(r.map((x) => Array.from(x))).toEqual([
      [3, 20],
      [3, 20],
    ]);
    expect(coord.status().ranks.map((x) => x.state)).toEqual(['live', 'live']);
  }, 120_000);
});
