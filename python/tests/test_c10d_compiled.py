"""The compiled torch process group (ONET_TORCH_IMPL=compiled, native/torch/onet_c10d.cc): all_reduce
(sum, max), broadcast, all_gather, all_gather_into_tensor, reduce_scatter_tensor (sum, min) and barrier
against numpy, each of the last three run in C++ (lane_ops), over world sizes 1, 2, 3 and
counts 0, 1, 7, 4097; calls it hands to Python (too big, async, not contiguous, send/recv) in
program order; errors of the same type as the Python path's; both ways the lane waits (yielding, busy);
a clear error when it is asked for and not built. Real rank processes and a real coordinator (_spawn);
each case is one run of _c10d_worker.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.needs_coordinator

_WORKER = Path(__file__).resolve().parent / "_c10d_worker.py"


def _built():
    from opennetworks.torch import _compiled

    return pytest.mark.skipif(
        _compiled.load() is None, reason=f"compiled c10d module not built: {_compiled.load_error()}"
    )


def _run(world: int, mode: str, impl: str = "compiled", reporting: int | None = None, spin: str = ""):
    import _spawn

    env = {"ONET_TORCH_IMPL": impl, "ONET_FASTLANE_MAX_BYTES": "65536", "ONET_TIMEOUT": "20"}
    env["C10D_WORKER_SPIN"] = spin  # "": the load-dependent policy (_spin_policy.lane_spin_us)
    res = _spawn.run_script(world, _WORKER, (mode,), env=env, timeout=90)
    return res, _spawn.rank_results(res, world if reporting is None else reporting)


@_built()
@pytest.mark.parametrize("world", [1, 2, 3])
def test_results_match_numpy_and_fallbacks_keep_order(world):
    res, outs = _run(world, "check")
    assert res.returncodes == [0] * world, res.logs
    for o in outs:
        assert o["impl"] == "compiled"
        assert o["fails"] == [], o["fails"]
        assert o["lane_calls"] > 0, "no call ran in C++"  # and the rest (_c10d_worker.fallback) in Python
        assert o["lane_ops"] == dict.fromkeys(o["lane_ops"], 1) and len(o["lane_ops"]) == 3, o["lane_ops"]
        assert o["client"]


@_built()
def test_errors_have_the_python_paths_type():
    _, compiled = _run(2, "errors", "compiled", reporting=1)
    _, python = _run(2, "errors", "python", reporting=1)
    assert compiled[0]["lane_calls"] > 0
    for what in ("mismatch", "gone"):
        c, p = compiled[0][what], python[0][what]
        assert c["type"] is not None and (c["type"], c["code"]) == (p["type"], p["code"]), (what, c, p)
    assert compiled[0]["mismatch"]["type"] == "CollectiveMismatchError"
    assert compiled[0]["gone"]["type"] == "AbortedError"


@_built()
@pytest.mark.parametrize("spin", ["-200", "3"])
def test_each_way_of_waiting(spin):
    """Yielding (spin < 0, a crowded host) and busy polling, whichever the host's load would pick: the same
    results, and a peer that dies is still named while the others wait."""
    res, outs = _run(3, "check", spin=spin)
    assert res.returncodes == [0] * 3, res.logs
    assert all(o["fails"] == [] and o["lane_calls"] > 0 for o in outs), outs
    _, errs = _run(2, "errors", reporting=1, spin=spin)
    assert errs[0]["gone"]["type"] == "AbortedError", errs[0]


def test_auto_without_module_says_so_and_runs_python():
    res, outs = _run(1, "missing", impl="auto")
    assert res.returncodes == [0], res.logs
    assert outs[0].get("impl") == "python" and outs[0]["lane_calls"] == 0, outs
    text = res.logs[0]
    assert text.count("the compiled torch backend is unavailable") == 1, text
    assert "/nonexistent/_onet_c10d.so is not built" in text, text


def test_compiled_without_module_is_a_clear_error():
    res, outs = _run(1, "missing")
    err = outs[0].get("init_error")
    assert err is not None, outs
    assert err["type"] == "InvalidArgumentError"
    assert "ONET_TORCH_IMPL=compiled" in err["message"] and "_c10d_build" in err["message"], err
