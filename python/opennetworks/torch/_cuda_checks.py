"""Checks for the CUDA path: is this tensor on this group's GPU, in a dtype and layout the host
collectives take; and which GPU a local rank gets (opennetworks.torch._cuda)."""

from __future__ import annotations

import os

import torch

from .._errors import InvalidArgumentError, UnsupportedError
from ._dtypes import DTYPE_CODES

_SUPPORTED = ", ".join(str(d).replace("torch.", "") for d in DTYPE_CODES)


def _as_device(device) -> torch.device:
    d = torch.device(device) if not isinstance(device, torch.device) else device
    if d.type == "cuda" and d.index is None:
        d = torch.device("cuda", torch.cuda.current_device() if torch.cuda.is_available() else 0)
    return d


def check_device(tensor, group_device, what: str = "collective", rank: int | None = None) -> None:
    """Raise a clear error unless ``tensor`` can take the CUDA path of a group on ``group_device``.

    ``group_device`` is the CUDA device this rank's group is bound to (``torch.device``, "cuda:1"
    or an index). Several ranks may share one GPU; each tensor must sit on its group's device.
    """
    who = f"rank {rank}: " if rank is not None else ""
    if not isinstance(tensor, torch.Tensor):
        raise InvalidArgumentError(f"{who}{what} expects tensors, got {type(tensor).__name__}")
    gdev = _as_device(group_device if not isinstance(group_device, int) else torch.device("cuda", group_device))
    if gdev.type != "cuda":
        raise InvalidArgumentError(
            f"{who}{what}: group device {gdev} is not a CUDA device; the CUDA path "
            "needs one such as 'cuda:0' (CPU tensors take the host path)"
        )
    dev = tensor.device
    if dev.type not in ("cuda", "cpu"):
        raise UnsupportedError(
            f"{who}{what} got a tensor on {dev}; the opennetworks backend handles CPU and "
            "CUDA tensors only: move it with .cpu() or .to('cuda')"
        )
    if dev.type == "cpu":
        raise InvalidArgumentError(
            f"{who}{what} got a tensor on cpu among tensors on {gdev} (this group's GPU): put every tensor "
            f"of one collective on the same device, e.g. .to('{gdev}')"
        )
    if dev != gdev:
        raise InvalidArgumentError(
            f"{who}{what} got a tensor on {dev} but this process group is bound to {gdev}: move it with "
            f".to('{gdev}'), or bind the group to {dev} (init_process_group(..., device_id=torch.device('{dev}')) "
            "or torch.cuda.set_device before init)"
        )
    if not torch.cuda.is_available():
        raise UnsupportedError(
            f"{who}{what}: torch reports no usable CUDA device (torch "
            f"{torch.__version__}, built with CUDA {torch.version.cuda})"
        )
    if tensor.layout != torch.strided:
        raise UnsupportedError(
            f"{who}{what} got a {tensor.layout} tensor; pass a dense (strided) tensor, e.g. t.to_dense()"
        )
    if tensor.dtype not in DTYPE_CODES:
        raise UnsupportedError(
            f"{who}{what}: dtype {tensor.dtype} is not supported on GPU by the opennetworks "
            f"backend; use one of {_SUPPORTED} (e.g. t.float())"
        )


def pick_device(local_rank: int) -> torch.device:
    """The GPU of a local rank: ranks share GPUs round-robin when there are more ranks than GPUs."""
    n = torch.cuda.device_count()
    if n == 0:
        vis = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise UnsupportedError(
            f"local rank {local_rank}: torch sees no CUDA device (CUDA_VISIBLE_DEVICES="
            f"{vis!r}); run on a GPU machine or use CPU tensors"
        )
    return torch.device("cuda", local_rank % n)
