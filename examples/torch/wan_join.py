"""A torch job that grows between steps over the internet (docs/wan.md "Joining").

Hosts 0 and 1 train (epoch 0, world 2); a newcomer starts whenever and waits; at step GROW_AT the
two leave epoch 0 and all three meet in epoch 1 (opennetworks.torch.join_epoch: a new job
``<ONET_JOB_ID>.e1``, over libp2p with the same token under ONET_WAN=1); sync_state hands the
newcomer the parameters and the Adam state from a live rank (CRC32 checked on every rank), and all
three train on. On every host (one rank each):

    export ONET_WAN=1 ONET_JOB_TOKEN=$(cat job.token) ONET_JOB_ID=grow1 ONET_P2P_BOOTSTRAP=<relay addr>
    export MASTER_ADDR=<host 0> MASTER_PORT=29500   # torch's store: epoch e on MASTER_PORT+e
    RANK=0 WORLD0=2 WORLD1=3 python examples/torch/wan_join.py            # host 0; host 1: RANK=1
    RANK=2 JOIN_EPOCH=1 WORLD1=3 python examples/torch/wan_join.py        # the newcomer

Every rank knows GROW_AT here; a real job would have rank 0 decide it and broadcast it. With
ONET_OUT set, each rank saves its final parameters to $ONET_OUT/rank<r>.pt. Prints
``ONET_RESULT {...}`` (CRC32 of the state before and after joining) for the tests.
"""

import json
import os
import time
import zlib

import torch
import torch.distributed as dist

import opennetworks.torch

E = os.environ
STEPS, GROW_AT = int(E.get("STEPS", "8")), int(E.get("GROW_AT", "4"))
rank, newcomer = int(E["RANK"]), E.get("JOIN_EPOCH") == "1"
torch.set_num_threads(1)

torch.manual_seed(rank + 100 if newcomer else 0)  # a newcomer starts from other weights: sync_state fixes that
model = torch.nn.Linear(8, 1)
opt = torch.optim.Adam(model.parameters(), lr=0.01)


def state_crc() -> int:
    """CRC32 of the parameters and every tensor of the optimizer state, in order."""
    c = 0
    tensors = list(model.parameters()) + [t for s in opt.state.values() for t in s.values()]
    for t in tensors:
        c = zlib.crc32(t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes(), c)
    return c


def train(step: int) -> None:
    world = dist.get_world_size()
    g = torch.Generator().manual_seed(1000 * rank + step)
    x, y = torch.randn(16, 8, generator=g), torch.randn(16, 1, generator=g)
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= world
    opt.step()
    time.sleep(float(E.get("STEP_S", "0")))


out: dict = {"rank": rank, "newcomer": newcomer}
step = 0
if not newcomer:
    opennetworks.torch.join_epoch(0, rank, int(E.get("WORLD0", "2")))
    for step in range(GROW_AT):
        train(step)
        print(f"rank {rank}: step {step + 1} of {STEPS} on {dist.get_world_size()} ranks", flush=True)
    step = GROW_AT
    out["before"] = state_crc()
t0 = time.time()
job = opennetworks.torch.join_epoch(1, rank, int(E.get("WORLD1", "3")))
out["met_s"] = round(time.time() - t0, 2)
src = opennetworks.torch.sync_state(model, opt)  # the most advanced rank's state, CRC32-checked
step = max((int(s["step"]) for s in opt.state.values()), default=0)
out.update(src=src, step=step, synced=state_crc())
print(f"rank {rank}: {job}, {dist.get_world_size()} ranks, state from rank {src} at step {step}", flush=True)
while step < STEPS:
    train(step)
    step += 1
out["final"] = state_crc()
if E.get("ONET_OUT"):
    torch.save([p.detach() for p in model.parameters()], os.path.join(E["ONET_OUT"], f"rank{rank}.pt"))
print("ONET_RESULT " + json.dumps(out), flush=True)
dist.destroy_process_group()
