"""opennetworks.torch.sync_state with a rank that starts late (examples/torch/sync_state.py, 3 real
ranks): right after the sync every rank holds the same parameters, buffers and optimizer state, and
the final parameters equal the same training done by hand in one process."""

from __future__ import annotations

import pytest
import torch

from _harness import REPO
from _spawn import run_script

pytestmark = pytest.mark.needs_coordinator
EXAMPLE = REPO / "examples" / "torch" / "sync_state.py"


def _reference(world=3, early_steps=3, steps=5):
    late = world - 1
    torch.manual_seed(late)  # the model's construction draws from the generator as the example does
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1))
    torch.manual_seed(0)
    for p in model.parameters():
        torch.nn.init.normal_(p)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for i in range(steps):
        ranks = range(late) if i < early_steps else range(world)
        grads = []
        for r in ranks:  # BatchNorm in training mode normalises by the batch: buffers do not matter
            g = torch.Generator().manual_seed(1000 * r + i)
            x, y = torch.randn(16, 8, generator=g), torch.randn(16, 1, generator=g)
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            grads.append([p.grad.clone() for p in model.parameters()])
        for k, p in enumerate(model.parameters()):
            total = grads[0][k].clone()
            for gr in grads[1:]:
                total += gr[k]
            p.grad = total / len(grads)
        opt.step()
    return [p.detach() for p in model.parameters()]


def reference(*args, **kw):
    """As the ranks compute it: one thread (OMP_NUM_THREADS=1), since kernels split sums by thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _reference(*args, **kw)
    finally:
        torch.set_num_threads(threads)


def test_late_rank_catches_up():
    run = run_script(3, EXAMPLE, timeout=120, env={"LATE_S": "1.5"})
    assert run.returncodes == [0, 0, 0], run.describe()
    for r in range(3):
        assert "state synced from rank 0" in run.logs[r], run.describe()
    a = run.results[0]
    for r in (1, 2):
        b = run.results[r]
        assert len(a["synced"]) == len(b["synced"]) > 0
        for x, y in zip(a["synced"], b["synced"]):
            assert torch.equal(x, y), f"rank {r} differs from rank 0 right after sync_state"
    want = reference()
    for r in range(3):
        for x, y in zip(run.results[r]["final"], want):
            assert torch.equal(x, y), f"rank {r}: final parameters differ from the reference"
