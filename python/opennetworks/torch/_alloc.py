"""Tensors that live in this rank's shared-memory arena: collectives on them copy nothing.

    x = opennetworks.torch.empty(1 << 20)        # after dist.init_process_group("opennetworks")
    dist.all_reduce(x)                           # the engine reduces x where it lies

Each tensor owns one block of the arena's data region; the block returns to the allocator when
the last tensor (or view) sharing its storage is garbage collected.
"""

from __future__ import annotations

import ctypes
import warnings
import weakref

import torch

from .. import _comm
from .._errors import InvalidArgumentError
from .._layout import DATA_OFFSET
from ._dtypes import dtype_code

_block_types: dict[int, type] = {}


def _block_type(nbytes: int) -> type:
    # A Python subclass of a ctypes array: exports the buffer to torch and supports weakrefs.
    t = _block_types.get(nbytes)
    if t is None:
        if len(_block_types) > 256:
            _block_types.clear()
        t = _block_types[nbytes] = type("ArenaBlock", (ctypes.c_uint8 * nbytes,), {})
    return t


def _client():
    c = _comm._client
    if c is None or c.closed:
        raise InvalidArgumentError(
            "opennetworks.torch.empty needs this process registered with the coordinator: call "
            "dist.init_process_group('opennetworks') (or opennetworks.init()) first"
        )
    return c


def _shape(size) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def empty(*size, dtype: torch.dtype | None = None) -> torch.Tensor:
    """An uninitialised CPU tensor in the arena (like ``torch.empty``)."""
    shape = _shape(size)
    dtype = dtype or torch.get_default_dtype()
    dtype_code(dtype)  # unsupported dtypes fail here, not at the first collective
    n = 1
    for s in shape:
        n *= s
    es = torch.empty((), dtype=dtype).element_size()
    nbytes = n * es
    if nbytes == 0:
        return torch.empty(shape, dtype=dtype)
    c = _client()
    eng, arena = c.engine, c.arena
    with eng._lock:
        off = arena.alloc.alloc(nbytes)
    if off is None:
        raise InvalidArgumentError(
            f"opennetworks.torch.empty: no free block of {nbytes} bytes in the arena (data region "
            f"{arena.data_bytes} bytes, largest free block {arena.alloc.largest_free()}): free "
            "arena tensors you no longer need, or raise ONET_ARENA_BYTES before the coordinator starts"
        )
    block = _block_type(nbytes).from_buffer(arena.mm, DATA_OFFSET + off)
    weakref.finalize(block, arena.alloc.free_later, off)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "buffer is not writable" does not apply: it is
        t = torch.frombuffer(block, dtype=dtype)
    return t.view(shape)


def zeros(*size, dtype: torch.dtype | None = None) -> torch.Tensor:
    return empty(*size, dtype=dtype).zero_()


def empty_like(t: torch.Tensor) -> torch.Tensor:
    return empty(tuple(t.shape), dtype=t.dtype)


def to_arena(t: torch.Tensor) -> torch.Tensor:
    """A copy of ``t`` in the arena (``t`` itself when it is already there)."""
    if is_arena_tensor(t):
        return t
    out = empty(tuple(t.shape), dtype=t.dtype)
    out.copy_(t)
    return out


def is_arena_tensor(t: torch.Tensor) -> bool:
    """Whether ``t`` is contiguous and lies in this rank's arena (collectives copy nothing)."""
    c = _comm._client
    if c is None or c.closed or not t.is_cpu or not t.is_contiguous():
        return False
    base = c.arena.data_torch().data_ptr()
    off = t.data_ptr() - base
    return 0 <= off and off + t.numel() * t.element_size() <= c.arena.data_bytes
