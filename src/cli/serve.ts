// `onet serve`: run a coordinator in the foreground until SIGINT/SIGTERM or idle exit.

import { jobId } from '../coordinator/paths.js';
import { Coordinator } from '../coordinator/server.js';
import { OnetError } from '../errors.js';

export async function serve(o: {
  job?: string;
  world?: string;
  exitWhenIdle?: boolean;
  web?: string | boolean;
}): Promise<void> {
  const job = o.job ?? jobId();
  let world = o.world ? Number(o.world) : undefined;
  if (world !== undefined && (!Number.isInteger(world) || world < 1))
    throw new OnetError('EINVAL', `--world ${o.world} is not a positive integer`);
  // --web m: the last m ranks of the world are browser/Pyodide ranks (all of them without --world).
  const m = o.web === undefined || o.web === false ? 0 : o.web === true ? 1 : Number(o.web);
  if (!Number.isInteger(m) || m < 0 || (world !== undefined && m > world))
    throw new OnetError('EINVAL', `--web ${o.web}: give the number of browser ranks, at most the world size`);
  if (m && world === undefined) world = m;
  const web = m ? { first: world! - m, count: m } : undefined;
  const c = await Coordinator.start({ job, world, exitWhenIdle: o.exitWhenIdle, web });
  console.log(`onet: coordinator for job ${job} listening on ${c.endpoint}`);
  c.web?.joinUrls().forEach((u, i) => console.log(`onet: rank ${web!.first + i} (browser) joins at ${u}`));
  if (c.web) console.log('onet: for a Python (Pyodide) rank in a tab, open /pyodide.html in place of /join');
  const stop = () => void c.close();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await c.done;
  process.exit(0);
}
