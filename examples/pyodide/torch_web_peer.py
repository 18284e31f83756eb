"""A PyTorch rank of a job with web ranks, with nothing but torch's defaults (env://):

onet run -n 2 --web 1 -- python examples/pyodide/torch_web_peer.py    # prints rank 2's join URL

WORLD_SIZE counts the web rank, which never connects to torch's store; opennetworks.torch's env:// handler makes
the store wait only for the process ranks (ONET_WEB_RANKS, set by onet run --web).
"""

from datetime import timedelta

import torch
import torch.distributed as dist

import opennetworks.torch  # noqa: F401  (torch also loads it by itself through its backend entry point)

dist.init_process_group("opennetworks", timeout=timedelta(seconds=30))
rank, world = dist.get_rank(), dist.get_world_size()
x = torch.full((4,), rank + 1.0)
dist.all_reduce(x)
print(f"rank {rank} of {world} (torch): {x.tolist()}", flush=True)
dist.destroy_process_group()
