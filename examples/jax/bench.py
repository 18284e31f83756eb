"""Per-call cost of opennetworks.jax collectives vs a plain jitted no-op.

    node bin/onet.js run -n 2 -- .venv/bin/python examples/jax/bench.py [--iters 2000] [--size 8]

Rank 0 prints microseconds per call for: a plain jit(x + 1); jit(allreduce(x) + 1) on the FFI
path and on the io_callback path; the eager calls; and the Python client's numpy allreduce
(the protocol round trip without JAX).
"""
import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import opennetworks.jax as onj


def per_call(fn, x, iters, sync):
    fn(x).block_until_ready()
    best = float("inf")
    for _ in range(3):
        onj.barrier()
        t = time.perf_counter()
        if sync:
            for _ in range(iters):
                fn(x).block_until_ready()
        else:
            for _ in range(iters):
                y = fn(x)
            y.block_until_ready()
        best = min(best, (time.perf_counter() - t) / iters * 1e6)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--size", type=int, default=8)
    a = ap.parse_args()
    st = onj.initialize()
    x = jnp.ones(a.size, jnp.float32)
    rows = [("jit(x + 1), no collective", jax.jit(lambda v: v + 1))]
    for impl in ("ffi", "callback"):
        onj.set_impl(impl)
        if onj.impl() != impl:
            continue
        rows.append((f"jit(allreduce(x) + 1) [{impl}]", jax.jit(lambda v: onj.allreduce(v) + 1)))
        rows.append((f"eager allreduce(x) [{impl}]", lambda v: onj.allreduce(v)))
    results = []
    for name, fn in rows:
        iters = a.iters if "callback" not in name else max(a.iters // 5, 50)
        results.append((name, per_call(fn, x, iters, True), per_call(fn, x, iters, False)))
    from opennetworks._comm import Communicator
    comm = Communicator(st.client)
    xn = np.ones(a.size, np.float32)
    comm.all_reduce(xn)
    t = time.perf_counter()
    for _ in range(a.iters):
        comm.all_reduce(xn)
    py = (time.perf_counter() - t) / a.iters * 1e6
    if st.rank == 0:
        print(f"world {st.world}, {a.size} x f32, jax {jax.__version__}")
        print(f"{'call':44s} {'sync us':>9s} {'pipelined us':>13s}")
        for name, s, p in results:
            print(f"{name:44s} {s:9.1f} {p:13.1f}")
        print(f"{'python client numpy all_reduce (no JAX)':44s} {py:9.1f}")


if __name__ == "__main__":
    main()
