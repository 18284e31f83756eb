"""One rank of test_arena.py: `python _arena_worker.py SCENARIO BACKEND OUTDIR` (harness layout).

Each case runs the same collective on ordinary tensors and on opennetworks.torch arena tensors
(zero-copy), in place and not, and saves both so that the test compares them.
"""

from __future__ import annotations

import gc
import os
import sys

import torch
import torch.distributed as dist

import opennetworks.torch as ot


def data(n, rank, salt, dtype=torch.float32):
    g = torch.Generator().manual_seed(1000 * rank + salt)
    return torch.randint(-3, 4, (n,), generator=g).to(dtype)


def cases(rank, P):
    out = {}
    for n in (1, 4097, 1 << 18):
        for kind in ("plain", "arena"):
            mk = (lambda t: t.clone()) if kind == "plain" else ot.to_arena
            x = mk(data(n, rank, 1))
            dist.all_reduce(x)
            y = mk(data(n, rank, 2, torch.int64))
            dist.all_reduce(y, dist.ReduceOp.MAX)
            b = mk(data(n, rank, 3, torch.float64))
            dist.broadcast(b, P - 1)
            i = mk(data(n, rank, 4))
            o = mk(torch.zeros(P * n))
            dist.all_gather_into_tensor(o, i)
            ri = mk(data(P * n, rank, 5))
            ro = mk(torch.zeros(n))
            dist.reduce_scatter_tensor(ro, ri)
            # In place: the input is this rank's block of the output (all_gather) / of the input.
            big = mk(torch.zeros(P * n))
            big[rank * n : (rank + 1) * n] = data(n, rank, 6)
            dist.all_gather_into_tensor(big, big[rank * n : (rank + 1) * n])
            rsi = mk(data(P * n, rank, 7))
            dist.reduce_scatter_tensor(rsi[rank * n : (rank + 1) * n], rsi)
            # Mixed: arena input into an ordinary output and the reverse.
            mo = torch.zeros(P * n)
            dist.all_gather_into_tensor(mo, mk(data(n, rank, 8)))
            mr = mk(torch.zeros(n))
            dist.reduce_scatter_tensor(mr, data(P * n, rank, 9))
            works = [dist.all_reduce(t, async_op=True) for t in (mk(data(n, rank, 10 + k)) for k in range(3))]
            for w in works:
                w.wait()
            out[(n, kind)] = [
                x,
                y,
                b,
                o,
                ro,
                big,
                rsi[rank * n : (rank + 1) * n].clone(),
                mo,
                mr,
                [w.result()[0] for w in works],
            ]
            out[(n, kind, "in_arena")] = [ot.is_arena_tensor(t) for t in (x, o, ro)]
    return out


def blocks_return(rank):
    """Arena blocks go back to the allocator once the tensors (and their views) are gone."""
    from opennetworks._comm import get_client

    alloc = get_client().arena.alloc
    before = alloc.in_use
    ts = [ot.empty(1 << 16) for _ in range(8)]
    view = ts[0][10:20]
    during = alloc.in_use
    del ts
    gc.collect()
    # The next alloc merges blocks freed by finalizers: a collective on the engine path (reduce never
    # takes the fast lane, which allocates nothing in the arena).
    dist.reduce(torch.ones(1), dst=0)
    mid = alloc.in_use
    del view
    gc.collect()
    dist.reduce(torch.ones(1), dst=0)
    return {"before": before, "during": during, "mid": mid, "after": alloc.in_use}


def main():
    scenario, backend, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
    dist.init_process_group(backend)
    rank, P = dist.get_rank(), dist.get_world_size()
    res = cases(rank, P) if scenario == "cases" else blocks_return(rank)
    torch.save(res, os.path.join(outdir, f"rank{rank}.pt"))
    dist.destroy_process_group()
    os._exit(0)


if __name__ == "__main__":
    main()
