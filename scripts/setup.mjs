#!/usr/bin/env node
// `npm install` runs this after the dependencies are in: build the native addon (Release), compile the
// TypeScript, and create .venv with python/ installed editable. One line per step with its time; a step's
// own output is shown only when it fails (ONET_SETUP_VERBOSE=1 shows everything).
// ONET_SKIP_NATIVE=1 / ONET_SKIP_VENV=1 skip a step; ONET_PY_EXTRAS picks the Python extras.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (n) => join(root, 'node_modules', '.bin', n);
const verbose = process.env.ONET_SETUP_VERBOSE === '1';
const started = Date.now();
const secs = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

/** Run one step quietly: a line when it starts, its time when it ends, its output only if it fails. */
function step(title, cmd, args, { env, keep = () => false, drop = () => false, optional = false } = {}) {
  const t0 = Date.now();
  process.stdout.write(`[setup] ${title} ...${verbose ? '\n' : ''}`);
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = [];
    let rest = '';
    const take = (d) => {
      const parts = (rest + d).split('\n');
      rest = parts.pop();
      for (const l of parts) {
        if (drop(l)) continue;
        lines.push(l);
        if (verbose) console.log(`  ${l}`);
      }
    };
    p.stdout.on('data', take);
    p.stderr.on('data', take);
    p.on('error', (e) => finish(e.message));
    p.on('close', (code) => finish(code === 0 ? null : `exit ${code}`));
    function finish(err) {
      if (rest) lines.push(rest);
      if (err && optional) {
        // Optional parts (Ray, Lightning): say so and go on; the tests that need them skip.
        console.log(` skipped (${err}) after ${secs(t0)}; their tests will skip`);
        for (const l of lines.filter((x) => /^ERROR/.test(x)).slice(-3)) console.log(`          ${l.trim()}`);
        return resolve();
      }
      if (err) {
        console.log(` FAILED (${err}) after ${secs(t0)}\n[setup] ${cmd} ${args.join(' ')}:`);
        for (const l of lines.slice(-80)) console.log(`  ${l}`);
        console.log('[setup] fix the cause above and run `npm install` again (ONET_SETUP_VERBOSE=1 shows every line)');
        process.exit(1);
      }
      console.log(`${verbose ? '[setup]' : ''} ${secs(t0)}`);
      for (const l of lines.filter(keep)) console.log(`          ${l.trim()}`);
      resolve();
    }
  });
}

if (!existsSync(bin('cmake-js'))) {
  // Installed as a dependency of another project: the package ships prebuilt dist/.
  console.log('[setup] dev tools absent (installed as a dependency); nothing to build');
  process.exit(0);
}
if (process.env.ONET_SKIP_NATIVE !== '1') {
  await step(
    'native addon: cmake-js compile (Release) -> build/Release/onet.node',
    bin('cmake-js'),
    ['compile', '--out', 'build', '--config', 'Release'],
    { keep: (l) => /^-- ONET_|CMake Warning/.test(l) },
  );
}
await step('TypeScript: tsc -> dist/', bin('tsc'), ['-p', 'tsconfig.json']);
await step('Browser client: esbuild -> dist/browser/opennetworks.js', 'npm', ['run', '-s', 'build:browser']);

if (process.env.ONET_SKIP_VENV !== '1') {
  const venvPy = join(root, '.venv', 'bin', 'python');
  const python = process.env.ONET_PYTHON || 'python3';
  if (!existsSync(venvPy)) await step(`Python: ${python} -m venv .venv`, python, ['-m', 'venv', '.venv']);
  const extras = process.env.ONET_PY_EXTRAS || 'torch,jax,hf,test,dev';
  const { env, note } = pipIndexes(venvPy);
  await step(
    `Python: pip install -e python[${extras}] into .venv${note}`,
    venvPy,
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-q', '-e', `./python[${extras}]`],
    {
      env,
      // A wheelhouse split over several local indexes has each project in one of them; pip warns
      // once per index that lacks it. That is expected, not a problem.
      drop: (l) => /^WARNING: Location '[^']*' is ignored: it is neither a file nor a directory\.$/.test(l),
      keep: (l) => /^(WARNING|ERROR|DEPRECATION)/.test(l),
    },
  );
  // The compiled torch process group (native/torch/onet_c10d.cc, ONET_TORCH_IMPL): skipped, with the reason,
  // without torch or a C++ compiler; the backend then runs in Python.
  await step(
    'Python: compiled torch process group -> build/c10d/',
    venvPy,
    [join('python', 'opennetworks', 'torch', '_c10d_build.py')],
    { optional: true, keep: (l) => /^\[c10d\]/.test(l) },
  );
  if (!process.env.ONET_PY_EXTRAS) {
    // Ray and Lightning are large and optional (opennetworks.ray, python/tests/test_ray.py, test_lightning.py):
    // a failure to install them does not fail `npm install`.
    await step(
      `Python: pip install -e python[ray,lightning] into .venv (optional)${note}`,
      venvPy,
      ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-q', '-e', './python[ray,lightning]'],
      { env, optional: true, drop: (l) => /^WARNING: Location '[^']*' is ignored/.test(l) },
    );
  }
}
const built = [
  process.env.ONET_SKIP_NATIVE !== '1' && 'addon build/Release/onet.node',
  'TypeScript dist/',
  process.env.ONET_SKIP_VENV !== '1' && 'Python .venv/',
].filter(Boolean);
console.log(`[setup] done in ${secs(started)}: ${built.join(', ')} (try \`npm run demo\`)`);

/**
 * The package indexes pip is configured with (pip config, PIP_* variables), keeping only those it can use:
 * a local (file:) index whose folder exists. When local indexes exist they replace the public one, which
 * a machine with a local wheelhouse usually cannot reach (pip would retry it for minutes). Without local
 * indexes pip's own configuration is left alone.
 */
function pipIndexes(venvPy) {
  const cfg = spawnSync(venvPy, ['-m', 'pip', 'config', 'list'], { encoding: 'utf8' }).stdout || '';
  const urls = [...cfg.matchAll(/(?:^|\.)(?:extra-)?index-url='([^']+)'/gm)].flatMap((m) => m[1].split(/\s+/));
  for (const v of ['PIP_INDEX_URL', 'PIP_EXTRA_INDEX_URL']) urls.push(...(process.env[v] || '').split(/\s+/));
  const local = [...new Set(urls.filter((u) => u.startsWith('file:')))].filter((u) => {
    try {
      return statSync(fileURLToPath(u)).isDirectory();
    } catch {
      return false;
    }
  });
  if (!local.length) return { env: {}, note: '' };
  const env = { PIP_INDEX_URL: local[0], PIP_EXTRA_INDEX_URL: local.slice(1).join(' ') };
  return { env, note: ` (from ${local.length} local ${local.length > 1 ? 'indexes' : 'index'})` };
}
