"""torch dtype ↔ protocol dtype, and torch ReduceOp ↔ protocol redop.

bool travels as u8 and reduces like gloo: SUM and MAX are logical or, PRODUCT and MIN logical
and. Complex tensors travel as their real pairs (f32/f64), for the ops torch allows on them.
"""

from __future__ import annotations

import torch

from .._errors import UnsupportedError
from .._gen.enums import REDOPS, TORCH_DTYPES, TORCH_REDOPS

# dtype -> (protocol code, elements per tensor element), from spec/enums.json
DTYPE_CODES: dict[torch.dtype, tuple[int, int]] = {getattr(torch, name): code for name, code in TORCH_DTYPES.items()}

_OP_CODES = TORCH_REDOPS
_SUM, _PROD, _AVG, _PREMUL_SUM = REDOPS["sum"], REDOPS["prod"], REDOPS["avg"], REDOPS["premul_sum"]
_BOOL_OPS = {_SUM: REDOPS["max"], _PROD: REDOPS["min"]}  # sum -> max (or), prod -> min (and)
_SUPPORTED = ", ".join(TORCH_DTYPES)


def dtype_code(dtype: torch.dtype) -> tuple[int, int]:
    code = DTYPE_CODES.get(dtype)
    if code is None:
        raise UnsupportedError(
            f"dtype {dtype} is not supported by the opennetworks backend (as with gloo); use one of {_SUPPORTED}"
        )
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
    if code == _PREMUL_SUM:
        factor = getattr(op, "factor", None)
        if isinstance(factor, torch.Tensor):
            factor = factor.item()
        scale = float(factor if factor is not None else 1.0)
    if dtype is torch.bool:
        if code == _AVG or code == _PREMUL_SUM:
            raise UnsupportedError(f"ReduceOp.{name} is not defined for bool tensors")
        code = _BOOL_OPS.get(code, code)
    return code, scale
