// One web rank's connection. After a valid register the session owns a Node-API communicator
// (src/api Comm) for that rank inside the coordinator process: to the engine the browser tab is
// a local rank whose arena slot this process fills. A call frame's values are copied once into
// the arena (memcpy), the collective runs in place there, and the result is framed straight
// from the arena: no JavaScript touches single elements. Errors about one frame go to this
// client only; a connection that closes or falls silent fails the rank with EABORTED.
import type WebSocket from 'ws';
import { Comm } from '../api/comm.js';
import type { TypedArray } from '../api/tensor.js';
import { encodeTensor } from '../browser/tensor_frame.js';
import type { Logger } from '../coordinator/log.js';
import { OnetError } from '../errors.js';
import type { DType, RedOp } from '../gen/enums.js';
import { type ClientCall, type ClientRegister, WEB } from '../gen/web.js';
import { decodeBinary, decodeText } from './decode.js';
import type { JoinTokens } from './tokens.js';

/** What a session needs of its endpoint and coordinator. */
export interface SessionHost {
  readonly job: string;
  readonly world: number;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly tokens: JoinTokens;
  readonly maxFrameBytes: number;
  readonly maxBufferedBytes: number;
  readonly heartbeatMs: number;
  /** Mark the rank dead and fail its pending collectives with EABORTED (server.ts). */
  failRank(rank: number, why: string): void;
  /** A rank joined or left (for the endpoint's table). */
  joined(s: Session): void;
  left(s: Session): void;
}

