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

import torch.distributed as dist

# The op calls, buffers, timing loop and correctness check are the ones `onet bench --framework
# torch` uses; this worker only adds the multi-host plan and its fixed call counts.
from opennetworks.bench._metrics import counts
from opennetworks.bench._torch_rank import _buffers, count_wrong, time_calls


def schedule(size: int, budget_bytes: float) -> tuple[int, int, int]:
    """(warm-up calls, calls per repetition, repetitions): fixed counts from the size alone."""
    iters = int(max(2, min(200, budget_bytes // max(size, 1))))
    reps = 5 if size <= (1 << 20) else 3
    return max(2, iters // 4), iters, reps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", required=True, choices=["opennetworks", "gloo"])
    ap.add_argument("--plan", required=True, help='JSON list of [op, bytes], e.g. [["all_reduce", 8]]')
    ap.add_argument("--budget", type=float, default=48e6, help="bytes per repetition (sets the call count)")
    ap.add_argument(
        "--arena",
        action="store_true",
        help="opennetworks: allocate the tensors in the shared-memory arena (no copy in or out)",
    )
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
    plan = json.loads(a.plan)
    for op, _ in plan:
        if op not in ("all_reduce", "all_gather", "broadcast", "reduce_scatter"):
            raise SystemExit(f"unknown op {op!r} in --plan; use all_reduce, all_gather, broadcast or reduce_scatter")
    for op, size in plan:
        cin, cout = counts(op, size, n)
        arena = a.arena and a.backend == "opennetworks"
        x, y = _buffers(op, size, n, "arena" if arena else "plain")
        warm, iters, reps = schedule(size, a.budget)
        times_us = time_calls(op, x, y, warm, iters, reps)
        rows.append(
            {
                "op": op,
                "size": size,
                "bytes": max(cin, cout) * 4,
                "iters": iters,
                "reps": reps,
                "warmup": warm,
                "times_us": times_us,
                "wrong": count_wrong(op, x, y, rank, n),
            }
        )
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
