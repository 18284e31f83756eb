"""The Pyodide rank of test/pyodide_abort.test.ts: one allreduce, then a second one left in flight; it prints
ONET_POSTED and waits, and the test kills its process. The other ranks must get AbortedError naming it."""

import array
import asyncio
import sys

from opennetworks import web


async def main(url):
    comm = await web.join(url)
    await comm.all_reduce(array.array("f", [1.0]))
    pending = asyncio.ensure_future(comm.all_reduce(array.array("f", [2.0] * 4097)))
    await asyncio.sleep(0.5)  # the call frame is on its way to the coordinator
    print("ONET_POSTED", comm.rank)
    await asyncio.wait_for(pending, 60)  # rank 0 arrives late; the test kills this process before that


web.run(main(sys.argv[1]))
