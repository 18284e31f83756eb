"""The fast lane's shared segment layout; mirrors native/rank/fastlane.h (read it for the ordering argument).

Header: magic, version, size P, coop_min (smallest cooperative allreduce, bytes per rank; 0: none; group
rank 0 writes it at creation), cap (bytes of one rank's block), the futex word ``wake`` and ``aborted``
(1 + the global rank that aborted, or 0); then one 64-byte line per group rank (seq, pid, sleeping,
start, global rank, attached, red, bad, bad errno, bad peer); one 128-byte arena entry per group rank; then
two blocks per rank (parity seq % 2): a 64-byte descriptor of the call, then ``cap`` bytes of contribution.

Version 2: cooperative allreduce (``coop``: rank r folds slice ``coop_slice(r)`` of every block into
group rank 0's block, publishes ``red``, then everyone copies rank 0's block out) and calls larger than
the block cut in pieces (_fastlane.py); a rank of version 1 makes the communicator take the engine path.

Version 3: direct calls (fastlane.h "Direct calls"): a broadcast or all_gather of at least
ONET_FASTLANE_DIRECT_MIN_BYTES per rank publishes only its descriptor, whose ``addr`` is the caller's own
tensor and ``out`` its output; each rank reads its peers' tensors with process_vm_readv (a broadcast's root
writes the last 1/P of every receiver's output with process_vm_writev, ``direct_cut``), records a failed read
in its line (``bad``, errno, peer), publishes ``red`` and waits for every peer's ``red`` before returning.

Version 4: allreduces and reduce_scatters are direct calls too: rank r reads slice ``coop_slice(r)`` of every
peer's input, folds it in group-rank order and writes the result into that slice of every peer's output
(process_vm_writev); a reduce_scatter's rank r folds block r of every peer's input into its output.

Version 5: a direct all_gather output that lies in its owner's arena (``allgather_pushed``) gets block r written
into it by rank r, ``PUSH_PIECE`` bytes at a time, each piece to every such peer while it is in cache (the C++
lane writes through its mapping of the arena); every other output still reads its blocks from the peers.
"""

from __future__ import annotations

import os
import struct

MAGIC = 0x4C464E4F  # "ONFL"
VERSION = 5
DIRECT = 1  # Desc.flags: a direct call
PUSH_PIECE = 256 << 10  # fastlane.h kPushPiece: a pushed all_gather block's unit
COOP_MIN_BYTES = 131072  # Head.coop_min at P >= 3: smaller allreduces fold every block on every rank

H_MAGIC, H_VERSION, H_SIZE, H_COOP_MIN, H_CAP, H_WAKE, H_ABORTED = 0, 4, 8, 12, 16, 24, 28
L_SEQ, L_PID, L_SLEEPING, L_START, L_GLOBAL, L_ATTACHED, L_RED = 0, 8, 12, 16, 24, 28, 32
L_BAD, L_BAD_ERRNO, L_BAD_PEER = 40, 48, 52
DESC = struct.Struct("<QIIIIQdQIIQ")  # seq, coll, dtype, redop, root, count, scale, addr, flags, pad, out
DESC_BYTES = 64


def head_bytes(size: int) -> int:
    return (64 * (size + 1) + 128 * size + 4095) & ~4095


def arena_entry_offset(size: int, rank: int) -> int:
    """Group rank ``rank``'s ArenaEntry (fastlane.h): where a peer opens its arena ("/proc/<pid>/fd/<fd>", 112
    bytes, NUL-terminated),
    where it mapped it (u64) and the mapping's length (u64); the C++ lane copies a peer's arena tensors with
    memcpy through its own mapping of that arena."""
    return 64 * (size + 1) + 128 * rank


def block_bytes(cap: int) -> int:
    return 64 + ((cap + 63) & ~63)


def segment_bytes(size: int, cap: int) -> int:
    return head_bytes(size) + 2 * size * block_bytes(cap)


def line_offset(rank: int) -> int:
    return 64 * (1 + rank)


def block_offset(size: int, cap: int, rank: int, seq: int) -> int:
    return head_bytes(size) + (2 * rank + seq % 2) * block_bytes(cap)


def direct_cut(size: int, nbytes: int) -> int:
    """Where a direct broadcast is cut (fastlane.h ``direct_cut``): receivers read [0, cut), the root writes
    the rest."""
    return nbytes if size < 2 else (nbytes // size * (size - 1)) & ~63


def direct_call(coll: int, nbytes: int, direct_min: int) -> bool:
    """Whether a collective whose input is ``nbytes`` per rank (a reduce_scatter's P blocks) is a direct call
    (fastlane.h ``direct_call``): an allreduce (wire code 1), broadcast (3) or all_gather (4) of at least
    ``direct_min`` bytes, a reduce_scatter (6) of more; ``direct_min`` 0: never."""
    if coll == 6:
        return direct_min > 0 and nbytes > direct_min
    return direct_min > 0 and nbytes >= direct_min and coll in (1, 3, 4)


def coop(size: int, nbytes: int, coop_min: int) -> bool:
    """Whether an allreduce of ``nbytes`` per rank folds cooperatively (fastlane.h ``coop``)."""
    return size >= 2 and coop_min > 0 and nbytes >= coop_min and nbytes >= 256 * size * size


def coop_slice(size: int, n: int, es: int, r: int) -> tuple[int, int]:
    """Group rank ``r``'s element range of a cooperative fold: ``size`` parts cut at 64-byte lines."""
    line = 1 if es >= 64 else 64 // es
    part = (-(-n // size) + line - 1) // line * line
    lo = min(n, r * part)
    return lo, min(n, lo + part)


def put_int(mm, off: int, width: int, v: int) -> None:
    """Writes a little-endian unsigned field of `width` bytes at `off` of a mapped segment."""
    mm[off : off + width] = int(v).to_bytes(width, "little")


def allgather_pushed(arena: int, nbytes: int, out: int, total: int) -> bool:
    """fastlane.h allgather_pushed: whether a direct all_gather output of ``total`` bytes at ``out`` lies in its
    owner's arena [arena, arena + nbytes), so that each block's owner writes it there."""
    return nbytes > 0 and arena <= out and out + total <= arena + nbytes


def get_int(mm, off: int, width: int) -> int:
    """Reads a little-endian unsigned field of `width` bytes at `off` of a mapped segment."""
    return int.from_bytes(mm[off : off + width], "little")


def unlink_quietly(path: str) -> None:
    """Removes a segment's name; one already gone (a peer unlinked it) is fine."""
    try:
        os.unlink(path)
    except OSError:
        pass
