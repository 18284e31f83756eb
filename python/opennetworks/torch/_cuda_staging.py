"""Staging one CUDA tensor through pinned host memory, chunk by chunk, overlapped with the host
collective (the picture is in opennetworks.torch._cuda's docstring)."""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from .._errors import InvalidArgumentError
from ._cuda_pool import POOL, side_stream

# Chunk of a staged tensor handed to the host collective at once (ONET_CUDA_CHUNK_BYTES).
DEFAULT_CHUNK_BYTES = 8 << 20


def plan_chunks(numel: int, element_size: int, chunk_bytes: int | None = None) -> list[tuple[int, int]]:
    """[start, stop) element ranges of at most ``chunk_bytes`` each (at least one element).

    Depends only on its arguments, so ranks staging equal tensors get equal chunks. 0 or None
    bytes: DEFAULT_CHUNK_BYTES; a negative value: one chunk (collectives that cannot be split).
    """
    if numel == 0:
        return []
    cb = DEFAULT_CHUNK_BYTES if not chunk_bytes else chunk_bytes
    if cb < 0:
        return [(0, numel)]
    step = max(1, cb // max(1, element_size))
    return [(a, min(a + step, numel)) for a in range(0, numel, step)]


@dataclasses.dataclass
class Staged:
    """A CUDA tensor on its way through pinned host memory (from stage_in, for stage_out)."""

    tensor: torch.Tensor  # the user's tensor (results are written into it)
    host: torch.Tensor  # pinned CPU tensor, same dtype and shape
    chunks: list  # [start, stop) element ranges of host.view(-1)
    ready: list  # per chunk: event recorded after its D2H copy
    device_flat: torch.Tensor  # contiguous 1-D device tensor the copies read and write
    stream: object  # the side stream the copies run on
    user_stream: object  # the stream that was current at stage_in
    buffer: torch.Tensor  # the pool buffer behind host

    @property
    def host_flat(self) -> torch.Tensor:
        return self.host.view(-1)

    def wait_host(self) -> torch.Tensor:
        """Block until every chunk is on the host; returns ``host``. For collectives that cannot
        go in chunks (allgather, alltoall): run them on ``host``, then stage_out(st, None)."""
        for ev in self.ready:
            ev.synchronize()
        return self.host


def stage_in(tensor: torch.Tensor, *, copy_in: bool = True, chunk_bytes: int | None = None) -> Staged:
    """Start copying a CUDA tensor to pinned host memory, chunk by chunk, on a side stream.

    Returns at once. copy_in=False (a broadcast's receiver) skips the copies: the host buffer's
    contents are then undefined until the collective writes them.
    """
    if not isinstance(tensor, torch.Tensor) or tensor.device.type != "cuda":
        where = tensor.device if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise InvalidArgumentError(
            f"stage_in takes a CUDA tensor, got one on {where}; CPU tensors take the host path directly"
        )
    t = tensor.detach()
    dev = t.device
    user = torch.cuda.current_stream(dev)
    side = side_stream(dev)
    es = t.element_size()
    n = t.numel()
    buf = POOL.take(n * es)
    host = buf[: n * es].view(t.dtype).view(t.shape)
    chunks = plan_chunks(n, es, chunk_bytes)
    ready = []
    side.wait_stream(user)  # whatever the user queued that writes the tensor comes first
    with torch.cuda.stream(side):
        flat = t.reshape(-1) if t.is_contiguous() else t.contiguous().view(-1)
        t.record_stream(side)  # the caching allocator keeps the memory until the side stream is done
        hflat = host.view(-1)
        for a, b in chunks:
            if copy_in:
                hflat[a:b].copy_(flat[a:b], non_blocking=True)
            ev = torch.cuda.Event()
            ev.record(side)
            ready.append(ev)
    return Staged(tensor, host, chunks, ready, flat, side, user, buf)


def stage_out(
    staged: Staged, collective: Callable[[torch.Tensor], object] | None, *, copy_out: bool = True
) -> torch.cuda.Event:
    """Run ``collective`` on each host chunk as its copy lands, copy results back, return ``done``.

    The user's stream (current at stage_in) is made to wait on ``done``; the caller may also
    hand ``done`` to a Work. copy_out=False (a reduce's non-root) leaves the tensor untouched.
    collective=None only moves the data (tests, or a collective the caller ran on ``host``).
    If a collective raises, the error propagates after the chunks already posted have been
    waited for: those that completed are copied back, the failed chunk and any later ones are
    not (they keep the tensor's old values). The pinned buffer is then dropped, not reused.
    """
    st = staged
    side = st.stream
    hflat = st.host_flat
    write_back = copy_out and st.device_flat.numel() > 0
    in_place = st.device_flat.data_ptr() == st.tensor.data_ptr() and st.tensor.is_contiguous()
    pending: list = []
    failed = True

    def finish(i, handle):
        if handle is not None and hasattr(handle, "wait"):
            handle.wait()
        if write_back:
            a, b = st.chunks[i]
            with torch.cuda.stream(side):
                st.device_flat[a:b].copy_(hflat[a:b], non_blocking=True)

    try:
        for i, (a, b) in enumerate(st.chunks):
            st.ready[i].synchronize()  # this chunk's D2H copy has landed (GIL released)
            handle = collective(hflat[a:b]) if collective is not None else None
            pending.append((i, handle))
            if len(pending) > 1:  # the previous chunk's collective overlapped this one's post
                finish(*pending.pop(0))
        while pending:
            finish(*pending.pop(0))
        failed = False
    except BaseException:
        for i, handle in pending:  # nothing of ours may stay in flight; their errors are secondary
            try:
                finish(i, handle)
            except Exception:  # noqa: BLE001
                pass
        raise
    finally:
        if write_back and not in_place:  # a strided tensor: its contiguous copy goes back whole
            with torch.cuda.stream(side):
                st.tensor.detach().copy_(st.device_flat.view(st.tensor.shape))
        done = torch.cuda.Event()
        done.record(side)
        st.user_stream.wait_event(done)
        if not failed:
            POOL.give(st.buffer, done)
    return done


def run_staged(
    tensor: torch.Tensor,
    collective: Callable[[torch.Tensor], object] | None,
    *,
    copy_in: bool = True,
    copy_out: bool = True,
    chunk_bytes: int | None = None,
) -> torch.cuda.Event:
    """stage_in then stage_out: the whole CUDA path of one elementwise collective."""
    return stage_out(stage_in(tensor, copy_in=copy_in, chunk_bytes=chunk_bytes), collective, copy_out=copy_out)
