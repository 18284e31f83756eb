// Network faults between hosts without root or sch_netem: hosts on loopback addresses
// (src/testing/loopback.ts) whose every inter-host connection passes through a user-space TCP
// proxy (src/testing/fault_proxy.ts) that delays, "loses" (stalls a stream for an RTO, as TCP's
// retransmission does), reorders across a pair's streams, corrupts payloads, stalls links for
// good and resets connections. The promise under test: never a wrong result, never a hang; a
// completed collective is exact; a failed one fails with an error naming the host and ranks.
// These are the netem cases of test/faults.test.ts, runnable on any machine. Detection times are
// printed (docs/reliability.md), never asserted.

import { rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ABORT_NOTICE_TAG, between, FaultProxy, type Faults, type LinkMatch } from '../src/testing/fault_proxy.js';
import { resultsOf, runJob } from '../src/testing/job.js';
import { createLoopback, type Loopback } from '../src/testing/loopback.js';
import { ROOT } from './helpers.js';
import { checkCorrupted } from './loopback/corrupted.js';

const WORKER = join(ROOT, 'test/fixtures/fault_worker.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** fault_worker.mjs: allreduces of random sizes back to back, going on after a failure; a 10 s deadline. */
const BACK_TO_BACK = { ONET_FAULT_GAP_MS: '0', ONET_FAULT_COUNT: '0', ONET_FAULT_CONTINUE: '1', ONET_TIMEOUT: '10' };
// Abort notices are spared where a test checks the fast path: a pair's streams carry frames in
// lockstep, so "every n-th frame of each stream" would hit both copies of a notice now and then (a
// lost notice costs a wait until ONET_TIMEOUT: the last test here).
const PAYLOADS_EVERY = (n: number): Faults => ({ corruptEvery: n, spareTags: [ABORT_NOTICE_TAG] });

/** A transport hello from host `rank`, stream `stream` (native/transport/tcp/frame.h). */
function hello(rank: number, stream: number): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(0x31484e4f, 0);
  b.writeUInt16LE(1, 4);
  b[6] = 1;
  b.writeInt32LE(rank, 12);
  b.writeUInt16LE(stream, 20);
  b.writeUInt16LE(2, 22);
  return b;
}
/** A data frame: 56-byte header (magic, kind, length, tag) and `n` payload bytes of 0xAA. */
function frame(n: number, tag: bigint): Buffer {
  const h = Buffer.alloc(56);
  h.writeUInt32LE(0x31464e4f, 0);
  h[4] = 1;
  h[5] = 1;
  h.writeUInt32LE(n, 12);
  h.writeBigUInt64LE(tag, 16);
  return Buffer.concat([h, Buffer.alloc(n, 0xaa)]);
}

