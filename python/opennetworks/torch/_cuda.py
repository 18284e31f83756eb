"""CUDA tensors through the host collectives: staging via pinned memory, overlapped in chunks.

Until the coordinator reduces GPU memory itself (docs/gpu.md), a CUDA tensor takes the host
path: copy to pinned host memory, run the ordinary host collective, copy back. The three steps
overlap chunk by chunk::

    side stream   wait(user stream) → D2H c0 → D2H c1 → D2H c2 …        H2D c0 → H2D c1 …
    this thread               wait c0 → collective(c0) → wait c1 → collective(c1) …
    user stream   …continues; waits on the event recorded after the last H2D

so the device-to-host copy of chunk i+1 and the host-to-device copy of chunk i-1 run while the
collective works on chunk i. Nothing here blocks the user's stream: kernels queued before the
call finish before the first copy reads the tensor (the side stream waits on the user's), and
kernels queued after it run after the result is back (the user's stream waits on ``done``).

ProcessGroupOnet routes CUDA tensors here through the ``CudaPath`` mixin (first in its bases):
allreduce goes chunk by chunk as drawn above; every other collective stages its CUDA tensors
whole, runs the host collective on the pinned copies and copies them back. The returned Work is
complete, and the user's stream waits on the copies back. Point-to-point (send/recv) of CUDA
tensors is refused with a clear error: a blocking copy there could deadlock a send/recv pair.
The building blocks, for one tensor::

    check_device(t, self._cuda_device(), "allreduce")
    st = stage_in(t)                                         # starts the D2H copies
    done = stage_out(st, lambda host: cpu_allreduce([host], opts))   # returns an event

``collective(host_chunk)`` gets a 1-D pinned CPU tensor of the tensor's dtype and works on it in
place; it may return None (finished) or a handle with ``wait()`` (a torch Work), which lets the
next chunk's collective be posted before the previous one is waited for. Every rank must stage
the same element count with the same ``chunk_bytes``, so that their chunks line up.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from typing import Callable

import torch

from .. import _env
from .._errors import InvalidArgumentError, UnsupportedError
from ._dtypes import DTYPE_CODES

# Chunk of a staged tensor handed to the host collective at once (ONET_CUDA_CHUNK_BYTES).
DEFAULT_CHUNK_BYTES = 8 << 20
# Free pinned buffers kept for reuse (pinning is slow: ~1 ms per MiB the first time).
POOL_KEEP_BYTES = 1 << 30

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "CudaPath",
    "Staged",
    "check_device",
    "pick_device",
    "plan_chunks",
    "run_staged",
    "stage_in",
    "stage_out",
]

_SUPPORTED = ", ".join(str(d).replace("torch.", "") for d in DTYPE_CODES)


# ---------------------------------------------------------------------------- checks
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


# ---------------------------------------------------------------------------- pinned pool
class _PinnedPool:
    """Pinned host buffers, reused once the event of their last copy has completed."""

    def __init__(self, keep_bytes: int = POOL_KEEP_BYTES):
        self._lock = threading.Lock()
        self._free: list[tuple[torch.Tensor, object]] = []  # (uint8 buffer, event or None)
        self._keep = keep_bytes
        self.allocated = 0  # buffers pinned so far (tests read it)

    def take(self, nbytes: int) -> torch.Tensor:
        with self._lock:
            best = None
            for i, (buf, ev) in enumerate(self._free):
                if buf.numel() >= nbytes and buf.numel() <= 2 * max(nbytes, 1 << 20) and (ev is None or ev.query()):
                    if best is None or buf.numel() < self._free[best][0].numel():
                        best = i
            if best is not None:
                return self._free.pop(best)[0]
            self.allocated += 1
        size = 1 << max(12, (max(nbytes, 1) - 1).bit_length())  # power of two: reusable across sizes
        return torch.empty(size, dtype=torch.uint8, pin_memory=True)

    def give(self, buf: torch.Tensor, event) -> None:
        with self._lock:
            self._free.append((buf, event))
            total = sum(b.numel() for b, _ in self._free)
            while total > self._keep and self._free:
                b, ev = self._free.pop(0)
                if ev is not None:
                    ev.synchronize()  # a buffer still being copied must outlive its copy
                total -= b.numel()


_POOL = _PinnedPool()
_SIDE: dict[int, torch.cuda.Stream] = {}
_SIDE_LOCK = threading.Lock()


def _side_stream(device: torch.device):
    with _SIDE_LOCK:
        s = _SIDE.get(device.index)
        if s is None:
            s = _SIDE[device.index] = torch.cuda.Stream(device=device)
        return s


# ---------------------------------------------------------------------------- staging
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
    side = _side_stream(dev)
    es = t.element_size()
    n = t.numel()
    buf = _POOL.take(n * es)
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
            _POOL.give(st.buffer, done)
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


# ---------------------------------------------------------------------------- the process group's CUDA path
# Collectives torch may call with CUDA tensors (aliases included: they resolve through the MRO).
_ROUTED = (
    "allreduce",
    "allreduce_coalesced",
    "reduce",
    "broadcast",
    "allgather",
    "allgather_coalesced",
    "all_gather_single",
    "_allgather_base",
    "allgather_into_tensor_coalesced",
    "all_gather_single_coalesced",
    "gather",
    "scatter",
    "reduce_scatter",
    "reduce_scatter_single",
    "_reduce_scatter_base",
    "reduce_scatter_tensor_coalesced",
    "reduce_scatter_single_coalesced",
    "alltoall",
    "all_to_all_single",
    "alltoall_base",
)
_P2P = ("send", "recv", "recv_anysource")


def _tensors(obj):
    """Every tensor in a collective's arguments (tensors, lists and tuples of them, nested)."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _tensors(x)


