"""dist.all_reduce latency and busbw, opennetworks vs gloo, through the same worker as the tests.

    .venv/bin/python python/tests/bench_allreduce.py [--world 2,4] [--sizes 8,65536,1048576,16777216]

Not collected by pytest. Numbers drift with machine load: compare columns of one run.
"""
import argparse

import _harness


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", default="2,4")
    ap.add_argument("--sizes", default="8,65536,1048576,16777216")
    a = ap.parse_args()
    print(f"{'n':>2} {'bytes':>10} {'onet us':>10} {'gloo us':>10} {'onet GB/s':>10} {'gloo GB/s':>10} {'x':>6}")
    for w in map(int, a.world.split(",")):
        res = {}
        for be in ("opennetworks", "gloo"):
            run = _harness.run_ranks(w, "bench", be, args=(a.sizes,), timeout=600)
            if run.results[0] is None:
                raise SystemExit(run.describe())
            res[be] = run.results[0]
        for size in map(int, a.sizes.split(",")):
            o, g = res["opennetworks"][size], res["gloo"][size]
            print(f"{w:>2} {size:>10} {o['us']:>10.1f} {g['us']:>10.1f} {o['busbw_GBps']:>10.3f} "
                  f"{g['busbw_GBps']:>10.3f} {g['us'] / o['us']:>6.1f}")


if __name__ == "__main__":
    main()
