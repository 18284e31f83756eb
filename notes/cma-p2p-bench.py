"""Ping-pong of one tensor between ranks 0 and 1: single-copy receives (the default threshold) vs the copy path
(threshold 0), alternating blocks in one run on the same tensors. Rank 0 prints best-of-blocks ms per one-way
transfer. Run from python/tests (docs/performance.md "Single-copy receives")."""

import json
import time

import torch
import torch.distributed as dist

import opennetworks.torch  # noqa: F401  (registers the backend)

dist.init_process_group("opennetworks")
R = dist.get_rank()
pg = dist.group.WORLD._get_backend(torch.device("cpu"))
thr0 = pg._cma_min
res = {}
for mb in (4, 16, 64):
    n = mb * (1 << 20) // 4
    a, b = torch.ones(n), torch.empty(n)
    best = {"single": 1e9, "copy": 1e9}
    iters = max(4, 64 // mb)
    for _blk in range(6):
        for mode, thr in (("single", thr0), ("copy", 0)):
            pg._cma_min = thr
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(iters):
                if R == 0:
                    dist.send(a, 1)
                    dist.recv(b, 1)
                else:
                    dist.recv(b, 0)
                    dist.send(a, 0)
            best[mode] = min(best[mode], (time.perf_counter() - t0) / (2 * iters) * 1e3)
    res[f"{mb}MiB"] = best
if R == 0:
    print("RESULT", json.dumps(res), "cma_min", thr0)
dist.destroy_process_group()
