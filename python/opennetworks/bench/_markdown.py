"""A saved ``--json`` result as the README's Markdown table: one row per (n, op, size), the
ordinary / arena / gloo / MPI columns side by side, and our ordinary column's ratios.

python -m opennetworks.bench --markdown notes/perf-after.json
"""

from __future__ import annotations

from ._report import ARENA, ONET, human

_COLS = (ONET, ARENA, "gloo", "mpi")


def _cell(r: dict | None, size: int) -> str:
    if r is None or "time_us" not in r:
        return "-"
    return f"{r['time_us']:.1f} µs" if size < 4096 else f"{r['busbw_GBps']:.2f}"


def _ratio(a: dict | None, b: dict | None) -> str:
    if a is None or b is None or "time_us" not in a or "time_us" not in b:
        return "-"
    return f"{b['time_us'] / a['time_us']:.2f}×"


def table(doc: dict) -> str:
    by = {(r["backend"], r["n"], r["op"], r["size"]): r for r in doc["results"]}
    ld = doc.get("machine", {}).get("load_during") or {}
    load = (
        f"1-minute load during the runs {ld['loadavg1_min']:.1f}–{ld['loadavg1_max']:.1f}, "
        f"runnable tasks mean {ld['runnable_mean']:.1f}"
        if ld
        else f"load not sampled (1-minute load at the end: {doc['machine'].get('loadavg', ['?'])[0]:.1f})"
    )
    head = (
        f"n = {', '.join(map(str, doc['nprocs']))}; {doc['machine'].get('cpus')} CPUs; {load}.\n"
        "busbw in GB/s (small sizes: time per call); ratios are busbw(ordinary) / busbw(reference)."
    )
    lines = [
        head,
        "",
        "| n | op | size | ordinary | arena | gloo | MPI | ord/gloo | ord/MPI |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n in doc["nprocs"]:
        for op in doc["ops"]:
            for s in doc["sizes"]:
                rs = [by.get((b, n, op, s)) for b in _COLS]
                lines.append(
                    f"| {n} | {op} | {human(s)} | "
                    + " | ".join(_cell(r, s) for r in rs)
                    + f" | {_ratio(rs[0], rs[2])} | {_ratio(rs[0], rs[3])} |"
                )
    return "\n".join(lines)
