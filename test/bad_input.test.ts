// Bad input never stops the coordinator: malformed control frames, bad slots, mismatches,
// duplicate and out-of-range ranks each get a clear error while other ranks keep working.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import type { Arena } from '../src/api/arena';
import { type Comm, init } from '../src/api/comm';
import { LAYOUT } from '../src/bridge/protocol';
import { Coordinator } from '../src/coordinator/server';
import { native } from '../src/native/addon';
import { engineEnv } from './helpers';

const job = `bad-${process.pid}`;
const env = engineEnv(job);
let coord: Coordinator;
let comms: Comm[];

async function raw(frames: (string | Buffer)[]): Promise<any> {
  const s = new zmq.Dealer({ linger: 0, receiveTimeout: 3000 });
  s.connect(coord.endpoint);
  await s.send(frames);
  const [reply] = await s.receive();
  s.close();
  return JSON.parse(reply.toString());
}

beforeAll(async () => {
  coord = await Coordinator.start({ job, world: 2, env, log: () => {} });
  comms = await Promise.all([0, 1].map((rank) => init({ rank, world: 2, localRank: rank, localWorld: 2, job, env })));
});
afterAll(async () => {
  await Promise.all(comms.map((c) => c.close()));
  await coord.close();
});

const healthy = async () => {
  const r = await Promise.all(comms.map((c) => c.allreduce(Float32Array.of(c.rank + 1))));
  expect(r.map((x) => x[0])).toEqual([3, 3]);
};

describe('malformed control frames', () => {
  it.each([
    ['not JSON', ['{"v":1,"type":'], 'EINVAL', /not JSON/],
    ['a JSON array', ['[1,2]'], 'EINVAL', /JSON object/],
    ['another protocol version', [JSON.stringify({ v: 99, type: 'ping' })], 'EPROTO', /version 99/],
    ['an unknown type', [JSON.stringify({ v: 1, type: 'explode' })], 'EINVAL', /unknown message type/],
    [
      'a wrong field type',
      [
        JSON.stringify({
          v: 1,
          type: 'register',
          job,
          rank: 'zero',
          world: 2,
          localRank: 0,
          localWorld: 2,
          pid: 1,
          framework: 'x',
        }),
      ],
      'EINVAL',
      /"rank"/,
    ],
    [
      'a rank out of range',
      [
        JSON.stringify({
          v: 1,
          type: 'register',
          job,
          rank: 7,
          world: 2,
          localRank: 0,
          localWorld: 2,
          pid: process.pid,
          framework: 'x',
        }),
      ],
      'EINVAL',
      /out of range/,
    ],
    [
      'a second registration of rank 0',
      [
        JSON.stringify({
          v: 1,
          type: 'register',
          job,
          rank: 0,
          world: 2,
          localRank: 0,
          localWorld: 2,
          pid: process.pid,
          framework: 'x',
        }),
      ],
      'EINVAL',
      /already registered/,
    ],
    ['a post before registering', [JSON.stringify({ v: 1, type: 'post', slot: 3 })], 'EINVAL', /not registered/],
    ['an empty frame', [Buffer.alloc(0)], 'EINVAL', /not JSON/],
  ])('%s gets an error and the coordinator keeps serving', async (_name, frames, code, msg) => {
    const r = await raw(frames as string[]);
    expect(r.type).toBe('error');
    expect(r.code).toBe(code);
    expect(r.message).toMatch(msg);
    await healthy();
  });
});

