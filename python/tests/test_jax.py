"""opennetworks.jax across real rank processes and a real coordinator.

The file is also the rank program: `python test_jax.py SCENARIO OUTDIR` runs one rank (the
environment says which) and writes OUTDIR/rank<r>.json with the failed checks; the tests launch
ranks with torchrun-style variables and assert that every rank passed.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
COUNTS = (0, 1, 4097)


# ------------------------------------------------------------------------------ launching
def launch(world: int, scenario: str, env: dict | None = None, timeout: float = 120):
    import _spawn

    base = dict(
        ONET_TIMEOUT="60",
        ONET_JAX_BUILD_DIR=str(REPO / "build" / "jax-ffi"),
        XLA_FLAGS="--xla_force_host_platform_device_count=2 --xla_cpu_multi_thread_eigen=false",
    )
    base.update(env or {})
    return _spawn.launch_json_ranks(world, lambda out: [__file__, scenario, out], base, timeout, prefix="ont-jax-")


pytestmark = pytest.mark.needs_coordinator


# ------------------------------------------------------------------------------ tests
# One launch per world size runs every scenario (JAX start-up and compiles dominate the time on
# a small machine); the tests below read their part of it. Two CPU devices per process.
SCENARIOS = {1: "ops,shard_map", 2: "ops,shard_map,errors,mixed", 3: "ops,shard_map", 4: "ops,shard_map,errors"}
_runs: dict = {}


def run_world(world: int):
    if world not in _runs:
        # A small FFI block (16 KiB) makes 4097-element arrays go in several pieces.
        _runs[world] = launch(world, SCENARIOS[world], {"ONET_JAX_FFI_BYTES": "16384"})
    return _runs[world]


def part(world: int, scenario: str):
    report = run_world(world)
    bad = [
        f"--- rank {r} rc {rc}: {res and res['failures'].get(scenario)}\n{text[-3000:]}"
        for r, rc, res, text in report
        if rc != 0 or res is None or res["failures"].get(scenario)
    ]
    assert not bad, "\n".join(bad)
    return [res[scenario] for _, _, res, _ in report]


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_ops_eager_jit_loops_grad_both_paths(world):
    """Every op, eager / jit / fori_loop / scan / grad, counts 0, 1, 4097, FFI and callback paths."""
    res = part(world, "ops")
    assert res[0]["impls"] == ["ffi", "callback"]
    assert res[0]["checks"] > 60


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shard_map_two_devices_per_process(world):
    assert part(world, "shard_map")[0]["checks"] >= 8


@pytest.mark.parametrize("world", [2, 4])
def test_errors_are_mapped(world):
    part(world, "errors")


def test_ffi_and_python_client_post_concurrently():
    """The FFI path and the Python client share one arena: post from both at once."""
    part(2, "mixed")


def test_data_parallel_example_matches_single_process():
    import numpy as np

    out = Path(tempfile.mkdtemp(prefix="ont-jaxdp-", dir="/tmp"))
    env = dict(
        os.environ,
        ONET_RUN_DIR=str(out / "run"),
        OMP_NUM_THREADS="1",
        PYTHONWARNINGS="ignore",
        ONET_JAX_BUILD_DIR=str(REPO / "build" / "jax-ffi"),
    )
    ex = str(REPO / "examples" / "jax" / "data_parallel.py")
    single = subprocess.run(
        [sys.executable, ex, "--single", "--out", str(out / "single.npz")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert single.returncode == 0, single.stdout + single.stderr
    run = subprocess.run(
        [
            "node",
            str(REPO / "bin" / "onet.js"),
            "run",
            "-n",
            "3",
            "--",
            sys.executable,
            ex,
            "--out",
            str(out / "dp.npz"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    a, b = np.load(out / "single.npz"), np.load(out / "dp.npz")
    assert a["losses"][-1] < a["losses"][0] * 0.9  # it trained
    for k in a.files:
        np.testing.assert_allclose(b[k], a[k], rtol=2e-5, atol=2e-6, err_msg=k)


# ------------------------------------------------------------------------------ rank side
class Checker:
    def __init__(self):
        self.failures, self.checks = [], 0

    def eq(self, name, got, want, tol=0.0):
        import numpy as np

        self.checks += 1
        try:
            got, want = np.asarray(got), np.asarray(want)
            assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
            assert got.dtype == want.dtype, f"dtype {got.dtype} != {want.dtype}"
            if tol:
                np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol, atol=tol)
            else:
                np.testing.assert_array_equal(got, want)
        except Exception as e:  # noqa: BLE001
            self.failures.append(f"{name}: {str(e)[:400]}")

    def run(self, name, fn):
        try:
            fn()
        except Exception:  # noqa: BLE001
            self.failures.append(f"{name}: raised\n{traceback.format_exc()[-1500:]}")


def data(rank, shape, dtype, salt=0):
    import numpy as np

    rng = np.random.default_rng(1000 * rank + salt)
    return rng.integers(-3, 4, shape).astype(dtype)


def scenario_ops(c: Checker, onj, rank, P):
    """Eager calls, one jit holding every op per case, loops, and one jit(grad) over all ops."""
    import jax
    import jax.numpy as jnp
    import ml_dtypes
    import numpy as np

    impls = []
    folds = {"sum": np.add, "max": np.maximum, "min": np.minimum}

    def all_ops(x, y, dt):
        out = {f"allreduce-{op}": onj.allreduce(x, op) for op in (folds if dt is np.float32 else ("sum",))}
        out["allgather"] = onj.allgather(x)
        if dt is np.float32:
            out["broadcast"] = onj.broadcast(x, P - 1)
            out["reduce_scatter"] = onj.reduce_scatter(y)
            out["all_to_all"] = onj.all_to_all(y)
            if x.size:
                out["allgather-tiled"] = onj.allgather(x, tiled=True)
        return out

    for impl in ("ffi", "callback"):
        onj.set_impl(impl)
        impls.append(onj.impl())
        t0 = time.perf_counter()
        cases = [(n, np.float32) for n in COUNTS] + [(4097, ml_dtypes.bfloat16), (4097, np.int32)]
        for n, dt in cases:
            tag = f"{impl}-n{n}-{np.dtype(dt).name}"
            xs = [data(r, (n,), dt, 1) for r in range(P)]
            ys = [data(r, (P, n), dt, 2) for r in range(P)]
            want = {
                f"allreduce-{op}": functools.reduce(f, [v.astype(np.float64) for v in xs]).astype(dt)
                for op, f in folds.items()
            }
            want.update(
                {
                    "allgather": np.stack(xs),
                    "broadcast": xs[P - 1],
                    "reduce_scatter": sum(y.astype(np.float64) for y in ys)[rank].astype(dt),
                    "all_to_all": np.stack([y[rank] for y in ys]),
                    "allgather-tiled": np.concatenate(xs),
                }
            )
            x, y = jnp.asarray(xs[rank]), jnp.asarray(ys[rank])
            c.eq(f"eager-allreduce-{tag}", onj.allreduce(x), want["allreduce-sum"])
            if dt is np.float32 and n == 4097:
                for name, got in (
                    ("broadcast", onj.broadcast(x, P - 1)),
                    ("allgather", onj.allgather(x)),
                    ("reduce_scatter", onj.reduce_scatter(y)),
                    ("all_to_all", onj.all_to_all(y)),
                ):
                    c.eq(f"eager-{name}-{tag}", got, want[name])
            for name, got in jax.jit(lambda x, y: all_ops(x, y, dt))(x, y).items():
                c.eq(f"jit-{name}-{tag}", got, want[name])
        # loops
        x = jnp.asarray(data(rank, (5, 3), np.float32, 3))
        total = sum(data(r, (5, 3), np.float32, 3) for r in range(P))
        c.eq(
            f"fori-{impl}",
            jax.jit(lambda x: jax.lax.fori_loop(0, 3, lambda i, v: onj.allreduce(v, "avg"), x))(x),
            total / P,
            1e-6,
        )
        c.eq(
            f"scan-{impl}",
            jax.jit(lambda x: jax.lax.scan(lambda v, _: (onj.allreduce(v), None), x, None, length=2)[0])(x),
            total * P,
            1e-6,
        )
        # gradients: each op on its own input, one jit(grad) for all of them
        w = rank + 1.0
        W = sum(r + 1.0 for r in range(P))
        yv = jnp.asarray(data(rank, (P, 4), np.float32, 4))
        mx = jnp.full(3, float(rank), jnp.float32)
        ar = jnp.arange(P, dtype=jnp.float32)

        def loss(a, g, rs, aa, bc, m, avg):
            return (
                (onj.allreduce(a) * w).sum()
                + (onj.allgather(g) * (ar[:, None, None] + w)).sum()  # d/dg = Σ_r (rank + w_r)
                + (onj.reduce_scatter(rs) * w).sum()  # d/drs[s] = w_s
                + (onj.all_to_all(aa) * (ar[:, None] + 10 * w)).sum()  # d/daa[s] = rank + 10 w_s
                + (onj.broadcast(bc, 0) * w).sum()  # Σ w at the root, else 0
                + (onj.allreduce(m, "max") * w).sum()  # Σ w where this rank won
                + (onj.allreduce(avg, "avg") * w).sum()
            )  # Σ w / P

        grads = jax.jit(jax.grad(loss, argnums=tuple(range(7))))(x, x, yv, yv, x, mx, x)
        full = lambda v: np.full((5, 3), v, np.float32)  # noqa: E731
        wants = [
            full(W),
            full(sum(rank + r + 1.0 for r in range(P))),
            np.stack([np.full(4, s + 1.0, np.float32) for s in range(P)]),
            np.stack([np.full(4, rank + 10 * (s + 1.0), np.float32) for s in range(P)]),
            full(W if rank == 0 else 0.0),
            np.full(3, W if rank == P - 1 else 0.0, np.float32),
            full(W / P),
        ]
        for name, g, wv in zip(
            ("allreduce", "allgather", "reduce_scatter", "all_to_all", "broadcast", "max", "avg"), grads, wants
        ):
            c.eq(f"grad-{name}-{impl}", g, wv, 1e-6)
        c.eq(f"grad-eager-{impl}", jax.grad(lambda x: (onj.allreduce(x) * w).sum())(x), full(W))
        # barrier inside jit keeps program order and is not dropped
        c.eq(f"barrier-jit-{impl}", jax.jit(lambda x: (onj.barrier(), onj.allreduce(x))[1])(x), total)
        onj.barrier()
        print(f"rank {rank}: ops on {impl}: {time.perf_counter() - t0:.1f} s", flush=True)
    return {"impls": impls}


def scenario_shard_map(c: Checker, onj, rank, P):
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh
    from jax.sharding import PartitionSpec as S

    devs = jax.devices()
    assert len(devs) == 2, devs
    mesh = Mesh(np.array(devs), ("d",))
    xs = [data(r, (2, 6), np.float32, 5) for r in range(P)]  # two device rows per process
    x = jnp.asarray(xs[rank])
    for impl in ("ffi", "callback"):
        onj.set_impl(impl)

        def per_device(v):
            # each device (lane) reduces with the same device of every other process;
            # psum over the local axis then gives the sum over all devices of all processes
            across = onj.allreduce(v)
            return across, jax.lax.psum(across, "d"), onj.allgather(v, axis=1, tiled=True)

        f = jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=S("d"), out_specs=(S("d"), S("d"), S("d"))))
        a, b, g = f(x)
        lanes = sum(xs)
        c.eq(f"shard-allreduce-{impl}", a, lanes)
        c.eq(f"shard-psum-{impl}", b, np.broadcast_to(lanes.sum(0), (2, 6)).copy())
        c.eq(f"shard-allgather-{impl}", g, np.concatenate([xr for xr in xs], axis=1))
        gr = jax.jit(
            jax.grad(
                lambda v: (
                    jax.shard_map(lambda u: onj.allreduce(u), mesh=mesh, in_specs=S("d"), out_specs=S("d"))(v)
                    * (rank + 1)
                ).sum()
            )
        )(x)
        c.eq(f"shard-grad-{impl}", gr, np.full((2, 6), sum(r + 1.0 for r in range(P)), np.float32))
    return {}


def scenario_errors(c: Checker, onj, rank, P):
    import jax.numpy as jnp

    import opennetworks

    for impl in ("ffi", "callback"):
        onj.set_impl(impl)
        try:
            onj.allreduce(jnp.ones(3 + rank))
            c.failures.append(f"{impl}: a count mismatch did not raise")
        except opennetworks.CollectiveMismatchError as e:
            c.eq(f"mismatch-text-{impl}", "count differs" in str(e), True)
        c.eq(f"after-mismatch-{impl}", onj.allreduce(jnp.ones(2)), jnp.full(2, float(P)))
    for name, fn in (
        ("root", lambda: onj.broadcast(jnp.ones(2), P)),
        ("axis", lambda: onj.allgather(jnp.ones(2), axis=3)),
        ("rs-shape", lambda: onj.reduce_scatter(jnp.ones((P + 1, 2)))),
        ("op", lambda: onj.allreduce(jnp.ones(2), "median")),
    ):
        try:
            fn()
            c.failures.append(f"bad {name} did not raise")
        except opennetworks.InvalidArgumentError:
            c.checks += 1
    return {}


def scenario_mixed(c: Checker, onj, rank, P):
    import threading

    import jax
    import jax.numpy as jnp
    import numpy as np

    from opennetworks._comm import Communicator

    onj.set_impl("ffi")
    comm = Communicator(onj.initialize().client)  # the Python client, world group
    errors = []

    def python_side():
        try:
            for i in range(200):
                got = comm.all_reduce(np.full(4, float(rank + i), np.float32))
                if not np.all(got == sum(r + i for r in range(P))):
                    errors.append(f"python allreduce {i}: {got}")
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    t = threading.Thread(target=python_side)
    t.start()
    f = jax.jit(lambda v: onj.allreduce(v))
    for i in range(200):
        got = np.asarray(f(jnp.full(4, float(rank * i), jnp.float32)))
        if not np.all(got == sum(r * i for r in range(P))):
            errors.append(f"ffi allreduce {i}: {got}")
    t.join(60)
    c.checks += 1
    if errors:
        c.failures.extend(errors[:5])
    return {}


def rank_main(scenarios: str, out: str) -> int:
    import opennetworks.jax as onj

    onj.initialize()
    rank, P = onj.rank(), onj.world_size()
    result = {"failures": {}}
    for name in scenarios.split(","):
        c = Checker()
        extra = {}
        t = time.perf_counter()
        try:
            extra = globals()[f"scenario_{name}"](c, onj, rank, P) or {}
        except Exception:  # noqa: BLE001
            c.failures.append(traceback.format_exc()[-3000:])
        result[name] = {"checks": c.checks, **extra}
        if c.failures:
            result["failures"][name] = c.failures
        print(
            f"rank {rank}: {name}: {c.checks} checks, {len(c.failures)} failures, {time.perf_counter() - t:.1f} s",
            flush=True,
        )
        for f in c.failures[:10]:
            print(f, flush=True)
    Path(out, f"rank{rank}.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(rank_main(sys.argv[1], sys.argv[2]))
