"""Fast-lane calls larger than the lane's block (_fastlane_calls.py ``plan_pieces``) run in pieces
of ONET_FASTLANE_MAX_BYTES: all_reduce, broadcast, all_gather and reduce_scatter bit for bit against the
engine path, counts crossing the piece boundary (8191/8192/8193 f32 around a 32 KiB block; allreduce pieces
of 16 KiB and more fold cooperatively, native/rank/fastlane.h), odd world sizes, both implementations and a
group mixing them, through opennetworks.init() and torch.distributed.

Real rank processes and a real coordinator (_spawn); each world is one run of _fastlane_chunks_worker.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from _lane_jobs import NATIVE, native_built, run_ranks

pytestmark = pytest.mark.needs_coordinator

_WORKER = Path(__file__).resolve().parent / "_fastlane_chunks_worker.py"
_CAP = 32768


_NATIVE = NATIVE


def _run(world: int, impl: str, mode: str):
    env = {
        "ONET_RANK_IMPL": "native" if impl == "mixed" else impl,
        "ONET_FASTLANE_MAX_BYTES": str(_CAP),
        "ONET_FASTLANE_CHUNKED_MAX_BYTES": "1MiB",
        "ONET_TIMEOUT": "20",
    }
    return run_ranks(world, _WORKER, (mode, impl), env, 120)


def _pieces(name: str, world: int) -> int:
    """Lane calls one communicator call should take: pieces of as many elements as a 32 KiB block holds
    (reduce_scatter: world pieces of them), at least one."""
    op, dt, n = name.split(" ")[0], name.split(" ")[-2], int(name.split("n=")[1])
    es = 4 if dt in ("float32", "int32") else 8
    return max(1, math.ceil(n / (_CAP // (es * (world if op == "reduce_scatter" else 1)))))


@pytest.mark.parametrize("impl", [pytest.param("native", marks=_NATIVE), "python"])
@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_pieces_match_engine(world, impl):
    for o in _run(world, impl, "comm"):
        assert o["impl"] == impl
        for name, got in o["pieces"]:
            assert got == _pieces(name, world), (name, got)


@_NATIVE
@pytest.mark.parametrize("world", [2, 3])
def test_pieces_mixed_implementations(world):
    outs = _run(world, "mixed", "comm")
    assert [o["impl"] for o in outs] == ["native", "python", "native"][:world]


@pytest.mark.parametrize("world", [3])
def test_pieces_through_torch(world):
    pytest.importorskip("torch")
    outs = _run(world, "native" if native_built() else "python", "torch")
    assert any(got > 1 for o in outs for _, got in o["pieces"]), "no call was cut into pieces"
