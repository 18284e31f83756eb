"""Elastic training under torchrun: hosts come and go, the job resumes with the new world size.

One torchrun agent per host (here: several on one machine, each with its own loopback address):

    export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1  # torch 2.13: without it, adding a host hangs
    ONET_IFNAME=127.0.0.2 ONET_RUN_DIR=/tmp/n0 SNAPSHOT_DIR=/tmp/n0 .venv/bin/torchrun --nnodes 2:3 \\
        --nproc-per-node 1 --max-restarts 3 --rdzv-backend c10d --rdzv-endpoint 127.0.0.1:29400 \\
        --rdzv-id job1 --rdzv-conf last_call_timeout=1 examples/torch/elastic_train.py
    # the same on the next hosts, with 127.0.0.3 and /tmp/n1, 127.0.0.4 and /tmp/n2

When a host is lost, the other ranks' next collective fails (AbortedError: the host's connection
closed), they exit, and torchrun restarts every worker against the hosts that are left; when a host
is added, torchrun restarts the workers to take it in. Either way init_process_group meets fresh
coordinators with the new world size. Each host keeps a snapshot of its rank's state on local disk
after every step; after a restart the ranks reload theirs, and opennetworks.torch.sync_state hands
the most advanced state to everyone: a new host (no snapshot) and a host whose snapshot is a step
behind catch up from a live peer, so nobody goes back to a shared checkpoint.

Environment: SNAPSHOT_DIR (this host's snapshot), STEPS (default 12), STEP_S (a pause per step, to
leave time for hosts to come and go), KILL_HOST_AT (with KILL_NODE: the host whose agent and worker
are killed after that step, in the first round only), HOLD_AT and WAIT_WORLD (stop at that step
until the world has that many ranks: the test's way to make a host join at a known step).
"""

import os
import signal
import time
from pathlib import Path

import torch
import torch.distributed as dist

import opennetworks
import opennetworks.torch

STEPS = int(os.environ.get("STEPS", "12"))
dist.init_process_group("opennetworks")
rank, world = dist.get_rank(), dist.get_world_size()
restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
snap = Path(os.environ["SNAPSHOT_DIR"]) / "snapshot.pt"

torch.manual_seed(0)
model = torch.nn.Linear(8, 1)
opt = torch.optim.Adam(model.parameters(), lr=0.01)
history: list = []  # (first step, world size) of every round, for the test's reference
if snap.exists():
    saved = torch.load(snap)
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["opt"])
    history = saved["history"]
src = opennetworks.torch.sync_state(model, opt)  # the most advanced rank's state, everywhere
box = [history]
dist.broadcast_object_list(box, src)
step = max((int(s["step"]) for s in opt.state.values()), default=0)
history = box[0] + [(step, world)]
print(f"rank {rank}/{world} (restart {restart}): resuming at step {step} from rank {src}", flush=True)

while step < STEPS:
    if step == int(os.environ.get("HOLD_AT", "-1")) and world < int(os.environ.get("WAIT_WORLD", "0")):
        print(f"rank {rank}: holding at step {step} until a host joins", flush=True)
        time.sleep(120)  # torchrun restarts this worker when the new host's agent joins the rendezvous
        os._exit(1)
    g = torch.Generator().manual_seed(1000 * rank + step)
    x, y = torch.randn(16, 8, generator=g), torch.randn(16, 1, generator=g)
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    try:
        for p in model.parameters():
            dist.all_reduce(p.grad)
            p.grad /= world
    except opennetworks.AbortedError as e:  # a host is gone: exit, torchrun restarts the others
        print(f"rank {rank}: step {step} failed ({e}); exiting for a restart", flush=True)
        os._exit(1)
    opt.step()
    step += 1
    tmp = snap.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "history": history}, tmp)
    tmp.replace(snap)  # atomic: a worker killed mid-save leaves the previous snapshot
    if restart == 0 and step == int(os.environ.get("KILL_HOST_AT", "-1")) and os.environ.get("KILL_NODE") == "1":
        print(f"rank {rank}: this host goes away after step {step}", flush=True)
        os.kill(os.getppid(), signal.SIGKILL)  # the torchrun agent: the host is gone for good
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(float(os.environ.get("STEP_S", "0")))

if rank == 0:
    print(f"done: world history {history}", flush=True)
    torch.save({"params": [p.detach() for p in model.parameters()], "history": history}, snap.with_name("final.pt"))
dist.destroy_process_group()
