// Whether a communicator may use the rank-side fast lane (docs/protocol.md §2 `lane`,
// docs/performance.md "Rank-side fast lane"): only when every one of its ranks declared the same
// lane version at `register` and all of them are on this host. Web ranks declare none, so a
// communicator with one of them runs every collective through the engine. The answer
// depends only on what the ranks declared, never on timing: until every member has registered it
// is "not yet" (the missing ranks are named) and the rank asks again.
import { OnetError } from '../errors.js';
import type { CoordContext } from './context.js';

export interface LaneAnswer {
  /** The lane version every member declared, or 0: no lane for this communicator. */
  fastlane: number;
  /** Members that have not registered yet: the answer is not final while this is non-empty. */
  missing: number[];
}

export function laneAnswer(ctx: CoordContext, ranks: number[], isLocal: (rank: number) => boolean): LaneAnswer {
  if (ranks.some((r) => r >= ctx.world))
    throw new OnetError('EINVAL', `lane: ranks [${ranks}] name ranks outside world size ${ctx.world}`);
  const missing = ranks.filter((r) => !ctx.ranks.has(r));
  if (missing.length) return { fastlane: 0, missing };
  const versions = new Set(ranks.map((r) => ctx.ranks.get(r)!.fastlane));
  const [v] = versions;
  const ok = versions.size === 1 && v > 0 && ranks.every(isLocal);
  return { fastlane: ok ? v : 0, missing: [] };
}
