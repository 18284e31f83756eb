// The per-host coordinator: a ZeroMQ ROUTER for control (docs/protocol.md §2) in front of the
// native engine, which owns the arenas and runs the hot path. Nothing here touches tensor
// bytes. One bad message gets an error reply; it never stops the others being served.
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import * as zmq from 'zeromq';
import { type ControlMsg, LAYOUT, PROTOCOL_VERSION, parseControl, type RegisterMsg } from '../bridge/protocol.js';
import { setting } from '../config/settings.js';
import { CODES, OnetError } from '../errors.js';
import { type Engine, type EngineEvent, native } from '../native/addon.js';
import { type Tokens, tokensFrom, Verifier } from '../security/auth.js';
import { engineTelemetry, lastOps, parseStats, Telemetry } from '../telemetry/telemetry.js';
import { alive, identify, type ProcId, pidFileAlive } from './liveness.js';
import { type Logger, makeLogger } from './log.js';
import { type NetworkUp, startNetwork } from './network.js';
import { ensurePrivateDir, type JobPaths, jobPaths, runDir } from './paths.js';

export interface CoordinatorOptions {
  job: string;
  world?: number;
  exitWhenIdle?: boolean;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
}

// proc: the rank's process as it registered (liveness.ts): a zombie or a reused pid is not it.
interface RankInfo {
  rank: number;
  pid: number;
  proc: ProcId;
  localRank: number;
  identity: Buffer;
  framework: string;
  closed: boolean;
  dead: boolean;
}
interface GroupVote {
  ranks: number[];
  waiting: Map<number, { identity: Buffer; id: unknown }>;
}

const codeNum = (c: string) => Math.max(0, CODES.indexOf(c as (typeof CODES)[number]));

export class Coordinator {
  readonly job: string;
  readonly paths: JobPaths;
  private world: number;
  private engine?: Engine;
  private telemetry?: Telemetry;
  private readonly router = new zmq.Router({ linger: 0 });
  private readonly ranks = new Map<number, RankInfo>();
  private readonly groups = new Map<number, GroupVote>();
  private readonly notify = new Map<string, { identity: Buffer; id: unknown }>();
  private sendChain: Promise<void> = Promise.resolve();
  private watcher?: NodeJS.Timeout;
  private idleTimer?: NodeJS.Timeout;
  private closed = false;
  private readonly started = Date.now();
  // Multi-host: registrations wait here until the network is up (network.ts).
  private held: { identity: Buffer; reply: Record<string, unknown>; rank: number }[] = [];
  private net?: NetworkUp;
  private netState: 'none' | 'starting' | 'up' | 'failed' = 'none';
  private netError?: OnetError;
  private readonly log: Logger;
  private readonly env: NodeJS.ProcessEnv;
  // Security (docs/protocol.md §8): with ONET_JOB_TOKEN set, register/status/abort need a proof.
  private readonly tokens: Tokens;
  private readonly verifier = new Verifier();
  private doneResolve!: () => void;
  /** Resolves when the coordinator has shut down (close(), or idle exit). */
  readonly done: Promise<void> = new Promise((r) => (this.doneResolve = r));

  private constructor(private readonly opts: CoordinatorOptions) {
    this.job = opts.job;
    this.env = opts.env ?? process.env;
    this.paths = jobPaths(opts.job, this.env);
    this.world = opts.world ?? 0;
    this.log = opts.log ?? makeLogger(`[onet coordinator ${opts.job}]`);
    this.tokens = tokensFrom(this.env);
  }

  /** Refuse (log, count, throw EACCES) unless `why` is empty. */
  private refuse(what: string, why: string, ranks: number[] = []): never {
    this.verifier.refusals++;
    this.log('warn', `refused ${what}: ${why} (refusal #${this.verifier.refusals})`);
    throw new OnetError(
      'EACCES',
      `coordinator of job ${this.job} refused ${what}: ${why}; give every rank the job's ONET_JOB_TOKEN (onet run passes it on)`,
      ranks,
    );
  }

