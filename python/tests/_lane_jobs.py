"""Shared by the fast-lane test files that run a worker script on every rank (_spawn.run_script) and read
each rank's JSON result: whether the native lane is built, and one job's checked results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def native_built() -> bool:
    from opennetworks import _fastlane_native

    return _fastlane_native.load() is not None


NATIVE = pytest.mark.skipif(not native_built(), reason="native fast lane not built (npm run build:native)")


def run_ranks(world: int, worker: Path, args: tuple, env: dict, timeout: float) -> list[dict]:
    """Run ``worker`` on ``world`` ranks; every rank must exit 0 and write $ONET_OUT/rank<r>.json with an empty
    ``fails`` list. Returns those results in rank order."""
    import _spawn

    res = _spawn.run_script(world, worker, args, env=env, timeout=timeout)
    outs = []
    for r in range(world):
        p = res.run_dir / f"rank{r}.json"
        assert p.exists(), f"rank {r} wrote no result (rc {res.returncodes}):\n{res.logs[r][-3000:]}"
        outs.append(json.loads(p.read_text()))
    assert res.returncodes == [0] * world, res.logs
    for o in outs:
        assert o["fails"] == [], o["fails"]
    return outs
