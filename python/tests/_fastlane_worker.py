"""One rank of test_fastlane.py: every fast-lane collective against the engine path (bit for bit) and
a numpy reference, or (argv[1] == "die") a rank that exits in the middle of a collective.

Writes {"fails": [...], "impl": ..., "error": {...}} to $ONET_OUT/rank<r>.json.
"""

from __future__ import annotations

import json
import os
import sys
import time

import ml_dtypes
import numpy as np

import opennetworks as onet
from opennetworks import _fastlane

mode = sys.argv[1] if len(sys.argv) > 1 else "check"
rank = int(os.environ["RANK"])
comm = onet.init()
P = comm.size
out = {"fails": [], "impl": _fastlane.implementation()[0], "rank": rank}


def save():
    with open(os.path.join(os.environ["ONET_OUT"], f"rank{rank}.json"), "w") as f:
        json.dump(out, f)


DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "bf16": ml_dtypes.bfloat16}


def data(dt, n, r, salt):
    g = np.random.default_rng(1000 * salt + r)
    if dt is np.int32:
        return g.integers(-1000, 1000, n, dtype=np.int32)
    return g.standard_normal(n).astype(dt)  # rounding differs by fold order: bit-exactness means something


def ref_reduce(dt, parts, op):
    wide = [p.astype(np.float64) if dt is not np.int32 else p.astype(np.int64) for p in parts]
    if op == "sum":
        return np.sum(wide, axis=0)
    return np.max(wide, axis=0)


def same_bits(a, b):
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def near(a, b, dt):
    a = np.asarray(a, dtype=np.float64)
    tol = {np.float32: 1e-5, np.float64: 1e-12, np.int32: 0}.get(dt, 2e-2)
    return a.shape == b.shape and np.allclose(a, b, rtol=tol, atol=tol * P)


def both(fn):
    """fn() through the fast lane, then through the engine (lane switched off on every rank at once)."""
    fl = _fastlane.lane(comm.client, comm.group, comm.ranks)
    fast = fn()
    saved, fl.max_bytes = fl.max_bytes, 0
    try:
        slow = fn()
    finally:
        fl.max_bytes = saved
    return fast, slow


def check(what, fast, slow, ref, dt):
    if not same_bits(fast, slow):
        out["fails"].append(f"{what}: fast lane differs from the engine")
    if ref is not None and not near(fast, ref, dt):
        out["fails"].append(f"{what}: differs from numpy")


if mode == "die":
    comm.all_reduce(np.ones(4, np.float32))  # attach the lane
    if rank == P - 1:
        time.sleep(0.3)
        os._exit(3)  # dies while the others wait in the next collective
    t0 = time.monotonic()
    try:
        comm.all_reduce(np.ones(4, np.float32))
        out["error"] = None
    except onet.OnetError as e:
        out["error"] = {"code": e.code, "ranks": list(e.ranks or []), "message": str(e)}
    out["seconds"] = time.monotonic() - t0
    save()
    sys.exit(0)

salt = 0
for name, dt in DTYPES.items():
    for n in (0, 1, 7, 4097):
        salt += 1
        mine = data(dt, n, rank, salt)
        parts = [data(dt, n, r, salt) for r in range(P)]
        for op in ("sum", "max"):
            f, s = both(lambda op=op: comm.all_reduce(mine, op=op))
            check(f"all_reduce {op} {name} n={n}", f, s, ref_reduce(dt, parts, op), dt)
        f, s = both(lambda: comm.broadcast(mine if rank == P - 1 else np.zeros(n, dt), root=P - 1))
        check(f"broadcast {name} n={n}", f, s, parts[P - 1].astype(np.float64), dt)
        f, s = both(lambda: comm.all_gather(mine))
        check(f"all_gather {name} n={n}", f, s, np.stack(parts).astype(np.float64), dt)
        big = data(dt, P * n, rank, salt + 500)
        bigs = [data(dt, P * n, r, salt + 500) for r in range(P)]
        f, s = both(lambda: comm.reduce_scatter(big))
        want = ref_reduce(dt, bigs, "sum")[rank * n : (rank + 1) * n]
        check(f"reduce_scatter {name} n={n}", f, s, want, dt)
comm.barrier()
# A mismatch is reported, not hung: rank 0 asks for a different count.
try:
    comm.all_reduce(np.ones(3 if rank == 0 and P > 1 else 2, np.float32))
    out["mismatch"] = None
except onet.OnetError as e:
    out["mismatch"] = e.code
    out["mismatch_text"] = str(e)
comm.barrier()
out["lane_calls"] = _fastlane.lane(comm.client, comm.group, comm.ranks).seq
save()
