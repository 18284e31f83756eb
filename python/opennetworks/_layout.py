"""Byte layout and wire enums of protocol v1 (docs/protocol.md §3, §5; native/shm/layout.h)."""
from __future__ import annotations

import struct

MAGIC = 0x54454E4F
LAYOUT_VERSION = 1
PROTOCOL_VERSION = 1

# Arena head
OFF_MAGIC, OFF_VERSION, OFF_RANK, OFF_WORLD = 0, 4, 8, 12
OFF_DATA_OFFSET, OFF_DATA_BYTES = 16, 24
OFF_SLOTS, OFF_SLOT_BYTES, OFF_COORD_PID, OFF_LOCAL_RANK = 32, 36, 40, 44
OFF_POST_COUNT = 64          # u64, rank-written
OFF_DONE_FUTEX = 128         # u32, coordinator-written futex word
OFF_RANK_WAITING = 132       # u32, rank-written
SLOTS_OFFSET = 1024
NUM_SLOTS = 64
SLOT_BYTES = 512
DATA_OFFSET = 65536

# Slot fields
SLOT_STATE, SLOT_STATUS, SLOT_SEQ, SLOT_COLL, SLOT_DTYPE, SLOT_REDOP, SLOT_ROOT = 0, 4, 8, 16, 20, 24, 28
SLOT_COUNT, SLOT_IN_OFF, SLOT_OUT_OFF, SLOT_AUX_OFF = 32, 40, 48, 56
SLOT_GROUP, SLOT_TAG, SLOT_SCALE, SLOT_SRC, SLOT_FLAGS, SLOT_OUT_COUNT = 64, 68, 72, 80, 84, 88
SLOT_MSG, SLOT_MSG_BYTES = 128, 384
# Proposed (protocol v1 padding, ignored by coordinators that do not know it): u64 at slot offset
# 96 = the rank's post_count after this post (1, 2, ...), so that a coordinator can order the
# requests it discovers in one scan by post order rather than by slot index.
SLOT_POST_NO = 96

# Everything a rank writes when posting, from `status` (offset 4) to `out_count` (offset 96).
SLOT_REQUEST = struct.Struct("<iQIIIiQQQQIIdiIQ")
assert SLOT_REQUEST.size == 92
# What a rank reads at completion: status, and src/flags/out_count.
SLOT_STATUS_FMT = struct.Struct("<i")
SLOT_RESULT = struct.Struct("<iIQ")  # src, flags, out_count at offset 80

# Slot states
FREE, POSTED, DONE, ERROR, CLAIMED = 0, 1, 2, 3, 4

# Ctl segment
CTL_BYTES = 4096
CTL_MAGIC, CTL_VERSION, CTL_COORD_PID, CTL_WORLD = 0, 4, 8, 12
CTL_BELL, CTL_COORD_SLEEPING, CTL_HEARTBEAT, CTL_CLOSING = 64, 128, 192, 200

FLAG_ZMQ_DONE = 1

# Wire enums (native/common/types.h)
DTYPES = {"f32": 0, "f64": 1, "f16": 2, "bf16": 3, "i8": 4, "u8": 5, "i32": 6, "i64": 7}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
DTYPE_SIZE = {0: 4, 1: 8, 2: 2, 3: 2, 4: 1, 5: 1, 6: 4, 7: 8}
FLOAT_DTYPES = frozenset((0, 1, 2, 3))

REDOPS = {"sum": 0, "prod": 1, "min": 2, "max": 3, "avg": 4, "band": 5, "bor": 6, "bxor": 7,
          "premul_sum": 8}
REDOP_NAMES = {v: k for k, v in REDOPS.items()}

COLLS = {"allreduce": 1, "reduce": 2, "broadcast": 3, "allgather": 4, "allgatherv": 5,
         "reduce_scatter": 6, "reduce_scatterv": 7, "alltoall": 8, "alltoallv": 9,
         "gather": 10, "scatter": 11, "barrier": 12, "send": 13, "recv": 14}
COLL_NAMES = {v: k for k, v in COLLS.items()}

ALIGN = 64
