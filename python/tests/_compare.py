"""Compare results of two runs (opennetworks vs gloo) case by case."""

from __future__ import annotations

import torch


def is_err(v) -> bool:
    return isinstance(v, tuple) and len(v) == 3 and v[0] == "ERR"


def diff(a, b, exact: bool = True, path: str = "") -> str | None:
    """None when ``a`` and ``b`` agree (bitwise when exact), else a description."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return f"{path}: {type(a).__name__} vs {type(b).__name__}"
        if a.dtype != b.dtype or a.shape != b.shape:
            return f"{path}: {a.dtype}{tuple(a.shape)} vs {b.dtype}{tuple(b.shape)}"
        if exact:
            if a.is_complex():
                a, b = torch.view_as_real(a), torch.view_as_real(b)
            if a.dtype.is_floating_point:
                same = torch.equal(a.contiguous().view(_int_of(a.dtype)), b.contiguous().view(_int_of(b.dtype)))
            else:
                same = torch.equal(a, b)
        else:
            tol = 6e-2 if a.element_size() <= 2 else 1e-5
            same = torch.allclose(a.double(), b.double(), rtol=tol, atol=tol)
        return None if same else f"{path}: {a.flatten()[:8].tolist()} vs {b.flatten()[:8].tolist()}"
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = diff(x, y, exact, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return f"{path}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            d = diff(a[k], b[k], exact, f"{path}.{k}")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def _int_of(dt):
    return {2: torch.int16, 4: torch.int32, 8: torch.int64}[torch.empty((), dtype=dt).element_size()]
