"""8-byte allreduce latency of opennetworks.jax ranks (issue 17: "≤ 5 µs"), FFI path.

    nice .venv/bin/python bench/lane_jax.py [--world 2] [--iters 20000] [--lane both|on|off]

Launches ``--world`` JAX ranks on this host (a private coordinator per run) and prints, per setting of
the rank-side fast lane (ONET_FASTLANE_MAX_BYTES=0 turns it off), the median over 5 rounds of:
``eager`` one ``opennetworks.jax.allreduce`` call on a committed f64[1] (jit dispatch included) and
``in-jit`` one allreduce inside a ``lax.fori_loop`` of ``--iters`` calls (the custom call alone).
The rank program is this file run with ``--rank``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rank_main(iters: int) -> None:
    import jax
    import jax.numpy as jnp

    import opennetworks.jax as onj

    onj.initialize(impl="ffi")
    x = jnp.ones((1,), jnp.float64)

    @jax.jit
    def loop(v):
        return jax.lax.fori_loop(0, iters, lambda _, a: onj.allreduce(a, "max"), v)

    loop(x).block_until_ready()
    for _ in range(200):
        onj.allreduce(x)
    eager, injit = [], []
    for _ in range(5):
        onj.barrier()
        n = max(200, iters // 10)
        t0 = time.perf_counter()
        for _ in range(n):
            onj.allreduce(x)
        eager.append((time.perf_counter() - t0) / n * 1e6)
        onj.barrier()
        t0 = time.perf_counter()
        loop(x).block_until_ready()
        injit.append((time.perf_counter() - t0) / iters * 1e6)
    print("RESULT", json.dumps({"eager_us": statistics.median(eager), "injit_us": statistics.median(injit)}))


def run(world: int, iters: int, lane: bool) -> dict:
    out = Path(tempfile.mkdtemp(prefix="onet-lane-jax-", dir="/tmp"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(
        os.environ,
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        ONET_JOB_ID=f"lanejax{os.getpid()}{int(lane)}",
        ONET_RUN_DIR=str(out / "run"),
        ONET_JAX_BUILD_DIR=str(REPO / "build" / "jax-ffi"),
        JAX_ENABLE_X64="1",
        OMP_NUM_THREADS="1",
        XLA_FLAGS="--xla_cpu_multi_thread_eigen=false",
        PYTHONWARNINGS="ignore",
    )
    if not lane:
        env["ONET_FASTLANE_MAX_BYTES"] = "0"
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--rank", "--iters", str(iters)],
            env=dict(env, RANK=str(r), LOCAL_RANK=str(r)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(world)
    ]
    res = []
    for p in procs:
        text, _ = p.communicate(timeout=600)
        line = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
        if p.returncode or not line:
            raise SystemExit(f"rank failed (rc {p.returncode}):\n{text[-3000:]}")
        res.append(json.loads(line[0][7:]))
    return {k: max(r[k] for r in res) for k in res[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--iters", type=int, default=20000)
    ap.add_argument("--lane", choices=("both", "on", "off"), default="both")
    ap.add_argument("--rank", action="store_true")
    a = ap.parse_args()
    if a.rank:
        rank_main(a.iters)
        return
    sides = {"both": (False, True), "on": (True,), "off": (False,)}[a.lane]
    rows = {("lane" if s else "engine"): run(a.world, a.iters, s) for s in sides}
    print(json.dumps({"world": a.world, "bytes": 8, **rows}, indent=1))


if __name__ == "__main__":
    main()
