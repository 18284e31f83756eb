// Argument checks shared by the Comm methods (src/api/comm.ts): each throws EINVAL naming the
// bad value and what a valid one looks like, blamed on the calling rank, before anything is posted.
import { REDOPS, type RedOp } from '../bridge/protocol.js';
import { OnetError } from '../errors.js';
import type { TypedArray } from './tensor.js';

/** The calling rank and the size of its communicator: what every check measures against. */
export interface Who {
  readonly rank: number;
  readonly world: number;
}

export function checkRoot(c: Who, root = 0): number {
  if (!Number.isInteger(root) || root < 0 || root >= c.world)
    throw new OnetError('EINVAL', `root ${root} is out of range for world size ${c.world}`, [c.rank]);
  return root;
}

export function checkPeer(c: Who, peer: number, anyOk: boolean): void {
  if (!Number.isInteger(peer) || peer < (anyOk ? -1 : 0) || peer >= c.world || peer === c.rank)
    throw new OnetError(
      'EINVAL',
      `peer ${peer} is not another rank of world size ${c.world}${anyOk ? ' (or -1 for any)' : ''}`,
      [c.rank],
    );
}

export function checkCounts(c: Who, counts: number[] | undefined, what: string): number[] {
  if (!Array.isArray(counts) || counts.length !== c.world || !counts.every((n) => Number.isInteger(n) && n >= 0))
    throw new OnetError('EINVAL', `${what} must list ${c.world} non-negative integers, one per rank`, [c.rank]);
  return counts;
}

export function checkOut(
  c: Who,
  out: TypedArray | undefined,
  t: TypedArray,
  length = t.length,
): TypedArray | undefined {
  if (out === undefined) return undefined;
  if (!ArrayBuffer.isView(out) || out.constructor !== t.constructor || out.length !== length)
    throw new OnetError('EINVAL', `out must be a ${t.constructor.name} of ${length} elements`, [c.rank]);
  return out;
}

/** x must split into world equal blocks (reduceScatter, alltoall); else point at the v variant. */
export function checkBlocks(c: Who, what: string, length: number): void {
  if (length % c.world)
    throw new OnetError(
      'EINVAL',
      `${what}: ${length} elements do not split into ${c.world} equal blocks; use ${what}v`,
      [c.rank],
    );
}

export function checkRedop(c: Who, redop: RedOp): RedOp {
  if (!REDOPS.includes(redop))
    throw new OnetError('EINVAL', `unknown reduce op ${JSON.stringify(redop)}; use one of ${REDOPS.join(', ')}`, [
      c.rank,
    ]);
  return redop;
}

/** shrink()'s ranksToDrop: ranks of this communicator, never the caller itself. */
export function checkDrop(c: Who, drop: number[] | undefined, given: number[] | undefined): number[] {
  if (!Array.isArray(drop) || drop.some((r) => !Number.isInteger(r) || r < 0 || r >= c.world))
    throw new OnetError(
      'EINVAL',
      `shrink(): ranksToDrop must list ranks of this communicator (0..${c.world - 1}), ` +
        `got ${JSON.stringify(given)}`,
      [c.rank],
    );
  if (drop.includes(c.rank))
    throw new OnetError('EINVAL', `shrink(): rank ${c.rank} is asked to drop itself; only survivors call shrink()`, [
      c.rank,
    ]);
  return drop;
}
