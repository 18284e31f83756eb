"""Arena tensors (opennetworks.torch.empty/zeros/to_arena): collectives on them copy nothing and
give exactly what they give on ordinary tensors; their blocks return to the allocator."""

import pytest
import torch

import _harness
from _compare import diff

pytestmark = pytest.mark.needs_coordinator


def _run(world, scenario, monkeypatch):
    monkeypatch.setattr(_harness, "WORKER", _harness.HERE / "_arena_worker.py")
    run = _harness.run_ranks(world, scenario, "opennetworks", env={"ONET_TIMEOUT": "60"})
    if any(r is None for r in run.results):
        pytest.fail(f"arena {scenario} at world {world} failed:\n{run.describe()}")
    return run.results


@pytest.mark.parametrize("world", [1, 2, 3])
def test_arena_tensors_match_ordinary_tensors(world, monkeypatch):
    res = _run(world, "cases", monkeypatch)
    for rank, r in enumerate(res):
        for n in (1, 4097, 1 << 18):
            assert r[(n, "arena", "in_arena")] == [True, True, True], "arena tensors were not in the arena"
            d = diff(r[(n, "arena")], r[(n, "plain")])
            assert d is None, f"rank {rank}, {n} elements: arena results differ from ordinary ones: {d}"
        # And ordinary results are right: all_reduce of the same seeds on every rank.
        x = r[(4097, "plain")][0]
        want = sum(
            torch.randint(-3, 4, (4097,), generator=torch.Generator().manual_seed(1000 * q + 1)).float()
            for q in range(world)
        )
        assert torch.equal(x, want)


def test_arena_blocks_return_to_the_allocator(monkeypatch):
    for r in _run(2, "blocks", monkeypatch):
        assert r["during"] >= r["before"] + 8 * (1 << 18)
        assert r["mid"] >= r["before"] + (1 << 18), "a block was freed while a view of it was alive"
        assert r["after"] == r["before"], f"arena blocks leaked: {r}"
