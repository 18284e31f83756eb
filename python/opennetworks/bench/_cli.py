"""`python -m opennetworks.bench` (and `onet bench --framework torch`): torch.distributed over
opennetworks next to gloo (and MPI through mpi4py when installed), n ranks on this host.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import _launch, _load, _report
from . import _metrics as M


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m opennetworks.bench", description=__doc__)
    ap.add_argument("-n", "--nprocs", default="2,4", help="rank counts, e.g. 2,4")
    ap.add_argument("--sizes", default=M.DEFAULT_SIZES, help="message sizes (nccl-tests meaning)")
    ap.add_argument("--ops", default="all", help=f"all or a list of {','.join(M.OPS)}")
    ap.add_argument("--compare", default="gloo", help="reference torch backends, e.g. gloo")
    ap.add_argument("--no-mpi", action="store_true", help="skip the MPI column even when mpi4py is there")
    ap.add_argument(
        "--no-arena",
        action="store_true",
        help="skip the opennetworks+arena column (tensors from opennetworks.torch.zeros)",
    )
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per size in each run")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every backend this many times, interleaved (load drifts between runs)",
    )
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the iteration counts")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per run of one backend")
    ap.add_argument("--json", action="store_true", help="print the machine-readable result")
    ap.add_argument("--markdown", metavar="FILE", help="print a saved --json result as a Markdown table, and exit")
    a = ap.parse_args(argv)
    try:
        a.nprocs_list = [int(x) for x in a.nprocs.split(",") if x.strip()]
        if not a.nprocs_list or min(a.nprocs_list) < 1:
            raise ValueError
    except ValueError:
        ap.error(f"-n {a.nprocs!r}: give rank counts such as 2 or 2,4")
    try:
        a.ops_list = M.parse_ops(a.ops)
        a.sizes_list = M.parse_sizes(a.sizes)
    except ValueError as e:
        ap.error(str(e))
    a.refs = [b.strip() for b in a.compare.split(",") if b.strip() and b.strip() != "mpi"]
    bad = [b for b in a.refs if b not in ("gloo", "opennetworks")]
    if bad:
        ap.error(f"--compare {a.compare!r}: torch backends to compare with are gloo (and mpi, automatic)")
    if a.reps < 1 or a.rounds < 1:
        ap.error("--reps and --rounds must be at least 1")
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.markdown:
        from . import _markdown

        with open(a.markdown) as f:
            print(_markdown.table(json.load(f)))
        return 0
    rank_args = [
        "--ops",
        ",".join(a.ops_list),
        "--sizes",
        ",".join(map(str, a.sizes_list)),
        "--reps",
        str(a.reps),
        "--scale",
        str(a.scale),
    ]
    arena_bytes = max(256 << 20, 3 * max(a.sizes_list) + (16 << 20))
    mpi_ok, mpi_why = _launch.mpi_status()
    use_mpi = mpi_ok and not a.no_mpi
    skipped = {} if use_mpi else {"mpi": "--no-mpi" if a.no_mpi else mpi_why}
    rows, errors, loads = [], [], []
    log = sys.stderr
    for rnd in range(a.rounds):
        for n in a.nprocs_list:
            runs = [("opennetworks", rank_args + ([] if a.no_arena else ["--arena"]))]
            runs += [(b, rank_args) for b in a.refs if b != "opennetworks"]
            if use_mpi:
                runs.append(("mpi", rank_args))
            for backend, args in runs:
                print(f"# round {rnd + 1}/{a.rounds}: {backend} n={n} ...", file=log, flush=True)
                sampler = _load.LoadSampler()
                try:
                    with sampler:
                        if backend == "mpi":
                            got = _launch.run_mpi(n, args, a.timeout)
                        else:
                            got = _launch.run_torch(backend, n, args, arena_bytes, a.timeout)
                    for r in got:
                        r["load"] = sampler.summary()
                    rows += got
                except _launch.RunError as e:
                    errors.append(str(e)[:4000])
                    print(f"# {backend} n={n} failed:\n{e}", file=log, flush=True)
                ld = sampler.summary()
                loads.append(dict(ld, backend=backend, n=n, round=rnd + 1))
                print(
                    f"#   load during the run: 1-min avg {ld['loadavg1_min']:.1f}-{ld['loadavg1_max']:.1f}, "
                    f"runnable tasks mean {ld['runnable_mean']:.1f} max {ld['runnable_max']}",
                    file=log,
                    flush=True,
                )
    results = _report.aggregate(rows)
    ours = [_report.ONET] + ([] if a.no_arena else [_report.ARENA])
    refs = [b for b in a.refs if b != "opennetworks"] + (["mpi"] if use_mpi else [])
    rat = _report.ratios(results, ours, refs)
    backends = [b for b in ours + refs if any(r["backend"] == b for r in results)]
    wrong = sum(r["wrong"] for r in results)
    if a.json:
        print(
            json.dumps(
                {
                    "framework": "torch",
                    "nprocs": a.nprocs_list,
                    "ops": a.ops_list,
                    "sizes": a.sizes_list,
                    "backends": backends,
                    "reps": a.reps,
                    "rounds": a.rounds,
                    "dtype": "float32",
                    "machine": {
                        "cpus": os.cpu_count(),
                        "loadavg": list(os.getloadavg()),
                        "load_during": _load.merge(loads),
                        "mpi_transport": _launch.MPI_TRANSPORT if use_mpi else None,
                    },
                    "load_per_run": loads,
                    "results": results,
                    "ratios": rat,
                    "skipped": skipped,
                    "errors": errors,
                },
                indent=1,
            )
        )
    else:
        ld = _load.merge(loads)
        print(
            f"# onet bench --framework torch: torch.distributed, {', '.join(backends)}; "
            f"n={a.nprocs}, {a.reps} reps x {a.rounds} round(s); {os.cpu_count()} CPUs; load during the runs: "
            f"1-min avg {ld.get('loadavg1_min', 0):.1f}-{ld.get('loadavg1_max', 0):.1f}, "
            f"runnable tasks mean {ld.get('runnable_mean', 0):.1f}"
        )
        if use_mpi:
            print(f"# mpi: {_launch.MPI_TRANSPORT}")
        for k, v in skipped.items():
            print(f"# {k} skipped: {v}")
        print(_report.tables(results, rat, backends))
        if errors:
            print(f"\n# {len(errors)} run(s) failed; see stderr")
    return 1 if errors or wrong else 0
