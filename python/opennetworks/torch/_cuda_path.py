"""The process group's CUDA path: the ``CudaPath`` mixin and the routing that sends calls with
CUDA tensors to it while host calls go straight to the host implementation."""

from __future__ import annotations

import torch

from .. import _env
from .._errors import UnsupportedError
from ._cuda_checks import check_device
from ._cuda_staging import run_staged, stage_in, stage_out

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
