"""A rank that joins late catches up from a live peer: opennetworks.torch.sync_state.

    npx onet run -n 3 -- .venv/bin/python examples/torch/sync_state.py

The last rank starts late (here it sleeps 2 s first; in real life a replacement process). The
others do not wait for it: they train among themselves on a group of the early ranks. When the
late rank arrives, every rank calls sync_state(model, optimizer): the late rank gets the early
ranks' parameters, buffers and optimizer state (src=None picks the most advanced rank, lowest on
ties), every rank checks a CRC32 of the result against the source's, and all train on together.

With ONET_OUT set, each rank saves its final parameters to $ONET_OUT/rank<r>.pt.
"""

import os
import time

import torch
import torch.distributed as dist

import opennetworks.torch  # registers the "opennetworks" backend

EARLY_STEPS, STEPS = 3, 5
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
late = world - 1
if rank == late:
    time.sleep(float(os.environ.get("LATE_S", "2")))
dist.init_process_group("opennetworks")
early = dist.new_group(list(range(late)), use_local_synchronization=True)  # only its members take part

torch.manual_seed(rank)  # every rank starts from different weights: sync_state must fix that
model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1))
opt = torch.optim.Adam(model.parameters(), lr=0.01)


def train_step(i: int, group, n: int) -> None:
    g = torch.Generator().manual_seed(1000 * rank + i)
    x, y = torch.randn(16, 8, generator=g), torch.randn(16, 1, generator=g)
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    for p in model.parameters():
        dist.all_reduce(p.grad, group=group)
        p.grad /= n
    opt.step()


if rank != late:
    torch.manual_seed(0)  # the early ranks agree on their start
    for p in model.parameters():
        torch.nn.init.normal_(p)
    for i in range(EARLY_STEPS):
        train_step(i, early, late)
    print(f"rank {rank}: trained {EARLY_STEPS} steps before rank {late} arrived", flush=True)

src = opennetworks.torch.sync_state(model, opt)  # collective: every rank of the world calls it
print(f"rank {rank}: state synced from rank {src}", flush=True)
synced = [t.clone() for t in model.state_dict().values()] + [
    t.clone() for st in opt.state_dict()["state"].values() for t in st.values()
]
for i in range(EARLY_STEPS, STEPS):
    train_step(i, None, world)
if os.environ.get("ONET_OUT"):  # (BatchNorm's running statistics stay per rank, as without DDP)
    final = [p.detach().clone() for p in model.parameters()]
    torch.save({"synced": synced, "final": final}, f"{os.environ['ONET_OUT']}/rank{rank}.pt")
print(f"rank {rank}: done", flush=True)
dist.destroy_process_group()