describe('bad collective requests', () => {
  it('mismatched counts fail on every rank, naming both ranks', async () => {
    const errs = await Promise.all(
      comms.map((c) => c.allreduce(new Float32Array(c.rank ? 4096 : 4097)).catch((e) => e)),
    );
    for (const e of errs) {
      expect(e.code).toBe('EMISMATCH');
      expect(e.message).toMatch(/count differs: rank 0 has 4097, rank 1 has 4096/);
      expect(e.ranks).toEqual([0, 1]);
    }
    await healthy();
  });

  it('different collectives at the same step fail on every rank', async () => {
    const errs = await Promise.all([
      comms[0].allreduce(Float32Array.of(1)).catch((e) => e),
      comms[1].broadcast(Float32Array.of(1)).catch((e) => e),
    ]);
    for (const e of errs) expect(e.message).toMatch(/rank 0 called allreduce, rank 1 called broadcast/);
    await healthy();
  });

  it('bitwise ops on floats are refused on every rank', async () => {
    const errs = await Promise.all(comms.map((c) => c.allreduce(Float32Array.of(1), { op: 'bxor' }).catch((e) => e)));
    for (const e of errs) expect(e.code).toBe('ENOTSUP');
    await healthy();
  });

  it('a count past the arena and an unknown dtype in a raw slot are EINVAL for every rank', async () => {
    // Write slots by hand, as a buggy or hostile client would.
    const post = async (c: Comm, patch: (v: DataView, base: number) => void) => {
      const a = (c as any).arena as Arena;
      const seq = ++(c as any).seq;
      const slot = a.takeSlot();
      a.writeSlot(slot, {
        seq,
        coll: 1,
        dtype: 0,
        redop: 0,
        root: 0,
        count: 4n,
        inOff: 0n,
        outOff: 0n,
        auxOff: 0n,
        group: 0,
        tag: 0,
        scale: 1,
        flags: 0,
      });
      patch(new DataView(a.buffer), LAYOUT.slotsOffset + slot * LAYOUT.slotBytes);
      native.post(a.buffer, (c as any).ctl, slot);
      await native.wait(a.buffer, (c as any).ctl, slot, 5000);
      return a.finishSlot(slot);
    };
    const huge = await Promise.all(
      comms.map((c) => post(c, (v, b) => c.rank === 1 && v.setBigUint64(b + LAYOUT.slot.count, 1n << 40n, true))),
    );
    for (const h of huge)
      expect([h.state, h.msg]).toEqual([
        LAYOUT.state.error,
        expect.stringMatching(/count differs|runs past its arena/),
      ]);
    const over = await Promise.all(
      comms.map((c) => post(c, (v, b) => v.setBigUint64(b + LAYOUT.slot.count, 1n << 40n, true))),
    );
    for (const h of over) expect(h.msg).toMatch(/runs past its arena .*ONET_ARENA_BYTES/);
    const dt = await Promise.all(
      comms.map((c) => post(c, (v, b) => c.rank === 0 && v.setUint32(b + LAYOUT.slot.dtype, 99, true))),
    );
    for (const h of dt) expect(h.msg).toMatch(/unknown dtype 99/);
    await healthy();
  });

  it('a rank that never arrives gives the others ETIMEDOUT naming it', async () => {
    const e = await comms[0].allreduce(Float32Array.of(1)).catch((x) => x);
    expect(e.code).toBe('ETIMEDOUT');
    expect(e.message).toMatch(/waiting for rank\(s\) 1/);
    // rank 1 now posts the same sequence number late: it is told, not left hanging.
    const late = await comms[1].allreduce(Float32Array.of(1)).catch((x) => x);
    expect(late.code).toBe('ETIMEDOUT');
  });

  it('API misuse is refused before anything is posted', async () => {
    const c = comms[0];
    await expect(c.allreduce(new Uint16Array(2))).rejects.toThrow(/ambiguous/);
    await expect(c.allreduce([1, 2] as any)).rejects.toThrow(/typed array/);
    await expect(c.broadcast(Float32Array.of(1), { root: 5 })).rejects.toThrow(/root 5 is out of range/);
    await expect(c.reduceScatter(new Float32Array(3))).rejects.toThrow(/equal blocks/);
    await expect(c.allreduce(new Float32Array(1 << 20))).rejects.toThrow(/does not fit .*ONET_ARENA_BYTES/);
    await expect(c.allreduce(Float32Array.of(1), { op: 'median' as any })).rejects.toThrow(/unknown reduce op/);
  });
});
