// ONET_ALGO="allreduce:ring,allgather:bruck": force an inter-host algorithm per collective,
// UCC's UCC_TL_*_TUNE idea reduced to the one knob people reach for when a choice looks wrong.
import { setting } from '../config/settings.js';
import { OnetError } from '../errors.js';
import { CATALOGUE, COLLECTIVES, type Collective } from './costmodel.js';

export type Overrides = Map<Collective, string>;

const valid = () => COLLECTIVES.map((c) => `${c}:${CATALOGUE[c].join('|')}`).join(', ');

/** Parse an ONET_ALGO value; every mistake names the bad entry and lists what is valid. */
export function parseOverrides(text: string, what = 'ONET_ALGO'): Overrides {
  const out: Overrides = new Map();
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const m = /^([a-z_]+)\s*:\s*([a-z_]+)$/.exec(entry);
    if (!m)
      throw new OnetError('EINVAL', `${what}: ${JSON.stringify(entry)} is not collective:algorithm. Valid: ${valid()}`);
    const [, coll, algo] = m;
    if (!(coll in CATALOGUE))
      throw new OnetError(
        'EINVAL',
        `${what}: unknown collective ${JSON.stringify(coll)} in ${JSON.stringify(entry)}. Valid collectives: ` +
          `${COLLECTIVES.join(', ')}`,
      );
    const algos = CATALOGUE[coll as Collective] as readonly string[];
    if (!algos.includes(algo))
      throw new OnetError(
        'EINVAL',
        `${what}: unknown ${coll} algorithm ${JSON.stringify(algo)}. Valid ${coll} algorithms: ${algos.join(', ')}`,
      );
    if (out.has(coll as Collective) && out.get(coll as Collective) !== algo)
      throw new OnetError(
        'EINVAL',
        `${what}: ${coll} is forced twice (${out.get(coll as Collective)} and ${algo}); keep one`,
      );
    out.set(coll as Collective, algo);
  }
  return out;
}

export function overridesFromEnv(env: NodeJS.ProcessEnv = process.env): Overrides {
  return parseOverrides(setting('algo', env));
}
