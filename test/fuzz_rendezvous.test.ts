// Property-based fuzzing of the coordinators' rendezvous (fast-check): checkHello never throws
// and accepts only well-formed hellos; assemble either partitions the world or throws a clear
// EINVAL; the bootstrap TCP server answers garbage lines with a refusal and still assembles the
// real coordinators afterwards.

import { connect } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assemble,
  checkHello,
  type Hello,
  join,
  RENDEZVOUS_VERSION,
  serveBootstrap,
} from '../src/coordinator/rendezvous';
import { OnetError } from '../src/errors';

const WORLD = 5;
const anyValue = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer({ min: -2, max: 7 })),
  fc.object(),
);
const helloish = fc.record(
  {
    v: fc.oneof(fc.constant(RENDEZVOUS_VERSION), anyValue),
    job: fc.oneof(fc.constant('j'), anyValue),
    ranks: fc.oneof(fc.array(fc.integer({ min: -1, max: WORLD })), anyValue),
    addr: fc.oneof(fc.constant('10.0.0.1:4000'), fc.string(), anyValue),
    hostname: fc.oneof(fc.string(), anyValue),
  },
  { requiredKeys: [] },
);

describe('rendezvous hello decoder', () => {
  it('checkHello never throws and passes only well-formed hellos (20,000 cases)', () => {
    fc.assert(
      fc.property(fc.oneof(helloish, fc.jsonValue(), fc.anything()), (h) => {
        const bad = checkHello(h, 'j', WORLD);
        expect(typeof bad).toBe('string');
        if (!bad) {
          const o = h as Hello;
          expect(o.v).toBe(RENDEZVOUS_VERSION);
          expect(o.job).toBe('j');
          expect(o.ranks.length).toBeGreaterThan(0);
          expect(o.ranks.every((r) => Number.isInteger(r) && r >= 0 && r < WORLD)).toBe(true);
          expect(o.addr).toMatch(/^\S+:\d+$/);
        }
      }),
      { numRuns: 20_000, seed: 1 },
    );
  });

  it('assemble partitions the world or throws EINVAL naming the ranks (10,000 cases)', () => {
    // Well-formed hellos (checkHello passes them): distinct ranks; addresses may collide.
    const hello = fc
      .record({
        ranks: fc.uniqueArray(fc.integer({ min: 0, max: WORLD - 1 }), { minLength: 1, maxLength: 4 }),
        addr: fc.constantFrom('a:1', 'b:2', 'c:3', 'd:4', 'e:5'),
      })
      .map((x) => ({ v: 1, job: 'j', hostname: 'h', ...x }));
    fc.assert(
      fc.property(fc.array(hello, { minLength: 1, maxLength: 5 }), (hs) => {
        let hosts;
        try {
          hosts = assemble(hs, WORLD);
        } catch (e: any) {
          expect(e).toBeInstanceOf(OnetError);
          expect(e.code).toBe('EINVAL');
          expect(e.message).toMatch(/claimed by two hosts|have no host yet|the same data address/);
          return;
        }
        const all = hosts.flatMap((h) => h.ranks).sort((a, b) => a - b);
        expect(all).toEqual([...Array(WORLD).keys()]);
        hosts.forEach((h, i) => expect(h.host).toBe(i));
      }),
      { numRuns: 10_000, seed: 2 },
    );
  });
});

describe('bootstrap server under garbage', () => {
  it('refuses 2,000 garbage lines and still assembles the real coordinators', async () => {
    const b = { host: '127.0.0.1', port: 20000 + (process.pid % 20000), source: 'test' };
    const logs: string[] = [];
    const served = serveBootstrap(b, 'job', 2, 60_000, (m) => logs.push(m));
    await new Promise((r) => setTimeout(r, 100));
    const lines = fc
      .sample(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.json(),
          helloish.map((h) => JSON.stringify(h)),
        ),
        { numRuns: 2000, seed: 3 },
      )
      .map((l) => l.replace(/\n/g, ' '))
      .filter((l) => {
        try {
          return checkHello(JSON.parse(l), 'job', 2) !== '';
        } catch {
          return true;
        }
      });
    // One connection per 100 lines; the server answers the first bad line and closes.
    let refused = 0;
    for (let i = 0; i < lines.length; i += 100) {
      const answer = await new Promise<string>((resolve) => {
        const s = connect(b.port, b.host, () => s.write(lines.slice(i, i + 100).join('\n') + '\n'));
        let got = '';
        s.on('data', (d) => (got += d));
        s.on('close', () => resolve(got));
        s.on('error', () => resolve(got));
      });
      expect(answer).toMatch(/"error":"bootstrap 127\.0\.0\.1:\d+ refused this coordinator/);
      refused++;
    }
    // Raw binary and an oversized line (> 1 MiB without a newline) are dropped, not buffered forever.
    await new Promise<void>((resolve) => {
      const s = connect(b.port, b.host, () => s.write(Buffer.alloc((1 << 20) + 10, 0x41)));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    expect(refused).toBeGreaterThan(10);
    const [h0, h1] = await Promise.all([
      join(b, 'job', [0], '10.0.0.1:1', 10_000),
      join(b, 'job', [1], '10.0.0.2:2', 10_000),
    ]);
    await served;
    expect(h0).toEqual(h1);
    expect(h0.map((h) => h.ranks)).toEqual([[0], [1]]);
    expect(logs.filter((l) => l.startsWith('refused a coordinator')).length).toBe(lines.length); // each line logged
  }, 60_000);
});
