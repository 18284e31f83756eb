"""ray.util.collective between two Ray actors, on OpenNetworks and on Ray's gloo backend, with the
same inputs (torch tensors and numpy arrays); the results must be equal.

    .venv/bin/python examples/ray/collective.py                      # a local Ray instance
    .venv/bin/python examples/ray/collective.py --address auto       # the cluster of `ray start --head`

`--out FILE` saves every result of both backends (numpy .npz) for comparison.
"""

import argparse
import sys

import numpy as np
import ray
import ray.util.collective as col
import torch
from ray.util.collective.types import ReduceOp

import opennetworks.ray  # noqa: F401  registers backend "opennetworks" in the driver

WORLD = 2
SIZES = (0, 1, 4097)


@ray.remote(num_cpus=0)
class Worker:
    def __init__(self, rank: int):
        from opennetworks.ray import register

        register()  # each actor's process needs the backend too (or Ray's setup hook: see the README)
        self.rank = rank

    def join(self, backend: str, group: str) -> None:
        col.init_collective_group(WORLD, self.rank, backend=backend, group_name=group)

    def run(self, group: str) -> dict:
        r, out = self.rank, {}
        for n in SIZES:
            t = torch.arange(n, dtype=torch.float32) * (r + 1) + 0.25
            col.allreduce(t, group_name=group)
            out[f"allreduce_sum_f32_{n}"] = t.numpy()

            a = np.linspace(1.0, 2.0, n) + r  # numpy float64, in place
            col.allreduce(a, group_name=group, op=ReduceOp.PRODUCT)
            out[f"allreduce_prod_f64_{n}"] = a

            m = torch.arange(n, dtype=torch.int64) % 7 * (1 - 2 * r)
            col.allreduce(m, group_name=group, op=ReduceOp.MAX)
            out[f"allreduce_max_i64_{n}"] = m.numpy()

            h = (torch.arange(n, dtype=torch.float32) / 8 + r).to(torch.bfloat16)
            col.allreduce(h, group_name=group)
            out[f"allreduce_sum_bf16_{n}"] = h.float().numpy()

            parts = [torch.zeros(n, dtype=torch.int32) for _ in range(WORLD)]
            col.allgather(parts, torch.full((n,), 10 * r + 1, dtype=torch.int32), group_name=group)
            out[f"allgather_i32_{n}"] = torch.stack(parts).numpy()

            b = np.full(n, float(r), dtype=np.float32) if r == 1 else np.zeros(n, dtype=np.float32)
            if r == 1:
                b += np.arange(n, dtype=np.float32)
            col.broadcast(b, src_rank=1, group_name=group)
            out[f"broadcast_f32_{n}"] = b

            ins = [torch.arange(n, dtype=torch.float32) + 100 * i + r for i in range(WORLD)]
            rs = torch.zeros(n, dtype=torch.float32)
            col.reducescatter(rs, ins, group_name=group)
            out[f"reducescatter_f32_{n}"] = rs.numpy()

            red = torch.arange(n, dtype=torch.float64) + r
            col.reduce(red, dst_rank=0, group_name=group, op=ReduceOp.MIN)
            out[f"reduce_min_f64_{n}"] = red.numpy()

            p2p = torch.arange(n, dtype=torch.float32) * 3 if r == 0 else torch.zeros(n, dtype=torch.float32)
            if r == 0:
                col.send(p2p, 1, group_name=group)
            else:
                col.recv(p2p, 0, group_name=group)
            out[f"sendrecv_f32_{n}"] = p2p.numpy()
        col.barrier(group_name=group)
        return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    ap.add_argument("--out", default="", help="save both backends' results here (.npz)")
    a = ap.parse_args()

    ray.init(address=a.address, num_cpus=None if a.address else 2, log_to_driver=False)
    workers = [Worker.remote(r) for r in range(WORLD)]
    results = {}
    for backend in ("opennetworks", "gloo"):
        ray.get([w.join.remote(backend, backend) for w in workers], timeout=120)
        results[backend] = ray.get([w.run.remote(backend) for w in workers], timeout=120)

    bad = [
        f"rank {r} {k}"
        for r in range(WORLD)
        for k, v in results["gloo"][r].items()
        if not np.array_equal(results["opennetworks"][r][k], v)
    ]
    if a.out:
        flat = {
            f"{b}/{r}/{k}": v for b, per_rank in results.items() for r, d in enumerate(per_rank) for k, v in d.items()
        }
        np.savez(a.out, **flat)
    verdict = "equal to gloo" if not bad else f"DIFFERENT from gloo: {bad}"
    print(f"{len(results['gloo'][0])} results per rank on {WORLD} actors: {verdict}")
    ray.shutdown()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
