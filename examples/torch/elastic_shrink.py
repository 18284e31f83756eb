"""Carry on without a lost rank, in the same processes: torch's dist.shrink_group.

    npx onet run -n 3 -- .venv/bin/python examples/torch/elastic_shrink.py          # a rank is killed
    npx onet run -n 3 -- .venv/bin/python examples/torch/elastic_shrink.py --hang   # a rank hangs

Each rank trains a small model, averaging gradients with all_reduce. After the first step the last
rank dies (SIGKILL). The survivors' next all_reduce fails with opennetworks.AbortedError naming it
(e.ranks) within ~200 ms; they call dist.shrink_group(e.ranks): the default group is replaced by
one over the survivors, renumbered 0..n-2, and training goes on from the same step.

With --hang the last rank stays alive but stops taking part. The survivors post the next all_reduce
asynchronously, and when it has not finished after a while they shrink with SHRINK_ABORT: the
pending all_reduce fails at once (AbortedError, no waiting for the hung rank) and the hung rank's
next collective fails too ("excluded by rank 0"), so it can exit.

LOST_RANK picks the rank that is lost (default: the last; not 0, which holds the torch store). With
ONET_OUT set, each rank saves its final parameters to $ONET_OUT/rank<r>.pt (the test compares them
with a reference).
"""

import datetime
import os
import signal
import sys
import threading
import time

import torch
import torch.distributed as dist
from torch.distributed.distributed_c10d import SHRINK_ABORT

import opennetworks
import opennetworks.torch  # noqa: F401  registers the "opennetworks" backend

STEPS = 4
hang = "--hang" in sys.argv
dist.init_process_group("opennetworks")
me, world = dist.get_rank(), dist.get_world_size()  # `me`: the rank this process started as
lost = int(os.environ.get("LOST_RANK", world - 1))  # never rank 0 here: it holds the torch store
torch.manual_seed(0)
model = torch.nn.Linear(8, 1)


def train_step(i: int, pending=None) -> None:
    g = torch.Generator().manual_seed(1000 * me + i)  # each process keeps its own data
    x, y = torch.randn(16, 8, generator=g), torch.randn(16, 1, generator=g)
    model.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    for p in model.parameters():
        dist.all_reduce(p.grad)  # sum, then mean over the ranks of the (current) default group
        p.grad /= dist.get_world_size()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad


train_step(0)
if me == lost and not hang:
    os.kill(os.getpid(), signal.SIGKILL)  # a crash: no goodbye to anyone
store = dist.distributed_c10d._get_default_store()  # the example's own signalling, not needed otherwise
if me == lost:  # hung: back only after the others gave up on it
    store.wait(["shrunk"], datetime.timedelta(seconds=30))
    try:
        train_step(1)
    except opennetworks.AbortedError as e:  # "rank 2 was excluded by rank 0 (shrink with abort …)"
        print(f"rank {me}: excluded: {e}", flush=True)
    store.set("heard", "1")
    sys.exit(0)

if hang:
    work = dist.all_reduce(torch.ones(1), async_op=True)  # in flight, waiting for the hung rank
    outcome = {}

    def waiter():  # another thread blocked in wait(): SHRINK_ABORT must release it
        try:
            work.wait()
        except opennetworks.AbortedError as e:
            outcome["error"], outcome["at"] = e, time.perf_counter()

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.5)  # here a real job would have its own reason to give up (a deadline, a health check)
    t0 = time.perf_counter()
    dist.shrink_group([lost], shrink_flags=SHRINK_ABORT)
    t.join(5)
    store.set("shrunk", "1")
    # (A survivor that shrinks first has the coordinator fail the others' pending all_reduce too.)
    ms = max(0.0, outcome["at"] - t0) * 1e3
    print(f"rank {me}: the pending all_reduce failed {ms:.0f} ms after SHRINK_ABORT: {outcome['error']}", flush=True)
    step = 1
else:
    try:
        train_step(1)
        step = 2
    except opennetworks.AbortedError as e:  # "allreduce #3: rank 2 (pid …) died", e.ranks == [2]
        print(f"rank {me}: step 1 failed: {e}", flush=True)
        dist.shrink_group(e.ranks)  # e.ranks are ranks of the default group here
        step = 1
print(f"rank {me}: now rank {dist.get_rank()} of {dist.get_world_size()}", flush=True)
for i in range(step, STEPS):
    train_step(i)
sub = dist.new_group([0, 1])  # groups made after the shrink take the new rank numbers
t = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(t, group=sub)
print(f"rank {me}: a new group over ranks [0, 1] sums to {t.item()}", flush=True)
if os.environ.get("ONET_OUT"):
    torch.save([p.detach().clone() for p in model.parameters()], f"{os.environ['ONET_OUT']}/rank{me}.pt")
print(f"rank {me}: done, weight sum {sum(p.sum().item() for p in model.parameters()):.6f}", flush=True)
if hang and me == 0:  # rank 0 holds the store: keep it until the hung rank has heard
    store.wait(["heard"], datetime.timedelta(seconds=30))
dist.destroy_process_group()
