// Coordinator start-up: refuse to start beside a live coordinator of the same job (its
// pid file), and create the native engine once the world size is known.
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { setting } from '../config/settings.js';
import { OnetError } from '../errors.js';
import { type EngineEvent, native } from '../native/addon.js';
import { engineTelemetry } from '../telemetry/telemetry.js';
import type { CoordContext } from './context.js';
import { pidFileAlive } from './liveness.js';
import type { JobPaths } from './paths.js';

/** Throws EINVAL when the pid file names another live coordinator of this job. */
export function checkPidFile(job: string, paths: JobPaths): void {
  if (!existsSync(paths.pidFile)) return;
  const pid = Number(readFileSync(paths.pidFile, 'utf8'));
  if (pid && pid !== process.pid && pidFileAlive(pid, paths.pidFile))
    throw new OnetError(
      'EINVAL',
      `a coordinator for job ${job} is already running (pid ${pid}) at ${paths.endpoint}; ` +
        'stop it or pick another ONET_JOB_ID',
    );
}

/** Create the engine for `world` ranks (settings from ctx.env) and record the world size. */
export function createEngine(ctx: CoordContext, world: number, onEvent: (e: EngineEvent) => void): void {
  const threadsSetting = setting('engineThreads', ctx.env) as number;
  const threads = threadsSetting > 0 ? threadsSetting : Math.max(1, Math.min(8, cpus().length));
  ctx.engine = new native.Engine(
    {
      job: ctx.job,
      world,
      threads,
      chunkBytes: setting('chunkBytes', ctx.env),
      parallelBytes: setting('parallelBytes', ctx.env),
      spinUs: setting('spinUs', ctx.env),
      timeoutMs: (setting('timeoutS', ctx.env) as number) * 1000,
      arenaBytes: setting('arenaBytes', ctx.env),
      fusionBytes: setting('fusionBytes', ctx.env),
      ...engineTelemetry(ctx.env),
    },
    onEvent,
  );
  ctx.world = world;
  ctx.log(
    'info',
    `engine ready: world ${world}, ${threads} thread(s), SIMD ${native.simdIsa()}, ` +
      `arena ${setting('arenaBytes', ctx.env)} bytes per rank`,
  );
}