// The proxy on its own, against a plain TCP server: what it does to bytes, exactly.
describe('the fault proxy itself', () => {
  let server: net.Server,
    proxy: FaultProxy,
    got: Buffer[] = [];
  const ip = `127.${1 + (process.pid % 250)}.254.1`;
  beforeAll(async () => {
    server = net.createServer((s) => s.on('data', (d) => got.push(d)).on('error', () => {}));
    await new Promise<void>((r) => server.listen(0, ip, () => r()));
    proxy = await FaultProxy.start([`${ip}:${(server.address() as net.AddressInfo).port}`], [ip]);
  });
  afterEach(() => {
    proxy.clear();
    got = [];
  });
  afterAll(async () => {
    await proxy.close();
    server.close();
  });

  async function send(chunks: Buffer[], rank = 1, stream = 1): Promise<net.Socket> {
    const [host, port] = proxy.addresses[0].split(':');
    const c = net.connect({ host, port: Number(port) });
    c.on('error', () => {});
    await new Promise((r) => c.once('connect', r));
    c.write(hello(rank, stream));
    for (const x of chunks) c.write(x);
    return c;
  }
  const until = async (n: number) => {
    for (let i = 0; i < 100 && Buffer.concat(got).length < n; i++) await sleep(20);
    return Buffer.concat(got);
  };

  it('corrupts one bit in the payload of every n-th data frame of the matching direction, nothing else', async () => {
    proxy.set({ from: 1, to: 0 }, { corruptEvery: 2, spareTags: [ABORT_NOTICE_TAG] });
    const sent = Buffer.concat([
      hello(1, 1),
      frame(100, 5n),
      frame(100, ABORT_NOTICE_TAG),
      frame(100, 6n),
      frame(100, 7n),
    ]);
    const c = await send([sent.subarray(32, 100), sent.subarray(100)]); // chunks that split a header
    const back = await until(sent.length);
    c.destroy();
    const diffs = [...sent.keys()].filter((i) => sent[i] !== back[i]);
    expect(back.length).toBe(sent.length);
    // Frames sit at 32 + k·156; eligible are frames 0, 2, 3 (the notice is spared): the 2nd is frame 2.
    expect(diffs.length).toBe(1);
    expect(diffs[0]).toBeGreaterThanOrEqual(32 + 2 * 156 + 56);
    expect(diffs[0]).toBeLessThan(32 + 3 * 156);
    const x = sent[diffs[0]] ^ back[diffs[0]];
    expect(x & (x - 1)).toBe(0); // one bit
  });

  it('keeps a stream in order under jitter, holds it while stalled, delivers all after clear()', async () => {
    proxy.set({ from: 1, to: 0 }, { delayMs: 1, jitterMs: 30 });
    const chunks = [...Array(40).keys()].map((i) => Buffer.alloc(64, i));
    const c = await send([]);
    for (const x of chunks) {
      c.write(x);
      await sleep(2);
    }
    const want = Buffer.concat([hello(1, 1), ...chunks]);
    expect((await until(want.length)).equals(want)).toBe(true);
    proxy.set({ from: 1, to: 0 }, { stall: true });
    c.write(Buffer.alloc(10, 0xee));
    await sleep(300);
    expect(Buffer.concat(got).length).toBe(want.length);
    proxy.clear();
    expect((await until(want.length + 10)).length).toBe(want.length + 10);
    c.destroy();
  });

  it('resets both sides of a matching connection', async () => {
    const c = await send([frame(10, 1n)]);
    await until(32 + 66);
    const closed = new Promise<string>((r) => {
      c.once('error', (e: any) => r(e.code));
      c.once('close', () => r('close'));
    });
    expect(proxy.reset(between(0, 1))).toBe(1);
    expect(await closed).toBe('ECONNRESET');
  });
});

