// Rank liveness watching: every 200 ms, a registered rank whose process is gone is marked dead
// and its pending collectives fail with EABORTED; with exitWhenIdle, the coordinator closes
// once no live rank is left (idleExitS before the first rank, 1 s after the last one).
import { setting } from '../config/settings.js';
import { type CoordContext, codeNum, isLive } from './context.js';
import { alive } from './liveness.js';

export class RankWatch {
  private watcher?: NodeJS.Timeout;
  private idleTimer?: NodeJS.Timeout;

  constructor(
    private readonly ctx: CoordContext,
    private readonly exitWhenIdle: boolean,
    private readonly isClosed: () => boolean,
  ) {}

  start(): void {
    this.watcher = setInterval(() => this.watchRanks(), 200);
    this.watcher.unref();
    if (this.exitWhenIdle) this.armIdleExit();
  }

  /** A rank registered: no idle exit is due. */
  registered(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  stop(): void {
    clearInterval(this.watcher);
    clearTimeout(this.idleTimer);
  }

  private watchRanks(): void {
    for (const r of this.ctx.ranks.values()) {
      if (r.closed || r.dead || alive(r.proc)) continue;
      r.dead = true;
      const why = `rank ${r.rank} (pid ${r.pid}) died`;
      this.ctx.log('warn', `${why}; failing its pending collectives`);
      this.ctx.engine?.failRank(r.rank, codeNum('EABORTED'), why);
    }
    this.maybeIdle();
  }

  maybeIdle(): void {
    if (!this.exitWhenIdle || this.isClosed()) return;
    const live = [...this.ctx.ranks.values()].some(isLive);
    if (!live && this.ctx.ranks.size > 0 && !this.idleTimer) this.armIdleExit(1000);
  }

  private armIdleExit(ms = (setting('idleExitS', this.ctx.env) as number) * 1000): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      const live = [...this.ctx.ranks.values()].some(isLive);
      if (!live) {
        this.ctx.log('info', 'no live ranks left; exiting');
        void this.ctx.close();
      }
    }, ms);
    this.idleTimer.unref?.();
  }
}
