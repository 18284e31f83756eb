"""What crosses between Ray's tensors (torch tensors, numpy arrays) and the numpy Communicator.

A CPU torch tensor is seen through numpy without a copy; bf16 goes as ml_dtypes.bfloat16 (same
bits). Results are written back into the caller's tensor, as ray.util.collective's in-place API
requires; a tensor on a GPU travels through host memory.
"""

from __future__ import annotations

import numpy as np

from .._errors import InvalidArgumentError, UnsupportedError


def _torch():
    try:
        import torch
    except ImportError:  # numpy-only workers
        return None
    return torch


def is_torch(t) -> bool:
    torch = _torch()
    return torch is not None and isinstance(t, torch.Tensor)


def to_numpy(t) -> np.ndarray:
    """The values of ``t`` as a numpy array (a view when ``t`` is a contiguous CPU tensor)."""
    if isinstance(t, np.ndarray):
        return t
    if not is_torch(t):
        raise InvalidArgumentError(f"opennetworks ray group: expected a torch.Tensor or numpy.ndarray, got {type(t)}")
    torch = _torch()
    x = t.detach()
    if x.device.type != "cpu":
        x = x.cpu()
    if x.dtype == torch.bfloat16:
        try:
            import ml_dtypes
        except ImportError:
            raise UnsupportedError(
                "bfloat16 tensors need the ml_dtypes package in the Ray worker (pip install ml_dtypes)"
            ) from None
        return x.contiguous().view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return x.contiguous().numpy()


def write(dst, values: np.ndarray) -> None:
    """Copy ``values`` into the caller's tensor or array ``dst`` (same number of elements)."""
    if values.size != (dst.size if isinstance(dst, np.ndarray) else dst.numel()):
        raise InvalidArgumentError(
            f"opennetworks ray group: result has {values.size} elements, the output tensor {tuple(dst.shape)}"
        )
    if isinstance(dst, np.ndarray):
        np.copyto(dst, values.reshape(dst.shape), casting="no")
        return
    torch = _torch()
    flat = np.ascontiguousarray(values)
    if dst.dtype == torch.bfloat16:
        src = torch.from_numpy(flat.view(np.int16)).view(torch.bfloat16)
    else:
        src = torch.from_numpy(flat)
    with torch.no_grad():
        dst.copy_(src.reshape(dst.shape))
