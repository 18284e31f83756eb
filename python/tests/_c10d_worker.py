"""One rank of test_c10d_compiled.py: ``mode`` check | errors | missing.
Writes rank<r>.json under $ONET_OUT."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

import opennetworks.torch  # noqa: F401

COUNTS = (0, 1, 7, 4097)  # per rank (reduce_scatter_tensor: of the output)


def vals(r: int, n: int) -> np.ndarray:
    return (np.arange(n, dtype=np.float32) % 13) * (r + 1) - r


def check(r: int, w: int, pg) -> list[str]:
    fails = []

    def same(what, got, want):
        if not np.array_equal(np.asarray(got), np.asarray(want)):
            fails.append(f"{what}: got {np.asarray(got)[:5]} want {np.asarray(want)[:5]}")

    for n in COUNTS:
        for op, fold in ((dist.ReduceOp.SUM, np.sum), (dist.ReduceOp.MAX, np.max)):
            t = torch.from_numpy(vals(r, n).copy())
            dist.all_reduce(t, op)
            want = fold(np.stack([vals(i, n) for i in range(w)]), axis=0) if n else np.zeros(0, np.float32)
            same(f"all_reduce {op} n={n}", t.numpy(), want)
        t = torch.from_numpy(vals(r, n).copy())
        dist.broadcast(t, src=w - 1)
        same(f"broadcast n={n}", t.numpy(), vals(w - 1, n))
        outs = [torch.empty(n) for _ in range(w)]
        dist.all_gather(outs, torch.from_numpy(vals(r, n).copy()))
        for i, o in enumerate(outs):
            same(f"all_gather n={n} from {i}", o.numpy(), vals(i, n))
        o = torch.empty(w * n)
        dist.all_gather_into_tensor(o, torch.from_numpy(vals(r, n).copy()))
        same(f"all_gather_into_tensor n={n}", o.numpy(), np.concatenate([vals(i, n) for i in range(w)]))
        for op, fold in ((dist.ReduceOp.SUM, np.sum), (dist.ReduceOp.MIN, np.min)):
            o = torch.full((n,), -7.0)
            dist.reduce_scatter_tensor(o, torch.from_numpy(vals(r, w * n).copy()), op)
            full = fold(np.stack([vals(i, w * n) for i in range(w)]), axis=0) if n else np.zeros(0, np.float32)
            same(f"reduce_scatter_tensor {op} n={n}", o.numpy(), full[r * n : (r + 1) * n])
        dist.barrier()
    return fails


def lane_ops(pg) -> dict:
    """How many of one call of each op ran in C++ (pg._lane_calls before and after)."""
    w = dist.get_world_size()
    calls = {
        "all_gather_into_tensor": lambda: dist.all_gather_into_tensor(torch.empty(2 * w), torch.ones(2)),
        "reduce_scatter_tensor": lambda: dist.reduce_scatter_tensor(torch.empty(2), torch.ones(2 * w)),
        "barrier": dist.barrier,
    }
    got = {}
    for name, fn in calls.items():
        c0 = pg._lane_calls
        fn()
        got[name] = pg._lane_calls - c0
    return got


def fallback(r: int, w: int, pg) -> list[str]:
    """Calls the C++ side hands to Python, interleaved with ones it runs, in program order."""
    fails = []
    big = torch.full((40000,), float(r + 1))  # 160 KB: over ONET_FASTLANE_MAX_BYTES=64KiB
    dist.all_reduce(big)
    if big[0].item() != w * (w + 1) / 2:
        fails.append(f"big all_reduce {big[0].item()}")
    works = [dist.all_reduce(torch.full((3,), float(r)), async_op=True) for _ in range(3)]
    small = torch.full((2,), 1.0)
    dist.all_reduce(small)  # after three started async calls: must not overtake them
    for wk in works:
        wk.wait()
    if small.tolist() != [float(w)] * 2:
        fails.append(f"small after async {small.tolist()}")
    nc = torch.arange(8.0).reshape(2, 4).t()  # not contiguous: Python copies it
    dist.all_reduce(nc)
    if not torch.equal(nc, torch.arange(8.0).reshape(2, 4).t() * w):
        fails.append("non-contiguous all_reduce")
    if w > 1:
        x = torch.full((5,), float(r))
        if r % 2 == 0:
            dist.send(x, (r + 1) % w)
            dist.recv(x, (r - 1) % w)
        else:
            y = torch.empty(5)
            dist.recv(y, (r - 1) % w)
            dist.send(x, (r + 1) % w)
            x = y
        if x[0].item() != float((r - 1) % w):
            fails.append(f"send/recv got {x[0].item()}")
    g = torch.ones(3, requires_grad=True)
    dist.all_reduce(g.detach())
    dist.barrier()
    after = torch.ones(1)
    dist.all_reduce(after)
    if after.item() != w:
        fails.append(f"all_reduce after fallbacks {after.item()}")
    return fails


def error_of(fn) -> dict:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the type is what the test compares
        return {"type": type(e).__name__, "code": getattr(e, "code", None), "message": str(e)[:300]}
    return {"type": None}


def main() -> None:
    mode = sys.argv[1]
    if mode == "missing":
        from opennetworks.torch import _c10d_build

        _c10d_build.module_path = lambda: Path("/nonexistent/_onet_c10d.so")
    out = {"mode": mode}
    if os.environ.get("C10D_WORKER_SPIN"):  # force how C++ lane calls wait (< 0: the sched_yield window)
        from opennetworks import _spin_policy

        spin = float(os.environ["C10D_WORKER_SPIN"])
        _spin_policy.lane_spin_us = lambda *a, **k: spin
    try:
        dist.init_process_group("opennetworks")
    except Exception as e:  # noqa: BLE001
        out["init_error"] = {"type": type(e).__name__, "message": str(e)}
        Path(os.environ["ONET_OUT"], f"rank{os.environ['RANK']}.json").write_text(json.dumps(out))
        return
    pg = dist.group.WORLD
    r, w = dist.get_rank(), dist.get_world_size()
    out["impl"] = getattr(pg, "impl", "python")
    for _ in range(3):  # the first lane call attaches (Python path); later ones may run in C++
        dist.all_reduce(torch.ones(1))
    if mode == "check":
        out["fails"] = check(r, w, pg) + fallback(r, w, pg)
        out["lane_ops"] = lane_ops(pg)
    elif mode == "errors":  # a mismatch (the lane's check), then a peer gone (liveness)
        out["mismatch"] = error_of(lambda: dist.all_reduce(torch.ones(3 if r == 0 else 5)))
        dist.all_reduce(torch.ones(1))
        if r == w - 1:
            os._exit(0)
        out["gone"] = error_of(lambda: [dist.all_reduce(torch.ones(1)) for _ in range(50)])
    out["lane_calls"] = getattr(pg, "_lane_calls", 0)
    out["client"] = pg._client is not None  # attributes of the Python group still reachable
    Path(os.environ["ONET_OUT"], f"rank{r}.json").write_text(json.dumps(out))
    if mode == "check":
        dist.destroy_process_group()
    else:
        os._exit(0)


if __name__ == "__main__":
    main()
