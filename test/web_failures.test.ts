// Web ranks that misbehave: bad joins (wrong or replayed token, another job, a rank that is not
// a web rank, a foreign page origin), bad frames (malformed, truncated, oversized, an Arrow
// schema that does not match the call, a frame for another job), a tab that closes
// mid-collective, a client that stops reading. Each gets a clear error; the other ranks lose
// nothing and the coordinator keeps serving. All ranks are Node `ws` clients (fast).

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinNode, ROOT_DIST, rawSocket, registerMsg, webCoordinator } from './web_helpers';

const frames = () => import(pathToFileURL(join(ROOT_DIST, 'browser', 'tensor_frame.js')).href);
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e) => ({ code: e.code, ranks: e.ranks, message: e.message }),
  );

describe('bad joins and bad frames', () => {
  let w: Awaited<ReturnType<typeof webCoordinator>>;
  beforeAll(async () => {
    w = await webCoordinator('webfail', 3, { ONET_WEB_MAX_FRAME_BYTES: '4MiB', ONET_WEB_HEARTBEAT: '0.5' });
  });
  afterAll(async () => w?.close());

  it('refuses wrong tokens, other jobs, non-web ranks and foreign origins with a clear error', async () => {
    const wrong = w.urls[1].replace(/token=[^&]+/, 'token=not-the-token');
    expect(await codeOf(joinNode(wrong))).toMatchObject({ code: 'EACCES' });
    const otherJob = w.urls[1].replace('job=webfail', 'job=another');
    expect(await codeOf(joinNode(otherJob))).toMatchObject({
      code: 'EINVAL',
      message: expect.stringMatching(/another.*webfail/),
    });
    const notWeb = w.urls[1].replace('rank=1', 'rank=7');
    expect(await codeOf(joinNode(notWeb))).toMatchObject({
      code: 'EINVAL',
      message: expect.stringContaining('not a web rank'),
    });
    const { ws, inbox } = await rawSocket(w.urls[1], 'http://evil.example');
    ws.send(JSON.stringify(await registerMsg(w.urls[1])));
    expect((await inbox.next())?.text).toMatchObject({
      type: 'error',
      code: 'EACCES',
      message: expect.stringContaining('evil.example'),
    });
    // A proof captured on the wire and sent again is a replay; the token was not spent by any of these.
    const reg = await registerMsg(w.urls[1], { job: 'webfail' });
    const a = await rawSocket(w.urls[1]);
    a.ws.send(JSON.stringify({ ...reg, auth: { ...(reg.auth as object), mac: '00'.repeat(32) } }));
    expect((await a.inbox.next())?.text).toMatchObject({ code: 'EACCES', message: expect.stringContaining('HMAC') });
  });

  it('answers malformed, truncated, mismatched, foreign frames to their sender only; the others finish', async () => {
    const { encodeTensor } = await frames();
    const [c0, c1] = await Promise.all([joinNode(w.urls[0]), joinNode(w.urls[1])]);
    // Replaying rank 1's URL now: the token was spent.
    expect(await codeOf(joinNode(w.urls[1]))).toMatchObject({
      code: 'EACCES',
      message: expect.stringContaining('already used'),
    });
    const r2 = await rawSocket(w.urls[2]);
    r2.ws.send(JSON.stringify(await registerMsg(w.urls[2])));
    expect((await r2.inbox.next())?.text).toMatchObject({ type: 'registered', rank: 2, world: 3 });
    // Ranks 0 and 1 post first; rank 2's bad frames must not disturb them.
    const x = (r: number) => Float32Array.from({ length: 4097 }, (_, i) => r * 10 + (i % 5));
    const done = Promise.all([c0.allreduce(x(0)), c1.allreduce(x(1))]);
    const call = (over: object) => ({
      v: 1,
      type: 'call',
      id: 5,
      job: 'webfail',
      coll: 'allreduce',
      dtype: 'f32',
      count: 4097,
      ...over,
    });
    const good = encodeTensor('onet:call', call({}), 'f32', x(2));
    const bad: Array<[string | Uint8Array, RegExp]> = [
      ['{not json', /not JSON/],
      [JSON.stringify({ v: 1, type: 'launch' }), /unknown message type/],
      [JSON.stringify({ v: 2, type: 'call' }), /version/],
      [JSON.stringify(call({ coll: 'allreduce' })), /tensor frame/],
      [good.subarray(0, good.length - 100), /truncated/],
      [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), /continuation/],
      [encodeTensor('onet:call', call({ count: 4096 }), 'f32', x(2)), /does not match the call/],
      [encodeTensor('onet:call', call({ dtype: 'f64' }), 'f32', x(2)), /does not match the call/],
      [encodeTensor('onet:call', call({ job: 'other' }), 'f32', x(2)), /for job other/],
      [encodeTensor('onet:call', call({ coll: 'allscatter' }), 'f32', x(2)), /unknown collective/],
    ];
    for (const [frame, why] of bad) {
      r2.ws.send(frame);
      const m = (await r2.inbox.next())?.text;
      expect(m, String(why)).toMatchObject({ type: 'error', code: expect.stringMatching(/EINVAL|EPROTO/) });
      expect(m.message).toMatch(why);
    }
    r2.ws.send(good);
    const res = await r2.inbox.next();
    expect(res?.bin).toBeDefined();
    const want = Float32Array.from({ length: 4097 }, (_, i) => 30 + 3 * (i % 5));
    for (const got of await done) expect(got).toEqual(want);
    // Oversized: the connection closes with 1009, nothing else is affected.
    const big = await rawSocket(w.urls[2]);
    big.ws.send(new Uint8Array(5 << 20));
    await big.inbox.next();
    expect(big.inbox.closed?.code).toBe(1009);
    // And the client refuses to send one at all.
    expect(await codeOf(c0.allreduce(new Float32Array(2 << 20)))).toMatchObject({
      code: 'EINVAL',
      message: expect.stringContaining('ONET_WEB_MAX_FRAME_BYTES'),
    });
    // A tab closed mid-collective: the others get EABORTED naming it, not a timeout.
    const pending = [codeOf(c0.allreduce(x(0))), codeOf(c1.allreduce(x(1)))];
    r2.ws.terminate();
    for (const e of await Promise.all(pending))
      expect(e).toMatchObject({ code: 'EABORTED', ranks: expect.arrayContaining([2]) });
    // The coordinator still serves: status lists rank 2 as dead and the join page answers.
    const st = w.c.status();
    expect(st.ranks.find((r: any) => r.rank === 2)).toMatchObject({ state: 'dead', framework: 'browser' });
    const page = await fetch(`${w.c.web!.origin}/join`);
    expect(page.status).toBe(200);
    await Promise.all([c0.close(), c1.close()]);
  });
});

