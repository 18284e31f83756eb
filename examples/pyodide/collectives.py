"""A Python rank in WebAssembly running every collective of cases.py, exact against the reference.

    node dist/web/pyodide_node.js "$JOIN_URL" examples/pyodide/collectives.py

Prints one line: ONET_RESULT {"rank": r, "lang": "pyodide", "ran": cases, "failed": [...]}.
"""

import json
import sys

from cases import run_all

from opennetworks import web


async def main(url):
    comm = await web.join(url)
    ran, failed = await run_all(comm)
    print("ONET_RESULT " + json.dumps({"rank": comm.rank, "lang": "pyodide", "ran": ran, "failed": failed}))
    await comm.close()
    sys.exit(1 if failed else 0)


web.run(main(sys.argv[1]))
