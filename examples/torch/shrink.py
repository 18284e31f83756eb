"""Recovery in-process after a rank dies: the survivors build a new process group without it.

    npx onet run -n 3 -- .venv/bin/python examples/torch/shrink.py

The last rank crashes after the first step. The others get an error naming it (AbortedError,
"rank 2 (pid …) died") within about 200 ms instead of hanging until the timeout, then create a
group over the survivors with dist.new_group(..., use_local_synchronization=True) — only the
survivors take part — and carry on. `onet run` still reports the dead rank (exit status 1).

For restarts instead of shrinking, run under torchrun with --max-restarts N: after a failure
torchrun restarts every rank, and init_process_group("opennetworks") meets a fresh coordinator.
"""

import datetime
import os

import torch
import torch.distributed as dist

import opennetworks
import opennetworks.torch  # noqa: F401  registers the "opennetworks" backend

dist.init_process_group("opennetworks", timeout=datetime.timedelta(seconds=30))
rank, world = dist.get_rank(), dist.get_world_size()
x = torch.ones(4)
dist.all_reduce(x)
print(f"rank {rank}: step 1 on {world} ranks: {x.tolist()}", flush=True)

dead = world - 1
if rank == dead:
    os._exit(1)  # a crash: no goodbye to anyone

try:
    dist.all_reduce(torch.ones(4))
except opennetworks.OnetError as e:  # AbortedError: "allreduce #2: rank 2 (pid …) died"
    print(f"rank {rank}: step 2 failed: {type(e).__name__}: {e}", flush=True)

survivors = [r for r in range(world) if r != dead]
pg = dist.new_group(ranks=survivors, use_local_synchronization=True)
y = torch.full((4,), float(rank + 1))
dist.all_reduce(y, group=pg)
print(f"rank {rank}: step 2 again on ranks {survivors}: {y.tolist()}", flush=True)
dist.destroy_process_group()
