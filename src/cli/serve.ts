// `onet serve`: run a coordinator in the foreground until SIGINT/SIGTERM or idle exit.

import { jobId } from '../coordinator/paths.js';
import { Coordinator } from '../coordinator/server.js';
import { OnetError } from '../errors.js';

export async function serve(o: { job?: string; world?: string; exitWhenIdle?: boolean }): Promise<void> {
  const job = o.job ?? jobId();
  const world = o.world ? Number(o.world) : undefined;
  if (world !== undefined && (!Number.isInteger(world) || world < 1))
    throw new OnetError('EINVAL', `--world ${o.world} is not a positive integer`);
  const c = await Coordinator.start({ job, world, exitWhenIdle: o.exitWhenIdle });
  console.log(`onet: coordinator for job ${job} listening on ${c.endpoint}`);
  const stop = () => void c.close();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await c.done;
  process.exit(0);
}
