"""8-byte dist.all_reduce latency, compiled process group vs Python (ONET_TORCH_IMPL), fast lane on.

    .venv/bin/python python/tests/bench_c10d.py [--world 1,2] [--iters 20000] [--reps 5]

Each (world, impl) is one real job (_spawn: ranks + coordinator). Every rank times `reps` loops of
`iters` back-to-back dist.all_reduce of one float64 after 2000 warm-up calls; the table shows rank 0's
mean µs per call of the best and of the median loop. Not collected by pytest; numbers drift with machine
load (the 1-min load average is printed), so compare columns of one run. docs/performance.md,
"Compiled c10d backend".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def rank_main(iters: int, reps: int) -> None:
    import torch
    import torch.distributed as dist

    import opennetworks.torch  # noqa: F401

    dist.init_process_group("opennetworks")
    pg = dist.group.WORLD
    t = torch.ones(1, dtype=torch.float64)
    for _ in range(2000):
        dist.all_reduce(t)
    loops = []
    for _ in range(reps):
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(t)
        loops.append((time.perf_counter() - t0) / iters * 1e6)
    out = {"impl": getattr(pg, "impl", "python"), "loops_us": loops, "lane_calls": getattr(pg, "_lane_calls", None)}
    Path(os.environ["ONET_OUT"], f"rank{dist.get_rank()}.json").write_text(json.dumps(out))
    dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", default="1,2")
    ap.add_argument("--impls", default="python,compiled")
    ap.add_argument("--iters", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _spawn

    print(f"load {os.getloadavg()[0]:.1f}, cores {os.cpu_count()}")
    print("| n | impl | best µs | median µs | lane calls in C++ |\n|---|---|---|---|---|")
    for world in map(int, a.world.split(",")):
        for impl in a.impls.split(","):
            env = {"ONET_TORCH_IMPL": impl, "ONET_FASTLANE_MAX_BYTES": "65536"}
            res = _spawn.run_script(world, Path(__file__), ("rank", a.iters, a.reps), env=env, timeout=600)
            p = res.run_dir / "rank0.json"
            if not p.exists():
                print(f"| {world} | {impl} | failed rc {res.returncodes} | | |\n{res.logs[0][-2000:]}")
                continue
            o = json.loads(p.read_text())
            loops = sorted(o["loops_us"])
            print(f"| {world} | {o['impl']} | {loops[0]:.2f} | {loops[len(loops) // 2]:.2f} | {o['lane_calls']} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "rank":
        rank_main(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
