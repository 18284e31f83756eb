// `onet bench --framework torch`: the same sweep through torch.distributed, run by the Python
// benchmark (python -m opennetworks.bench): opennetworks next to gloo, and MPI (mpi4py) when
// installed. Python launches the ranks and prints the tables or the JSON; this file finds the
// interpreter, maps the options and passes stdout/stderr through.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setting } from '../config/settings.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface TorchBenchOptions {
  nprocs: string;
  ops: string;
  sizes?: string;
  compare?: string;
  json?: boolean;
  reps?: string;
  rounds?: string;
  scale?: string;
  mpi?: boolean;
  arena?: boolean;
  timeout?: string;
}

/** ONET_PYTHON, else the repo's .venv, else python3 on PATH. */
export function pythonExe(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = setting('python', env) as string;
  if (explicit) return explicit;
  const venv = join(ROOT, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

const NODE_OPS: Record<string, string> = {
  allreduce: 'all_reduce',
  allgather: 'all_gather',
  reduce_scatter: 'reduce_scatter',
  broadcast: 'broadcast',
};

/** The Node bench's op names are accepted too (allreduce → all_reduce); alltoall has no torch column. */
export function torchOps(list: string): string {
  const ops = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((o) => NODE_OPS[o] ?? o);
  return ops.join(',');
}

export function torchBenchArgs(o: TorchBenchOptions): string[] {
  const a = ['-m', 'opennetworks.bench', '-n', o.nprocs, '--ops', torchOps(o.ops)];
  if (o.sizes) a.push('--sizes', o.sizes);
  if (o.compare) a.push('--compare', o.compare);
  if (o.reps) a.push('--reps', o.reps);
  if (o.rounds) a.push('--rounds', o.rounds);
  if (o.scale) a.push('--scale', o.scale);
  if (o.timeout) a.push('--timeout', o.timeout);
  if (o.mpi === false) a.push('--no-mpi');
  if (o.arena === false) a.push('--no-arena');
  if (o.json) a.push('--json');
  return a;
}

export function benchTorch(o: TorchBenchOptions): Promise<number> {
  const py = pythonExe();
  const env = {
    ...process.env,
    PYTHONPATH: [join(ROOT, 'python'), process.env.PYTHONPATH].filter(Boolean).join(delimiter),
  };
  return new Promise((resolve) => {
    const p = spawn(py, torchBenchArgs(o), { env, stdio: 'inherit' });
    p.on('error', (e) => {
      console.error(`onet: EINVAL: cannot run ${py} (${e.message}): set ONET_PYTHON to a python with torch installed`);
      resolve(2);
    });
    p.on('close', (code) => resolve(code ?? 1));
  });
}
