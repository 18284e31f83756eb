"""One rank of test_cma_p2p.py: send/recv with single-copy receives (python/opennetworks/torch/_p2p.py).

Each rank sends to the next and receives from the previous one (a ring), for every count and dtype, with the
process group's single-copy threshold on and then 0 (the copy path); the received tensors are compared with
the numpy reference bit for bit, the bytes around a misaligned receive buffer must stay untouched, and the
path each receive took (the flags of its post) is recorded. Also an irecv posted before its send and a recv
from any source. Writes ONET_OUT/rank<r>.json.
"""

from __future__ import annotations

import traceback

import numpy as np
import torch
import torch.distributed as dist

from _cma_rank import RANK, CmaRank
from opennetworks.torch._common import RECV

COUNTS = [0, 1, 4097, (1 << 20) + 3]
DTYPES = {"f32": (torch.float32, np.float32), "f64": (torch.float64, np.float64), "bf16": (torch.bfloat16, None)}


def ref(src: int, n: int, salt: int, np_dtype) -> np.ndarray:
    """What rank src sends: small integers (exact in every dtype), from numpy."""
    rng = np.random.default_rng(1009 * src + salt)
    return rng.integers(-100, 101, size=n).astype(np_dtype or np.float32)


def main() -> None:
    me = CmaRank(RECV)
    P = me.world
    nxt, prv = (RANK + 1) % P, (RANK - 1) % P
    fails, paths, salt = [], {}, 0
    for dname, (tdt, ndt) in DTYPES.items():
        for n in COUNTS if dname == "f32" else [4097]:
            for form in ("recv", "irecv_first", "anysource"):
                if form != "recv" and n != 4097:
                    continue
                key = f"{form}/{dname}/{n}"
                for mode in ("single", "copy"):
                    salt += 1
                    me.use(mode)
                    try:
                        mine = torch.from_numpy(ref(RANK, n, salt, ndt)).to(tdt)
                        big = torch.full((n + 3,), 77.0, dtype=tdt)  # the guard bytes around the receive
                        got = big[1 : n + 1]  # 4 bytes past an allocation: a misaligned, contiguous view
                        if form == "irecv_first":
                            w = dist.irecv(got, prv)
                            dist.send(mine, nxt)
                            w.wait()
                        else:
                            dist.send(mine, nxt)
                            dist.recv(got, None if form == "anysource" and P == 2 else prv)
                        want = torch.from_numpy(ref(prv, n, salt, ndt)).to(tdt)
                        if not torch.equal(got, want):
                            bad = (got != want).nonzero()
                            fails.append(f"{key} {mode}: {bad.numel()} wrong, first at {bad[:3].flatten().tolist()}")
                        if big[0].item() != 77.0 or big[-2:].tolist() != [77.0, 77.0]:
                            fails.append(f"{key} {mode}: bytes around the receive buffer changed")
                        if mode == "single":
                            paths[key] = me.took_cma()
                    except Exception:  # noqa: BLE001 - recorded, the test reports it
                        fails.append(f"{key} {mode}: {traceback.format_exc()[-1500:]}")
                    dist.barrier()  # the next round's sends must not meet this round's anysource receive
    me.finish(fails, paths)


if __name__ == "__main__":
    main()
