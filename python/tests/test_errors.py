"""Bad input gives a clear Python exception on every affected rank within the timeout, never a hang."""

import pytest

import _harness

pytestmark = pytest.mark.needs_coordinator

CASES = {
    # which: (world, {rank: accepted exception class names}, seconds limit)
    "shape": (2, {0: {"CollectiveMismatchError"}, 1: {"CollectiveMismatchError"}}, 10),
    "dtype": (2, {0: {"CollectiveMismatchError"}, 1: {"CollectiveMismatchError"}}, 10),
    "op": (3, {r: {"CollectiveMismatchError"} for r in range(3)}, 10),
    "collective": (2, {0: {"CollectiveMismatchError"}, 1: {"CollectiveMismatchError"}}, 10),
    "root": (2, {0: {"CollectiveMismatchError"}, 1: {"CollectiveMismatchError"}}, 10),
    "device": (2, {0: {"UnsupportedError"}, 1: {"CollectiveMismatchError", "InvalidArgumentError"}}, 10),
    "band_float": (2, {0: {"UnsupportedError"}, 1: {"UnsupportedError"}}, 10),
    "missing": (2, {0: {"TimeoutError"}}, 15),
    "dead_coordinator": (2, {0: {"AbortedError"}, 1: {"AbortedError"}}, 10),
}


@pytest.mark.parametrize("which", list(CASES))
def test_bad_input_raises_on_every_rank(which):
    world, expected, limit = CASES[which]
    run = _harness.run_ranks(world, "errors", "opennetworks", args=(which,), timeout=90, env={"ONET_TIMEOUT": "4"})
    assert all(r is not None for r in run.results), f"a rank crashed or hung:\n{run.describe()}"
    for rank, accepted in expected.items():
        got = run.results[rank]["result"]
        assert got != "no error", f"rank {rank}: {which}: no exception was raised"
        assert got["type"] in accepted, f"rank {rank}: {which}: got {got['type']}: {got['message']}"
        assert "OnetError" in got["mro"] and "RuntimeError" in got["mro"]
        assert "rank" in got["message"], f"the message should name ranks: {got['message']}"
        assert got["code"], "errors carry their protocol code"
        assert run.results[rank]["seconds"] < limit, f"rank {rank}: {which}: took {run.results[rank]['seconds']:.1f} s"
