"""One torch.distributed rank of bench/multihost.mjs, started by torchrun inside a host's
network namespace (or on a real host). Runs the same sweep for whichever backend it is given:

    torchrun --nnodes 3 --node-rank 0 --nproc-per-node 1 --master-addr A --master-port P \\
        bench/multihost_worker.py --backend opennetworks --plan '[["all_reduce", 8], ...]' --out r.json

Per (op, size): warm-up by call count (never by clock: every rank must make the same calls),
then `reps` repetitions of `iters` back-to-back calls between barriers. A repetition's time is
the slowest rank's (nccl-tests convention); rank 0 writes every repetition's per-call time, and
one checked call's error count, to --out as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch
import torch.distributed as dist


def counts(op: str, size: int, n: int) -> tuple[int, int]:
    """(input, output) float32 elements per rank; sizes mean what nccl-tests means."""
    total = max(1, size // 4)
    if op in ("all_reduce", "broadcast"):
        return total, total
    block = max(1, total // n)
    return (block, block * n) if op == "all_gather" else (block * n, block)


def call(op: str, x: torch.Tensor, y: torch.Tensor) -> None:
    if op == "all_reduce":
        dist.all_reduce(x)
    elif op == "broadcast":
        dist.broadcast(x, 0)
    elif op == "all_gather":
        dist.all_gather_into_tensor(y, x)
    elif op == "reduce_scatter":
        dist.reduce_scatter_tensor(y, x)
    else:
        raise ValueError(f"unknown op {op!r}; use all_reduce, all_gather, broadcast or reduce_scatter")


def schedule(size: int, budget_bytes: float) -> tuple[int, int, int]:
    """(warm-up calls, calls per repetition, repetitions): fixed counts from the size alone."""
    iters = int(max(2, min(200, budget_bytes // max(size, 1))))
    reps = 5 if size <= (1 << 20) else 3
    return max(2, iters // 4), iters, reps


def wrong(op: str, x, y, rank: int, n: int) -> int:
    x.fill_(rank + 1)
    if op == "all_gather":
        y.zero_()
    call(op, x, y)
    if op == "all_gather":
        ref = torch.arange(1, n + 1, dtype=torch.float32).repeat_interleave(y.numel() // n)
        return int((y != ref).sum())
    want = 1.0 if op == "broadcast" else n * (n + 1) / 2
    return int((y != want).sum())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", required=True, choices=["opennetworks", "gloo"])
    ap.add_argument("--plan", required=True, help='JSON list of [op, bytes], e.g. [["all_reduce", 8]]')
    ap.add_argument("--budget", type=float, default=48e6, help="bytes per repetition (sets the call count)")
    ap.add_argument("--arena", action="store_true",
                    help="opennetworks: allocate the tensors in the shared-memory arena (no copy in or out)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    if a.backend == "opennetworks":
        import opennetworks.torch  # noqa: F401  (registers the backend)
    t_init = time.perf_counter()
    dist.init_process_group(a.backend)
    rank, n = dist.get_rank(), dist.get_world_size()
    # First collective includes connection set-up on some backends; keep it out of the sweep.
    dist.barrier()
    init_s = time.perf_counter() - t_init
    rows = []
    for op, size in json.loads(a.plan):
        cin, cout = counts(op, size, n)
        alloc = torch.zeros
        if a.arena and a.backend == "opennetworks":
            import opennetworks.torch as ot
            alloc = ot.zeros
        x = alloc(cin, dtype=torch.float32).fill_(1)
        y = x if op in ("all_reduce", "broadcast") else alloc(cout, dtype=torch.float32)
        warm, iters, reps = schedule(size, a.budget)
        for _ in range(warm):
            call(op, x, y)
        times = []
        for _ in range(reps):
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(iters):
                call(op, x, y)
            times.append((time.perf_counter() - t0) / iters)
        t = torch.tensor(times, dtype=torch.float64)
        dist.all_reduce(t, dist.ReduceOp.MAX)
        bad = torch.tensor([wrong(op, x, y, rank, n)], dtype=torch.int64)
        dist.all_reduce(bad)
        rows.append({"op": op, "size": size, "bytes": max(cin, cout) * 4, "iters": iters, "reps": reps, "warmup": warm,
                     "times_us": [v * 1e6 for v in t.tolist()], "wrong": int(bad.item())})
        if rank == 0:
            print(f"[{a.backend}] {op} {size} B: {min(rows[-1]['times_us']):.1f} us", file=sys.stderr, flush=True)
    if rank == 0:
        with open(a.out, "w") as f:
            json.dump({"backend": a.backend, "world": n, "init_s": init_s, "rows": rows}, f)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
