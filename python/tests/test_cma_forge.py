"""A single-copy post must name the memory of the process that registered as its rank and maps its arena
(native/engine/cma.cc check_pid, docs/protocol.md §2). The last rank of a real job forks a child holding a
secret at its tensor's address and posts its broadcast with the child's pid, either patched into the slot
("slot") or already claimed in its register message ("register"): every rank gets EINVAL naming the forger,
the secret reaches nobody, the coordinator stays up and the next collectives are exact.

Real rank processes, a real coordinator and a real forged slot (_cma_forge_worker.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.needs_coordinator,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="cross-memory attach is Linux only"),
]

_WORKER = Path(__file__).resolve().parent / "_cma_forge_worker.py"
_MIN = 64 << 10


@pytest.mark.parametrize(("mode", "world"), [("slot", 1), ("slot", 2), ("slot", 3), ("register", 2)])
def test_forged_cma_pid_is_refused_on_every_rank(mode, world):
    import _spawn

    env = {"ONET_CMA_MIN_BYTES": str(_MIN), "ONET_TIMEOUT": "30", "ONET_FASTLANE_MAX_BYTES": "0"}
    outs = _spawn.run_json_ranks(world, _WORKER, (mode,), env=env, timeout=120)
    forger = world - 1
    me = outs[forger]
    # "register": the forger's probe is refused (its pid is not the registered one); it posts by single copy anyway
    assert outs[0]["cma_min"] == _MIN or world == 1 and mode == "register", "single copy is off on this host"
    assert me["forged_post_cma"], "the forger's broadcast did not go by single copy"
    for o in outs:
        err = o["error"]
        assert err is not None, f"rank {o['rank']}: the forged broadcast succeeded (secret seen: {o['secret_seen']})"
        assert err["code"] == "EINVAL" and err["type"] == "InvalidArgumentError", err
        assert err["ranks"] == [forger], err
        msg = err["message"]
        assert f"rank {forger}" in msg and f"pid {me['victim']}" in msg, msg
        assert "registered" in msg and "ONET_CMA_MIN_BYTES=0" in msg, msg
        assert mode == "slot" or "does not map the arena" in msg, msg
        assert o["coord_alive"], f"rank {o['rank']}: the coordinator died"
        assert o["next"] == {"single": True, "copy": True}, f"rank {o['rank']}: next collectives: {o['next']}"
