"""One rank of test_fastlane_direct.py: all_reduces, broadcasts and all_gathers of at least
ONET_FASTLANE_DIRECT_MIN_BYTES (64 KiB in the test) run as direct lane calls, each rank reading its peers' tensors
with process_vm_readv (native/rank/fastlane.h "Direct calls"), and must equal the numpy reference built from every
rank's seeded data (an all_reduce: numpy's fold in group-rank order, the engine's bits).

argv[1]: "comm" (opennetworks.init() numpy communicator), "torch" (torch.distributed: the compiled group where
it is built), "mismatch" (rank 0 alone has direct calls on) or "badread" (the root publishes an unmapped
address). argv[2] == "mixed": odd ranks run the Python implementation, even ranks the native one.

Writes {"fails": [...], "impl": ..., "direct_min": ..., "engine_calls": n, "errors": [...]} to $ONET_OUT/rank<r>.json.
"""

from __future__ import annotations

import json
import os
import sys

rank = int(os.environ["RANK"])
mode = sys.argv[1]
if len(sys.argv) > 2 and sys.argv[2] == "mixed":
    os.environ["ONET_RANK_IMPL"] = "python" if rank % 2 else "native"
if mode == "mismatch" and rank != 0:
    os.environ["ONET_FASTLANE_DIRECT_MIN_BYTES"] = "0"

import numpy as np  # noqa: E402

import opennetworks as onet  # noqa: E402
from opennetworks import _fastlane  # noqa: E402
from opennetworks._errors import OnetError  # noqa: E402

out = {"fails": [], "impl": _fastlane.implementation()[0], "rank": rank, "engine_calls": 0, "errors": []}
# Below the 64 KiB threshold (the blocks), just above it, and above the 1 MiB block (no pieces: direct only).
COUNTS = (1001, 16385, 300007)


def data(dt, n, r, salt):
    g = np.random.default_rng(1000 * salt + r)
    if dt is np.int32:
        return g.integers(-(2**30), 2**30, n, dtype=np.int32)
    return g.standard_normal(n).astype(dt)


def folded(arrays, op="sum"):
    """The engine's fold in group-rank order (native/reduce/reduce.h): left to right in the dtype itself."""
    acc = arrays[0].copy()
    for a in arrays[1:]:
        acc = acc + a if op in ("sum", "avg") else np.maximum(acc, a)
    return acc / len(arrays) if op == "avg" else acc


def comm_calls(comm, P):
    salt = 0
    for dt in (np.float32, np.float64, np.int32):
        for n in COUNTS:
            salt += 1
            mine = data(dt, n, rank, salt)
            every = [data(dt, n, r, salt) for r in range(P)]
            yield f"all_reduce sum {dt.__name__} n={n}", lambda m=mine: comm.all_reduce(m), folded(every)
            op = {np.float32: "max", np.float64: "avg", np.int32: "sum"}[dt]
            yield (
                f"all_reduce {op} {dt.__name__} n={n}",
                lambda m=mine, op=op: comm.all_reduce(m, op),
                folded(every, op),
            )
            # reduce_scatter of P blocks of n: this rank's block of the fold (direct from P*n*itemsize bytes)
            wide = [wide_in(dt, n, r, salt) for r in range(P)]
            want_rs = folded(wide)[rank * n : (rank + 1) * n]
            yield f"reduce_scatter {dt.__name__} n={n}", lambda w=wide[rank]: comm.reduce_scatter(w), want_rs
            root = P - 1
            want_b = data(dt, n, root, salt)
            z = np.zeros(n, dt)
            yield (
                f"broadcast {dt.__name__} n={n}",
                lambda m=mine, z=z: comm.broadcast(m if rank == root else z, root),
                want_b,
            )
            want_g = np.stack([data(dt, n, r, salt) for r in range(P)])
            yield f"all_gather {dt.__name__} n={n}", lambda m=mine: comm.all_gather(m), want_g


