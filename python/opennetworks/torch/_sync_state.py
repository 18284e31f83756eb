"""sync_state: bring a joining or restarted rank up to date from a live peer, without a checkpoint.

Every rank of the group calls ``sync_state(model, optimizer)``. The source is ``src`` or, by default,
the lowest rank among those whose optimizer has taken the most steps (a restarted rank has taken
none), so every rank picks the same one without talking about it beforehand. The source broadcasts
its parameters and buffers in place, and its optimizer state: first its shape (keys, shapes, dtypes,
hyper-parameters) as an object, then every tensor. Afterwards each rank computes a CRC32 over all of
it and the ranks compare: a mismatch raises on every rank, naming the ranks that differ.
"""

from __future__ import annotations

import zlib

import torch
import torch.distributed as dist

from .._errors import CollectiveMismatchError, InvalidArgumentError


class _T:
    """A tensor's place in the optimizer state's skeleton."""

    __slots__ = ("i", "shape", "dtype")

    def __init__(self, i, shape, dtype):
        self.i, self.shape, self.dtype = i, shape, dtype

    def __repr__(self):
        return f"T({self.i},{tuple(self.shape)},{self.dtype})"


def _split(obj, out: list):
    """``obj`` with every tensor replaced by a _T placeholder; the tensors appended to ``out``."""
    if isinstance(obj, torch.Tensor):
        out.append(obj.detach())
        return _T(len(out) - 1, obj.shape, obj.dtype)
    if isinstance(obj, dict):
        return {k: _split(v, out) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_split(v, out) for v in obj)
    return obj


def _join(obj, tensors: list):
    if isinstance(obj, _T):
        return tensors[obj.i]
    if isinstance(obj, dict):
        return {k: _join(v, tensors) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_join(v, tensors) for v in obj)
    return obj


def _steps(optimizer) -> int:
    """How far this optimizer got: the largest per-parameter step count (0 when fresh)."""
    best = 0
    if optimizer is not None:
        for st in optimizer.state.values():
            s = st.get("step") if isinstance(st, dict) else None
            if s is not None:
                best = max(best, int(s.item() if isinstance(s, torch.Tensor) else s))
    return best


def _crc(tensors, text: str) -> int:
    c = zlib.crc32(text.encode())
    for t in tensors:
        b = t.detach().contiguous().reshape(-1).view(torch.uint8)
        c = zlib.crc32(b.numpy().tobytes() if b.numel() else b"", c)
    return c


def sync_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None, src=None, group=None) -> int:
    """Make every rank's ``model`` (parameters and buffers) and ``optimizer`` state equal to rank
    ``src``'s (a rank of ``group``, default: the most advanced rank, lowest on ties). Collective:
    every rank of the group calls it. Returns the source rank."""
    rank, size = dist.get_rank(group), dist.get_world_size(group)
    if src is None:
        mine = torch.tensor([_steps(optimizer), -rank], dtype=torch.int64)
        every = [torch.zeros(2, dtype=torch.int64) for _ in range(size)]
        dist.all_gather(every, mine, group=group)
        src = -int(max(every, key=lambda t: (int(t[0]), int(t[1])))[1])
    elif not 0 <= int(src) < size:
        raise InvalidArgumentError(f"sync_state: src {src} is not a rank of a group of {size}", [rank])
    src = int(src)
    gsrc = dist.get_global_rank(group, src) if group is not None else src

    with torch.no_grad():
        local = list(model.parameters()) + list(model.buffers())
        for t in local:
            dist.broadcast(t.data, gsrc, group=group)
        skeleton, opt_tensors = None, []
        if optimizer is not None:
            box = [_split(optimizer.state_dict(), opt_tensors) if rank == src else None]
            dist.broadcast_object_list(box, gsrc, group=group)
            skeleton = box[0]
            if rank != src:
                opt_tensors = [torch.empty(p.shape, dtype=p.dtype) for p in _placeholders(skeleton)]
            for t in opt_tensors:
                dist.broadcast(t, gsrc, group=group)
            if rank != src:
                optimizer.load_state_dict(_join(skeleton, opt_tensors))

    # Checked on every rank: what each now holds, read back from the model and the optimizer.
    held: list = []
    text = repr(_split(optimizer.state_dict(), held)) if optimizer is not None else ""
    crc = torch.tensor([_crc(local + held, text)], dtype=torch.int64)
    crcs = [torch.zeros(1, dtype=torch.int64) for _ in range(size)]
    dist.all_gather(crcs, crc, group=group)
    bad = [r for r, c in enumerate(crcs) if int(c) != int(crcs[src])]
    if bad:
        raise CollectiveMismatchError(
            f"sync_state: after copying from rank {src}, ranks {bad} hold a different state (CRC32 "
            f"{[hex(int(crcs[r])) for r in bad]} vs {hex(int(crcs[src]))}); models or optimizers differ "
            "in structure between ranks",
            bad,
        )
    return src


def _placeholders(obj):
    if isinstance(obj, _T):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _placeholders(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _placeholders(v)