def _swap(obj, table: dict):
    """``obj`` with every tensor replaced by ``table[id(tensor)]`` where present."""
    if isinstance(obj, torch.Tensor):
        return table.get(id(obj), obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_swap(x, table) for x in obj)
    return obj


def _done_work(result, device: torch.device):
    """A completed Work whose future holds ``result`` (CUDA tensors: the future knows their device)."""
    fut = torch.futures.Future(devices=[device])
    fut.set_result(result)
    return torch._C._distributed_c10d._create_work_from_future(fut)


class CudaPath:
    """Mixin for ProcessGroupOnet: collectives with CUDA tensors go through pinned host memory.

    Placed before the host collective families in the bases, it looks at each call's tensors:
    none on CUDA, the call goes on unchanged (``super()``); else it runs as the module docstring
    says and returns a completed Work.
    """

    def _cuda_device(self) -> torch.device:
        bound = getattr(self, "bound_device_id", None)  # init_process_group(..., device_id=...)
        if bound is not None:
            return bound
        return torch.device("cuda", torch.cuda.current_device() if torch.cuda.is_available() else 0)

    def _cuda_call(self, name: str, args: tuple, kwargs: dict):
        host_call = getattr(super(), name)
        tensors = list(_tensors((args, tuple(kwargs.values()))))
        dev = self._cuda_device()
        rank = getattr(self, "_rank", None)
        for t in tensors:  # one device per call: a CPU tensor among CUDA ones is refused too
            check_device(t, dev, name.lstrip("_"), rank=rank)
        if name == "allreduce" and not kwargs:
            return self._cuda_allreduce(host_call, args, dev)
        cuda = tensors
        staged = {}
        for t in cuda:
            if id(t) not in staged:
                staged[id(t)] = stage_in(t)
        table = {k: st.wait_host() for k, st in staged.items()}
        work = host_call(*_swap(args, table), **{k: _swap(v, table) for k, v in kwargs.items()})
        work.wait()
        for st in staged.values():
            stage_out(st, None)
        back = {id(st.host): st.tensor for st in staged.values()}
        return _done_work(_swap(work.result(), back), dev)

    def _cuda_allreduce(self, host_call, args, dev):
        tensors, opts = args[0], (args[1] if len(args) > 1 else None)
        chunk = _env.bytes_setting("ONET_CUDA_CHUNK_BYTES")

        def one_chunk(host):
            return host_call([host], opts) if opts is not None else host_call([host])

        for t in tensors:
            run_staged(t, one_chunk, chunk_bytes=chunk)
        return _done_work(list(tensors), dev)

    def _cuda_refuse_p2p(self, name: str, args: tuple, kwargs: dict):
        host_call = getattr(super(), name)
        for t in _tensors((args, tuple(kwargs.values()))):
            if not t.is_cpu:
                who = f"rank {getattr(self, '_rank', '?')}: "
                raise UnsupportedError(
                    f"{who}{name} got a tensor on {t.device}; the opennetworks backend runs collectives on CUDA "
                    "tensors but not point-to-point yet: send/recv a .cpu() copy, or use a collective"
                )
        return host_call(*args, **kwargs)


def _no_cuda(args) -> bool:
    """True when no tensor in ``args`` (nested lists and tuples included) lives on a CUDA device: the host path.

    Tensors on other devices (meta, ...) take the host path too, which refuses them the way every rank
    hears about (a collective the others are told failed), instead of failing on this rank alone.
    """
    for a in args:
        if isinstance(a, torch.Tensor):
            if a.is_cuda:
                return False
        elif isinstance(a, (list, tuple)) and not _no_cuda(a):
            return False
    return True


_NEXT: dict = {}  # (class, name) -> the host implementation CudaPath's method stands in front of


def _host_impl(cls, name: str):
    f = _NEXT.get((cls, name))
    if f is None:
        mro = cls.__mro__
        f = _NEXT[(cls, name)] = getattr(super(CudaPath, cls), name) if CudaPath in mro else None
    return f


def _route(name: str, via: str):
    def method(self, *args, **kwargs):
        if _no_cuda(args) and (not kwargs or _no_cuda(tuple(kwargs.values()))):
            return _host_impl(type(self), name)(self, *args, **kwargs)  # a host call: no detour
        return getattr(self, via)(name, args, kwargs)

    method.__name__ = name
    method.__qualname__ = f"CudaPath.{name}"
    return method


for _name in _ROUTED:
    setattr(CudaPath, _name, _route(_name, "_cuda_call"))
for _name in _P2P:
    setattr(CudaPath, _name, _route(_name, "_cuda_refuse_p2p"))
