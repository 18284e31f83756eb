#!/usr/bin/env node
// `npm install` runs this after the dependencies are in: build the native addon (Release),
// compile the TypeScript, and create .venv with python/ installed editable. Each step says
// what it does; ONET_SKIP_NATIVE / ONET_SKIP_VENV=1 skip a step.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (n) => join(root, 'node_modules', '.bin', n);
const run = (cmd, args, opts = {}) => {
  console.log(`[setup] ${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
};

if (!existsSync(bin('cmake-js'))) {
  // Installed as a dependency of another project: the package ships prebuilt dist/.
  console.log('[setup] dev tools absent (installed as a dependency); skipping build');
  process.exit(0);
}
if (process.env.ONET_SKIP_NATIVE !== '1') run(bin('cmake-js'), ['compile', '--out', 'build', '--config', 'Release']);
run(bin('tsc'), ['-p', 'tsconfig.json']);

if (process.env.ONET_SKIP_VENV === '1') process.exit(0);
const venvPy = join(root, '.venv', 'bin', 'python');
const python = process.env.ONET_PYTHON || 'python3';
if (!existsSync(venvPy)) run(python, ['-m', 'venv', '.venv']);

// Prefer a local wheelhouse named in pip's config as the index: pip then skips slow retries
// against a public index the machine cannot reach.
const pipArgs = ['-m', 'pip', 'install', '--disable-pip-version-check', '-q'];
const cfg = spawnSync(venvPy, ['-m', 'pip', 'config', 'list'], { encoding: 'utf8' }).stdout || '';
const local = [...cfg.matchAll(/index-url='([^']+)'/g)].flatMap((m) => m[1].split(/\s+/)).filter((u) => u.startsWith('file:'));
if (local.length) {
  pipArgs.push('--index-url', local[0]);
  for (const u of local.slice(1)) pipArgs.push('--extra-index-url', u);
}
const extras = process.env.ONET_PY_EXTRAS || 'torch,jax,hf,test';
run(venvPy, [...pipArgs, '-e', `./python[${extras}]`]);
console.log('[setup] done: addon build/Release/onet.node, TypeScript dist/, Python .venv/');
