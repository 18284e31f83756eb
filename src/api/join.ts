// Peers joining a running job between steps (docs/wan.md "Joining"). A communicator's membership
// is fixed, so the job grows by *epochs*: at a step boundary every rank of epoch e leaves it
// (close()) and meets the newcomers in epoch e+1, a fresh job whose id is derived from the base job
// id (`<job>.e<epoch>`). Under ONET_WAN=1 that is a new libp2p meeting with the same token; without
// it, a new bootstrap (the usual rules). Then syncState() hands the live ranks' state to the
// newcomers: the most advanced rank (highest step, lowest rank on ties) broadcasts every array and
// all ranks compare a CRC32 of what they hold, so nobody trains on from a state that differs.

import { setting } from '../config/settings.js';
import { OnetError } from '../errors.js';
import { Comm } from './comm.js';
import { coordinatorRunning } from './control.js';
import type { TypedArray } from './tensor.js';

const JOB_RE = /^[A-Za-z0-9_.-]{1,64}$/;
/** How long joinEpoch waits for this host's coordinator of the last epoch to exit. */
const EXIT_WAIT_MS = 10_000;

/** Wait until `done()` or `ms` passed, checking after 2 ms, then 1.5 times longer each time up to 50 ms. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (let wait = 2; !done(); wait = Math.min(50, wait * 1.5)) {
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, wait));
  }
  return true;
}

/** Where a rank stands in an epoch of a job. */
export interface EpochOptions {
  /** 0 for the job as first started; +1 at every change of membership. Every member passes the same. */
  epoch: number;
  /** This rank's place in the epoch (the old ranks keep theirs, newcomers take the next numbers). */
  rank: number;
  world: number;
  /** This rank's place on its host in the epoch (default 0 of 1: one rank per host, as across the internet). */
  localRank?: number;
  localWorld?: number;
  /** The base job id (default ONET_JOB_ID); the epoch's id is epochJob(job, epoch). */
  job?: string;
  env?: NodeJS.ProcessEnv;
}

/** The job id of an epoch: the base id itself for epoch 0, `<base>.e<epoch>` after. */
export function epochJob(base: string, epoch: number): string {
  if (!Number.isInteger(epoch) || epoch < 0)
    throw new OnetError('EINVAL', `epoch ${epoch} must be a non-negative integer (0: the job as first started)`);
  const id = epoch === 0 ? base : `${base}.e${epoch}`;
  if (!JOB_RE.test(id))
    throw new OnetError(
      'EINVAL',
      `job id ${JSON.stringify(id)} (job ${JSON.stringify(base)}, epoch ${epoch}) must be 1-64 characters ` +
        'of [A-Za-z0-9_.-]; use a shorter ONET_JOB_ID',
    );
  return id;
}

/**
 * Leave `prev` (if any) and meet epoch `o.epoch` of the job with `o.world` ranks. Every rank of
 * the new epoch calls it — the old ones at the same step boundary, a newcomer when it starts — and
 * the call returns once all of them have met (within ONET_CONNECT_TIMEOUT).
 */
