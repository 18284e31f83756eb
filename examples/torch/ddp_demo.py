"""A small MLP trained with DistributedDataParallel on synthetic data (no downloads).

    npx onet run -n 4 -- .venv/bin/python examples/torch/ddp_demo.py [opennetworks|gloo]

Rank 0 prints a progress bar, then one line `ONET_DEMO {...}` with the step time, the
allreduce bandwidth of a 4 MiB gradient-sized tensor, and a checksum of the final weights.
"""
import json
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn

import opennetworks.torch  # noqa: F401  registers the "opennetworks" backend

backend = sys.argv[1] if len(sys.argv) > 1 else "opennetworks"
dist.init_process_group(backend)
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
ddp = nn.parallel.DistributedDataParallel(model)
opt = torch.optim.SGD(ddp.parameters(), lr=0.05)
g = torch.Generator().manual_seed(1000 + rank)
steps = 30
t0 = time.perf_counter()
for step in range(steps):
    x = torch.randn(64, 256, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    loss = nn.functional.cross_entropy(ddp(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if rank == 0:
        done = (step + 1) * 30 // steps
        print(f"\r[{backend:>12}] [{'#' * done}{'.' * (30 - done)}] step {step + 1}/{steps} loss {loss.item():.4f}", end="", flush=True)
step_ms = (time.perf_counter() - t0) / steps * 1000
if rank == 0:
    print()

buf = torch.ones(1 << 20)  # 4 MiB
for _ in range(3):
    dist.all_reduce(buf)
iters = 20
dist.barrier()
t0 = time.perf_counter()
for _ in range(iters):
    dist.all_reduce(buf)
secs = (time.perf_counter() - t0) / iters
busbw = buf.numel() * 4 / secs / 1e9 * 2 * (world - 1) / world
checksum = float(sum(p.detach().double().sum() for p in model.parameters()))
if rank == 0:
    print("ONET_DEMO " + json.dumps({"backend": backend, "stepMs": step_ms, "busbwGBs": busbw, "loss": loss.item(), "checksum": checksum}))
dist.destroy_process_group()
