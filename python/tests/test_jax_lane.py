"""opennetworks.jax's FFI path on the rank-side fast lane (bindings/jax/onet_jax.cc lane_call).

Real rank processes, a real coordinator, the real libonet_fastlane.so. The file is also the rank
program: `python test_jax_lane.py OUTDIR` runs one rank and writes OUTDIR/rank<r>.json with its
checks. Each world size is one launch (JAX start-up dominates on a small machine): every lane
collective against a numpy reference for counts 0, 1, 4097 (the lane limit is 8 KiB, so 4097 f32
go to the engine in the same group: both kinds of call share the group's sequence numbers), the
lane's counters prove which path ran, a count mismatch is EMISMATCH naming both ranks, and a peer
that dies before a lane call fails it with EABORTED naming the dead rank instead of hanging.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
COUNTS = (0, 1, 4097)
LANE_MAX = 8192


def launch(world: int, timeout: float = 150):
    import _spawn

    env = dict(
        ONET_FASTLANE_MAX_BYTES=str(LANE_MAX),
        ONET_JAX_IMPL="ffi",
        ONET_TIMEOUT="60",
        ONET_JAX_BUILD_DIR=str(REPO / "build" / "jax-ffi"),
        XLA_FLAGS="--xla_cpu_multi_thread_eigen=false",
    )
    return _spawn.launch_json_ranks(world, lambda out: [__file__, out], env, timeout, prefix="ont-jaxlane-")


pytestmark = pytest.mark.needs_coordinator
_runs: dict = {}


def results(world: int):
    pytest.importorskip("jax")
    if not (REPO / "build" / "Release" / "libonet_fastlane.so").exists():
        pytest.skip("build/Release/libonet_fastlane.so is not built (npm run build:native)")
    if world not in _runs:
        _runs[world] = launch(world)
    return _runs[world]


@pytest.mark.parametrize("world", [1, 2, 3])
def test_lane_collectives_match_numpy(world):
    report = results(world)
    for r, rc, res, text in report:
        if world > 1 and r == world - 1:
            assert rc == 17, f"rank {r} should have exited on purpose (rc {rc}):\n{text[-3000:]}"
            continue
        assert rc == 0 and res is not None, f"rank {r} rc {rc}:\n{text[-3000:]}"
        assert not res["failures"], f"rank {r}: {res['failures']}\n{text[-2000:]}"
        assert res["checks"] >= 30
        assert res["lane_calls"] > 10, res  # the lane ran the small calls
        assert res["engine_calls"] >= 5, res  # and the engine the 4097-element ones


@pytest.mark.parametrize("world", [2, 3])
def test_lane_errors_are_data(world):
    report = results(world)
    dead = world - 1
    for _r, _rc, res, text in report[:dead]:
        assert res is not None, text[-3000:]
        code, ranks, msg = res["mismatch"]
        assert code == "EMISMATCH" and ranks == [0, 1], res["mismatch"]
        assert "count differs" in msg and not msg.startswith("EMISMATCH"), msg
        code, ranks, msg, waited = res["dead"]
        assert code == "EABORTED" and ranks == [dead], res["dead"]
        assert f"rank {dead}" in msg and "died" in msg, msg
        assert waited < 30, waited  # failed, did not wait out ONET_TIMEOUT (60 s)
        code, ranks, _ = res["after"]  # the lane stays unusable: never a call that lines up wrongly
        assert code == "EABORTED" and ranks, res["after"]


# ------------------------------------------------------------------------------ rank side
def rank_main(out: Path) -> None:
    import numpy as np

    rank, P = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    res = {"failures": [], "checks": 0}

    def eq(name, got, want):
        res["checks"] += 1
        try:
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want), strict=True)
        except AssertionError as e:
            res["failures"].append(f"{name}: {str(e)[:300]}")

    try:
        import jax
        import jax.numpy as jnp

        import opennetworks.jax as onj
        from opennetworks._errors import OnetError

        st = onj.initialize()
        assert st.impl == "ffi", st.ffi_error
        ffi = st.ffi
        assert 0 in ffi.fastlanes, "the world communicator's device lane got no fast lane"
        lane0 = (ffi.lib.onet_jax_fastlane_seq(0), ffi.seq(0))

        def data(r, n, dt, salt=0):
            return ((np.arange(n) * 7 + r * 13 + salt) % 23 - 11).astype(dt)

        for n in COUNTS:
            for dt in (np.float32, np.int32):
                xs = [data(r, n, dt) for r in range(P)]
                x = jnp.asarray(xs[rank])
                eq(f"allreduce sum {n} {dt}", onj.allreduce(x), np.sum(xs, axis=0, dtype=dt))
                eq(f"allreduce max {n} {dt}", onj.allreduce(x, "max"), np.max(xs, axis=0))
                eq(f"broadcast {n} {dt}", onj.broadcast(x, root=P - 1), xs[P - 1])
                eq(f"allgather {n} {dt}", onj.allgather(x), np.stack(xs))
                blocks = [np.stack([data(r, n, dt, salt=b) for b in range(P)]) for r in range(P)]
                rs = onj.reduce_scatter(jnp.asarray(blocks[rank]))
                eq(f"reduce_scatter {n} {dt}", rs, np.sum([b[rank] for b in blocks], axis=0, dtype=dt))

        # Under jit, in a loop: one compiled program, every iteration a lane call.
        step = jax.jit(lambda v: jax.lax.fori_loop(0, 20, lambda _, a: onj.allreduce(a, "max") + 1, v))
        eq("jit fori_loop", step(jnp.full((1,), float(rank), jnp.float32)), np.full((1,), P - 1 + 20, np.float32))
        onj.barrier()
        res["lane_calls"] = int(ffi.lib.onet_jax_fastlane_seq(0) - lane0[0])
        res["engine_calls"] = int(ffi.seq(0) - lane0[1])

        if P > 1:

            def err(f):
                try:
                    f()
                except OnetError as e:
                    return [e.code, list(e.ranks), str(e)]
                return ["no error", [], ""]

            if rank < 2:  # rank 1 passes one element more: every rank sees the descriptors differ
                res["mismatch"] = err(lambda: onj.allreduce(jnp.ones((1 + rank,), jnp.float32)))
            else:
                res["mismatch"] = err(lambda: onj.allreduce(jnp.ones((1,), jnp.float32)))
            eq("after mismatch", onj.allreduce(jnp.ones((1,), jnp.float32)), np.full((1,), P, np.float32))
            if rank == P - 1:
                (out / f"rank{rank}.json").write_text(json.dumps(res))
                os._exit(17)  # dies before the next lane call
            t0 = time.monotonic()
            res["dead"] = [*err(lambda: onj.allreduce(jnp.ones((1,), jnp.float32))), time.monotonic() - t0]
            res["after"] = err(lambda: onj.allreduce(jnp.ones((1,), jnp.float32)))
    except Exception:  # noqa: BLE001 - reported to the test
        res["failures"].append(traceback.format_exc()[-3000:])
    (out / f"rank{rank}.json").write_text(json.dumps(res))
    os._exit(0)  # the dead peer's coordinator state must not hold this rank at exit


if __name__ == "__main__":
    rank_main(Path(sys.argv[1]))
