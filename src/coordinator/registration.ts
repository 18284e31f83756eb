// Registration (docs/protocol.md §2): a rank says who it is, is checked (job, token, world size,
// no live twin), gets its arena from the engine, and is answered with the layout it maps. With
// ranks on several hosts the answers wait until every local rank is here and the coordinators
// are connected (network.ts); if that fails, every waiting rank gets the error and the job ends.
import { LAYOUT, type RegisterMsg } from '../bridge/protocol.js';
import { setting } from '../config/settings.js';
import { OnetError } from '../errors.js';
import { type CoordContext, refuse } from './context.js';
import { alive, identify } from './liveness.js';
import { type NetworkUp, startNetwork } from './network.js';

export class Registrar {
  // Multi-host: registrations wait here until the network is up (network.ts).
  private held: { identity: Buffer; reply: Record<string, unknown>; rank: number }[] = [];
  private net?: NetworkUp;
  private netState: 'none' | 'starting' | 'up' | 'failed' = 'none';
  private netError?: OnetError;

  constructor(
    private readonly ctx: CoordContext,
    /** Create the engine for this world size (the first rank decides it when the options did not). */
    private readonly createEngine: (world: number) => void,
    /** A rank has registered. */
    private readonly onRegistered: () => void,
  ) {}

  register(identity: Buffer, m: RegisterMsg): void {
    const ctx = this.ctx;
    if (m.job !== ctx.job)
      throw new OnetError(
        'EINVAL',
        `rank ${m.rank} asked for job ${m.job}, but this coordinator serves job ${ctx.job}`,
        [m.rank],
      );
    if (ctx.tokens.rank) {
      const why = ctx.verifier.verify(ctx.tokens.rank, m.auth, ['register', m.job, m.rank, m.pid]);
      if (why) refuse(ctx, `rank ${m.rank} (pid ${m.pid})`, why, [m.rank]);
    }
    if (!ctx.engine) this.createEngine(m.world);
    if (m.world !== ctx.world)
      throw new OnetError(
        'EINVAL',
        `rank ${m.rank} says world size ${m.world}, but this job has ${ctx.world}; ` +
          'every rank must agree on WORLD_SIZE',
        [m.rank],
      );
    const old = ctx.ranks.get(m.rank);
    if (old && !old.closed && !old.dead && alive(old.proc))
      throw new OnetError(
        'EINVAL',
        `rank ${m.rank} is already registered by pid ${old.pid}; check RANK for pid ${m.pid}`,
        [m.rank],
      );
    const arena = ctx.engine!.addRank(m.rank, m.localRank, m.pid);
    ctx.ranks.set(m.rank, {
      rank: m.rank,
      pid: m.pid,
      proc: identify(m.pid),
      localRank: m.localRank,
      identity,
      framework: m.framework,
      fastlane: m.fastlane ?? 0,
      closed: false,
      dead: false,
    });
    this.onRegistered();
    ctx.log('debug', `rank ${m.rank} (pid ${m.pid}, ${m.framework}) registered, arena ${arena}`);
    const reply = {
      type: 'registered',
      id: m.id,
      arena,
      ctl: ctx.engine!.ctlName(),
      dataBytes: setting('arenaBytes', ctx.env),
      dataOffset: LAYOUT.dataOffset,
      slots: LAYOUT.slots,
      slotBytes: LAYOUT.slotBytes,
      coordPid: process.pid,
      world: ctx.world,
      layoutVersion: 1,
    };
    if (m.localWorld >= m.world || this.netState === 'up') return ctx.reply(identity, reply);
    if (this.netState === 'failed') throw this.netError!;
    // Several hosts: answer once every local rank is here and the coordinators are connected.
    this.held.push({ identity, reply, rank: m.rank });
    if (this.held.length >= m.localWorld && this.netState === 'none') void this.bringUpNetwork();
  }

  private async bringUpNetwork(): Promise<void> {
    const ctx = this.ctx;
    this.netState = 'starting';
    const localRanks = this.held.map((h) => h.rank).sort((a, b) => a - b);
    try {
      this.net = await startNetwork(ctx.engine!, {
        job: ctx.job,
        world: ctx.world,
        localRanks,
        env: ctx.env,
        log: ctx.log,
        verifier: ctx.verifier,
      });
      this.netState = 'up';
      for (const h of this.held) ctx.reply(h.identity, h.reply);
    } catch (e: any) {
      this.netState = 'failed';
      this.netError = OnetError.fromNative(e); // by its code and ranks fields (a UCX-less build: ENOTSUP)
      ctx.log('error', `multi-host start-up failed: ${this.netError.message}`);
      for (const h of this.held) {
        ctx.reply(h.identity, {
          type: 'error',
          id: (h.reply as any).id,
          code: this.netError.code,
          message: this.netError.message,
          ranks: this.netError.ranks,
        });
        ctx.engine?.unlinkArena(h.rank);
      }
      // This job cannot run without its other hosts: leave nothing behind.
      setTimeout(() => void ctx.close(), 200).unref();
    }
    this.held = [];
  }

  /** On this host? (every rank is, until the network says otherwise). */
  isLocal(rank: number): boolean {
    return !this.net || this.net.hosts[this.net.me].ranks.includes(rank);
  }
}
