"""One MPI rank of the benchmark (mpi4py over numpy float32); launched by mpirun from _launch.py."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from mpi4py import MPI

from . import _metrics as M


def _call(comm, op, x, y):
    if op == "all_reduce":
        comm.Allreduce(MPI.IN_PLACE, x)
    elif op == "broadcast":
        comm.Bcast(x, root=0)
    elif op == "all_gather":
        comm.Allgather(x, y)
    else:
        comm.Reduce_scatter_block(x, y)


def measure(comm, op, size, reps, scale, first):
    rank, n = comm.rank, comm.size
    cin, cout = M.counts(op, size, n)
    x = np.zeros(cin, np.float32)
    y = x if op in ("all_reduce", "broadcast") else np.zeros(cout, np.float32)
    iters = M.iterations(size, scale)
    for _ in range(M.warmup(size, first, scale)):
        _call(comm, op, x, y)
    times = []
    for _ in range(reps):
        comm.Barrier()
        t0 = time.perf_counter()
        for _ in range(iters):
            _call(comm, op, x, y)
        times.append((time.perf_counter() - t0) / iters)
    times = [comm.allreduce(t, op=MPI.MAX) for t in times]
    x.fill(rank + 1)
    _call(comm, op, x, y)
    want = M.expected(op, rank, n)
    if want is None:
        want = np.repeat(np.arange(1, n + 1, dtype=np.float32), cout // n)
    wrong = comm.allreduce(int((y != want).sum()))
    return {
        "op": op,
        "size": size,
        "bytes": M.moved_bytes(op, size, n),
        "count_in": cin,
        "count_out": cout,
        "iters": iters,
        "reps": reps,
        "times_us": [t * 1e6 for t in times],
        "wrong": wrong,
        "backend": "mpi",
        "variant": "plain",
        "n": n,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", default=",".join(M.OPS))
    ap.add_argument("--sizes", default=M.DEFAULT_SIZES)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    rows, first = [], True
    for op in M.parse_ops(a.ops):
        for size in M.parse_sizes(a.sizes):
            rows.append(measure(comm, op, size, a.reps, a.scale, first))
            first = False
    if comm.rank == 0:
        with open(a.out, "w") as f:
            json.dump(rows, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
