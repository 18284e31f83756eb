"""torch dtype ↔ protocol dtype, and torch ReduceOp ↔ protocol redop.

bool travels as u8 and reduces like gloo: SUM and MAX are logical or, PRODUCT and MIN logical
and. Complex tensors travel as their real pairs (f32/f64), for the ops torch allows on them.
"""
from __future__ import annotations

import torch

from .._errors import UnsupportedError

# dtype -> (protocol code, elements per tensor element)
DTYPE_CODES: dict[torch.dtype, tuple[int, int]] = {
    torch.float32: (0, 1), torch.float64: (1, 1), torch.float16: (2, 1), torch.bfloat16: (3, 1),
    torch.int8: (4, 1), torch.uint8: (5, 1), torch.int32: (6, 1), torch.int64: (7, 1),
    torch.bool: (5, 1), torch.complex64: (0, 2), torch.complex128: (1, 2),
}

_OP_CODES = {"SUM": 0, "PRODUCT": 1, "MIN": 2, "MAX": 3, "AVG": 4, "BAND": 5, "BOR": 6, "BXOR": 7,
             "PREMUL_SUM": 8}
_BOOL_OPS = {0: 3, 1: 2}  # sum -> max (or), prod -> min (and)


def dtype_code(dtype: torch.dtype) -> tuple[int, int]:
    code = DTYPE_CODES.get(dtype)
    if code is None:
        raise UnsupportedError(
            f"dtype {dtype} is not supported by the opennetworks backend (as with gloo); use one of "
            "float32, float64, float16, bfloat16, int8, uint8, int32, int64, bool, complex64, "
            "complex128")
    return code


def redop_code(op, dtype: torch.dtype) -> tuple[int, float]:
    """(protocol redop, premul scale) for a torch ReduceOp (or RedOpType) on ``dtype``."""
    if op is None:
        return 0, 1.0
    kind = getattr(op, "op", op)
    name = kind.name if hasattr(kind, "name") else str(kind).rsplit(".", 1)[-1]
    code = _OP_CODES.get(name)
    if code is None:
        raise UnsupportedError(f"reduce op {name} is not supported by the opennetworks backend")
    scale = 1.0
    if code == 8:
        factor = getattr(op, "factor", None)
        if isinstance(factor, torch.Tensor):
            factor = factor.item()
        scale = float(factor if factor is not None else 1.0)
    if dtype is torch.bool:
        if code == 4 or code == 8:
            raise UnsupportedError(f"ReduceOp.{name} is not defined for bool tensors")
        code = _BOOL_OPS.get(code, code)
    return code, scale
