// Fuzzing the web endpoint's decoder: 10,000 generated inputs (arbitrary bytes, JSON-ish text,
// messages with wrong field types, tensor frames with bytes flipped, cut or spliced) go straight
// to the decoder, and 1,500 more over a live WebSocket while two well-formed web ranks run
// allreduces on the same coordinator. Every input must end in a clear OnetError (or decode to a
// well-formed message), never a crash, and the well-formed ranks must get exact results.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnetError } from '../src/errors';
import { decodeBinary, decodeText } from '../src/web/decode';
import { joinNode, ROOT_DIST, rawSocket, webCoordinator } from './web_helpers';

const frames = () => import(pathToFileURL(join(ROOT_DIST, 'browser', 'tensor_frame.js')).href);

const call = (over: object = {}) => ({
  v: 1,
  type: 'call',
  id: 1,
  job: 'fuzz',
  coll: 'allreduce',
  dtype: 'f32',
  count: 3,
  ...over,
});

/** Inputs: text frames and binary frames, mostly near-valid so the decoder's deep paths run. */
async function inputs() {
  const { encodeTensor } = await frames();
  const valid = [
    encodeTensor('onet:call', call(), 'f32', new Float32Array([1, 2, 3])),
    encodeTensor('onet:call', call({ dtype: 'f64', count: 2 }), 'f64', new Float64Array(2)),
    encodeTensor('onet:call', call({ dtype: 'bf16', count: 0 }), 'bf16', new Uint16Array(0)),
  ];
  const json = fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc
      .record(
        {
          v: fc.constantFrom(1, 2, '1'),
          type: fc.constantFrom('register', 'call', 'ping', 'close', 'x'),
          id: fc.anything(),
        },
        { requiredKeys: [] },
      )
      .map((m) => JSON.stringify(m)),
    fc
      .dictionary(
        fc.constantFrom(
          'v',
          'type',
          'id',
          'job',
          'coll',
          'dtype',
          'count',
          'op',
          'root',
          'peer',
          'tag',
          'rank',
          'auth',
        ),
        fc.jsonValue(),
      )
      .map((m) => JSON.stringify({ v: 1, type: 'call', ...m })),
    fc.string(),
  );
  const mutated = fc
    .tuple(
      fc.constantFrom(...valid),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.option(fc.nat()),
    )
    .map(([v, flips, cut]) => {
      const b = new Uint8Array(v);
      for (const [at, x] of flips) b[at % b.length] = x;
      return cut === null ? b : b.subarray(0, cut % (b.length + 1));
    });
  const binary = fc.oneof(fc.uint8Array({ maxLength: 600 }), mutated, mutated);
  return fc.oneof(json, binary) as fc.Arbitrary<string | Uint8Array>;
}

function decode(x: string | Uint8Array): void {
  try {
    if (typeof x === 'string') decodeText(x);
    else decodeBinary(x);
  } catch (e) {
    if (!(e instanceof OnetError)) throw new Error(`not an OnetError: ${(e as Error)?.stack ?? e}`);
    expect(['EINVAL', 'EPROTO']).toContain(e.code);
    expect(e.message.length).toBeGreaterThan(10);
  }
}

describe('the web decoder', () => {
  it('turns 10,000 generated inputs into messages or clear errors', async () => {
    fc.assert(
      fc.property(await inputs(), (x) => decode(x)),
      { numRuns: 10_000, seed: 13 },
    );
  });
});

describe('fuzzing a live endpoint', () => {
  let w: Awaited<ReturnType<typeof webCoordinator>>;
  beforeAll(async () => {
    w = await webCoordinator('fuzz', 2);
  });
  afterAll(async () => w?.close());

  it('answers every fuzzed frame while two ranks allreduce exactly', async () => {
    const [c0, c1] = await Promise.all([joinNode(w.urls[0]), joinNode(w.urls[1])]);
    const work = (async () => {
      for (let i = 0; i < 40; i++) {
        const [a, b] = await Promise.all([c0.allreduce(Int32Array.of(i, 1, 2)), c1.allreduce(Int32Array.of(i, 3, 4))]);
        expect([...a]).toEqual([2 * i, 4, 6]);
        expect([...b]).toEqual([2 * i, 4, 6]);
      }
    })();
    const samples = fc.sample(await inputs(), { numRuns: 1500, seed: 7 });
    let conn = await rawSocket(w.urls[0]);
    let answered = 0;
    for (let i = 0; i < samples.length; i += 100) {
      // A batch of 100 frames, then every answer; a frame that closes the socket (e.g. a refused
      // register) ends the batch early and the next batch reconnects.
      if (conn.inbox.closed) conn = await rawSocket(w.urls[0]);
      const batch = samples.slice(i, i + 100);
      for (const s of batch) conn.ws.send(s);
      for (let k = 0; k < batch.length; k++) {
        const m = await conn.inbox.next();
        if (!m) break;
        expect(['error', 'pong'], JSON.stringify(m.text)).toContain(m.text?.type); // a valid ping gets pong
        answered++;
      }
    }
    await work;
    expect(answered).toBeGreaterThan(1000);
    expect(w.c.status().ranks.map((r: any) => r.state)).toEqual(['live', 'live']);
    await Promise.all([c0.close(), c1.close()]);
  });
});
