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


def timed(fn, x, iters, sync):
    """Seconds per call over ``iters`` calls (block on each call, or only on the last)."""
    t = time.perf_counter()
    if sync:
        for _ in range(iters):
            fn(x).block_until_ready()
    else:
        for _ in range(iters):
            y = fn(x)
        y.block_until_ready()
    return (time.perf_counter() - t) / iters


class _Ready:
    def __init__(self, v):
        self.v = v

    def block_until_ready(self):
        return self.v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args()
    st = onj.initialize()
    x = jnp.ones(a.size, jnp.float32)
    rows = [("jit(x + 1), no collective", None, jax.jit(lambda v: v + 1))]
    for impl in ("ffi", "callback"):
        onj.set_impl(impl)
        if onj.impl() != impl:
            continue
        rows.append((f"jit(allreduce(x) + 1) [{impl}]", impl, jax.jit(lambda v: onj.allreduce(v) + 1)))
        rows.append((f"eager allreduce(x) [{impl}]", impl, lambda v: onj.allreduce(v)))
    from opennetworks._comm import Communicator

    comm = Communicator(st.client)
    xn = np.ones(a.size, np.float32)
    rows.append(("python client numpy all_reduce (no JAX)", None, lambda v: _Ready(comm.all_reduce(xn))))
    # Interleave short rounds of every variant and keep each one's best round: the machine is
    # shared, and load that comes and goes then hits every variant alike.
    best = {name: [float("inf"), float("inf")] for name, _, _ in rows}
    for _ in range(a.rounds):
        for name, impl, fn in rows:
            if impl is not None and impl != onj.impl():
                onj.set_impl(impl)  # every rank switches at the same point
            fn(x).block_until_ready()  # traced with this path on the first round
            iters = a.iters if "callback" not in name else max(a.iters // 5, 20)
            for k, sync in enumerate((True, False)):
                onj.barrier()
                best[name][k] = min(best[name][k], timed(fn, x, iters, sync) * 1e6)
    if st.rank == 0:
        print(f"world {st.world}, {a.size} x f32, jax {jax.__version__}")
        print(f"{'call':44s} {'sync us':>9s} {'pipelined us':>13s}")
        for name, (s, p) in best.items():
            print(f"{name:44s} {s:9.1f} {p:13.1f}")


if __name__ == "__main__":
    main()
