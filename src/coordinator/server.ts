// The per-host coordinator: a ZeroMQ ROUTER for control (docs/protocol.md §2) in front of the
// native engine, which owns the arenas and runs the hot path. Nothing here touches tensor
// bytes. One bad message gets an error reply; it never stops the others being served.
// Its parts: start-up (startup.ts), registration (registration.ts), group voting (groups.ts),
// the control message dispatch (dispatch.ts) and rank liveness watching (rank_watch.ts).
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import * as zmq from 'zeromq';
import { type ControlMsg, PROTOCOL_VERSION, parseControl } from '../bridge/protocol.js';
import { setting } from '../config/settings.js';
import { CODES, OnetError } from '../errors.js';
import { type Engine, type EngineEvent, native } from '../native/addon.js';
import { wanSnapshot } from '../p2p/state.js';
import { tokensFrom, Verifier } from '../security/auth.js';
import { lastOps, parseStats, Telemetry } from '../telemetry/telemetry.js';
import type { WebEndpoint, WebOptions } from '../web/endpoint.js';
import { type CoordContext, codeNum, type Waiter } from './context.js';
import { type ControlParts, dispatch } from './dispatch.js';
import { GroupVotes } from './groups.js';
import { type Logger, makeLogger } from './log.js';
import { ensurePrivateDir, type JobPaths, jobPaths, runDir } from './paths.js';
import { RankWatch } from './rank_watch.js';
import { Registrar } from './registration.js';
import { checkPidFile, createEngine } from './startup.js';

export interface CoordinatorOptions {
  job: string;
  world?: number;
  exitWhenIdle?: boolean;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  /** Reserve ranks first..first+count-1 for browser/Pyodide ranks over WebSocket (src/web). */
  web?: WebOptions;
}

export class Coordinator {
  readonly job: string;
  readonly paths: JobPaths;
  private readonly ctx: CoordContext;
  private telemetry?: Telemetry;
  private readonly router = new zmq.Router({ linger: 0 });
  private readonly notify = new Map<string, Waiter>();
  private sendChain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly started = Date.now();
  private readonly watch: RankWatch;
  private readonly parts: ControlParts;
  private readonly webOpts?: WebOptions;
  /** The WebSocket endpoint when the job has web ranks. */
  web?: WebEndpoint;
  private doneResolve!: () => void;
  /** Resolves when the coordinator has shut down (close(), or idle exit). */
  readonly done: Promise<void> = new Promise((r) => (this.doneResolve = r));

  private constructor(opts: CoordinatorOptions) {
    this.job = opts.job;
    this.webOpts = opts.web;
    const env = opts.env ?? process.env;
    this.paths = jobPaths(opts.job, env);
    this.ctx = {
      job: opts.job,
      env,
      log: opts.log ?? makeLogger(`[onet coordinator ${opts.job}]`),
      tokens: tokensFrom(env),
      verifier: new Verifier(),
      ranks: new Map(),
      world: opts.world ?? 0,
      reply: (identity, body) => this.reply(identity, body),
      close: () => this.close(),
    };
    this.watch = new RankWatch(this.ctx, Boolean(opts.exitWhenIdle), () => this.closed);
    const registrar = new Registrar(
      this.ctx,
      (world) => this.createEngine(world),
      () => this.watch.registered(),
    );
    this.parts = {
      ctx: this.ctx,
      registrar,
      groups: new GroupVotes(this.ctx, (rank) => registrar.isLocal(rank)),
      watch: this.watch,
      notify: this.notify,
      started: this.started,
      status: () => this.status(),
    };
  }

  /** The engine, once the world size is known (tests reach it as a hook). */
  private get engine(): Engine | undefined {
    return this.ctx.engine;
  }

  private get log(): Logger {
    return this.ctx.log;
  }

  static async start(opts: CoordinatorOptions): Promise<Coordinator> {
    const c = new Coordinator(opts);
    await c.bind();
    return c;
  }

  get endpoint(): string {
    return this.paths.endpoint;
  }

  private async bind(): Promise<void> {
    ensurePrivateDir(runDir(this.ctx.env));
    ensurePrivateDir(this.paths.dir);
    checkPidFile(this.job, this.paths);
    // Telemetry first: a bad ONET_METRICS_PORT fails before anything is bound.
    this.telemetry = await Telemetry.start({
      job: this.job,
      env: this.ctx.env,
      log: this.log,
      engine: () => this.engine,
      arenaBytes: setting('arenaBytes', this.ctx.env),
      ranks: () => this.status().ranks,
      pending: () => (this.engine ? JSON.parse(this.engine.snapshot()) : []),
    });
    // A coordinator that died left its socket and maybe segments: clear them first.
    rmSync(this.paths.socket, { force: true });
    const cleaned = native.cleanStale('');
    if (cleaned) this.log('info', `removed ${cleaned} shared-memory segment(s) left by dead coordinators`);
    await this.router.bind(this.paths.endpoint);
    chmodSync(this.paths.socket, 0o600); // owner-only, like its 0700 directory (docs/protocol.md §8)
    writeFileSync(this.paths.pidFile, String(process.pid), { mode: 0o600 });
    if (this.ctx.world) this.createEngine(this.ctx.world);
    this.log(
      'info',
      `listening on ${this.paths.endpoint} (pid ${process.pid}, protocol v${PROTOCOL_VERSION}, ` +
        `world ${this.ctx.world || 'from first rank'})`,
    );
    this.watch.start();
    void this.serve();
    if (this.webOpts) await this.startWeb(this.webOpts);
  }

