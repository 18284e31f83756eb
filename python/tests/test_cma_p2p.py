"""Single-copy receives (python/opennetworks/torch/_p2p.py, engine: try_match_p2p with a RemoteMap): a ring
of send/recv at world sizes 2 and 3 (world 1 has no peer to receive from), counts 0, 1, 4097, 2^20 + 3,
f32/f64/bf16, irecv before its send and recv from any source; exact against numpy, the bytes around a
misaligned receive untouched, and the path each receive took checked against the threshold.

Real rank processes and a real coordinator (_spawn); each world is one run of _cma_p2p_worker.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.needs_coordinator,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="cross-memory attach is Linux only"),
]

_WORKER = Path(__file__).resolve().parent / "_cma_p2p_worker.py"
_MIN = 16 << 10


@pytest.mark.parametrize("world", [2, 3])
def test_single_copy_recv_exact(world):
    import _spawn

    env = {"ONET_CMA_MIN_BYTES": str(_MIN), "ONET_TIMEOUT": "30", "ONET_FASTLANE_MAX_BYTES": "0"}
    outs = _spawn.run_json_ranks(world, _WORKER, env=env, timeout=150)
    es = {"f32": 4, "f64": 8, "bf16": 2}
    for o in outs:
        assert o["cma_min"] == _MIN, "the probe failed on a host where cross-memory attach works"
        assert o["fails"] == [], o["fails"]
        want = {k: int(k.split("/")[2]) * es[k.split("/")[1]] >= _MIN for k in o["paths"]}
        assert o["paths"] == want, f"rank {o['rank']}: receives that took the other path (True = single copy)"
        assert any(want.values()) and not all(want.values())
