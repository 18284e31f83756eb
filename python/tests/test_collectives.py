"""Every collective × dtype × op at world sizes 1-4, against gloo on the same inputs.

One multi-process run per (world size, backend) executes the whole catalogue; the tests below
check its per-case results, so the process start-up cost is paid once per world size.
"""

import pytest
import torch

import _harness
from _compare import diff, is_err
from _worker import catalogue

pytestmark = pytest.mark.needs_coordinator
WORLDS = [1, 2, 3, 4]
_runs: dict = {}


def _results(world, backend):
    key = (world, backend)
    if key not in _runs:
        # Small pipeline chunks so that the larger cases also exercise chunked posting.
        run = _harness.run_ranks(world, "colls", backend, env={"ONET_TIMEOUT": "60", "ONET_PIPELINE_BYTES": "65536"})
        _runs[key] = run
    run = _runs[key]
    if any(r is None for r in run.results):
        pytest.fail(f"{backend} run at world {world} failed:\n{run.describe()}")
    return run.results


def _inexact(name: str, world: int) -> bool:
    # Random floats (and averages) may round differently in the last bit when more than two
    # values are summed: gloo's ring folds chunks in different orders. Integer data is exact.
    return "rand" in name or name.endswith("-avg") or ("premul" in name and world > 2)


CASES = [(w, name) for w in WORLDS for name, _ in catalogue(w, "opennetworks")]


# "send-many-before-recv" covers Engine::poll ordering a scan's slots by the post number at
# slot offset 96: sends all carry seq 0, and the client reuses slots FIFO, so a burst of
# buffered sends wraps around the slot ring (it was matched out of order before the fix).
_COORDINATOR_ORDERING: set[str] = set()


def _params():
    for w, c in CASES:
        marks = (
            [
                pytest.mark.xfail(
                    reason="coordinator orders a scan's p2p slots by index, not by post number (slot offset 96)",
                    strict=False,
                )
            ]
            if c in _COORDINATOR_ORDERING
            else []
        )
        yield pytest.param(w, c, id=f"n{w}-{c}", marks=marks)


@pytest.mark.parametrize("world,case", list(_params()))
def test_matches_gloo(world, case):
    ours = _results(world, "opennetworks")
    ref = _results(world, "gloo")
    for rank in range(world):
        a, b = ours[rank].get(case), ref[rank].get(case)
        if is_err(b):
            assert is_err(a), f"rank {rank}: gloo raised {b[1]}: {b[2]} but opennetworks returned {a!r}"
            continue
        assert not is_err(a), f"rank {rank}: opennetworks raised {a[1]}: {a[2]}"
        d = diff(a, b, exact=not _inexact(case, world))
        assert d is None, f"rank {rank}: {case} differs from gloo: {d}"


def test_catalogue_is_large():
    assert len(catalogue(4, "opennetworks")) > 150
    _ = torch
