"""What the benchmark measures, shared by the torch and MPI ranks: ops, sizes, counts, busbw.

Sizes follow nccl-tests: all_reduce/broadcast move ``size`` bytes per rank; all_gather's size is
the gathered output, reduce_scatter's the input (each rank's block is size/n). busbw = algbw ×
2(n-1)/n (all_reduce), (n-1)/n (all_gather, reduce_scatter), 1 (broadcast).
"""

from __future__ import annotations

import re

from .._gen.enums import bus_factor  # noqa: F401  (spec/enums.json: one busbw factor for every language)

OPS = ("all_reduce", "all_gather", "broadcast", "reduce_scatter")
DEFAULT_SIZES = "8,64KiB,1MiB,16MiB,64MiB"
ELEM = 4  # float32

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1000,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 1000**2,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 1000**3,
    "gib": 1 << 30,
}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"--sizes: {text!r} is not a byte size; write e.g. 8, 64KiB, 1MiB, 16MiB")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def parse_sizes(text: str) -> list[int]:
    sizes = [parse_size(s) for s in text.split(",") if s.strip()]
    if not sizes or min(sizes) <= 0:
        raise ValueError(f"--sizes {text!r}: give positive byte sizes, e.g. 8,64KiB,1MiB")
    return sizes


def parse_ops(text: str) -> list[str]:
    ops = [o.strip() for o in text.split(",") if o.strip()]
    if ops == ["all"]:
        return list(OPS)
    bad = [o for o in ops if o not in OPS]
    if bad or not ops:
        raise ValueError(f"--ops: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(OPS)} or all")
    return ops


def counts(op: str, size: int, n: int) -> tuple[int, int]:
    """(input elements, output elements) per rank for ``op`` at nominal ``size`` bytes."""
    total = max(1, size // ELEM)
    if op in ("all_reduce", "broadcast"):
        return total, total
    block = max(1, total // n)
    if op == "all_gather":
        return block, block * n
    return block * n, block  # reduce_scatter


def moved_bytes(op: str, size: int, n: int) -> int:
    """The size nccl-tests divides by the time: the full buffer (after rounding to n blocks)."""
    i, o = counts(op, size, n)
    return max(i, o) * ELEM


def iterations(size: int, scale: float = 1.0) -> int:
    """Timed calls per repetition: many for small messages, a few for large (same on every rank)."""
    return max(3, min(1000, int((256 << 20) // max(size, 1) * scale)))


def warmup(size: int, first: bool, scale: float = 1.0) -> int:
    """Warm-up calls, by count (never by clock: every rank must make the same calls)."""
    it = iterations(size, scale)
    return max(2, it // 10) + (max(20, int(200 * scale)) if first else 0)


def expected(op: str, rank: int, n: int):
    """The value every output element should hold when each rank's input is rank+1 (None: per block)."""
    if op in ("all_reduce", "reduce_scatter"):
        return n * (n + 1) / 2
    if op == "broadcast":
        return 1.0
    return None  # all_gather: block j holds j+1
