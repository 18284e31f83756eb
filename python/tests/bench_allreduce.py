"""dist.all_reduce latency and busbw, opennetworks vs gloo (and MPI when mpi4py is installed).

    .venv/bin/python python/tests/bench_allreduce.py [--world 2,4] [--sizes 8,65536,1048576,16777216]

A shortcut to the full benchmark (`python -m opennetworks.bench`, `onet bench --framework
torch`) restricted to all_reduce. Not collected by pytest. Numbers drift with machine load:
compare columns of one run.
"""

import argparse

from opennetworks.bench import main as bench_main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", default="2,4")
    ap.add_argument("--sizes", default="8,65536,1048576,16777216")
    ap.add_argument("--json", action="store_true")
    a, rest = ap.parse_known_args()
    raise SystemExit(
        bench_main(["-n", a.world, "--sizes", a.sizes, "--ops", "all_reduce", *(["--json"] if a.json else []), *rest])
    )


if __name__ == "__main__":
    main()
