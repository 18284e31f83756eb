"""Constants shared by the ProcessGroupOnet mixins: protocol collective codes, fast-path tables."""

from __future__ import annotations

import datetime

import torch
import torch.distributed as dist

from .._gen.enums import TORCH_REDOPS
from .._layout import ALIGN, COLLS
from ._dtypes import DTYPE_CODES, dtype_code

ALLREDUCE, REDUCE, BROADCAST = COLLS["allreduce"], COLLS["reduce"], COLLS["broadcast"]
ALLGATHER, ALLGATHERV = COLLS["allgather"], COLLS["allgatherv"]
REDUCE_SCATTER, REDUCE_SCATTERV = COLLS["reduce_scatter"], COLLS["reduce_scatterv"]
ALLTOALL, ALLTOALLV = COLLS["alltoall"], COLLS["alltoallv"]
GATHER, SCATTER, BARRIER, SEND, RECV = (
    COLLS["gather"],
    COLLS["scatter"],
    COLLS["barrier"],
    COLLS["send"],
    COLLS["recv"],
)
_STRIDED = torch.strided
_FAST_CODES = {dt: c for dt, (c, k) in DTYPE_CODES.items() if k == 1 and dt is not torch.bool}
_FAST_OPS = {
    (getattr(dist.ReduceOp.RedOpType, name), dt): code
    for name, code in TORCH_REDOPS.items()
    if name in ("SUM", "PRODUCT", "MIN", "MAX", "AVG")
    for dt in _FAST_CODES
}
_POISON_DTYPE = 0xFFFF  # posted when a rank's own arguments are invalid, so its peers fail fast
_DEFAULT_PG_TIMEOUT = datetime.timedelta(minutes=30)


def _align(n: int) -> int:
    return (n + ALIGN - 1) & ~(ALIGN - 1)


def _flat_count(t: torch.Tensor) -> int:
    return t.numel() * dtype_code(t.dtype)[1]
