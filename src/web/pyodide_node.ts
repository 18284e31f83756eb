// Pyodide in Node: a sandboxed Python rank on a Node host. Python runs in WebAssembly with its own in-memory file
// system: only the pure-Python opennetworks package and the user's script are copied in; no host files, no
// network beyond the browser client's WebSocket to the coordinator. The rank reaches the coordinator exactly as a
// browser tab does (dist/browser/opennetworks.js, given the `ws` package's WebSocket), so tests drive
// Python-in-WASM through this file without a browser.
//
//   node dist/web/pyodide_node.js <join-url> <script.py> [args...]    # sys.argv = [script.py, join-url, args...]
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { PyodideAPI } from 'pyodide';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Where the package and the script live inside Pyodide's file system. */
const PY_LIB = '/home/pyodide/lib';
const PY_HOME = '/home/pyodide';

export interface PyodideRankOptions {
  /** The JS client module; default: dist/browser/opennetworks.js with the `ws` package's WebSocket. */
  client?: Record<string, unknown>;
  /** Where the `pyodide` npm package is (its indexURL); default: resolved from node_modules. */
  indexURL?: string;
  /** The python/opennetworks folder to copy in; default: this checkout's. */
  packageDir?: string;
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
}

/** The folder of the installed `pyodide` package, or an error that says how to get it. */
export function pyodideDir(): string {
  const dir = join(ROOT, 'node_modules', 'pyodide');
  try {
    statSync(join(dir, 'pyodide.asm.wasm'));
  } catch {
    throw new Error(`Pyodide is not installed (no ${dir}/pyodide.asm.wasm): run \`npm install\` in ${ROOT}`);
  }
  return dir;
}

/** The browser client with Node's WebSocket filled in: join(url, opts) as in a page. */
export async function nodeClient(): Promise<Record<string, unknown>> {
  // The bundle a page gets (npm run build:browser), else the same module unbundled (tsc).
  const bundle = join(ROOT, 'dist', 'browser', 'opennetworks.js');
  const path = existsSync(bundle) ? bundle : join(ROOT, 'dist', 'browser', 'index.js');
  const mod = (await import(pathToFileURL(path).href)) as Record<string, any>;
  const wsName = 'ws'; // a variable: `ws` ships no types of its own
  const { WebSocket } = (await import(wsName)) as { WebSocket: unknown };
  return { ...mod, join: (url: string, opts?: object) => mod.join(url, { WebSocket, ...(opts ?? {}) }) };
}

function copyTree(py: PyodideAPI, from: string, to: string): number {
  let n = 0;
  py.FS.mkdirTree(to);
  for (const name of readdirSync(from)) {
    const src = join(from, name);
    if (name === '__pycache__' || name === 'tests') continue;
    if (statSync(src).isDirectory()) n += copyTree(py, src, `${to}/${name}`);
    else if (name.endsWith('.py')) {
      py.FS.writeFile(`${to}/${name}`, readFileSync(src));
      n++;
    }
  }
  return n;
}

/** A Pyodide runtime with `opennetworks` importable and the client registered as the module `opennetworks_js`. */
export async function loadPythonRank(opts: PyodideRankOptions = {}): Promise<PyodideAPI> {
  const indexURL = opts.indexURL ?? pyodideDir();
  const { loadPyodide } = await import('pyodide');
  const py = await loadPyodide({
    indexURL: indexURL.endsWith('/') ? indexURL : `${indexURL}/`,
    stdout: opts.stdout ?? ((s) => process.stdout.write(`${s}\n`)),
    stderr: opts.stderr ?? ((s) => process.stderr.write(`${s}\n`)),
  });
  const pkg = opts.packageDir ?? join(ROOT, 'python', 'opennetworks');
  if (copyTree(py, pkg, `${PY_LIB}/opennetworks`) === 0) throw new Error(`no Python files in ${pkg}`);
  py.pyimport('sys').path.insert(0, PY_LIB);
  py.registerJsModule('opennetworks_js', opts.client ?? (await nodeClient()));
  return py;
}

/**
 * Run `script` as __main__ with sys.argv = [script, url, ...args]; resolves to its exit status. As `python script.py`
 * would, it can import the .py files next to it: they are copied in and their folder goes first on sys.path.
 */
export async function runPythonScript(py: PyodideAPI, script: string, url: string, args: string[] = []) {
  const home = `${PY_HOME}/${basename(dirname(resolve(script)))}`;
  py.FS.mkdirTree(home);
  for (const name of readdirSync(dirname(resolve(script))))
    if (name.endsWith('.py')) py.FS.writeFile(`${home}/${name}`, readFileSync(join(dirname(resolve(script)), name)));
  const dest = `${home}/${basename(script)}`;
  py.FS.writeFile(dest, readFileSync(script));
  py.pyimport('sys').path.insert(0, home);
  const runner = py.pyimport('opennetworks._web_main');
  const argv = py.toPy([dest, url, ...args]);
  try {
    return Number(await runner.run_script(dest, argv));
  } finally {
    argv.destroy();
    runner.destroy();
  }
}

async function main(argv: string[]): Promise<number> {
  const [url, script, ...args] = argv;
  if (!url || !script) {
    process.stderr.write('usage: node dist/web/pyodide_node.js <join-url> <script.py> [args...]\n');
    return 2;
  }
  const py = await loadPythonRank();
  return runPythonScript(py, resolve(script), url, args);
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] && relative(resolve(process.argv[1]), self) === '') {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`pyodide rank: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
