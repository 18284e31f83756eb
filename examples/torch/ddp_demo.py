"""A small MLP trained with DistributedDataParallel on a synthetic task it can learn (no downloads).

    npx onet run -n 4 -- .venv/bin/python examples/torch/ddp_demo.py [opennetworks|gloo] [WEIGHTS.f32]

The task: 10 classes, each a Gaussian cloud around its own centre in 64 dimensions, close enough to
overlap a little. Every rank draws its own batches (a different seed per rank); DDP averages the
gradients with the chosen backend. Rank 0 prints the loss and held-out accuracy as it goes, then one
line `ONET_DEMO {...}` with the step time, the allreduce bandwidth of a 4 MiB gradient-sized tensor
and a checksum of the final weights, and writes the weights (float32, flat) to WEIGHTS.f32 if given.
"""

import json
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn

import opennetworks.torch  # noqa: F401  registers the "opennetworks" backend

FEATURES, CLASSES, NOISE = 64, 10, 2.5
STEPS, BATCH, REPORT_EVERY = 40, 64, 10

backend = sys.argv[1] if len(sys.argv) > 1 else "opennetworks"
weights_path = sys.argv[2] if len(sys.argv) > 2 else None
dist.init_process_group(backend)
rank, world = dist.get_rank(), dist.get_world_size()

# Same centres on every rank (seed 0); each rank's samples come from its own generator.
centres = torch.randn(CLASSES, FEATURES, generator=torch.Generator().manual_seed(0))


def sample(n, g):
    y = torch.randint(0, CLASSES, (n,), generator=g)
    return centres[y] + NOISE * torch.randn(n, FEATURES, generator=g), y


test_x, test_y = sample(2048, torch.Generator().manual_seed(999))  # held out, identical on every rank

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(FEATURES, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, CLASSES))
ddp = nn.parallel.DistributedDataParallel(model)
opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
g = torch.Generator().manual_seed(1000 + rank)


def accuracy():
    with torch.no_grad():
        return (model(test_x).argmax(1) == test_y).float().mean().item()


if rank == 0:
    print(f"[{backend}] step   0/{STEPS}  held-out accuracy {accuracy():.2f} (chance is {1 / CLASSES:.2f})", flush=True)
t0 = time.perf_counter()
for step in range(1, STEPS + 1):
    x, y = sample(BATCH, g)
    loss = nn.functional.cross_entropy(ddp(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if rank == 0 and step % REPORT_EVERY == 0:
        print(
            f"[{backend}] step {step:3d}/{STEPS}  loss {loss.item():.4f}  held-out accuracy {accuracy():.2f}",
            flush=True,
        )
step_ms = (time.perf_counter() - t0) / STEPS * 1000
acc = accuracy()

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

flat = torch.cat([p.detach().flatten() for p in model.parameters()])
if rank == 0:
    if weights_path:
        flat.numpy().tofile(weights_path)
    result = {"backend": backend, "stepMs": step_ms, "busbwGBs": busbw, "loss": loss.item(), "accuracy": acc}
    result["checksum"] = float(flat.double().sum())
    print("ONET_DEMO " + json.dumps(result), flush=True)
dist.destroy_process_group()
