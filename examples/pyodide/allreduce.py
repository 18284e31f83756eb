"""The smallest Python-in-WebAssembly rank: join with the URL onet printed, allreduce, leave.

node dist/web/pyodide_node.js "$JOIN_URL" examples/pyodide/allreduce.py    # on a Node host
"""

import array
import sys

from opennetworks import web


async def main(url):
    comm = await web.join(url)
    x = array.array("f", [comm.rank + 1.0] * 4)  # any buffer: array.array, memoryview, a numpy array
    y = await comm.all_reduce(x, op="sum")
    print(f"rank {comm.rank} of {comm.world} ({comm.kind}): {list(y)}")
    await comm.close()


web.run(main(sys.argv[1]))