  /** Status needs a registered connection or, with a token set, any role's proof. */
  private authorizeRead(identity: Buffer, m: { auth?: any }): void {
    if (!this.tokens.rank) return;
    for (const r of this.ranks.values()) if (!r.closed && !r.dead && r.identity.equals(identity)) return;
    const role = this.verifier.role(this.tokens, m.auth, ['status', this.job]);
    if (typeof role !== 'string') this.refuse('a status request', role.refused);
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
    ensurePrivateDir(runDir(this.env));
    ensurePrivateDir(this.paths.dir);
    if (existsSync(this.paths.pidFile)) {
      const pid = Number(readFileSync(this.paths.pidFile, 'utf8'));
      if (pid && pid !== process.pid && pidFileAlive(pid, this.paths.pidFile))
        throw new OnetError(
          'EINVAL',
          `a coordinator for job ${this.job} is already running (pid ${pid}) at ${this.paths.endpoint}; stop it or pick another ONET_JOB_ID`,
        );
    }
    // Telemetry first: a bad ONET_METRICS_PORT fails before anything is bound.
    this.telemetry = await Telemetry.start({
      job: this.job,
      env: this.env,
      log: this.log,
      engine: () => this.engine,
      arenaBytes: setting('arenaBytes', this.env),
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
    if (this.world) this.createEngine(this.world);
    this.log(
      'info',
      `listening on ${this.paths.endpoint} (pid ${process.pid}, protocol v${PROTOCOL_VERSION}, world ${this.world || 'from first rank'})`,
    );
    this.watcher = setInterval(() => this.watchRanks(), 200);
    this.watcher.unref();
    if (this.opts.exitWhenIdle) this.armIdleExit();
    void this.serve();
  }

  private createEngine(world: number): void {
    const threadsSetting = setting('engineThreads', this.env) as number;
    const threads = threadsSetting > 0 ? threadsSetting : Math.max(1, Math.min(8, cpus().length));
    this.engine = new native.Engine(
      {
        job: this.job,
        world,
        threads,
        chunkBytes: setting('chunkBytes', this.env),
        parallelBytes: setting('parallelBytes', this.env),
        spinUs: setting('spinUs', this.env),
        timeoutMs: (setting('timeoutS', this.env) as number) * 1000,
        arenaBytes: setting('arenaBytes', this.env),
        fusionBytes: setting('fusionBytes', this.env),
        ...engineTelemetry(this.env),
      },
      (e) => this.onEngineEvent(e),
    );
    this.world = world;
    this.log(
      'info',
      `engine ready: world ${world}, ${threads} thread(s), SIMD ${native.simdIsa()}, arena ${setting('arenaBytes', this.env)} bytes per rank`,
    );
  }

  private async serve(): Promise<void> {
    try {
      for await (const [identity, ...frames] of this.router) {
        if (this.closed) break;
        let msg: ControlMsg | undefined;
        try {
          if (frames.length === 0) throw new OnetError('EINVAL', 'empty message (expected a JSON control frame)');
          msg = parseControl(frames[0]);
          this.handle(identity, msg);
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

  private rankOf(identity: Buffer): RankInfo {
    for (const r of this.ranks.values()) if (!r.closed && !r.dead && r.identity.equals(identity)) return r;
    throw new OnetError('EINVAL', 'this connection has not registered: send a register message first');
  }

  private handle(identity: Buffer, m: ControlMsg): void {
    const id = m.id;
    switch (m.type) {
      case 'register':
        return this.register(identity, m);
      case 'mapped': {
        const r = this.rankOf(identity);
        this.engine!.unlinkArena(r.rank);
        return this.reply(identity, { type: 'ok', id });
      }
      case 'group':
        return this.group(identity, this.rankOf(identity), m.group, m.ranks, id);
      case 'post': {
        const r = this.rankOf(identity);
        this.notify.set(`${r.rank}:${m.slot}`, { identity, id });
        this.engine!.kick();
        return;
      }
      case 'status':
        this.authorizeRead(identity, m);
        return this.reply(identity, { type: 'status', id, ...this.status() });
      case 'abort': {
        const role = this.tokens.admin
          ? this.verifier.role(this.tokens, m.auth, ['abort', this.job])
          : { refused: 'no ONET_ADMIN_TOKEN is configured on this coordinator' };
        if (role !== 'admin')
          this.refuse('an abort request', typeof role === 'string' ? `the ${role} token may not abort` : role.refused);
        this.log('warn', 'job aborted by an admin request');
        for (const r of this.ranks.values())
          if (!r.closed && !r.dead)
            this.engine?.failRank(r.rank, codeNum('EABORTED'), `job ${this.job} was aborted by an admin`);
        this.reply(identity, { type: 'ok', id });
        setTimeout(() => void this.close(), 200).unref();
        return;
      }
      case 'ping':
        return this.reply(identity, { type: 'pong', id, pid: process.pid, uptimeMs: Date.now() - this.started });
      case 'close': {
        const r = this.rankOf(identity);
        r.closed = true;
        this.engine?.failRank(r.rank, codeNum('ECLOSED'), `rank ${r.rank} closed its communicator`);
        this.log('debug', `rank ${r.rank} closed`);
        this.reply(identity, { type: 'ok', id });
        return this.maybeIdle();
      }
    }
  }

  private register(identity: Buffer, m: RegisterMsg): void {
    if (m.job !== this.job)
      throw new OnetError(
        'EINVAL',
        `rank ${m.rank} asked for job ${m.job}, but this coordinator serves job ${this.job}`,
        [m.rank],
      );
    if (this.tokens.rank) {
      const why = this.verifier.verify(this.tokens.rank, m.auth, ['register', m.job, m.rank, m.pid]);
      if (why) this.refuse(`rank ${m.rank} (pid ${m.pid})`, why, [m.rank]);
    }
    if (!this.engine) this.createEngine(m.world);
    if (m.world !== this.world)
      throw new OnetError(
        'EINVAL',
        `rank ${m.rank} says world size ${m.world}, but this job has ${this.world}; every rank must agree on WORLD_SIZE`,
        [m.rank],
      );
    const old = this.ranks.get(m.rank);
    if (old && !old.closed && !old.dead && alive(old.proc))
      throw new OnetError(
        'EINVAL',
        `rank ${m.rank} is already registered by pid ${old.pid}; check RANK for pid ${m.pid}`,
        [m.rank],
      );
    const arena = this.engine!.addRank(m.rank, m.localRank);
    this.ranks.set(m.rank, {
      rank: m.rank,
      pid: m.pid,
      proc: identify(m.pid),
      localRank: m.localRank,
      identity,
      framework: m.framework,
      closed: false,
      dead: false,
    });
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.log('debug', `rank ${m.rank} (pid ${m.pid}, ${m.framework}) registered, arena ${arena}`);
    const reply = {
      type: 'registered',
      id: m.id,
      arena,
      ctl: this.engine!.ctlName(),
      dataBytes: setting('arenaBytes', this.env),
      dataOffset: LAYOUT.dataOffset,
      slots: LAYOUT.slots,
      slotBytes: LAYOUT.slotBytes,
      coordPid: process.pid,
      world: this.world,
      layoutVersion: 1,
    };
    if (m.localWorld >= m.world || this.netState === 'up') return this.reply(identity, reply);
    if (this.netState === 'failed') throw this.netError!;
    // Several hosts: answer once every local rank is here and the coordinators are connected.
    this.held.push({ identity, reply, rank: m.rank });
    if (this.held.length >= m.localWorld && this.netState === 'none') void this.bringUpNetwork();
  }

  private async bringUpNetwork(): Promise<void> {
    this.netState = 'starting';
    const localRanks = this.held.map((h) => h.rank).sort((a, b) => a - b);
    try {
      this.net = await startNetwork(this.engine!, {
        job: this.job,
        world: this.world,
        localRanks,
        env: this.env,
        log: this.log,
        verifier: this.verifier,
      });
      this.netState = 'up';
      for (const h of this.held) this.reply(h.identity, h.reply);
    } catch (e: any) {
      this.netState = 'failed';
      this.netError = OnetError.fromNative(e); // by its code and ranks fields (a UCX-less build: ENOTSUP)
      this.log('error', `multi-host start-up failed: ${this.netError.message}`);
      for (const h of this.held) {
        this.reply(h.identity, {
          type: 'error',
          id: (h.reply as any).id,
          code: this.netError.code,
          message: this.netError.message,
          ranks: this.netError.ranks,
        });
        this.engine?.unlinkArena(h.rank);
      }
      // This job cannot run without its other hosts: leave nothing behind.
      setTimeout(() => void this.close(), 200).unref();
    }
    this.held = [];
  }

  /** On this host? (every rank is, until the network says otherwise). */
  private isLocal(rank: number): boolean {
    return !this.net || this.net.hosts[this.net.me].ranks.includes(rank);
  }

  // A group exists once every member has asked for it with the same rank list.
  private group(identity: Buffer, r: RankInfo, gid: number, ranks: number[], id: unknown): void {
    if (!ranks.includes(r.rank))
      throw new OnetError('EINVAL', `rank ${r.rank} asked for group ${gid} without being in it (${ranks.join(', ')})`, [
        r.rank,
      ]);
    if (ranks.some((x) => x >= this.world))
      throw new OnetError('EINVAL', `group ${gid} names ranks outside world size ${this.world}`, [r.rank]);
    let vote = this.groups.get(gid);
    if (!vote || (vote.waiting.size === 0 && vote.ranks.join() !== ranks.join())) {
      vote = { ranks, waiting: new Map() };
      this.groups.set(gid, vote);
    }
    if (vote.ranks.join() !== ranks.join())
      throw new OnetError(
        'EMISMATCH',
        `group ${gid}: rank ${r.rank} lists ranks [${ranks}] but others listed [${vote.ranks}]`,
        [r.rank],
      );
    vote.waiting.set(r.rank, { identity, id });
    if (vote.waiting.size < ranks.filter((x) => this.isLocal(x)).length) return;
    this.engine!.setGroup(gid, ranks);
    for (const w of vote.waiting.values()) this.reply(w.identity, { type: 'ok', id: w.id });
    vote.waiting.clear();
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

  private watchRanks(): void {
    for (const r of this.ranks.values()) {
      if (r.closed || r.dead || alive(r.proc)) continue;
      r.dead = true;
      const why = `rank ${r.rank} (pid ${r.pid}) died`;
      this.log('warn', `${why}; failing its pending collectives`);
      this.engine?.failRank(r.rank, codeNum('EABORTED'), why);
    }
    this.maybeIdle();
  }

  private maybeIdle(): void {
    if (!this.opts.exitWhenIdle || this.closed) return;
    const live = [...this.ranks.values()].some((r) => !r.closed && !r.dead);
    if (!live && this.ranks.size > 0 && !this.idleTimer) this.armIdleExit(1000);
  }

  private armIdleExit(ms = (setting('idleExitS', this.env) as number) * 1000): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      const live = [...this.ranks.values()].some((r) => !r.closed && !r.dead);
      if (!live) {
        this.log('info', 'no live ranks left; exiting');
        void this.close();
      }
    }, ms);
    this.idleTimer.unref?.();
  }

  status() {
    const pending = this.engine ? JSON.parse(this.engine.snapshot()) : [];
    return {
      job: this.job,
      world: this.world,
      pid: process.pid,
      ranks: [...this.ranks.values()].map((r) => ({
        rank: r.rank,
        pid: r.pid,
        framework: r.framework,
        state: r.dead ? 'dead' : r.closed ? 'closed' : 'live',
      })),
      pending,
      ...this.statsPart(),
      telemetry: this.telemetry?.urls ?? {},
      security: { tokenRequired: Boolean(this.tokens.rank), refusals: this.verifier.refusals },
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
    clearInterval(this.watcher);
    clearTimeout(this.idleTimer);
    await this.telemetry?.stop();
    this.engine?.close();
    await this.sendChain;
    this.router.close();
    rmSync(this.paths.socket, { force: true });
    rmSync(this.paths.pidFile, { force: true });
    this.doneResolve();
  }
}
