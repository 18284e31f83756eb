// What the parts of one coordinator share (server.ts owns it): the job, its settings and log,
// the security state, the engine once the world size is known, and the table of ranks.
import { CODES, OnetError } from '../errors.js';
import type { Engine } from '../native/addon.js';
import type { Tokens, Verifier } from '../security/auth.js';
import type { ProcId } from './liveness.js';
import type { Logger } from './log.js';

// proc: the rank's process as it registered (liveness.ts): a zombie or a reused pid is not it.
export interface RankInfo {
  rank: number;
  pid: number;
  proc: ProcId;
  localRank: number;
  identity: Buffer;
  framework: string;
  /** The fast-lane version the rank declared at register (0: it has no lane). */
  fastlane: number;
  closed: boolean;
  dead: boolean;
}

/** A connection waiting for an answer: its ROUTER identity and the id of its request. */
export interface Waiter {
  identity: Buffer;
  id: unknown;
}

export interface CoordContext {
  readonly job: string;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  // Security (docs/protocol.md §8): with ONET_JOB_TOKEN set, register/status/abort need a proof.
  readonly tokens: Tokens;
  readonly verifier: Verifier;
  readonly ranks: Map<number, RankInfo>;
  /** 0 until the options or the first rank say it. */
  world: number;
  engine?: Engine;
  /** Queue a reply on the control socket (dropped once the coordinator is closed). */
  reply(identity: Buffer, body: Record<string, unknown>): void;
  close(): Promise<void>;
}

export const codeNum = (c: string) => Math.max(0, CODES.indexOf(c as (typeof CODES)[number]));

export const isLive = (r: RankInfo) => !r.closed && !r.dead;

/** The live rank registered on this connection, if any. */
export function liveRankOn(ctx: CoordContext, identity: Buffer): RankInfo | undefined {
  for (const r of ctx.ranks.values()) if (isLive(r) && r.identity.equals(identity)) return r;
  return undefined;
}

/** Refuse a request: log it, count it, throw EACCES naming what was refused and why. */
export function refuse(ctx: CoordContext, what: string, why: string, ranks: number[] = []): never {
  ctx.verifier.refusals++;
  ctx.log('warn', `refused ${what}: ${why} (refusal #${ctx.verifier.refusals})`);
  throw new OnetError(
    'EACCES',
    `coordinator of job ${ctx.job} refused ${what}: ${why}; ` +
      "give every rank the job's ONET_JOB_TOKEN (onet run passes it on)",
    ranks,
  );
}
