"""The rank-side fast lane (python/opennetworks/_fastlane*.py, native/rank/fastlane.cc): every lane
collective bit for bit against the engine path and near a numpy reference, over odd world sizes and
counts 0, 1, 7, 4097, f32/f64/i32/bf16, with both implementations; a mismatch is reported; a rank
killed in the middle of a collective is named in an EABORTED error within seconds.

Real rank processes and a real coordinator (_spawn); each world is one run of _fastlane_worker.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.needs_coordinator

_WORKER = Path(__file__).resolve().parent / "_fastlane_worker.py"


def _impls():
    from opennetworks import _fastlane_native

    native = pytest.param(
        "native",
        marks=pytest.mark.skipif(
            _fastlane_native.load() is None, reason=f"native fast lane not built: {_fastlane_native.load_error()}"
        ),
    )
    return [native, "python"]


def _run(world: int, impl: str, mode: str, reporting: int | None = None):
    pytest.importorskip("ml_dtypes")
    import _spawn

    env = {"ONET_RANK_IMPL": impl, "ONET_FASTLANE_MAX_BYTES": "256KiB", "ONET_TIMEOUT": "20"}
    res = _spawn.run_script(world, _WORKER, (mode,), env=env, timeout=90)
    return res, _spawn.rank_results(res, world if reporting is None else reporting)


@pytest.mark.parametrize("impl", _impls())
@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_collectives_match_engine_and_numpy(world, impl):
    res, outs = _run(world, impl, "check")
    assert res.returncodes == [0] * world, res.logs
    for o in outs:
        assert o["impl"] == impl
        assert o["lane_calls"] > 0, "the fast lane was never taken"
        assert o["fails"] == [], o["fails"]
        assert o["mismatch"] == ("EMISMATCH" if world > 1 else None)
        if world > 1:  # the engine's wording (engine/match.cc), which callers already look for
            assert "count differs" in o["mismatch_text"], o["mismatch_text"]


@pytest.mark.parametrize("impl", _impls())
def test_killed_peer_is_named(impl):
    world = 3
    res, outs = _run(world, impl, "die", reporting=world - 1)
    assert res.returncodes[world - 1] == 3
    for o in outs:
        err = o["error"]
        assert err is not None, "the collective with a dead peer returned normally"
        assert err["code"] == "EABORTED" and err["ranks"] == [world - 1], err
        assert o["seconds"] < 15, o


@pytest.mark.parametrize("impl", _impls())
def test_async_lane_call_does_not_block_point_to_point(impl):
    """An async lane all_reduce, then a send its peer needs before calling that all_reduce, then wait():
    a lane call that waited for every rank at call time deadlocked here until ONET_TIMEOUT."""
    pytest.importorskip("torch")
    import _spawn

    env = {"ONET_RANK_IMPL": impl, "ONET_FASTLANE_MAX_BYTES": "64KiB", "ONET_TIMEOUT": "20"}
    res = _spawn.run_script(2, _WORKER.parent / "_fastlane_p2p_worker.py", env=env, timeout=90)
    assert res.returncodes == [0, 0], res.logs
    for r in range(2):
        o = json.loads((res.run_dir / f"rank{r}.json").read_text())
        assert o["error"] is None, o
        assert o["impl"] == impl
        assert o["lane_calls"] >= 2, "the fast lane was never taken"
        assert o["sum"] == [3.0] * 4 and o["u"] == [1.0, 1.0], o
        if r == 1:
            assert o["got"] == [7.0, 8.0, 9.0], o
        assert o["seconds"] < 15, o  # far below ONET_TIMEOUT (20 s): no deadlock broken by the timeout
