// The browser client (`opennetworks/browser`, served by a coordinator at /opennetworks.js):
//   const comm = await join(url);  const sum = await comm.allreduce(new Float32Array([1, 2]));
// No Node built-ins: this module and what it imports are bundled for pages (npm run build:browser).
// In Node, pass the `ws` package's class: join(url, { WebSocket }).
import { OnetError } from '../errors.js';
import { WEB } from '../gen/web.js';
import { type Registered, WebComm } from './comm.js';
import { prove } from './hmac.js';
import { parseJoinUrl } from './join_url.js';

export type { WebPeerOptions, WebReduceOptions, WebRootOptions } from './comm.js';
export { joinUrl, parseJoinUrl } from './join_url.js';
export { OnetError, WebComm };

export interface JoinOptions {
  /** A WebSocket class (Node: `import { WebSocket } from 'ws'`); default globalThis.WebSocket. */
  WebSocket?: typeof WebSocket;
  /** How the dashboard lists this rank: 'browser' (default) or 'pyodide'. */
  kind?: 'browser' | 'pyodide';
  /** Give up joining after this many milliseconds (default 30000). */
  timeoutMs?: number;
}

/** Join the job a coordinator's join URL names, as the rank the URL reserves. */
export async function join(url: string, opts: JoinOptions = {}): Promise<WebComm> {
  const target = parseJoinUrl(url);
  const WS = opts.WebSocket ?? (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
  if (!WS)
    throw new OnetError('EINVAL', 'no WebSocket class here: in Node pass join(url, { WebSocket }) from the ws package');
  const kind = opts.kind ?? 'browser';
  if (!(WEB.kinds as readonly string[]).includes(kind))
    throw new OnetError('EINVAL', `kind ${JSON.stringify(kind)} is not one of ${WEB.kinds.join(', ')}`);
  const auth = await prove(target.token, ['register', target.job, target.rank, 0]);
  const ws = new WS(target.wsUrl);
  ws.binaryType = 'arraybuffer';
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const reg = await new Promise<Registered>((resolve, reject) => {
    const fail = (e: OnetError) => {
      clearTimeout(timer);
      reject(e);
      try {
        ws.close();
      } catch {
        /* not open */
      }
    };
    const timer = setTimeout(
      () => fail(new OnetError('ETIMEDOUT', `no answer from ${target.wsUrl} within ${timeoutMs} ms`, [target.rank])),
      timeoutMs,
    );
    ws.onopen = () =>
      ws.send(JSON.stringify({ v: WEB.version, type: 'register', job: target.job, rank: target.rank, kind, auth }));
    ws.onerror = () =>
      fail(
        new OnetError('EABORTED', `cannot reach the coordinator at ${target.wsUrl}; is the job still running?`, [
          target.rank,
        ]),
      );
    ws.onclose = (ev) =>
      fail(new OnetError('EABORTED', `the coordinator closed the connection (${ev.reason || ev.code})`, [target.rank]));
    ws.onmessage = (ev) => {
      let m: Record<string, any>;
      try {
        m = JSON.parse(String(ev.data));
      } catch {
        return fail(new OnetError('EPROTO', 'the coordinator answered register with a non-JSON frame'));
      }
      if (m.type === 'error') return fail(OnetError.fromFields(m));
      if (m.type !== 'registered') return fail(new OnetError('EPROTO', `expected registered, got ${m.type}`));
      clearTimeout(timer);
      resolve(m as Registered);
    };
  });
  ws.onerror = null;
  return new WebComm(ws, reg, kind);
}

// A page that loads this module gets `opennetworks` on globalThis (Pyodide reaches it through
// its JS bridge: `from js import opennetworks`).
(globalThis as Record<string, unknown>).opennetworks = { join, OnetError, WebComm };