def torch_calls(P):
    import torch
    import torch.distributed as dist

    import opennetworks.torch as onet_torch

    salt = 0
    for dt in (np.float32, np.float64, np.int32):
        # float32 also at 16 MiB + 28 bytes: huge pages (2 MiB interiors), a broadcast's cut off the 2 MiB grid
        for n in COUNTS + ((4194311,) if dt is np.float32 else ()):
            salt += 1
            if dt is np.float32 and n == COUNTS[-1]:  # bf16 (folded in f32, rounded once), in place
                yield from bf16_calls(P, n, salt)
            root = P - 1
            mine = torch.from_numpy(data(dt, n, rank, salt))

            def bc(mine=mine, n=n, root=root):
                t = mine.clone() if rank == root else torch.zeros_like(mine)
                dist.broadcast(t, src=root)
                return t.numpy()

            def ag(mine=mine, n=n):
                o = torch.empty(P * n, dtype=mine.dtype)
                dist.all_gather_into_tensor(o, mine)
                return o.numpy().reshape(P, n)

            def ag_inplace(mine=mine, n=n):  # the input is this rank's slot of the output
                o = torch.zeros(P * n, dtype=mine.dtype)
                o[rank * n : (rank + 1) * n] = mine
                dist.all_gather_into_tensor(o, o[rank * n : (rank + 1) * n])
                return o.numpy().reshape(P, n)

            def ag_strided(mine=mine, n=n):  # not contiguous: the group reads a contiguous copy
                wide = torch.zeros(2 * n, dtype=mine.dtype)
                wide[::2] = mine
                o = torch.empty(P * n, dtype=mine.dtype)
                dist.all_gather_into_tensor(o, wide[::2])
                return o.numpy().reshape(P, n)

            def bc_arena(mine=mine, root=root):  # arena tensors: peers copy them through a mapping of the arena
                t = onet_torch.zeros(mine.numel(), dtype=mine.dtype)
                if rank == root:
                    t.copy_(mine)
                dist.broadcast(t, src=root)
                return t.numpy().copy()

            def ag_arena(mine=mine, n=n):
                x, o = onet_torch.zeros(n, dtype=mine.dtype), onet_torch.zeros(P * n, dtype=mine.dtype)
                x.copy_(mine)
                dist.all_gather_into_tensor(o, x)
                return o.numpy().reshape(P, n).copy()

            def ar(mine=mine):  # in place, as DDP's buckets
                t = mine.clone()
                dist.all_reduce(t)
                return t.numpy()

            def ar_arena(mine=mine):  # peers fold its slices through their mapping of this rank's arena
                t = onet_torch.zeros(mine.numel(), dtype=mine.dtype)
                t.copy_(mine)
                dist.all_reduce(t)
                return t.numpy().copy()

            def ar_strided(mine=mine, n=n):
                wide = torch.zeros(2 * n, dtype=mine.dtype)
                wide[::2] = mine
                dist.all_reduce(wide[::2])
                return wide[::2].numpy().copy()

            def rs(n=n, salt=salt):  # this rank's input: P blocks of n; its output: block `rank` of the fold
                o = torch.empty(n, dtype=mine.dtype)
                dist.reduce_scatter_tensor(o, torch.from_numpy(wide_in(dt, n, rank, salt)))
                return o.numpy()

            def rs_arena(n=n, salt=salt):
                x, o = onet_torch.zeros(P * n, dtype=mine.dtype), onet_torch.zeros(n, dtype=mine.dtype)
                x.copy_(torch.from_numpy(wide_in(dt, n, rank, salt)))
                dist.reduce_scatter_tensor(o, x)
                return o.numpy().copy()

            want_g = np.stack([data(dt, n, r, salt) for r in range(P)])
            want_r = folded(list(want_g))
            want_rs = folded([wide_in(dt, n, r, salt) for r in range(P)])[rank * n : (rank + 1) * n]
            yield f"reduce_scatter {dt.__name__} n={n}", rs, want_rs
            yield f"reduce_scatter arena {dt.__name__} n={n}", rs_arena, want_rs
            yield f"all_reduce {dt.__name__} n={n}", ar, want_r
            yield f"all_reduce arena {dt.__name__} n={n}", ar_arena, want_r
            yield f"all_reduce strided {dt.__name__} n={n}", ar_strided, want_r
            yield f"broadcast {dt.__name__} n={n}", bc, data(dt, n, root, salt)
            yield f"broadcast arena {dt.__name__} n={n}", bc_arena, data(dt, n, root, salt)
            yield f"all_gather arena {dt.__name__} n={n}", ag_arena, want_g
            yield f"all_gather {dt.__name__} n={n}", ag, want_g
            yield f"all_gather in place {dt.__name__} n={n}", ag_inplace, want_g
            yield f"all_gather strided {dt.__name__} n={n}", ag_strided, want_g


