"""Direct fast-lane calls (native/rank/fastlane.h "Direct calls"): all_reduces, broadcasts and all_gathers of at least
ONET_FASTLANE_DIRECT_MIN_BYTES per rank, where each rank reads its peers' tensors with process_vm_readv. Checked
against numpy references at odd world sizes and element counts (below the threshold, above it, and above the
1 MiB block, where only the direct call keeps them in the lane), with both implementations and a group mixing
them, through opennetworks.init() and torch.distributed (compiled group where built); a setting that differs
between ranks and a failed read each fail on every rank with a structured error, and the lane goes on.

Real rank processes and a real coordinator (_spawn); each world is one run of _fastlane_direct_worker.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _lane_jobs import NATIVE, native_built, run_ranks

pytestmark = pytest.mark.needs_coordinator

_WORKER = Path(__file__).resolve().parent / "_fastlane_direct_worker.py"
_MIN = 65536


def _direct_here() -> bool:
    from opennetworks import _fastlane_direct

    return _fastlane_direct.allowed()


_NATIVE = NATIVE
pytestmark = [
    pytestmark,
    pytest.mark.skipif(
        not _direct_here(), reason="process_vm_readv is refused here (Yama ptrace_scope >= 2 or seccomp)"
    ),
]


def _run(world: int, impl: str, mode: str):
    env = {
        "ONET_RANK_IMPL": "native" if impl == "mixed" else impl,
        "ONET_FASTLANE_DIRECT_MIN_BYTES": str(_MIN),
        "ONET_TIMEOUT": "20",
    }
    return run_ranks(world, _WORKER, (mode, impl), env, 150)


@pytest.mark.parametrize("impl", [pytest.param("native", marks=_NATIVE), "python"])
@pytest.mark.parametrize("world", [2, 3])
def test_direct_calls_match_numpy(world, impl):
    for o in _run(world, impl, "comm"):
        assert o["impl"] == impl and o["direct_min"] == _MIN
        # every call on the lane, none at the engine (the 1.2 MB ones stay on the lane only as direct calls)
        assert o["engine_calls"] == 0, o


@_NATIVE
@pytest.mark.parametrize("world", [3])
def test_direct_calls_mixed_implementations(world):
    outs = _run(world, "mixed", "comm")
    assert [o["impl"] for o in outs] == ["native", "python", "native"]
    assert all(o["engine_calls"] == 0 for o in outs), outs


@pytest.mark.parametrize("world", [3])
def test_direct_calls_through_torch(world):
    pytest.importorskip("torch")
    outs = _run(world, "native" if native_built() else "python", "torch")
    assert all(o["engine_calls"] == 0 for o in outs), [o["engine_calls"] for o in outs]
    from opennetworks.torch import _compiled

    if _compiled.implementation() == "compiled":  # contiguous calls ran in C++: 10 sizes x 9 kinds, and bf16
        assert all(o["compiled_calls"] == 91 for o in outs), [o["compiled_calls"] for o in outs]


@_NATIVE
@pytest.mark.parametrize("world", [3])
def test_direct_calls_through_torch_mixed_implementations(world):
    """The Python torch group on a lane shared by the native and the Python implementation: an all_gather into
    arena outputs is pushed by each block's owner, into ordinary ones pulled (fastlane.h allgather_pushed), and
    both implementations must split the work alike."""
    pytest.importorskip("torch")
    env = {"ONET_FASTLANE_DIRECT_MIN_BYTES": str(_MIN), "ONET_TIMEOUT": "20", "ONET_TORCH_IMPL": "python"}
    outs = run_ranks(world, _WORKER, ("torch", "mixed"), env, 150)
    assert [o["impl"] for o in outs] == ["native", "python", "native"]
    assert all(o["engine_calls"] == 0 for o in outs), [o["engine_calls"] for o in outs]


@_NATIVE
def test_direct_rule_is_the_same_in_python_and_cpp():
    """_fastlane_layout.direct_call against fastlane.h direct_call (which the torch, JAX and Node bindings
    compile in): every rank decides alike whatever its implementation."""
    import ctypes

    from opennetworks._fastlane_layout import direct_call
    from opennetworks._fastlane_native import LIB_PATH

    lib = ctypes.CDLL(str(LIB_PATH))
    lib.onet_fl_direct_call.argtypes = [ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64]
    m = 1 << 20
    for coll in range(0, 15):
        for nbytes in (0, 1, m - 1, m, m + 1, 64 * m):
            for dmin in (0, 65536, m):
                want = bool(lib.onet_fl_direct_call(coll, nbytes, dmin))
                assert direct_call(coll, nbytes, dmin) == want, (coll, nbytes, dmin)
    # at the threshold: allreduce, broadcast, all_gather direct; a reduce_scatter only above it; barrier never
    assert [direct_call(c, m, m) for c in (1, 3, 4, 6, 12)] == [True, True, True, False, False]
    assert direct_call(6, m + 1, m)


@pytest.mark.parametrize("impl", [pytest.param("native", marks=_NATIVE), "python"])
def test_direct_setting_differs_between_ranks(impl):
    outs = _run(2, impl, "mismatch")
    for o in outs:
        [(code, msg, ranks)] = o["errors"]
        assert code == "EMISMATCH" and ranks == [0, 1], o
        assert "ONET_FASTLANE_DIRECT_MIN_BYTES" in msg and "direct" in msg, msg


@pytest.mark.parametrize(
    "impl", [pytest.param("native", marks=_NATIVE), "python", pytest.param("mixed", marks=_NATIVE)]
)
def test_failed_read_fails_every_rank(impl):
    outs = _run(3, impl, "badread")
    for o in outs:
        [(code, msg, ranks)] = o["errors"]
        assert code == "EINVAL", o
        # the root (rank 0) could not write the tail of rank 1's output from its unmapped address: the first
        # failed line every rank finds (the receivers' reads of the head failed too)
        assert "rank 0 could not reach rank 1's tensor with process_vm_readv/writev (Bad address)" in msg, msg
        assert ranks == [0, 1], ranks