describe('faults between loopback hosts, injected by the fault proxy (no root, no netem)', () => {
  let lo: Loopback;
  let proxy: FaultProxy;
  let goSeq = 0;
  beforeAll(async () => {
    lo = await createLoopback(3, { proxy: true });
    proxy = lo.proxy!;
  });
  afterEach(async () => {
    console.log(proxy.summary());
    proxy.clear();
    proxy.clearStats();
    // Every case reuses the hosts' fixed ports: a coordinator of the last case still winding down
    // (slower on a loaded machine) would make the next one fail to bind.
    if (!(await lo.portsFree())) console.warn('a coordinator of the last case still holds its port after 20 s');
  }, 30_000);
  afterAll(() => lo?.destroy());

  /**
   * Run fault_worker.mjs (allreduces in a loop, each checked exactly) on `perHost`, with `faults`
   * on `links` from the start; once the mesh is up and the loop is running (data frames pass the
   * proxy), `act` (its return: when the fault began, for the printed detection time).
   */
  async function during(
    perHost: number[],
    env: NodeJS.ProcessEnv,
    links: LinkMatch[],
    faults: Faults,
    act: () => Promise<unknown> = async () => {},
    timeoutMs = 60_000,
  ) {
    const go = join(tmpdir(), `onet-fproxy-go-${process.pid}-${goSeq++}`);
    const streams = Number(env.ONET_TCP_STREAMS ?? 2),
      hosts = perHost.length;
    const mesh = proxy.accepted + ((hosts * (hosts - 1)) / 2) * streams;
    if (links.length) proxy.set(links, faults);
    const job = runJob(
      lo,
      perHost,
      process.execPath,
      [WORKER],
      { ONET_TIMEOUT: '60', ONET_FAULT_GO: go, ...env },
      timeoutMs,
    );
    for (let i = 0; i < 300 && proxy.accepted < mesh; i++) await sleep(100);
    proxy.clearStats();
    writeFileSync(go, '');
    const frames = () => proxy.stats().reduce((n, s) => n + s.frames, 0);
    let finished = false;
    void job.then(() => {
      finished = true;
    });
    for (let i = 0; i < 300 && frames() < 40 && !finished; i++) await sleep(50);
    await sleep(200);
    const t = await act();
    const runs = await job;
    rmSync(go, { force: true });
    return { res: resultsOf(runs), t: typeof t === 'number' ? t : undefined };
  }

  // The cases netem would inject on a wire (test/faults.test.ts skips them without sch_netem):
  // each must leave every collective exact, with no error at all.
  const CLEAN: [string, Faults, (a: number, b: number) => LinkMatch[]][] = [
    ['delay 5 ms + jitter 0-5 ms each way', { delayMs: 5, jitterMs: 5 }, (a, b) => between(a, b)],
    [
      "reordering across the pair's streams: stream 1 held 20 ms + 0-10 ms longer than stream 0",
      { delayMs: 20, jitterMs: 10 },
      (a, b) => between(a, b, 1),
    ],
    [
      'packet loss: 2% of chunks wait a 200 ms retransmission, the stream behind them too',
      { loss: 0.02, rtoMs: 200 },
      (a, b) => between(a, b),
    ],
  ];
  for (const [what, faults, links] of CLEAN) {
    it(`${what}: every collective exact, hosts 2+1`, async () => {
      // A fixed number of iterations: a time limit would let ranks stop at different ones.
      const { res } = await during(
        [2, 1],
        { ONET_FAULT_ITERS: '30', ONET_FAULT_COUNT: '0', ONET_FAULT_CONTINUE: '1', ONET_TCP_STREAMS: '2' },
        links(0, 1),
        faults,
      );
      for (const r of res) {
        const errs = JSON.stringify(r.errors?.slice(0, 2));
        console.log(`${what}: rank ${r.rank}: ${r.ok} exact, ${r.errors?.length} failed ${errs}`);
        expect(r.missing, JSON.stringify(r)).toBeUndefined();
        expect(r.wrong).toEqual([]);
        expect(r.errors).toEqual([]);
        expect(r.ok).toBe(30);
      }
    }, 90_000);
  }

  // A bit flipped in the payload of every 7th data frame each way, past TCP: the receiver's CRC32C
  // catches it (EINTERNAL naming the sending host), its abort notice fails the peer's collective
  // too, the bad bytes are never delivered, and the next collective runs.
  it('corrupted payloads (every 7th data frame): no wrong result; ' +
    'each failure the checksum error or its notice', async () => {
    const iters = 40;
    const { res } = await during(
      [1, 1],
      { ...BACK_TO_BACK, ONET_FAULT_ITERS: String(iters) },
      between(0, 1),
      PAYLOADS_EVERY(7),
      async () => {},
      100_000,
    );
    const s = checkCorrupted(res, 2, iters);
    expect(s.local).toBeGreaterThan(0);
  }, 120_000);

  // Only host 1 → host 0 corrupts: host 0 sees the bad frames; hosts 1 and 2 fail those collectives
  // by host 0's abort notice (never at ONET_TIMEOUT, 10 s), then carry on.
  it('corruption on one link of three hosts: the others fail at once by the abort notice', async () => {
    const iters = 40;
    const { res } = await during(
      [1, 1, 1],
      { ...BACK_TO_BACK, ONET_FAULT_ITERS: String(iters) },
      [{ from: 1, to: 0 }],
      PAYLOADS_EVERY(5),
      async () => {},
      100_000,
    );
    const s = checkCorrupted(res, 3, iters);
    expect(s.local).toBeGreaterThan(0);
    expect(s.relayed).toBeGreaterThan(0);
  }, 120_000);

  // A bit flipped in a frame header (every 10th frame of each stream from host 1 to host 0,
  // heartbeats counted): the header's own CRC32C fails and the stream cannot be read on, so host 0
  // fails the pair for good with EABORTED naming host 1 ("corrupt stream"), and host 1 loses host 0
  // in turn. No wrong result; the collectives after it fail at once, not at ONET_TIMEOUT.
  it('a corrupted frame header: EABORTED naming the host on both sides, never a wrong result', async () => {
    const iters = 30;
    const { res } = await during(
      [1, 1],
      { ...BACK_TO_BACK, ONET_FAULT_ITERS: String(iters) },
      [{ from: 1, to: 0 }],
      { corruptEvery: 10, corruptWhere: 'header' },
      async () => {},
      100_000,
    );
    for (const r of res) {
      const codes = (r.errors ?? []).map((e: any) => e.code);
      console.log(
        `corrupted header, rank ${r.rank}: ${r.ok} exact, ${codes.length} failed (${codes.join(' ')}) ` +
          (r.errors ?? [])
            .slice(0, 2)
            .map((e: any) => `[#${e.i + 1}: ${e.message.slice(0, 200)}]`)
            .join(' '),
      );
      expect(r.missing, JSON.stringify(r)).toBeUndefined();
      expect(r.wrong).toEqual([]);
      expect(r.ok + r.errors.length).toBe(iters);
      expect(r.errors.length).toBeGreaterThan(0);
      for (const e of r.errors) {
        expect(e.code, e.message).toBe('EABORTED');
        expect(e.message).toMatch(new RegExp(`host ${1 - r.rank} \\(127\\.`));
        expect(e.ranks).toContain(1 - r.rank);
      }
    }
    expect(res[0].errors[0].message).toMatch(/corrupt stream \d/);
  }, 120_000);

  /** A dead link, two ways: both hosts get EABORTED naming the other's ranks, no wrong result, no hang. At least
   * one host's message matches `message`; `orElse`: what the other's may say instead (the first host to give up
   * closes its sockets, and the proxy passes that close on before the other's heartbeat fires). */
  async function deadLink(how: string, kill: () => void, message: RegExp, orElse?: RegExp) {
    const { res, t } = await during([1, 1], { ONET_FAULT_GAP_MS: '20', ONET_FAULT_SECONDS: '30' }, [], {}, async () => {
      const at = Date.now();
      kill();
      return at;
    });
    for (const r of res) {
      expect(r.missing, JSON.stringify(r)).toBeUndefined();
      expect(r.wrong).toEqual([]);
      expect(r.ok).toBeGreaterThan(3);
      expect(r.errors.length, JSON.stringify(r.errors)).toBe(1);
      const e = r.errors[0];
      expect(e.code, e.message).toBe('EABORTED'); // not ETIMEDOUT: ONET_TIMEOUT is 60 s
      if (!orElse?.test(e.message)) expect(e.message).toMatch(message);
      expect(e.message).toMatch(new RegExp(`ranks ${1 - r.rank} \\(host ${1 - r.rank}\\) are lost`));
      expect(e.ranks).toContain(1 - r.rank);
    }
    expect(
      res.some((r) => message.test(r.errors[0].message)),
      res.map((r) => r.errors[0].message).join(' | '),
    ).toBe(true);
    console.log(
      `${how}: detected after ${res.map((r) => `${r.errors[0].at - t!} ms (rank ${r.rank})`).join(', ')}: ` +
        res.map((r) => r.errors[0].message).join(' | '),
    );
  }

  it(
    'a link stalled for good (bytes held, sockets open): both sides EABORTED by the heartbeat, naming lost ranks',
    () =>
      deadLink(
        'stalled link (ONET_HEARTBEAT_MS=500)',
        () => proxy.set(between(0, 1), { stall: true }),
        /host \d \(127\.[\d.]+:\d+\) is unreachable: nothing received for \d+ ms \(heartbeat every 500 ms/,
        /host \d \(127\.[\d.]+:\d+\) closed the connection/,
      ),
    90_000,
  );

  it(
    'a reset connection (RST to both hosts): both sides EABORTED naming the lost ranks',
    () =>
      deadLink(
        'reset connections',
        () => expect(proxy.reset(between(0, 1))).toBeGreaterThan(0),
        /host \d \(127\.[\d.]+:\d+\)/,
      ),
    90_000,
  );

  it('a link that stalls for 300 ms three times: every collective completes exactly or fails clearly', async () => {
    const { res } = await during(
      [1, 1],
      {
        ONET_FAULT_GAP_MS: '5',
        ONET_FAULT_ITERS: '100',
        ONET_FAULT_SECONDS: '20',
        ONET_FAULT_COUNT: '0',
        ONET_FAULT_CONTINUE: '1',
      },
      [],
      {},
      async () => {
        for (let i = 0; i < 3; i++) {
          proxy.set(between(0, 1), { stall: true });
          await sleep(300);
          proxy.clear();
          await sleep(500);
        }
      },
    );
    for (const r of res) {
      console.log(
        `stalling link, rank ${r.rank}: ${r.ok} exact, ${r.errors?.length} failed ` +
          (r.errors ?? []).map((e: any) => `[#${e.i} ${e.code}: ${e.message.slice(0, 200)}]`).join(' '),
      );
      expect(r.missing, JSON.stringify(r)).toBeUndefined();
      expect(r.wrong).toEqual([]);
      for (const e of r.errors) expect(e.code).toMatch(/EABORTED|ETIMEDOUT/);
    }
  }, 90_000);

  // Every abort notice host 1 sends is corrupted (so dropped by host 0's checksum) while host 0's
  // frames to host 1 fail their checksum now and then: host 0, waiting in a collective host 1 gave
  // up, is freed by its own deadline (ONET_TIMEOUT=2), not by the notice. Slower, still exact or
  // failed with a clear error, never a hang.
  it('lost abort notices: the peer fails at ONET_TIMEOUT instead, never a wrong result, never a hang', async () => {
    const iters = 16;
    proxy.set({ from: 1, to: 0 }, { corruptEvery: 1, onlyTags: [ABORT_NOTICE_TAG] });
    const { res } = await during(
      [1, 1],
      { ...BACK_TO_BACK, ONET_TIMEOUT: '2', ONET_FAULT_ITERS: String(iters) },
      [{ from: 0, to: 1 }],
      PAYLOADS_EVERY(7),
      async () => {},
      100_000,
    );
    for (const r of res) {
      const codes = (r.errors ?? []).map((e: any) => `#${e.i + 1} ${e.code}`);
      console.log(`lost notices, rank ${r.rank}: ${r.ok} exact, ${codes.length} failed (${codes.join(', ')})`);
      expect(r.missing, JSON.stringify(r)).toBeUndefined();
      expect(r.wrong).toEqual([]);
      expect(r.ok + r.errors.length).toBe(iters);
      for (const e of r.errors) expect(e.code, e.message).toMatch(/^(EINTERNAL|ETIMEDOUT)$/);
    }
    expect(res[1].errors.length, 'host 1 saw corrupted frames').toBeGreaterThan(0);
  }, 120_000);
});