describe('a client that stops reading', () => {
  it('is dropped with an error once its queued results pass the limit', async () => {
    const w = await webCoordinator('webslow', 1, { ONET_WEB_MAX_BUFFERED_BYTES: '1MiB', ONET_WEB_HEARTBEAT: '0.3' });
    try {
      const { encodeTensor } = await frames();
      const r = await rawSocket(w.urls[0]);
      r.ws.send(JSON.stringify(await registerMsg(w.urls[0])));
      expect((await r.inbox.next())?.text).toMatchObject({ type: 'registered' });
      (r.ws as any)._socket.pause(); // stop reading: results pile up at the coordinator
      const x = new Float32Array(1 << 20);
      for (let i = 0; i < 24; i++)
        r.ws.send(
          encodeTensor(
            'onet:call',
            { v: 1, type: 'call', id: i, job: 'webslow', coll: 'allreduce', dtype: 'f32', count: x.length },
            'f32',
            x,
          ),
        );
      const end = Date.now() + 30_000;
      while (w.c.status().ranks[0]?.state !== 'dead' && Date.now() < end) await new Promise((z) => setTimeout(z, 100));
      expect(w.c.status().ranks[0]?.state).toBe('dead');
      (r.ws as any)._socket.resume();
      let last: any;
      for (let m = await r.inbox.next(); m; m = await r.inbox.next()) if (m.text) last = m.text;
      expect(last).toMatchObject({ code: 'EABORTED', message: expect.stringMatching(/stopped reading|pong/) });
      expect((await fetch(`${w.c.web!.origin}/join`)).status).toBe(200);
    } finally {
      await w.close();
    }
  });
});

describe('a coordinator that shuts down', () => {
  it('first delivers every result a slow client is owed, then closes with 1001', async () => {
    const w = await webCoordinator('webbye', 1, {
      ONET_ARENA_BYTES: '64MiB',
      ONET_WEB_MAX_BUFFERED_BYTES: '64MiB',
      ONET_WEB_HEARTBEAT: '30',
    });
    let closing: Promise<void> | undefined;
    try {
      const { encodeTensor, decodeTensor } = await frames();
      const r = await rawSocket(w.urls[0]);
      r.ws.send(JSON.stringify(await registerMsg(w.urls[0])));
      expect((await r.inbox.next())?.text).toMatchObject({ type: 'registered' });
      (r.ws as any)._socket.pause(); // a busy tab: a 16 MiB result waits at the coordinator
      const x = new Float32Array(1 << 22).fill(3);
      const call = { v: 1, type: 'call', id: 7, job: 'webbye', coll: 'allreduce', dtype: 'f32', count: x.length };
      r.ws.send(encodeTensor('onet:call', call, 'f32', x));
      const end = Date.now() + 10_000;
      const queued = () => [...(w.c.web as any).sessions].some((s: any) => s.ws.bufferedAmount > 0);
      while (!queued() && Date.now() < end) await new Promise((z) => setTimeout(z, 10));
      expect(queued()).toBe(true);
      closing = w.c.close(); // the job ends while the results are still queued
      await new Promise((z) => setTimeout(z, 300));
      (r.ws as any)._socket.resume();
      const ids: number[] = [];
      for (let m = await r.inbox.next(); m; m = await r.inbox.next()) {
        expect(m.bin, JSON.stringify(m.text)).toBeDefined();
        const t = decodeTensor('onet:result', m.bin!);
        expect(t.values[0]).toBe(3);
        ids.push(t.meta.id as number);
      }
      expect(ids).toEqual([7]);
      expect(r.inbox.closed?.code).toBe(1001);
      await closing;
    } finally {
      await closing;
      await w.close();
    }
  });
});

describe('a tab that goes silent', () => {
  it('is dropped after a heartbeat without a pong; the others get EABORTED naming it', async () => {
    const w = await webCoordinator('websilent', 2, { ONET_WEB_HEARTBEAT: '0.3' });
    try {
      const c0 = await joinNode(w.urls[0]);
      const r1 = await rawSocket(w.urls[1]);
      r1.ws.send(JSON.stringify(await registerMsg(w.urls[1])));
      expect((await r1.inbox.next())?.text).toMatchObject({ type: 'registered', rank: 1 });
      (r1.ws as any)._socket.pause(); // frozen: no pongs, socket still open
      const e = await codeOf(c0.allreduce(Float32Array.of(1, 2)));
      expect(e).toMatchObject({ code: 'EABORTED', ranks: [1], message: expect.stringContaining('pong') });
      await c0.close();
      r1.ws.terminate();
    } finally {
      await w.close();
    }
  });
});
