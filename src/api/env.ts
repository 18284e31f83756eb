// What a rank learns from its launcher: onet run, torchrun, or ONET_* set by hand.
import { OnetError } from '../errors.js';

export interface RankEnv {
  rank: number;
  world: number;
  localRank: number;
  localWorld: number;
}

function intFrom(env: NodeJS.ProcessEnv, names: string[], def: number | undefined, what: string): number {
  for (const n of names) {
    const v = env[n];
    if (v === undefined || v === '') continue;
    if (!/^\d+$/.test(v))
      throw new OnetError('EINVAL', `${n}=${JSON.stringify(v)} is not a non-negative integer (${what})`);
    return Number(v);
  }
  if (def === undefined)
    throw new OnetError(
      'EINVAL',
      `${what} is not set: set ${names.join(' or ')} (onet run and torchrun set them for you)`,
    );
  return def;
}

export function rankEnv(env: NodeJS.ProcessEnv = process.env, given: Partial<RankEnv> = {}): RankEnv {
  const world =
    given.world ??
    intFrom(env, ['ONET_WORLD_SIZE', 'WORLD_SIZE', 'SLURM_NTASKS', 'OMPI_COMM_WORLD_SIZE'], 1, 'the world size');
  const rank =
    given.rank ??
    intFrom(
      env,
      ['ONET_RANK', 'RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK'],
      world === 1 ? 0 : undefined,
      'this rank',
    );
  const localRank =
    given.localRank ??
    intFrom(
      env,
      ['ONET_LOCAL_RANK', 'LOCAL_RANK', 'SLURM_LOCALID', 'OMPI_COMM_WORLD_LOCAL_RANK'],
      rank,
      'the local rank',
    );
  const slurmPerNode = /^(\d+)/.exec(env.SLURM_NTASKS_PER_NODE ?? env.SLURM_TASKS_PER_NODE ?? '')?.[1]; // "4", "4(x2)"
  const localWorld =
    given.localWorld ??
    intFrom(
      env,
      ['ONET_LOCAL_WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_SIZE'],
      slurmPerNode ? Number(slurmPerNode) : world,
      'the local world size',
    );
  if (rank >= world) throw new OnetError('EINVAL', `rank ${rank} is out of range for world size ${world}`, [rank]);
  if (localRank >= localWorld)
    throw new OnetError('EINVAL', `local rank ${localRank} is out of range for local world size ${localWorld}`, [rank]);
  if (localWorld > world)
    throw new OnetError('EINVAL', `local world size ${localWorld} exceeds world size ${world}`, [rank]);
  return { rank, world, localRank, localWorld };
}
