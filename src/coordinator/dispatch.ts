// The control message dispatch (docs/protocol.md §2): one parsed message from one connection,
// handled by type. A throw here becomes an error reply to that connection only (server.ts).
import type { ControlMsg } from '../bridge/protocol.js';
import { OnetError } from '../errors.js';
import { type CoordContext, codeNum, liveRankOn, type RankInfo, refuse, type Waiter } from './context.js';
import { laneAnswer } from './fastlane.js';
import type { GroupVotes } from './groups.js';
import type { RankWatch } from './rank_watch.js';
import type { Registrar } from './registration.js';

/** The coordinator's parts a control message can reach. */
export interface ControlParts {
  readonly ctx: CoordContext;
  readonly registrar: Registrar;
  readonly groups: GroupVotes;
  readonly watch: RankWatch;
  /** Who waits for a completion, by `${rank}:${slot}` (answered from the engine's events). */
  readonly notify: Map<string, Waiter>;
  /** When the coordinator started (ms since the epoch). */
  readonly started: number;
  status(): Record<string, unknown>;
}

function rankOf(ctx: CoordContext, identity: Buffer): RankInfo {
  const r = liveRankOn(ctx, identity);
  if (r) return r;
  throw new OnetError('EINVAL', 'this connection has not registered: send a register message first');
}

/** Status needs a registered connection or, with a token set, any role's proof. */
function authorizeRead(ctx: CoordContext, identity: Buffer, m: { auth?: any }): void {
  if (!ctx.tokens.rank) return;
  if (liveRankOn(ctx, identity)) return;
  const role = ctx.verifier.role(ctx.tokens, m.auth, ['status', ctx.job]);
  if (typeof role !== 'string') refuse(ctx, 'a status request', role.refused);
}

export function dispatch(c: ControlParts, identity: Buffer, m: ControlMsg): void {
  const { ctx } = c;
  const id = m.id;
  switch (m.type) {
    case 'register':
      return c.registrar.register(identity, m);
    case 'mapped': {
      const r = rankOf(ctx, identity);
      ctx.engine!.unlinkArena(r.rank);
      return ctx.reply(identity, { type: 'ok', id });
    }
    case 'group':
      return c.groups.vote(identity, rankOf(ctx, identity), m.group, m.ranks, id, m.exclude);
    case 'lane':
      rankOf(ctx, identity);
      return ctx.reply(identity, { type: 'lane', id, ...laneAnswer(ctx, m.ranks, (r) => c.registrar.isLocal(r)) });
    case 'post': {
      const r = rankOf(ctx, identity);
      c.notify.set(`${r.rank}:${m.slot}`, { identity, id });
      ctx.engine!.kick();
      return;
    }
    case 'status':
      authorizeRead(ctx, identity, m);
      return ctx.reply(identity, { type: 'status', id, ...c.status() });
    case 'abort': {
      const role = ctx.tokens.admin
        ? ctx.verifier.role(ctx.tokens, m.auth, ['abort', ctx.job])
        : { refused: 'no ONET_ADMIN_TOKEN is configured on this coordinator' };
      if (role !== 'admin')
        refuse(ctx, 'an abort request', typeof role === 'string' ? `the ${role} token may not abort` : role.refused);
      ctx.log('warn', 'job aborted by an admin request');
      for (const r of ctx.ranks.values())
        if (!r.closed && !r.dead)
          ctx.engine?.failRank(r.rank, codeNum('EABORTED'), `job ${ctx.job} was aborted by an admin`);
      ctx.reply(identity, { type: 'ok', id });
      setTimeout(() => void ctx.close(), 200).unref();
      return;
    }
    case 'ping':
      return ctx.reply(identity, { type: 'pong', id, pid: process.pid, uptimeMs: Date.now() - c.started });
    case 'close': {
      const r = rankOf(ctx, identity);
      r.closed = true;
      ctx.engine?.failRank(r.rank, codeNum('ECLOSED'), `rank ${r.rank} closed its communicator`);
      ctx.log('debug', `rank ${r.rank} closed`);
      ctx.reply(identity, { type: 'ok', id });
      return c.watch.maybeIdle();
    }
  }
}
