// A Python rank in a page of your own, served from the coordinator's origin: the browser client from
// /opennetworks.js (it sets globalThis.opennetworks, which `opennetworks.web` finds through `js`), the Pyodide
// runtime from /pyodide/ and the pure-Python package from /py/opennetworks.zip: nothing but the coordinator.
// (The coordinator's own /pyodide.html does the same and runs code you paste; this is for calling a module.)
import '/opennetworks.js';
import { loadPyodide } from '/pyodide/pyodide.mjs';

/**
 * Load Pyodide and the package, fetch the Python module at `script` and call its `main(*args)` coroutine (the join
 * URL first); resolves to what it returns, converted to JavaScript.
 */
export async function runPythonRank({ args, script }) {
  const py = await loadPyodide({ indexURL: '/pyodide/' });
  const zip = await fetch('/py/opennetworks.zip');
  if (!zip.ok) throw new Error(`/py/opennetworks.zip: HTTP ${zip.status}`);
  py.unpackArchive(await zip.arrayBuffer(), 'zip', { extractDir: '/home/pyodide/lib' });
  const name = script.slice(script.lastIndexOf('/') + 1, -'.py'.length);
  py.FS.writeFile(`/home/pyodide/${name}.py`, await (await fetch(script)).text());
  py.runPython("import sys; sys.path[:0] = ['/home/pyodide/lib', '/home/pyodide']");
  const result = await py.pyimport(name).main(...args.map((a) => py.toPy(a)));
  return result?.toJs ? result.toJs() : result;
}
