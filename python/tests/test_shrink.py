"""torch's dist.shrink_group on the opennetworks backend: real rank processes running
examples/torch/elastic_shrink.py. A rank is killed (SIGKILL) or hangs; the survivors shrink the
default group and train on; their final parameters must equal, bit for bit, the same training
done by hand (step 0 averaged over 3 ranks, the later steps over the 2 survivors)."""

from __future__ import annotations

import pytest
import torch

from _harness import REPO
from _spawn import run_script

pytestmark = pytest.mark.needs_coordinator
EXAMPLE = REPO / "examples" / "torch" / "elastic_shrink.py"


def _reference(first_world: int, survivors: list[int], shrink_at: int, steps: int = 4) -> list[torch.Tensor]:
    """The example's training in one process: the sum of the ranks' gradients in rank order, / world."""
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 1)
    for i in range(steps):
        ranks = list(range(first_world)) if i < shrink_at else survivors
        grads = []
        for me in ranks:
            g = torch.Generator().manual_seed(1000 * me + i)
            x, y = torch.randn(16, 8, generator=g), torch.randn(16, 1, generator=g)
            model.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            grads.append([p.grad.clone() for p in model.parameters()])
        with torch.no_grad():
            for k, p in enumerate(model.parameters()):
                total = grads[0][k].clone()
                for gr in grads[1:]:
                    total += gr[k]
                p -= 0.1 * (total / len(ranks))
    return [p.detach() for p in model.parameters()]


def _check(run, want, survivors=(0, 1)):
    for r in survivors:
        assert run.returncodes[r] == 0, run.describe()
        assert f"rank {r}: a new group over ranks [0, 1] sums to 3.0" in run.logs[r], run.describe()
        got = run.results[r]
        assert got is not None, run.describe()
        for a, b in zip(got, want):
            assert torch.equal(a, b), f"rank {r}: {a} != {b}\n{run.describe()}"


def reference(*args, **kw):
    """As the ranks compute it: one thread (OMP_NUM_THREADS=1), since kernels split sums by thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _reference(*args, **kw)
    finally:
        torch.set_num_threads(threads)


def test_killed_rank_survivors_shrink_and_continue_exact():
    # Rank 1 dies: the survivors 0 and 2 become ranks 0 and 1 (the coordinator still knows 0 and 2).
    run = run_script(3, EXAMPLE, timeout=90, env={"LOST_RANK": "1"})
    assert run.returncodes[1] == -9, run.describe()
    for r, new in ((0, 0), (2, 1)):
        assert "rank 1 (pid" in run.logs[r] and "died" in run.logs[r], run.describe()
        assert f"rank {r}: now rank {new} of 2" in run.logs[r], run.describe()
    _check(run, reference(3, [0, 2], shrink_at=1), (0, 2))


def test_shrink_abort_fails_the_collective_in_flight():
    run = run_script(3, EXAMPLE, ("--hang",), timeout=90)
    for r in (0, 1):
        assert "the pending all_reduce failed" in run.logs[r] and "SHRINK_ABORT" in run.logs[r], run.describe()
    # The hung rank's next collective fails at once, naming the exclusion; it exits normally.
    assert run.returncodes[2] == 0, run.describe()
    assert "rank 2 was excluded by rank" in run.logs[2], run.describe()
    _check(run, reference(3, [0, 1], shrink_at=1))
