"""The fast lane's shared segment layout; mirrors native/rank/fastlane.h (read it for the ordering argument).

Header: magic, version, size P, cap (bytes of one rank's block), the futex word ``wake`` and ``aborted``
(1 + the global rank that aborted, or 0); then one 64-byte line per group rank (seq, pid, sleeping,
start, global rank, attached); then two blocks per rank (parity seq % 2): a 64-byte descriptor of the
call, then ``cap`` bytes of contribution.
"""

from __future__ import annotations

import struct

MAGIC = 0x4C464E4F  # "ONFL"
VERSION = 1

H_MAGIC, H_VERSION, H_SIZE, H_CAP, H_WAKE, H_ABORTED = 0, 4, 8, 16, 24, 28
L_SEQ, L_PID, L_SLEEPING, L_START, L_GLOBAL, L_ATTACHED = 0, 8, 12, 16, 24, 28
DESC = struct.Struct("<QIIIIQd")  # seq, coll, dtype, redop, root, count, scale
DESC_BYTES = 64


def head_bytes(size: int) -> int:
    return (64 * (size + 1) + 4095) & ~4095


def block_bytes(cap: int) -> int:
    return 64 + ((cap + 63) & ~63)


def segment_bytes(size: int, cap: int) -> int:
    return head_bytes(size) + 2 * size * block_bytes(cap)


def line_offset(rank: int) -> int:
    return 64 * (1 + rank)


def block_offset(size: int, cap: int, rank: int, seq: int) -> int:
    return head_bytes(size) + (2 * rank + seq % 2) * block_bytes(cap)
