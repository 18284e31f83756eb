"""One rank of test_fastlane.py's point-to-point test: an async fast-lane all_reduce, then a send the
peer needs before it even calls that all_reduce, then wait(). With a lane call that blocked until every
rank arrived this deadlocked (rank 0 in the all_reduce, rank 1 in recv) until ONET_TIMEOUT.

Writes {"impl", "lane_calls", "sum", "got", "seconds", "error"} to $ONET_OUT/rank<r>.json.
"""

from __future__ import annotations

import json
import os
import time

import torch
import torch.distributed as dist

import opennetworks
import opennetworks.torch  # noqa: F401  (registers the backend)
from opennetworks import _comm, _fastlane

rank = int(os.environ["RANK"])
dist.init_process_group("opennetworks")
out = {"impl": _fastlane.implementation()[0], "error": None}
t0 = time.perf_counter()
try:
    # The communicator's first lane call sets the segment up and meets every rank once (docs/performance.md).
    dist.all_reduce(torch.zeros(1))
    t = torch.full((4,), float(rank + 1))
    msg = torch.zeros(3)
    if rank == 0:
        work = dist.all_reduce(t, async_op=True)  # published, not waited for
        dist.send(torch.tensor([7.0, 8.0, 9.0]), dst=1)  # rank 1 needs this before its all_reduce
        work.wait()
    else:
        dist.recv(msg, src=0)
        work = dist.all_reduce(t, async_op=True)
        while not work.is_completed():  # completes through is_completed() too
            time.sleep(0.001)
        work.wait()
    # A second round through get_future(), started before the peer arrives.
    u = torch.full((2,), float(rank))
    fut = dist.all_reduce(u, async_op=True).get_future()
    fut.wait()
    out["sum"], out["got"], out["u"] = t.tolist(), msg.tolist(), u.tolist()
except opennetworks.OnetError as e:
    out["error"] = {"code": e.code, "message": str(e)}
out["seconds"] = time.perf_counter() - t0
lanes = getattr(_comm._client, "_fastlanes", {})
out["lane_calls"] = sum(fl.seq for fl in lanes.values())
with open(os.path.join(os.environ["ONET_OUT"], f"rank{rank}.json"), "w") as f:
    json.dump(out, f)
dist.destroy_process_group()