export class Session {
  rank = -1;
  kind = 'browser';
  private comm?: Comm;
  private state: 'new' | 'joining' | 'ready' | 'gone' = 'new';
  /** Pong seen since the last ping. */
  alive = true;
  /** Calls running on the communicator. */
  private running = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly host: SessionHost,
    readonly peer: string,
  ) {
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('close', (code, reason) => this.onClose(code, reason.toString()));
    ws.on('error', (e) => this.host.log('debug', `web ${this.who}: ${e.message}`));
  }

  /** Nothing owed to the client: no call runs and every result left this process's buffers. */
  settled(): boolean {
    return this.state === 'gone' || (this.running === 0 && this.ws.bufferedAmount === 0);
  }

  get who(): string {
    return this.rank >= 0 ? `rank ${this.rank} (${this.kind}, ${this.peer})` : `client ${this.peer}`;
  }

  /** Heartbeat tick: drop a client silent since the last one, or one that does not read. */
  tick(): void {
    if (this.state === 'gone') return;
    if (!this.alive) return this.drop(`sent no pong for ${this.host.heartbeatMs} ms (tab closed or frozen?)`);
    this.alive = false;
    try {
      this.ws.ping();
    } catch {
      /* closing */
    }
    this.checkBackpressure();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    let call: ClientCall | undefined;
    try {
      if (!isBinary) {
        const m = decodeText(data.toString('utf8'));
        if (m.type === 'register') return void this.register(m);
        if (m.type === 'ping') return this.send({ type: 'pong', id: m.id });
        if (m.type === 'close') return this.leave('closed by the rank', true);
        call = m;
        if (call.coll !== 'barrier' && call.coll !== 'recv')
          throw new OnetError('EINVAL', `call ${call.id}: ${call.coll} carries data: send it as a tensor frame`);
        return void this.run(call);
      }
      const t = decodeBinary(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      call = t.call;
      void this.run(call, t.values);
    } catch (e) {
      this.error(OnetError.fromNative(e), call?.id);
    }
  }

  private async register(m: ClientRegister): Promise<void> {
    const h = this.host;
    if (this.state !== 'new') throw new OnetError('EINVAL', `${this.who} is already registered`, [this.rank]);
    if (m.job !== h.job)
      return this.refuse('EINVAL', `rank ${m.rank} asked for job ${m.job}, but this coordinator serves job ${h.job}`);
    if (!h.tokens.token(m.rank))
      return this.refuse(
        'EINVAL',
        `rank ${m.rank} is not a web rank of job ${h.job} (web ranks: ${h.tokens.ranks.join(', ')})`,
      );
    if (!(WEB.kinds as readonly string[]).includes(m.kind))
      return this.refuse('EINVAL', `kind ${JSON.stringify(m.kind)} is not one of ${WEB.kinds.join(', ')}`);
    const why = h.tokens.redeem(m.rank, m.auth);
    if (why) {
      h.log('warn', `refused web rank ${m.rank} from ${this.peer}: ${why}`);
      return this.refuse(
        'EACCES',
        `coordinator of job ${h.job} refused rank ${m.rank}: ${why}; use the join URL onet printed, once`,
      );
    }
    this.state = 'joining';
    this.rank = m.rank;
    this.kind = m.kind;
    try {
      this.comm = await Comm.init({
        job: h.job,
        env: h.env,
        rank: m.rank,
        world: h.world,
        localRank: m.rank,
        localWorld: h.world,
        framework: m.kind,
      });
    } catch (e) {
      const err = OnetError.fromNative(e);
      return this.refuse(err.code, `rank ${m.rank} could not join: ${err.message}`);
    }
    if (this.state !== 'joining') {
      // The client left while the rank was registering: it is gone for the others too.
      h.failRank(m.rank, `web rank ${m.rank} (${m.kind}) left while joining`);
      return void this.comm.close();
    }
    this.state = 'ready';
    h.joined(this);
    h.log('info', `web ${this.who} joined`);
    this.send({
      type: 'registered',
      job: h.job,
      rank: m.rank,
      world: h.world,
      maxFrameBytes: h.maxFrameBytes,
      heartbeatMs: h.heartbeatMs,
    });
  }

  /** Run one call on this rank's communicator; answer with its result or its error. */
  private async run(call: ClientCall, values?: TypedArray): Promise<void> {
    if (this.state !== 'ready' || !this.comm)
      return this.error(new OnetError('EINVAL', `call ${call.id} before register: send register first`), call.id);
    if (call.job !== this.host.job)
      return this.error(
        new OnetError(
          'EINVAL',
          `call ${call.id} is for job ${call.job}, but this connection is rank ${this.rank} of job ${this.host.job}`,
          [this.rank],
        ),
        call.id,
      );
    const comm = this.comm;
    const dtype = call.dtype as DType;
    this.running++;
    const held: TypedArray[] = [];
    const alloc = (n: number) => {
      const a = comm.alloc(n, dtype);
      held.push(a);
      return a;
    };
    try {
      let x: TypedArray | undefined;
      if (values) {
        x = alloc(values.length);
        (x as Uint8Array).set(values as Uint8Array); // same element type: one memcpy
      }
      const op = call.op as RedOp | undefined;
      let out: TypedArray | undefined;
      let src: number | undefined;
      switch (call.coll) {
        case 'allreduce':
          out = await comm.allreduce(x!, { op, dtype });
          break;
        case 'broadcast':
          out = await comm.broadcast(x!, { root: call.root ?? 0, dtype });
          break;
        case 'allgather':
          out = await comm.allgather(x!, { dtype, out: alloc(x!.length * comm.world) });
          break;
        case 'reduce_scatter':
          if (x!.length % comm.world) throw this.blocks(call, x!.length);
          out = await comm.reduceScatter(x!, { op, dtype, out: alloc(x!.length / comm.world) });
          break;
        case 'alltoall':
          if (x!.length % comm.world) throw this.blocks(call, x!.length);
          out = await comm.alltoall(x!, { dtype, out: alloc(x!.length) });
          break;
        case 'barrier':
          await comm.barrier();
          break;
        case 'send':
          await comm.send(x!, call.peer ?? -2, { tag: call.tag ?? 0, dtype });
          break;
        case 'recv': {
          const r = await comm.recv(alloc(call.count), call.peer ?? -1, { tag: call.tag ?? 0, dtype });
          out = r.data;
          src = r.src;
          break;
        }
      }
      if (out) {
        const meta = {
          v: WEB.version,
          type: 'result',
          id: call.id,
          count: out.length,
          ...(src !== undefined ? { src } : {}),
        };
        this.sendBinary(encodeTensor('onet:result', meta, dtype, out));
      } else this.send({ type: 'result', id: call.id, count: 0 });
    } catch (e) {
      this.error(OnetError.fromNative(e), call.id);
    } finally {
      for (const a of held) comm.free(a);
      this.running--;
    }
  }

  private blocks(call: ClientCall, n: number): OnetError {
    return new OnetError(
      'EINVAL',
      `call ${call.id}: ${call.coll} of ${n} elements does not split into ${this.host.world} blocks`,
      [this.rank],
    );
  }

  private send(body: Record<string, unknown>): void {
    if (this.state === 'gone') return;
    this.ws.send(JSON.stringify({ v: WEB.version, ...body }));
  }

  private sendBinary(b: Uint8Array): void {
    if (this.state === 'gone') return;
    this.ws.send(b);
    this.checkBackpressure();
  }

  /** A client that stops reading: its results pile up here until it is dropped. */
  private checkBackpressure(): void {
    const queued = this.ws.bufferedAmount;
    if (queued > this.host.maxBufferedBytes)
      this.drop(
        `stopped reading: ${queued} bytes of results are queued, ` +
          `over ONET_WEB_MAX_BUFFERED_BYTES=${this.host.maxBufferedBytes}`,
      );
  }

  private error(e: OnetError, id?: number): void {
    this.host.log('debug', `web ${this.who}: ${e.code}: ${e.message}`);
    this.send({ type: 'error', ...(id !== undefined ? { id } : {}), code: e.code, message: e.message, ranks: e.ranks });
  }

  /** Answer a bad register and close: the connection never became a rank. */
  private refuse(code: OnetError['code'], message: string): void {
    this.send({ type: 'error', code, message, ranks: [] });
    this.state = 'gone';
    this.rank = -1;
    this.ws.close(WEB.closeCodes.policy, message.slice(0, 120));
  }

  /**
   * Drop a misbehaving or silent client: fail its rank now, queue the reason and a close frame
   * behind what it has not read yet, and cut the connection if it still has not closed after
   * another heartbeat (a client that never reads never completes the close handshake).
   */
  private drop(why: string): void {
    if (this.state === 'gone') return;
    this.error(new OnetError('EABORTED', `coordinator dropped ${this.who}: ${why}`, this.rank >= 0 ? [this.rank] : []));
    this.leave(why, false, WEB.closeCodes.policy);
    setTimeout(() => this.ws.terminate(), 2 * this.host.heartbeatMs).unref();
  }

  private onClose(code: number, reason: string): void {
    this.leave(`its WebSocket closed (code ${code}${reason ? `: ${reason}` : ''})`);
  }

  /**
   * The rank is gone: every collective waiting for it fails with EABORTED naming it (ECLOSED
   * when the rank closed its communicator itself, as a Node or Python rank's close() does).
   */
  private leave(why: string, polite = false, code: number = WEB.closeCodes.normal): void {
    const was = this.state;
    this.state = 'gone';
    if (was === 'ready' && this.comm) {
      if (!polite) this.host.failRank(this.rank, `web rank ${this.rank} (${this.kind}) left: ${why}`);
      this.host.log('warn', `web ${this.who} left: ${why}`);
      void this.comm.close();
      this.host.left(this);
    }
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(code, why.slice(0, 120));
  }
}
