"""One rank of test_cma.py: `python _cma_worker.py MODE`, MODE "check" or "fallback".

Every collective the single-copy path serves, on ordinary tensors, once by single copy and once by the
copy path (the process group's threshold switched between the two), against an exact reference; writes
ONET_OUT/rank<r>.json with the failures and which path each call took (the flags of its posts).
"""

from __future__ import annotations

import os
import sys
import traceback

import torch
import torch.distributed as dist

from _cma_rank import RANK, CmaRank

MODE = sys.argv[1]
if MODE == "fallback" and RANK == 1:  # this rank's probe fails; rank 0 keeps single copy: mixed posts
    os.environ["ONET_CMA_PROBE"] = "fail"
DTYPES = {"f32": torch.float32, "f64": torch.float64, "bf16": torch.bfloat16, "i32": torch.int32}


def data(n: int, dtype, rank: int, salt: int) -> torch.Tensor:
    """Small integers: sums are exact in every dtype, so the reference is exact."""
    g = torch.Generator().manual_seed(7919 * rank + salt)
    return torch.randint(-8, 9, (n,), generator=g).to(dtype)


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a.view(torch.uint8), b.view(torch.uint8))


def run_op(op: str, dtype, n: int, P: int, salt: int):
    """Run op on fresh ordinary tensors; returns (result, reference)."""
    ins = [data(n, dtype, r, salt) for r in range(P)]
    total = ins[0].clone()
    for x in ins[1:]:
        total += x
    mine = ins[RANK].clone()
    if op == "all_reduce":
        dist.all_reduce(mine)
        return mine, total
    if op == "broadcast":
        root = P - 1
        dist.broadcast(mine, root)
        return mine, ins[root]
    if op == "all_gather":
        out = torch.full((P * n,), 99, dtype=dtype)
        dist.all_gather_into_tensor(out, mine)
        return out, torch.cat(ins)
    if op == "all_gather_inplace":  # the input is this rank's block of the output
        out = torch.cat(ins)
        out[RANK * n : (RANK + 1) * n] = ins[RANK]
        other = out.clone()
        other[: RANK * n] = 99
        other[(RANK + 1) * n :] = 99
        dist.all_gather_into_tensor(other, other[RANK * n : (RANK + 1) * n])
        return other, out
    if op == "reduce_scatter":
        big = [data(P * n, dtype, r, salt + 1) for r in range(P)]
        ref = big[0].clone()
        for x in big[1:]:
            ref += x
        out = torch.full((n,), 99, dtype=dtype)
        dist.reduce_scatter_tensor(out, big[RANK].clone())
        return out, ref[RANK * n : (RANK + 1) * n]
    if op == "reduce":
        dist.reduce(mine, 0)
        return (mine, total) if RANK == 0 else (mine, ins[RANK])
    if op == "all_reduce_strided":  # not contiguous: the copy path, always
        m = torch.stack([mine, mine], 1)[:, 0]
        dist.all_reduce(m)
        return m.contiguous(), total
    raise ValueError(op)


def main() -> None:
    me = CmaRank()
    P = me.world
    fails, paths = [], {}
    ops = ["all_reduce", "broadcast", "all_gather", "all_gather_inplace", "reduce_scatter", "reduce"]
    ops.append("all_reduce_strided")
    counts = [4097, (1 << 16) + 3]
    if MODE == "fallback":
        counts = [(1 << 16) + 3]
    salt = 0
    for dname, dtype in DTYPES.items():
        # One count above the 2 MiB pieces allreduce/broadcast/reduce go in, where the run stays short.
        for n in counts + ([(1 << 20) + 3] if dname == "f32" and MODE == "check" and P <= 3 else []):
            for op in ops:
                salt += 10
                key = f"{op}/{dname}/{n}"
                try:
                    got = {}
                    for mode in ("single", "copy"):
                        me.use(mode)
                        res, ref = run_op(op, dtype, n, P, salt)
                        got[mode] = res
                        if not same(res, ref):
                            bad = (res != ref).nonzero()
                            fails.append(f"{key} {mode}: {bad.numel()} wrong, first at {bad[:3].tolist()}")
                        if mode == "single":
                            # None: nothing reached the coordinator (the rank-side fast lane took it)
                            paths[key] = me.took_cma() if me.flags else None
                    if not same(got["single"], got["copy"]):
                        fails.append(f"{key}: single copy and copy path differ")
                except Exception:  # noqa: BLE001 - recorded, the test reports it
                    fails.append(f"{key}: {traceback.format_exc()[-1500:]}")
    me.finish(fails, paths)


if __name__ == "__main__":
    main()
