"""Aggregate benchmark rows (median and range over every sample) and print tables or JSON."""

from __future__ import annotations

import statistics

from . import _metrics as M

ONET, ARENA = "opennetworks", "opennetworks+arena"


def label(row: dict) -> str:
    return ARENA if row.get("variant") == "arena" else row["backend"]


def aggregate(rows: list[dict]) -> list[dict]:
    """One result per (backend, n, op, size) with every sample of every repetition and round."""
    groups: dict = {}
    for r in rows:
        key = (label(r), r["n"], r["op"], r["size"])
        g = groups.get(key)
        if g is None:
            g = groups[key] = {
                "backend": key[0],
                "n": r["n"],
                "op": r["op"],
                "size": r["size"],
                "bytes": r.get("bytes"),
                "iters": r.get("iters"),
                "samples_us": [],
                "wrong": 0,
                "error": None,
                "load": r.get("load"),
            }
        if "error" in r:
            g["error"] = r["error"]
            continue
        g["samples_us"] += r["times_us"]
        g["wrong"] += int(r["wrong"])
    out = []
    for g in groups.values():
        s = g["samples_us"]
        if s:
            f = M.bus_factor(g["op"], g["n"])
            t, lo, hi = statistics.median(s), min(s), max(s)
            g.update(
                time_us=t,
                time_us_min=lo,
                time_us_max=hi,
                algbw_GBps=g["bytes"] / t / 1e3,
                busbw_GBps=g["bytes"] / t / 1e3 * f,
                busbw_GBps_min=g["bytes"] / hi / 1e3 * f,
                busbw_GBps_max=g["bytes"] / lo / 1e3 * f,
            )
        out.append(g)
    return out


def ratios(results: list[dict], ours: list[str], refs: list[str]) -> list[dict]:
    """busbw(ours) / busbw(ref) per (n, op, size): the median ratio and its range."""
    by = {(r["backend"], r["n"], r["op"], r["size"]): r for r in results if "time_us" in r}
    out = []
    for (b, n, op, size), r in by.items():
        if b not in ours:
            continue
        for ref in refs:
            q = by.get((ref, n, op, size))
            if q is None:
                continue
            out.append(
                {
                    "n": n,
                    "op": op,
                    "size": size,
                    "backend": b,
                    "vs": ref,
                    "busbw_ratio": q["time_us"] / r["time_us"],
                    "busbw_ratio_min": q["time_us_min"] / r["time_us_max"],
                    "busbw_ratio_max": q["time_us_max"] / r["time_us_min"],
                }
            )
    return out


def human(n: int) -> str:
    for unit, k in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k and n % k == 0:
            return f"{n // k}{unit}"
    return f"{n}B"


def tables(results: list[dict], rat: list[dict], backends: list[str]) -> str:
    lines = []
    by = {(r["backend"], r["n"], r["op"], r["size"]): r for r in results}
    rby = {(x["backend"], x["vs"], x["n"], x["op"], x["size"]): x for x in rat}
    ns = sorted({r["n"] for r in results})
    ops = list(dict.fromkeys(r["op"] for r in results))
    sizes = sorted({r["size"] for r in results})
    for n in ns:
        for op in ops:
            lines.append(
                f"\n## {op}, n={n}  (float32; busbw = algbw x {M.bus_factor(op, n):.2f}; "
                "median over all samples, [min-max])"
            )
            for b in backends:
                ld = next((r.get("load") for r in results if r["backend"] == b and r["n"] == n and r.get("load")), None)
                lines.append(f"# {b}" + (f"  (load {ld['loadavg1_min']:.1f}-{ld['loadavg1_max']:.1f})" if ld else ""))
                lines.append(
                    f"{'size':>8} {'bytes':>10} {'iters':>6} {'time(us)':>10} {'range(us)':>17} "
                    f"{'algbw':>8} {'busbw':>8} {'#wrong':>7}"
                )
                for s in sizes:
                    r = by.get((b, n, op, s))
                    if r is None:
                        continue
                    if "time_us" not in r:
                        lines.append(f"{human(s):>8}  error: {r.get('error')}")
                        continue
                    rng = f"{r['time_us_min']:.1f}-{r['time_us_max']:.1f}"
                    lines.append(
                        f"{human(s):>8} {r['bytes']:>10} {r['iters']:>6} {r['time_us']:>10.1f} "
                        f"{rng:>17} {r['algbw_GBps']:>8.3f} {r['busbw_GBps']:>8.3f} {r['wrong']:>7}"
                    )
            pairs = sorted(
                {(x["backend"], x["vs"]) for x in rat if x["n"] == n and x["op"] == op},
                key=lambda p: (backends.index(p[0]), backends.index(p[1])),
            )
            if pairs:
                lines.append("# busbw ratio (median [min-max])")
                lines.append(
                    f"{'size':>8} "
                    + " ".join(f"{a.replace('opennetworks', 'onet')}/{v:<6}".rjust(24) for a, v in pairs)
                )
                for s in sizes:
                    cells = []
                    for a, v in pairs:
                        x = rby.get((a, v, n, op, s))
                        cells.append(
                            (
                                f"{x['busbw_ratio']:.1f}x [{x['busbw_ratio_min']:.1f}-{x['busbw_ratio_max']:.1f}]"
                                if x
                                else "-"
                            ).rjust(24)
                        )
                    lines.append(f"{human(s):>8} " + " ".join(cells))
    return "\n".join(lines)
