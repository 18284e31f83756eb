"""One torch.distributed rank of the benchmark; launched by _launch.py with torchrun-style env.

python -m opennetworks.bench._torch_rank --backend gloo --ops all_reduce --sizes 8,1MiB --out r.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.distributed as dist

from . import _metrics as M


def _call(op: str, x, y):
    if op == "all_reduce":
        dist.all_reduce(x)
    elif op == "broadcast":
        dist.broadcast(x, 0)
    elif op == "all_gather":
        dist.all_gather_into_tensor(y, x)
    else:
        dist.reduce_scatter_tensor(y, x)


def _buffers(op: str, size: int, n: int, variant: str):
    cin, cout = M.counts(op, size, n)
    if variant == "arena":
        import opennetworks.torch as ot

        alloc = ot.zeros
    else:
        alloc = torch.zeros
    x = alloc(cin, dtype=torch.float32)
    y = x if op in ("all_reduce", "broadcast") else alloc(cout, dtype=torch.float32)
    return x, y


def _wrong(op: str, x, y, rank: int, n: int) -> int:
    x.fill_(rank + 1)
    if op == "all_gather":
        y.zero_()
    _call(op, x, y)
    want = M.expected(op, rank, n)
    if want is None:
        ref = torch.arange(1, n + 1, dtype=torch.float32).repeat_interleave(y.numel() // n)
        return int((y != ref).sum())
    return int((y != want).sum())


def time_calls(op: str, x, y, warm: int, iters: int, reps: int) -> list[float]:
    """Per-call µs of each repetition, the slowest rank's (as nccl-tests reports it). Warm-up is
    a call count, never a clock: every rank must make the same calls."""
    for _ in range(warm):
        _call(op, x, y)
    times = []
    for _ in range(reps):
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(iters):
            _call(op, x, y)
        times.append((time.perf_counter() - t0) / iters)
    t = torch.tensor(times, dtype=torch.float64)
    dist.all_reduce(t, dist.ReduceOp.MAX)
    return [v * 1e6 for v in t.tolist()]


def count_wrong(op: str, x, y, rank: int, n: int) -> int:
    """Elements wrong in one checked call, summed over every rank."""
    wrong = torch.tensor([_wrong(op, x, y, rank, n)], dtype=torch.int64)
    dist.all_reduce(wrong)
    return int(wrong.item())


def measure(op, size, variant, rank, n, reps, scale, first):
    x, y = _buffers(op, size, n, variant)
    iters = M.iterations(size, scale)
    times_us = time_calls(op, x, y, M.warmup(size, first, scale), iters, reps)
    cin, cout = M.counts(op, size, n)
    return {
        "op": op,
        "size": size,
        "bytes": M.moved_bytes(op, size, n),
        "count_in": cin,
        "count_out": cout,
        "iters": iters,
        "reps": reps,
        "times_us": times_us,
        "wrong": count_wrong(op, x, y, rank, n),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", required=True)
    ap.add_argument("--ops", default=",".join(M.OPS))
    ap.add_argument("--sizes", default=M.DEFAULT_SIZES)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--arena", action="store_true", help="also time tensors from opennetworks.torch.zeros")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    if a.backend == "opennetworks":
        import opennetworks.torch  # noqa: F401  (registers the backend)
    dist.init_process_group(a.backend)
    rank, n = dist.get_rank(), dist.get_world_size()
    variants = ["plain", "arena"] if a.arena and a.backend == "opennetworks" else ["plain"]
    rows, first = [], True
    for op in M.parse_ops(a.ops):
        for size in M.parse_sizes(a.sizes):
            for variant in variants:
                try:
                    row = measure(op, size, variant, rank, n, a.reps, a.scale, first)
                except Exception as e:  # noqa: BLE001 - e.g. an op the backend lacks
                    row = {"op": op, "size": size, "error": f"{type(e).__name__}: {e}"[:300]}
                    if a.backend == "opennetworks":
                        raise
                first = False
                row.update(backend=a.backend, variant=variant, n=n)
                rows.append(row)
    if rank == 0:
        with open(a.out, "w") as f:
            json.dump(rows, f)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
