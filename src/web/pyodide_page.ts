// A page of the coordinator's origin that runs Python as a web rank: GET /pyodide.html#job=…&rank=…&token=… (the
// join URL onet printed, with /join replaced by /pyodide.html). It loads Pyodide from /pyodide/, unpacks the
// package from /py/opennetworks.zip, loads the client from /opennetworks.js, and then waits: nothing joins until
// the user presses Run (or a script calls window.onet.run(code)). The code runs as __main__ with
// sys.argv = ['main.py', <this page's URL>], so `await web.join(sys.argv[1])` joins as this URL's rank.
import { PY_ZIP_PATH } from './py_package.js';

export const PYODIDE_PAGE_PATH = '/pyodide.html';

/** What the Run box holds at first: examples/pyodide/allreduce.py's collective. */
const DEFAULT_CODE = `import array
import sys

from opennetworks import web

comm = await web.join(sys.argv[1])
y = await comm.all_reduce(array.array("f", [comm.rank + 1.0] * 4), op="sum")
print(f"rank {comm.rank} of {comm.world} ({comm.kind}): {list(y)}")
await comm.close()
`;

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function pyodidePage(): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>OpenNetworks Python rank</title></head>
<body><h1>OpenNetworks: Python (Pyodide) rank</h1><p id="state">loading Pyodide…</p>
<textarea id="code" rows="14" cols="100" spellcheck="false">${escapeHtml(DEFAULT_CODE)}</textarea><br>
<button id="run" disabled>Run</button>
<pre id="out"></pre>
<script type="module">
import * as client from '/opennetworks.js';
import { loadPyodide } from '/pyodide/pyodide.mjs';
const $ = (id) => document.getElementById(id);
const output = [];
const print = (s) => {
  output.push(s);
  $('out').textContent += s + '\\n';
  console.log(s);
};
async function load() {
  const py = await loadPyodide({ indexURL: '/pyodide/', stdout: print, stderr: print });
  const zip = await fetch('${PY_ZIP_PATH}');
  if (!zip.ok) throw new Error('${PY_ZIP_PATH}: HTTP ' + zip.status);
  py.unpackArchive(await zip.arrayBuffer(), 'zip', { extractDir: '/home/pyodide/lib' });
  py.runPython("import sys; sys.path[:0] = ['/home/pyodide/lib', '/home/pyodide']");
  py.registerJsModule('opennetworks_js', client);
  return py;
}
/** Run Python code as __main__ with sys.argv = ['main.py', url]; resolves to its exit status. */
async function run(code, url = location.href) {
  const py = await window.onet.ready;
  py.FS.writeFile('/home/pyodide/main.py', code);
  const runner = py.pyimport('opennetworks._web_main');
  const argv = py.toPy(['/home/pyodide/main.py', url]);
  try {
    return Number(await runner.run_script('/home/pyodide/main.py', argv));
  } finally {
    argv.destroy();
    runner.destroy();
  }
}
window.onet = { ready: load(), run, output, error: null };
window.onet.ready.then(() => {
  $('state').textContent = 'Pyodide ready: press Run to join as the rank in this URL';
  $('run').disabled = false;
}, (e) => {
  window.onet.error = String(e && e.message || e);
  $('state').textContent = 'could not load Pyodide: ' + window.onet.error;
});
$('run').onclick = async () => {
  $('run').disabled = true;
  $('state').textContent = 'running…';
  const status = await run($('code').value).catch((e) => (print(String(e)), 1));
  $('state').textContent = 'exit status ' + status;
};
</script></body></html>
`;
}
