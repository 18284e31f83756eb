// A Node rank of the mixed job that examples/pyodide/collectives.py joins from WebAssembly: the cases of
// cases.py through the Node API (cases.mjs). Prints one ONET_RESULT line.
import { init } from '../../dist/index.js';
import { nodeComm, runAll } from './cases.mjs';

const comm = await init();
const { ran, failed } = await runAll(nodeComm(comm));
console.log(`ONET_RESULT ${JSON.stringify({ rank: comm.rank, lang: 'node', ran, failed })}`);
await comm.close();
process.exit(failed.length ? 1 : 0);
