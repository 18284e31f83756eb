"""One rank of bench/wan.mjs with torch.distributed gloo: the same first allreduce and timed
allreduces as bench/wan_worker.mjs, rendezvous at MASTER_ADDR:MASTER_PORT. Prints ONET_RESULT."""

import json
import os
import time

import torch
import torch.distributed as dist

E = os.environ
sizes = [int(s) for s in E.get("ONET_WAN_BENCH_SIZES", str(16 << 20)).split(",")]
warm = int(E.get("ONET_WAN_BENCH_WARM", "1"))
reps = [int(s) for s in E.get("ONET_WAN_BENCH_REPS", "3").split(",")]
t_start = float(E.get("ONET_WAN_BENCH_T0", time.time() * 1000)) / 1000
rank, world = int(E["RANK"]), int(E["WORLD_SIZE"])
dist.init_process_group("gloo", init_method=f"tcp://{E['MASTER_ADDR']}:{E['MASTER_PORT']}", rank=rank, world_size=world)
dist.all_reduce(torch.ones(1))
res = {"rank": rank, "firstMs": round((time.time() - t_start) * 1000), "times": {}}
for i, nbytes in enumerate(sizes):
    x = torch.ones(nbytes // 4)
    n = reps[i] if i < len(reps) else reps[0]
    res["times"][str(nbytes)] = []
    for k in range(warm + n):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(x)
        if k >= warm:
            res["times"][str(nbytes)].append(time.perf_counter() - t0)
    if x[0].item() != world ** (warm + n):
        res["wrong"] = f"allreduce of {nbytes} B: got {x[0].item()}"
print("ONET_RESULT " + json.dumps(res), flush=True)
dist.destroy_process_group()
