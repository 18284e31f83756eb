"""One rank of test_cma_p2p.py: send/recv with single-copy receives (python/opennetworks/torch/_p2p.py).

Each rank sends to the next and receives from the previous one (a ring), for every count and dtype, with the
process group's single-copy threshold on and then 0 (the copy path); the received tensors are compared with
the numpy reference bit for bit, the bytes around a misaligned receive buffer must stay untouched, and the
path each receive took (the flags of its post) is recorded. Also an irecv posted before its send and a recv
from any source. Writes ONET_OUT/rank<r>.json.
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

import opennetworks.torch  # noqa: F401  (registers the backend)
from opennetworks._gen.layout import FLAG_CMA
from opennetworks.torch._common import RECV

RANK = int(os.environ["RANK"])
COUNTS = [0, 1, 4097, (1 << 20) + 3]
DTYPES = {"f32": (torch.float32, np.float32), "f64": (torch.float64, np.float64), "bf16": (torch.bfloat16, None)}


def ref(src: int, n: int, salt: int, np_dtype) -> np.ndarray:
    """What rank src sends: small integers (exact in every dtype), from numpy."""
    rng = np.random.default_rng(1009 * src + salt)
    return rng.integers(-100, 101, size=n).astype(np_dtype or np.float32)


def main() -> None:
    dist.init_process_group("opennetworks")
    P = dist.get_world_size()
    pg = dist.group.WORLD._get_backend(torch.device("cpu"))
    cma_min = pg._cma_min
    eng = pg._eng
    recv_flags: list[int] = []
    real_post = eng.post

    def post(*a, **kw):
        if a[1] == RECV:
            recv_flags.append(kw.get("flags", 0))
        return real_post(*a, **kw)

    eng.post = post
    nxt, prv = (RANK + 1) % P, (RANK - 1) % P
    fails, paths, salt = [], {}, 0
    for dname, (tdt, ndt) in DTYPES.items():
        for n in COUNTS if dname == "f32" else [4097]:
            for form in ("recv", "irecv_first", "anysource"):
                if form != "recv" and n != 4097:
                    continue
                key = f"{form}/{dname}/{n}"
                for mode, thr in (("single", cma_min), ("copy", 0)):
                    salt += 1
                    pg._cma_min = thr
                    del recv_flags[:]
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
                            paths[key] = any(f & FLAG_CMA for f in recv_flags)
                    except Exception:  # noqa: BLE001 - recorded, the test reports it
                        fails.append(f"{key} {mode}: {traceback.format_exc()[-1500:]}")
                    dist.barrier()  # the next round's sends must not meet this round's anysource receive
    pg._cma_min = cma_min
    eng.post = real_post
    out = {"rank": RANK, "world": P, "cma_min": cma_min, "fails": fails, "paths": paths}
    Path(os.environ["ONET_OUT"], f"rank{RANK}.json").write_text(json.dumps(out))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
