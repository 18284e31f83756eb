"""Byte layout and wire enums of protocol v1 (docs/protocol.md §3, §5).

The numbers live once, in spec/layout.json and spec/enums.json; ``_gen`` holds what
``npm run gen`` makes of them. This module re-exports them under the names the client uses and
adds the ``struct`` packers built from them.
"""

from __future__ import annotations

import struct

from ._gen.enums import (  # noqa: F401
    COLL_NAMES,
    COLLS,
    DTYPE_NAMES,
    DTYPE_SIZE,
    DTYPES,
    FLOAT_DTYPES,
    PROTOCOL_VERSION,
    REDOP_NAMES,
    REDOPS,
)
from ._gen.layout import *  # noqa: F401,F403  (OFF_*, SLOT_*, CTL_*, states, geometry)
from ._gen.layout import SLOT_FIELDS, SLOT_REQUEST_FORMAT

_PACK = {"u32": "I", "i32": "i", "u64": "Q", "f64": "d"}


def _span(first: str, last: str) -> struct.Struct:
    """One little-endian struct over the contiguous slot fields first..last."""
    fields = sorted(SLOT_FIELDS.values())
    names = sorted(SLOT_FIELDS, key=lambda n: SLOT_FIELDS[n][0])
    i, j = names.index(first), names.index(last)
    for a, b in zip(fields[i:j], fields[i + 1 : j + 1]):
        assert a[0] + a[2] == b[0], f"slot fields {first}..{last} are not contiguous"
    return struct.Struct("<" + "".join(_PACK[t] for _, t, _ in fields[i : j + 1]))


# Everything a rank writes when posting, from `status` (offset 4) to `out_count` (offset 96).
SLOT_REQUEST = struct.Struct(SLOT_REQUEST_FORMAT)
# What a rank reads at completion: status, and src/flags/out_count.
SLOT_STATUS_FMT = _span("status", "status")
SLOT_RESULT = _span("src", "out_count")  # at SLOT_SRC