export async function joinEpoch(prev: Comm | undefined, o: EpochOptions): Promise<Comm> {
  const env = o.env ?? process.env;
  const base = o.job ?? env.ONET_JOB_ID;
  if (!base) throw new OnetError('EINVAL', 'joinEpoch: no job id: pass { job } or set ONET_JOB_ID');
  const { rank, world } = o;
  if (!Number.isInteger(world) || world < 1 || !Number.isInteger(rank) || rank < 0 || rank >= world)
    throw new OnetError('EINVAL', `joinEpoch: rank ${rank} of world ${world}: need 0 <= rank < world`, [rank]);
  const job = epochJob(base, o.epoch);
  if (prev && prev.job === job)
    throw new OnetError('EINVAL', `joinEpoch: already in ${job}; pass the next epoch (${o.epoch + 1})`, [rank]);
  if (prev) {
    await prev.close();
    // This host's coordinator of the last epoch exits once its ranks left (1 s after). Under ONET_WAN
    // the next one starts now and waits itself, before its libp2p node, for the last one to let go of
    // the host's identity (src/p2p/key_holder.ts); otherwise let the last one go first (bounded).
    if (!setting('wan', env)) await until(() => !coordinatorRunning(prev.job, env), EXIT_WAIT_MS);
  }
  const localRank = o.localRank ?? 0,
    localWorld = o.localWorld ?? 1;
  const epochEnv: NodeJS.ProcessEnv = {
    ...env,
    ONET_JOB_ID: job,
    RANK: String(rank),
    WORLD_SIZE: String(world),
    LOCAL_RANK: String(localRank),
    LOCAL_WORLD_SIZE: String(localWorld),
  };
  for (const k of ['ONET_RANK', 'ONET_WORLD_SIZE', 'ONET_LOCAL_RANK', 'ONET_LOCAL_WORLD_SIZE']) delete epochEnv[k];
  return Comm.init({ job, rank, world, localRank, localWorld, env: epochEnv });
}

/** What syncState() did. */
export interface SyncResult {
  /** The rank whose state everyone now holds. */
  src: number;
  /** Its step: where every rank goes on from. */
  step: number;
  /** CRC32 of the state, the same on every rank. */
  crc: number;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC32 (the zlib one) over the bytes of every array, in order. */
export function stateCrc(state: TypedArray[]): number {
  let c = 0xffffffff;
  for (const a of state) {
    const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Make every rank's `state` (parameters, optimizer moments, ...: the same arrays, in the same order
 * and sizes on every rank) equal to the most advanced rank's: the one with the highest `step`,
 * lowest rank on ties (a newcomer passes step 0). Collective: every rank of `comm` calls it.
 * Afterwards every rank compares a CRC32 of what it holds; a difference is EMISMATCH naming the ranks.
 */
export async function syncState(comm: Comm, state: TypedArray[], step: number): Promise<SyncResult> {
  if (!Number.isSafeInteger(step) || step < 0)
    throw new OnetError('EINVAL', `syncState: step ${step} must be a non-negative integer`, [comm.rank]);
  const bytes = state.reduce((n, a) => n + a.byteLength, 0);
  const every = (await comm.allgather(new Float64Array([step, comm.rank, state.length, bytes]))) as Float64Array;
  const at = (r: number, k: number) => every[4 * r + k];
  let src = 0;
  for (let r = 1; r < comm.world; r++) if (at(r, 0) > at(src, 0)) src = r;
  // Shapes are compared with the source's, so every rank names the same ranks.
  const odd = [...Array(comm.world).keys()].filter((r) => at(r, 2) !== at(src, 2) || at(r, 3) !== at(src, 3));
  const shapes = odd.map((r) => `${at(r, 2)} arrays, ${at(r, 3)} bytes`).join('; ');
  if (odd.length)
    throw new OnetError(
      'EMISMATCH',
      `syncState: ranks ${odd.join(', ')} pass a different state (${shapes}) from the source, rank ${src} ` +
        `(${at(src, 2)} arrays, ${at(src, 3)} bytes); pass the same arrays on every rank`,
      odd,
    );
  for (const a of state) await comm.broadcast(a, { root: src });
  const crc = stateCrc(state);
  const crcs = (await comm.allgather(new Float64Array([crc]))) as Float64Array;
  const bad = [...Array(comm.world).keys()].filter((r) => crcs[r] !== crcs[src]);
  if (bad.length)
    throw new OnetError(
      'EMISMATCH',
      `syncState: after copying from rank ${src}, ranks ${bad.join(', ')} hold a different state (CRC32 ` +
        `${bad.map((r) => crcs[r].toString(16)).join(', ')} vs ${crcs[src].toString(16)})`,
      bad,
    );
  return { src, step: at(src, 0), crc };
}
