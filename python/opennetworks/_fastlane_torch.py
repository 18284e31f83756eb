"""ProcessGroupOnet's fast lane (_fastlane.py): small dense CPU allreduce, broadcast,
all_gather_into_tensor, reduce_scatter_tensor and barrier of a single-host group run among the ranks.

A mixin placed first among ProcessGroupOnet's bases: each method takes the lane when the call is
eligible and otherwise hands the call to the next class (the engine path). Eligibility depends only on
what every rank passes alike (dtype, element count, reduce op, device, layout) and on settings, never
on tensor strides or on where a tensor lives: a non-contiguous tensor goes through a contiguous copy.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from . import _fastlane
from ._fastlane import ALLGATHER, ALLREDUCE, BARRIER, BROADCAST, REDUCE_SCATTER
from .torch._common import _FAST_CODES, _FAST_OPS, _STRIDED
from .torch._work import Work

_UNSET = object()
_OPS_BY_INT = {(int(op), dt): code for (op, dt), code in _FAST_OPS.items()}
_SUM = int(dist.ReduceOp.RedOpType.SUM)


def _plain(t) -> bool:
    return isinstance(t, torch.Tensor) and t.is_cpu and t.layout is _STRIDED and t.dtype in _FAST_CODES


def _done(eng, result) -> Work:
    """A Work for a call the lane already finished: wait() returns at once."""
    w = Work(eng, [], result)
    w._done = True
    return w


class FastLaneTorch:
    _fl = _UNSET

    def _lane(self):
        fl = self._fl
        if fl is _UNSET:
            fl = self._fl = _fastlane.lane(self._client, self._gid, self._global_ranks)
        return fl

    def _lane_ok(self, nbytes: int):
        fl = self._fl if self._fl is not _UNSET else self._lane()
        if fl is None or nbytes > fl.max_bytes or self._coalescing is not None or self._zflags():
            return None
        return fl

    def _lane_call(self, fl, coll, t_in, t_out, redop, root, count, send: bool):
        """One lane call; inputs/outputs not contiguous travel through contiguous copies."""
        src = t_in if t_in is None or t_in.is_contiguous() else t_in.contiguous()
        dst = t_out if t_out.is_contiguous() else torch.empty_like(t_out, memory_format=torch.contiguous_format)
        in_bytes = src.numel() * src.element_size() if src is not None and send else 0
        in_addr = src.data_ptr() if in_bytes else 0
        code = _FAST_CODES[t_out.dtype]
        fl.run(coll, code, redop, root, count, 1.0, in_addr, in_bytes, dst.data_ptr(), self._timeout_s)
        if dst is not t_out:
            t_out.copy_(dst)

    def allreduce(self, tensors, opts=None):
        # The hot path of issue 17 (an 8-byte dist.all_reduce): every call below is a few hundred ns,
        # so checks are ordered cheapest first and the reduce op is looked up by its int value
        # (hashing a pybind enum costs ~2 µs).
        t = tensors[0] if type(tensors) is list and len(tensors) == 1 else tensors
        fl = self._fl if self._fl is not _UNSET else self._lane()
        if fl is not None and isinstance(t, torch.Tensor) and t.dtype in _FAST_CODES and t.is_cpu:
            n = t.numel()
            nbytes = n * t.element_size()
            if nbytes <= fl.max_bytes and t.layout is _STRIDED and not t.requires_grad and self._lane_ok(nbytes):
                op = opts.reduceOp if opts is not None and not isinstance(opts, dist.ReduceOp) else opts
                redop = _OPS_BY_INT.get((int(op.op) if op is not None else _SUM, t.dtype))
                if redop is not None:
                    if t.is_contiguous():
                        p = t.data_ptr()
                        fl.run(ALLREDUCE, _FAST_CODES[t.dtype], redop, 0, n, 1.0, p, nbytes, p, self._timeout_s)
                    else:
                        self._lane_call(fl, ALLREDUCE, t, t, redop, 0, n, True)
                    return _done(self._eng, [t])
        return super().allreduce(tensors, opts)

    def broadcast(self, tensors, opts=None):
        t = tensors if isinstance(tensors, torch.Tensor) else (tensors[0] if len(tensors) == 1 else None)
        root = opts.rootRank if opts is not None else 0
        if t is not None and _plain(t) and 0 <= root < self._size:
            fl = self._lane_ok(t.numel() * t.element_size())
            if fl is not None:
                self._lane_call(fl, BROADCAST, t, t, 0, root, t.numel(), self._rank == root)
                return _done(self._eng, [t])
        return super().broadcast(tensors, opts)

    def all_gather_single(self, output, input, opts=None):
        if _plain(input) and _plain(output) and output.dtype == input.dtype and not output.requires_grad:
            n = input.numel()
            fl = self._lane_ok(n * input.element_size()) if output.numel() == self._size * n else None
            if fl is not None:
                self._lane_call(fl, ALLGATHER, input, output, 0, 0, n, True)
                return _done(self._eng, [output])
        return super().all_gather_single(output, input, opts)

    def reduce_scatter_single(self, output, input, opts=None):
        op = opts.reduceOp if opts is not None else dist.ReduceOp.SUM
        if _plain(input) and _plain(output) and output.dtype == input.dtype and not output.requires_grad:
            redop = _FAST_OPS.get((getattr(op, "op", op), input.dtype))
            n = output.numel()
            ok = redop is not None and input.numel() == self._size * n
            fl = self._lane_ok(input.numel() * input.element_size()) if ok else None
            if fl is not None:
                self._lane_call(fl, REDUCE_SCATTER, input, output, redop, 0, n, True)
                return _done(self._eng, [output])
        return super().reduce_scatter_single(output, input, opts)

    # torch calls these names for all_gather_into_tensor / reduce_scatter_tensor on a Python group.
    _allgather_base = all_gather_single
    _reduce_scatter_base = reduce_scatter_single

    def barrier(self, opts=None):
        fl = self._lane_ok(0)
        if fl is not None:
            fl.run(BARRIER, 5, 0, 0, 0, 1.0, 0, 0, 0, self._timeout_s)
            return _done(self._eng, [])
        return super().barrier(opts)

    def _abort_inflight(self, why: str) -> None:
        _fastlane.abort(self._client, self._gid, self._client.rank)
        super()._abort_inflight(why)