def wide_in(dt, n, r, salt):
    """Rank r's reduce_scatter input: one block of n per rank."""
    return np.concatenate([data(dt, n, r, salt + 100 * b) for b in range(int(os.environ["WORLD_SIZE"]))])


def bf16_calls(P, n, salt):
    import torch
    import torch.distributed as dist

    every = [torch.from_numpy(data(np.float32, n, r, salt)).bfloat16() for r in range(P)]
    acc = every[0].float()
    for t in every[1:]:
        acc = acc + t.float()
    want = acc.bfloat16().view(torch.int16).numpy()

    def ar():
        t = every[rank].clone()
        dist.all_reduce(t)
        return t.view(torch.int16).numpy()

    yield f"all_reduce bf16 n={n}", ar, want


def engine_calls(fl):
    """Collectives of the communicator posted to the engine so far (lane calls are not numbered there)."""
    return fl.client._seq.get(fl.group, 0)


def main():
    if mode == "torch":
        import torch
        import torch.distributed as dist

        import opennetworks.torch  # noqa: F401  (registers the backend)

        dist.init_process_group("opennetworks")
        dist.all_reduce(torch.zeros(1))  # attaches the lane
        pg = dist.group.WORLD
        pyg = getattr(pg, "py", pg)  # the compiled group
        fl = _fastlane.lane(pyg._client, pyg._gid, pyg._global_ranks)
        P = dist.get_world_size()
        calls = torch_calls(P)
    else:
        comm = onet.init()
        comm.all_reduce(np.zeros(1, np.float32))  # attaches the lane (one engine barrier)
        fl = _fastlane.lane(comm.client, comm.group, comm.ranks)
        P = comm.size
        calls = comm_calls(comm, P)
    out["direct_min"] = fl.direct_min
    c0 = getattr(pg, "_lane_calls", None) if mode == "torch" else None  # the compiled group's own lane calls
    if mode in ("comm", "torch"):
        for name, fn, want in calls:
            before = engine_calls(fl)
            got = np.asarray(fn())
            out["engine_calls"] += engine_calls(fl) - before
            if got.shape != want.shape or got.tobytes() != want.tobytes():
                out["fails"].append(f"{name}: differs from the numpy reference")
        out["compiled_calls"] = None if c0 is None else pg._lane_calls - c0
    elif mode == "mismatch":  # 100 KB: rank 0 runs it direct, the others through the blocks
        x = np.arange(25000, dtype=np.float32)
        try:
            comm.broadcast(x, 0)
            out["fails"].append("a broadcast with direct calls on one rank only did not fail")
        except OnetError as e:
            out["errors"].append([e.code, str(e), list(e.ranks)])
    elif mode == "badread":  # group rank 0 publishes an unmapped address: every reader's read fails (EFAULT)
        from opennetworks._gen.enums import DTYPES

        n = 65536
        dst = np.zeros(n, np.uint8)
        src = 0x1000 if rank == 0 else 0  # the root's output is its input (in place), so it copies nothing
        at = src if rank == 0 else dst.ctypes.data
        try:
            fl.run(_fastlane.BROADCAST, DTYPES["u8"], 0, 0, n, 1.0, src, n if rank == 0 else 0, at)
            out["fails"].append("a direct broadcast from an unmapped address did not fail")
        except OnetError as e:
            out["errors"].append([e.code, str(e), list(e.ranks)])
        y = comm.all_reduce(np.full(5, rank + 1, np.int32))  # the lane goes on
        if y.tolist() != [P * (P + 1) // 2] * 5:
            out["fails"].append(f"all_reduce after the failed call gave {y.tolist()}")
    with open(os.path.join(os.environ["ONET_OUT"], f"rank{rank}.json"), "w") as f:
        json.dump(out, f)


main()
