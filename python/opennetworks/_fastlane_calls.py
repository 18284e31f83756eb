"""A fast-lane call's records (python/opennetworks/_fastlane.py): what a started call holds until it finishes,
and how a call larger than one block is cut into lane calls of at most a block each."""

from __future__ import annotations

from ._errors import InvalidArgumentError
from ._gen.enums import COLLS

ALLGATHER, REDUCE_SCATTER = COLLS["allgather"], COLLS["reduce_scatter"]


class _Done:
    """What Communicator._run returns: the output bytes in ``result``."""

    __slots__ = ("result", "src", "out_count")

    def __init__(self, result):
        self.result = result
        self.src = -1
        self.out_count = 0


class Pending:
    """One started (published) lane call; ``finish`` completes it and sets ``error`` (None: ok)."""

    __slots__ = ("seq", "args", "done", "error", "rest", "call", "chunk", "keep")

    def __init__(self, seq: int, args: tuple):
        self.seq = seq
        self.args = args
        self.done = False
        self.error = None
        self.rest = ()  # a chunked call's later pieces (plan_pieces), run by finish
        self.call = None  # (coll, dtype, redop, root, scale, timeout_s) for those
        self.chunk = None  # the _Chunk this Pending published
        self.keep = None  # what must outlive the call (a direct call's contiguous input)


class _Chunk:
    """One piece of a call larger than the block: what to publish and where its result goes."""

    __slots__ = ("count", "in_addr", "in_bytes", "pieces", "out_addr", "stage")

    def __init__(self, count, in_addr, in_bytes, out_addr, pieces=None, stage=None):
        self.count = count
        self.in_addr = in_addr
        self.in_bytes = in_bytes
        self.out_addr = out_addr
        self.pieces = pieces  # reduce_scatter: the P strided input pieces, copied one after the other
        self.stage = stage  # all_gather: (staging array, [(out address, bytes)]) scattered after the call


def plan_pieces(coll, es, count, in_addr, in_bytes, out_addr, P: int, max_bytes: int, rank: int) -> list:
    """A call whose per-rank input exceeds the block, as lane calls of at most ``max_bytes`` each,
    element ranges in order; every rank cuts the same way (count, dtype, size and the cap decide)."""
    import numpy as np

    step = max_bytes // (es * (P if coll == REDUCE_SCATTER else 1))
    if step < 1:
        raise InvalidArgumentError(
            f"fast-lane blocks of {max_bytes} bytes cannot hold one element per rank; raise ONET_FASTLANE_MAX_BYTES",
            [rank],
        )
    send = in_bytes > 0
    out, stage = [], None
    for a in range(0, count, step):
        n = min(step, count - a)
        if coll == REDUCE_SCATTER:
            pieces = [(in_addr + (r * count + a) * es, n * es) for r in range(P)] if send else None
            out.append(_Chunk(n, 0, P * n * es if send else 0, out_addr + a * es, pieces=pieces))
        elif coll == ALLGATHER:
            if stage is None:
                stage = np.empty(P * step * es, dtype=np.uint8)
            to = [(out_addr + (r * count + a) * es, n * es) for r in range(P)]
            src = in_addr + a * es if send else 0
            out.append(_Chunk(n, src, n * es if send else 0, 0, stage=(stage, to)))
        else:
            src = in_addr + a * es if send else 0
            out.append(_Chunk(n, src, n * es if send else 0, out_addr + a * es))
    return out
