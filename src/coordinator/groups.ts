// Group voting: a group exists once every member on this host has asked for it with the same
// rank list; then the engine learns it and every waiting member gets its `ok`.
import { OnetError } from '../errors.js';
import { type CoordContext, codeNum, type RankInfo, type Waiter } from './context.js';

interface GroupVote {
  ranks: number[];
  waiting: Map<number, Waiter>;
}

export class GroupVotes {
  private readonly groups = new Map<number, GroupVote>();

  constructor(
    private readonly ctx: CoordContext,
    /** On this host? (only local members vote here). */
    private readonly isLocal: (rank: number) => boolean,
  ) {}

  vote(identity: Buffer, r: RankInfo, gid: number, ranks: number[], id: unknown, exclude?: number[]): void {
    const world = this.ctx.world;
    if (exclude?.length) this.exclude(r.rank, gid, exclude);
    if (!ranks.includes(r.rank))
      throw new OnetError('EINVAL', `rank ${r.rank} asked for group ${gid} without being in it (${ranks.join(', ')})`, [
        r.rank,
      ]);
    if (ranks.some((x) => x >= world))
      throw new OnetError('EINVAL', `group ${gid} names ranks outside world size ${world}`, [r.rank]);
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
    this.ctx.engine!.setGroup(gid, ranks);
    for (const w of vote.waiting.values()) this.ctx.reply(w.identity, { type: 'ok', id: w.id });
    vote.waiting.clear();
  }

  /** Shrink with abort (torch's SHRINK_ABORT): fail the excluded ranks' pending collectives on this
   * host at once, as if they had died, so that nobody waits for them (and a hung one hears it). */
  private exclude(by: number, gid: number, ranks: number[]): void {
    for (const x of ranks) {
      const r = this.ctx.ranks.get(x);
      if (!r || r.closed || r.dead) continue;
      r.dead = true;
      const why = `rank ${x} was excluded by rank ${by} (shrink with abort into group ${gid})`;
      this.ctx.log('warn', `${why}; failing its pending collectives`);
      this.ctx.engine?.failRank(x, codeNum('EABORTED'), why);
    }
  }
}
