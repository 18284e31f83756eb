"""Interleaved A/B of the fast lane's data path inside one job (docs/performance.md "Data path").

    .venv/bin/python python/tests/bench_fastlane_ab.py coop -n 3 --sizes 65536,262144,1048576 --reps 9
    .venv/bin/python python/tests/bench_fastlane_ab.py pieces -n 2 --sizes 4194304,16777216 --reps 5

Two torch groups of the same ranks, A and B, differ in one lane setting; every repetition times a loop of
dist.all_reduce on A, then on B, so load drift hits both alike. ``coop``: A never folds cooperatively, B from
``--coop-min`` bytes (default 16 KiB, at any P and load). ``pieces``: A takes the engine path above the block,
B cuts calls into pieces of ``--piece`` bytes (default: the block); B is also compared with A on an arena
tensor. Prints medians and the median of per-repetition B/A ratios (< 1: B faster). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path


def rank_main(a) -> None:
    import torch
    import torch.distributed as dist

    import opennetworks.torch as ot
    from opennetworks import _fastlane

    dist.init_process_group("opennetworks")
    n = dist.get_world_size()
    groups, orig = {}, _fastlane.FastLane._coop_min
    for name in ("A", "B"):
        g = dist.new_group(list(range(n)))
        if a.mode == "coop":  # read once, when the group's segment is made (its first lane call)
            _fastlane.FastLane._coop_min = (lambda self: 0) if name == "A" else (lambda self: a.coop_min)
        dist.all_reduce(torch.ones(8), group=g)
        _fastlane.FastLane._coop_min = orig
        pg = getattr(g, "py", g)
        fl = _fastlane.lane(pg._client, pg._gid, pg._global_ranks)
        if a.mode == "pieces":
            if name == "A":
                fl.limit = fl.max_bytes
            else:
                fl.limit = max(a.sizes)
                fl.max_bytes = a.piece or fl.max_bytes
        groups[name] = g
    out = []
    for size in a.sizes:
        x = torch.ones(size // 4)
        runs = [("A", x), ("B", x)]
        if a.mode == "pieces":
            runs.append(("A-arena", ot.zeros(size // 4)))
        iters = max(3, min(200, (64 << 20) // size))
        times = {v: [] for v, _ in runs}
        for v, t in runs:
            for _ in range(3):
                dist.all_reduce(t, group=groups[v[0]])
        for _ in range(a.reps):
            for v, t in runs:
                dist.barrier(group=groups[v[0]])
                t0 = time.perf_counter()
                for _ in range(iters):
                    dist.all_reduce(t, group=groups[v[0]])
                times[v].append((time.perf_counter() - t0) / iters * 1e6)
        out.append({"size": size, "times": times})
    if dist.get_rank() == 0:
        Path(os.environ["ONET_OUT"], "ab.json").write_text(json.dumps(out))
    dist.destroy_process_group()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["coop", "pieces"])
    p.add_argument("-n", type=int, default=2)
    p.add_argument("--sizes", default="65536,262144,1048576")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--coop-min", type=int, default=16384)
    p.add_argument("--piece", type=int, default=0)
    a = p.parse_args()
    a.sizes = [int(s) for s in a.sizes.split(",")]
    if "RANK" in os.environ:
        return rank_main(a)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _spawn

    load0 = open("/proc/loadavg").read().split()[0]
    res = _spawn.run_script(a.n, Path(__file__), tuple(sys.argv[1:]), env={"ONET_TIMEOUT": "60"}, timeout=900)
    load1 = open("/proc/loadavg").read().split()[0]
    if res.returncodes != [0] * a.n:
        sys.exit(f"ranks failed {res.returncodes}:\n{res.logs[0][-3000:]}")
    print(f"{a.mode} n={a.n}, 1-min load {load0} -> {load1}")
    for row in json.loads((res.run_dir / "ab.json").read_text()):
        t = row["times"]
        med = "  ".join(f"{v}={statistics.median(x):.0f}us" for v, x in t.items())
        ratio = statistics.median(b / x for x, b in zip(t["A"], t["B"]))
        extra = ""
        if "A-arena" in t:
            extra = f"  B/A-arena {statistics.median(b / x for x, b in zip(t['A-arena'], t['B'])):.2f}"
        print(f"  {row['size']:>9} B: {med}  B/A {ratio:.2f}{extra}", flush=True)


if __name__ == "__main__":
    main()
