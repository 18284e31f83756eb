"""A CPython rank of test/pyodide_abort.test.ts: its second allreduce includes a Pyodide rank that gets killed.
Rank 1 is inside that allreduce when the kill happens; rank 0 arrives after it (the test creates the file `killed`
in $ABORT_DIR). Each prints the error it got; rank 1 stays until rank 0 has its answer (the file `rank0`)."""

import json
import os
import time

import numpy as np

import opennetworks as on


def wait_for(path, limit_s=60.0):
    deadline = time.monotonic() + limit_s
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


folder = os.environ["ABORT_DIR"]
comm = on.init()
comm.all_reduce(np.ones(1, np.float32))
if comm.rank == 0:
    wait_for(os.path.join(folder, "killed"))
try:
    comm.all_reduce(np.full(4097, 2, np.float32))
    got = {"error": None}
except on.OnetError as e:
    got = {"error": type(e).__name__, "code": e.code, "ranks": e.ranks, "message": str(e)}
print("ONET_RESULT " + json.dumps({"rank": comm.rank, **got}), flush=True)
if comm.rank == 0:
    open(os.path.join(folder, "rank0"), "w").close()
else:
    wait_for(os.path.join(folder, "rank0"))
