"""Single-copy transfers of ordinary tensors (python/opennetworks/_cma.py, native/engine/cma.cc): every
collective it serves, above and below ONET_CMA_MIN_BYTES, over world sizes 1, 2, 3, 5, odd counts and
f32/f64/bf16/i32, exact against a reference and bit-identical to the copy path; a rank whose probe fails
(ONET_CMA_PROBE=fail: the coordinator is sent to a process it cannot read) falls back, still exact,
while the other rank keeps single copy.

Real rank processes and a real coordinator (_spawn); each world is one run of _cma_worker.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.needs_coordinator,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="cross-memory attach is Linux only"),
]

_WORKER = Path(__file__).resolve().parent / "_cma_worker.py"
_MIN = 64 << 10


def _run(world: int, mode: str):
    import _spawn

    # The rank-side fast lane (small messages, no coordinator) off: every call meets the engine.
    env = {"ONET_CMA_MIN_BYTES": str(_MIN), "ONET_TIMEOUT": "30", "ONET_FASTLANE_MAX_BYTES": "0"}
    return _spawn.run_json_ranks(world, _WORKER, (mode,), env=env, timeout=120)


def _expect_single(key: str, world: int) -> bool:
    """The rule the process group applies: contiguous tensors whose largest buffer reaches the threshold."""
    op, dname, n = key.split("/")
    es = {"f32": 4, "f64": 8, "bf16": 2, "i32": 4}[dname]
    n = int(n)
    if op == "all_reduce_strided":
        return False
    big = n * es * (world if op.startswith("all_gather") or op == "reduce_scatter" else 1)
    return big >= _MIN


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_exact_and_identical_to_copy_path(world):
    outs = _run(world, "check")
    for o in outs:
        assert o["cma_min"] == _MIN, "the probe failed on a host where cross-memory attach works"
        assert o["fails"] == [], o["fails"]
        wrong = {k: v for k, v in o["paths"].items() if v is not None and v != _expect_single(k, world)}
        assert not wrong, f"rank {o['rank']}: calls that took the other path (True = single copy): {wrong}"
        assert any(o["paths"].values()) and not all(o["paths"].values())


def test_failed_probe_falls_back_exactly():
    outs = _run(2, "fallback")
    assert outs[0]["cma_min"] == _MIN
    assert outs[1]["cma_min"] == 0, "ONET_CMA_PROBE=fail should turn single copy off on rank 1"
    for o in outs:
        assert o["fails"] == [], o["fails"]
    assert not any(outs[1]["paths"].values()), "rank 1 posted single-copy requests after its probe failed"
    assert any(outs[0]["paths"].values())
