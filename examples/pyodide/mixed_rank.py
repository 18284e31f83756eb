"""A CPython rank (shared memory, numpy) of the mixed job that examples/pyodide/collectives.py joins from
WebAssembly: the same cases.py, through opennetworks.init()'s Communicator.

Prints one line: ONET_RESULT {"rank": r, "lang": "python", "ran": cases, "failed": [...]}.
"""

import array
import asyncio
import json
import sys

import ml_dtypes
import numpy as np
from cases import run_all

import opennetworks as on

NP = {"f": np.float32, "d": np.float64, "i": np.int32}


class AsyncComm:
    """The opennetworks.web call shapes over the blocking numpy Communicator, for cases.py."""

    def __init__(self, comm):
        self.c, self.rank, self.world = comm, comm.rank, comm.size

    @staticmethod
    def _np(x, dtype):
        return np.frombuffer(x, ml_dtypes.bfloat16 if dtype == "bf16" else NP[x.typecode]).copy()

    @staticmethod
    def _arr(y, like):
        return array.array(like.typecode, np.ascontiguousarray(y).tobytes())

    async def all_reduce(self, x, op="sum", dtype=None):
        return self._arr(self.c.all_reduce(self._np(x, dtype), op=op), x)

    async def all_gather(self, x, dtype=None):
        return self._arr(self.c.all_gather(self._np(x, dtype)), x)

    async def broadcast(self, x, root=0, dtype=None):
        return self._arr(self.c.broadcast(self._np(x, dtype), root), x)

    async def reduce_scatter(self, x, op="sum", dtype=None):
        return self._arr(self.c.reduce_scatter(self._np(x, dtype), op=op), x)

    async def all_to_all(self, x, dtype=None):
        return self._arr(self.c.all_to_all(self._np(x, dtype)), x)

    async def send(self, x, dst, tag=0, dtype=None):
        self.c.send(self._np(x, dtype), dst, tag)

    async def recv(self, x, src, tag=0, dtype=None):
        buf = self._np(x, dtype)
        self.c.recv(buf, src, tag)
        return self._arr(buf, x)

    async def barrier(self):
        self.c.barrier()


def main():
    comm = AsyncComm(on.init())
    ran, failed = asyncio.run(run_all(comm))
    print("ONET_RESULT " + json.dumps({"rank": comm.rank, "lang": "python", "ran": ran, "failed": failed}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
