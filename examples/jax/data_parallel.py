"""Data-parallel training of a small MLP with JAX over OpenNetworks.

Every rank takes its slice of the batch, computes gradients inside a jitted step and averages
them with opennetworks.jax.allreduce; the result equals one process training on the full batch.

    node bin/onet.js run -n 4 -- .venv/bin/python examples/jax/data_parallel.py   # or `onet run -n 4 -- ...`
    .venv/bin/python examples/jax/data_parallel.py --single                         # the reference

`--out FILE.npz` makes rank 0 save the losses and final parameters.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

BATCH, DIM, HIDDEN = 48, 8, 16  # 48 rows split evenly over 1, 2, 3 or 4 ranks


def dataset():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, DIM)).astype(np.float32)
    w = rng.normal(size=(DIM, 1)).astype(np.float32)
    y = (np.tanh(x @ w) + 0.1 * rng.normal(size=(BATCH, 1))).astype(np.float32)
    return x, y


def init_params():
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    return {
        "w1": jax.random.normal(k1, (DIM, HIDDEN)) / np.sqrt(DIM),
        "b1": jnp.zeros(HIDDEN),
        "w2": jax.random.normal(k2, (HIDDEN, 1)) / np.sqrt(HIDDEN),
        "b2": jnp.zeros(1),
    }


def loss_fn(params, x, y):
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    return jnp.mean((h @ params["w2"] + params["b2"] - y) ** 2)


def make_step(lr, average):
    @jax.jit
    def step(params, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        grads = jax.tree.map(average, grads)  # mean over ranks of the per-slice mean = full-batch mean
        loss = average(loss)
        return jax.tree.map(lambda p, g: p - lr * g, params, grads), loss

    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--single", action="store_true", help="one process, full batch, no OpenNetworks")
    ap.add_argument("--out", default="")
    a = ap.parse_args()

    x, y = dataset()
    if a.single:
        rank, world, average = 0, 1, (lambda g: g)
    else:
        import opennetworks.jax as onj

        onj.initialize()  # RANK / WORLD_SIZE from torchrun or `onet run`
        rank, world = onj.rank(), onj.world_size()
        average = lambda g: onj.allreduce(g, op="avg")  # noqa: E731
        if BATCH % world:
            raise SystemExit(f"the batch of {BATCH} rows does not split evenly over {world} ranks")
        n = BATCH // world
        x, y = x[rank * n : (rank + 1) * n], y[rank * n : (rank + 1) * n]

    step = make_step(a.lr, average)
    params, losses = init_params(), []
    for _ in range(a.steps):
        params, loss = step(params, x, y)
        losses.append(float(loss))
    print(f"rank {rank}/{world}: loss {losses[0]:.6f} -> {losses[-1]:.6f}", flush=True)
    if a.out and rank == 0:
        np.savez(a.out, losses=np.array(losses), **{k: np.asarray(v) for k, v in params.items()})


if __name__ == "__main__":
    main()
