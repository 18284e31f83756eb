"""One rank of test_fastlane_chunks.py: calls larger than the fast lane's block (ONET_FASTLANE_MAX_BYTES
is tiny there) go through the lane in pieces and must equal the engine path bit for bit; argv[1]:
"comm" (opennetworks.init() communicator) or "torch" (torch.distributed). With argv[2] == "mixed", odd
ranks run the Python implementation and even ranks the native one on the same segment.

Writes {"fails": [...], "impl": ..., "pieces": [...]} to $ONET_OUT/rank<r>.json.
"""

from __future__ import annotations

import json
import os
import sys

rank = int(os.environ["RANK"])
if len(sys.argv) > 2 and sys.argv[2] == "mixed":
    os.environ["ONET_RANK_IMPL"] = "python" if rank % 2 else "native"

import numpy as np  # noqa: E402

import opennetworks as onet  # noqa: E402
from opennetworks import _fastlane  # noqa: E402

mode = sys.argv[1]
# Every piece of 16 KiB or more folds cooperatively, at P = 2 too (the default: P >= 3 and 128 KiB), so that
# the cooperative fold is checked against the engine at every world size and between implementations.
_fastlane.FastLane._coop_min = lambda self: 16384
out = {"fails": [], "impl": _fastlane.implementation()[0], "rank": rank, "pieces": []}
CAP = 32768  # ONET_FASTLANE_MAX_BYTES in the test: 8192 f32 per piece (cooperative allreduce in each)
COUNTS = (0, 1, 8191, 8192, 8193, 20001)


def data(dt, n, r, salt):
    g = np.random.default_rng(1000 * salt + r)
    if dt is np.int32:
        return g.integers(-1000, 1000, n, dtype=np.int32)
    return g.standard_normal(n).astype(dt)  # rounding differs by fold order: bit-exactness means something


def comm_calls(comm, fl, P):
    """(name, fn) pairs; each fn returns the result as a numpy array."""
    salt = 0
    for dt in (np.float32, np.float64, np.int32):
        for n in COUNTS:
            salt += 1
            mine, big = data(dt, n, rank, salt), data(dt, P * n, rank, salt + 500)
            yield f"all_reduce {dt.__name__} n={n}", lambda m=mine: comm.all_reduce(m)
            yield f"all_reduce max {dt.__name__} n={n}", lambda m=mine: comm.all_reduce(m, op="max")
            zeros = np.zeros(n, dt)
            yield (
                f"broadcast {dt.__name__} n={n}",
                lambda m=mine, z=zeros: comm.broadcast(m if rank == P - 1 else z, root=P - 1),
            )
            yield f"all_gather {dt.__name__} n={n}", lambda m=mine: comm.all_gather(m)
            yield f"reduce_scatter {dt.__name__} n={n}", lambda b=big: comm.reduce_scatter(b)


def torch_calls(P):
    import torch
    import torch.distributed as dist

    salt = 0
    for dt in (torch.float32, torch.bfloat16, torch.int32):
        for n in COUNTS:
            salt += 1
            g = torch.Generator().manual_seed(1000 * salt + rank)
            x = (torch.randn(P * n, generator=g) * 100).to(dt)

            def ar(x=x, n=n):
                t = x[:n].clone()
                dist.all_reduce(t)
                return t.view(torch.uint8).numpy().copy() if n else np.zeros(0, np.uint8)

            def bc(x=x, n=n):
                t = x[:n].clone() if rank == P - 1 else torch.zeros(n, dtype=x.dtype)
                dist.broadcast(t, src=P - 1)
                return t.view(torch.uint8).numpy().copy() if n else np.zeros(0, np.uint8)

            def ag(x=x, n=n):
                o = torch.empty(P * n, dtype=x.dtype)
                dist.all_gather_into_tensor(o, x[:n].contiguous())
                return o.view(torch.uint8).numpy().copy() if n else np.zeros(0, np.uint8)

            def rs(x=x, n=n):
                o = torch.empty(n, dtype=x.dtype)
                dist.reduce_scatter_tensor(o, x.clone())
                return o.view(torch.uint8).numpy().copy() if n else np.zeros(0, np.uint8)

            for name, fn in (("all_reduce", ar), ("broadcast", bc), ("all_gather", ag), ("reduce_scatter", rs)):
                yield f"{name} {dt} n={n}", fn


def main():
    if mode == "torch":
        import torch.distributed as dist

        import opennetworks.torch  # noqa: F401  (registers the backend)

        dist.init_process_group("opennetworks")
        dist.all_reduce(__import__("torch").zeros(1))  # attaches the lane
        pg = dist.group.WORLD
        pyg = getattr(pg, "py", pg)  # the compiled group hands these calls to the Python group
        fl = _fastlane.lane(pyg._client, pyg._gid, pyg._global_ranks)
        calls, P = torch_calls(dist.get_world_size()), dist.get_world_size()
    else:
        comm = onet.init()
        fl = _fastlane.lane(comm.client, comm.group, comm.ranks)
        P = comm.size
        calls = comm_calls(comm, fl, P)
    assert fl is not None and fl.max_bytes == CAP, "the test needs the lane with 32 KiB blocks"
    for name, fn in calls:
        seq0 = fl.seq
        fast = np.asarray(fn())
        pieces = fl.seq - seq0  # lane calls it took (the compiled torch group's own calls not counted)
        saved, fl.limit = fl.limit, fl.max_bytes  # no pieces: above the block the engine path, on every rank
        try:
            slow = np.asarray(fn())
        finally:
            fl.limit = saved
        if fast.shape != slow.shape or fast.tobytes() != slow.tobytes():
            out["fails"].append(f"{name}: the lane in pieces differs from the engine")
        out["pieces"].append([name, pieces])
    with open(os.path.join(os.environ["ONET_OUT"], f"rank{rank}.json"), "w") as f:
        json.dump(out, f)


main()