  private async startWeb(o: WebOptions): Promise<void> {
    const { WebEndpoint } = await import('../web/endpoint.js');
    try {
      this.web = await WebEndpoint.start(
        {
          job: this.job,
          world: this.ctx.world,
          env: this.ctx.env,
          log: this.log,
          failRank: (r, w) => this.failRank(r, w),
        },
        o,
      );
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** Mark a rank dead and fail its pending collectives with EABORTED naming it (a web rank that left). */
  failRank(rank: number, why: string): void {
    const r = this.ctx.ranks.get(rank);
    if (r) r.dead = true;
    this.log('warn', `${why}; failing its pending collectives`);
    this.ctx.engine?.failRank(rank, codeNum('EABORTED'), why);
  }

  private createEngine(world: number): void {
    createEngine(this.ctx, world, (e) => this.onEngineEvent(e));
  }

  private async serve(): Promise<void> {
    try {
      for await (const [identity, ...frames] of this.router) {
        if (this.closed) break;
        let msg: ControlMsg | undefined;
        try {
          if (frames.length === 0) throw new OnetError('EINVAL', 'empty message (expected a JSON control frame)');
          msg = parseControl(frames[0]);
          dispatch(this.parts, identity, msg);
        } catch (e) {
          const err = OnetError.fromNative(e);
          this.log('warn', `rejected a message: ${err.code}: ${err.message}`);
          this.reply(identity, {
            type: 'error',
            code: err.code,
            message: err.message,
            ranks: err.ranks,
            id: (msg as any)?.id,
          });
        }
      }
    } catch (e) {
      if (!this.closed) this.log('error', `control socket failed: ${(e as Error).message}`);
    }
  }

  private reply(identity: Buffer, body: Record<string, unknown>): void {
    const frame = JSON.stringify({ v: PROTOCOL_VERSION, ...body });
    this.sendChain = this.sendChain
      .then(() => (this.closed ? undefined : this.router.send([identity, frame])))
      .catch((e) => this.log('debug', `reply dropped: ${(e as Error).message}`));
  }

  private onEngineEvent(e: EngineEvent): void {
    const key = `${e.rank}:${e.slot}`;
    const waiter = this.notify.get(key);
    if (waiter) {
      this.notify.delete(key);
      this.reply(waiter.identity, {
        type: 'done',
        id: waiter.id,
        slot: e.slot,
        status: e.status,
        code: CODES[e.status] ?? 'EINTERNAL',
        message: e.message,
        ranks: e.ranks ?? [],
      });
    }
    if (e.status) this.telemetry?.onError(e);
    if (e.kind === 'error') this.log('debug', `rank ${e.rank}: ${CODES[e.status]}: ${e.message}`);
  }

  status() {
    const pending = this.engine ? JSON.parse(this.engine.snapshot()) : [];
    return {
      job: this.job,
      world: this.ctx.world,
      pid: process.pid,
      ranks: [...this.ctx.ranks.values()].map((r) => ({
        rank: r.rank,
        pid: r.pid,
        framework: r.framework,
        state: r.dead ? 'dead' : r.closed ? 'closed' : 'live',
      })),
      pending,
      ...this.statsPart(),
      telemetry: this.telemetry?.urls ?? {},
      security: { tokenRequired: Boolean(this.ctx.tokens.rank), refusals: this.ctx.verifier.refusals },
      wan: wanSnapshot(), // ONET_WAN jobs: each link's kind (direct, hole-punched, relayed) and rtt
      ...(this.web ? { web: { origin: this.web.origin, joined: this.web.joined() } } : {}),
    };
  }

  private statsPart() {
    const st = parseStats(this.engine);
    return {
      lastOps: lastOps(st),
      stats: st && {
        ranks: st.ranks,
        collectives: st.collectives,
        errors: st.errors,
        fused: st.fused,
        fusedExchanges: st.fusedExchanges,
      },
    };
  }

  /** The engine's counters (each rank's last completed op is kept even with telemetry off). */
  engineStats() {
    return parseStats(this.engine);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.web?.close();
    this.watch.stop();
    await this.telemetry?.stop();
    this.engine?.close();
    await this.sendChain;
    this.router.close();
    rmSync(this.paths.socket, { force: true });
    rmSync(this.paths.pidFile, { force: true });
    this.doneResolve();
  }
}
