"""ProcessGroupOnet's fast lane (_fastlane.py): small dense CPU allreduce, broadcast,
all_gather_into_tensor, reduce_scatter_tensor and barrier of a single-host group run among the ranks.

A mixin placed first among ProcessGroupOnet's bases: each method takes the lane when the call is
eligible and otherwise hands the call to the next class (the engine path). Eligibility depends only on
what every rank passes alike (dtype, element count, reduce op, device, layout) and on settings, never
on tensor strides or on where a tensor lives: a non-contiguous tensor goes through a contiguous copy.

A lane call returns as soon as this rank published its contribution (_fastlane.FastLane.start), with
or without async_op: the returned LaneWork completes it in wait(), is_completed() or get_future(), so
a rank can do point-to-point work its peers need between an async collective and its wait(). (A
synchronous torch call waits on the Work at once.) A call that takes the engine path first finishes
this group's started lane call, so results keep program order.
"""

from __future__ import annotations

import threading

import torch
import torch.distributed as dist

from . import _fastlane
from ._fastlane import ALLGATHER, ALLREDUCE, BARRIER, BROADCAST, REDUCE_SCATTER
from .torch._common import _FAST_CODES, _FAST_OPS, _STRIDED
from .torch._work import Work

_UNSET = object()
_OPS_BY_INT = {(int(op), dt): code for (op, dt), code in _FAST_OPS.items()}
_SUM = int(dist.ReduceOp.RedOpType.SUM)
BARRIER_DTYPE = 5  # the dtype code a lane barrier publishes (torch/_compiled.py passes it to the C++ group)


def _plain(t) -> bool:
    return isinstance(t, torch.Tensor) and t.is_cpu and t.layout is _STRIDED and t.dtype in _FAST_CODES


class LaneWork(Work):
    """The Work of a started lane call: completing it waits for the peers and writes the output."""

    def __init__(self, eng, fl, pending, result, epilogue=None):
        super().__init__(eng, [], result, epilogue)
        self._fl = fl
        self._p = pending
        self._lock = threading.Lock()  # wait() and the future's thread may finalize at once

    def _finalize(self) -> None:
        if self._done:
            return
        with self._lock:
            if self._done:
                return
            self._fl.finish(self._p)
            err = self._p.error
            epi, self._epilogue = self._epilogue, None
            if err is None and epi is not None:
                try:
                    epi()
                except Exception as e:  # noqa: BLE001
                    err = e
            self._error = err
            self._done = True

    def wait(self, timeout=None) -> bool:
        self._finalize()  # the lane's own timeout (the group's) bounds the wait
        if self._error is not None:
            raise self._error
        return True

    def is_completed(self) -> bool:
        if not self._done and self._fl.ready(self._p):
            self._finalize()
        return self._done

    def get_future(self) -> torch.futures.Future:
        if self._fut is not None:
            return self._fut
        fut = self._fut = torch.futures.Future()

        def settle():
            self._finalize()
            if self._error is not None:
                fut.set_exception(self._error)
            else:
                fut.set_result(self._result)

        if self.is_completed():
            settle()
        else:  # the peers have not all arrived: complete it off this thread
            threading.Thread(target=settle, name="onet-fastlane-future", daemon=True).start()
        return fut


class FastLaneTorch:
    _fl = _UNSET

    def _lane(self):
        fl = self._fl
        if fl is _UNSET:
            fl = self._fl = _fastlane.lane(self._client, self._gid, self._global_ranks)
        return fl

    def _lane_ok(self, nbytes: int, coll: int = 0):
        fl = self._fl if self._fl is not _UNSET else self._lane()
        if fl is None or not fl.takes(coll, nbytes) or self._coalescing is not None or self._zflags():
            return None
        return fl

    def _lane_flush(self) -> None:
        """Finish this group's started lane call before a call on the engine path (program order)."""
        fl = self._fl
        if fl is not _UNSET and fl is not None and fl.pending is not None:
            fl.flush()

    def _lane_call(self, fl, coll, t_in, t_out, redop, root, count, send: bool):
        """Start one lane call: its LaneWork, or None when it must take the engine path (aborted lane).
        Inputs/outputs not contiguous travel through contiguous copies."""
        src = t_in if t_in is None or t_in.is_contiguous() else t_in.contiguous()
        dst = t_out if t_out.is_contiguous() else torch.empty_like(t_out, memory_format=torch.contiguous_format)
        in_bytes = src.numel() * src.element_size() if src is not None and send else 0
        in_addr = src.data_ptr() if in_bytes else 0
        code = _FAST_CODES[t_out.dtype]
        p = fl.start(coll, code, redop, root, count, 1.0, in_addr, in_bytes, dst.data_ptr(), self._timeout_s)
        if p is None:
            return None
        p.keep = src  # a direct call's peers read it until the call finishes: keep a contiguous copy alive
        epi = None if dst is t_out else (lambda: t_out.copy_(dst))  # the closure keeps dst alive
        return LaneWork(self._eng, fl, p, [t_out], epi)

    def allreduce(self, tensors, opts=None):
        # The hot path of issue 17 (an 8-byte dist.all_reduce): every call below is a few hundred ns,
        # so checks are ordered cheapest first and the reduce op is looked up by its int value
        # (hashing a pybind enum costs ~2 µs).
        t = tensors[0] if type(tensors) is list and len(tensors) == 1 else tensors
        fl = self._fl if self._fl is not _UNSET else self._lane()
        if fl is not None and isinstance(t, torch.Tensor) and t.dtype in _FAST_CODES and t.is_cpu:
            n = t.numel()
            nbytes = n * t.element_size()
            if t.layout is _STRIDED and not t.requires_grad and self._lane_ok(nbytes, ALLREDUCE):
                op = opts.reduceOp if opts is not None and not isinstance(opts, dist.ReduceOp) else opts
                redop = _OPS_BY_INT.get((int(op.op) if op is not None else _SUM, t.dtype))
                if redop is not None:
                    if t.is_contiguous():
                        a = t.data_ptr()
                        p = fl.start(ALLREDUCE, _FAST_CODES[t.dtype], redop, 0, n, 1.0, a, nbytes, a, self._timeout_s)
                        w = None if p is None else LaneWork(self._eng, fl, p, [t])
                    else:
                        w = self._lane_call(fl, ALLREDUCE, t, t, redop, 0, n, True)
                    if w is not None:
                        return w
        self._lane_flush()
        return super().allreduce(tensors, opts)

    def broadcast(self, tensors, opts=None):
        t = tensors if isinstance(tensors, torch.Tensor) else (tensors[0] if len(tensors) == 1 else None)
        root = opts.rootRank if opts is not None else 0
        if t is not None and _plain(t) and 0 <= root < self._size:
            fl = self._lane_ok(t.numel() * t.element_size(), BROADCAST)
            if fl is not None:
                w = self._lane_call(fl, BROADCAST, t, t, 0, root, t.numel(), self._rank == root)
                if w is not None:
                    return w
        self._lane_flush()
        return super().broadcast(tensors, opts)

    def all_gather_single(self, output, input, opts=None):
        if _plain(input) and _plain(output) and output.dtype == input.dtype and not output.requires_grad:
            n = input.numel()
            fl = self._lane_ok(n * input.element_size(), ALLGATHER) if output.numel() == self._size * n else None
            if fl is not None:
                w = self._lane_call(fl, ALLGATHER, input, output, 0, 0, n, True)
                if w is not None:
                    return w
        self._lane_flush()
        return super().all_gather_single(output, input, opts)

    def reduce_scatter_single(self, output, input, opts=None):
        op = opts.reduceOp if opts is not None else dist.ReduceOp.SUM
        if _plain(input) and _plain(output) and output.dtype == input.dtype and not output.requires_grad:
            redop = _FAST_OPS.get((getattr(op, "op", op), input.dtype))
            n = output.numel()
            ok = redop is not None and input.numel() == self._size * n
            fl = self._lane_ok(input.numel() * input.element_size(), REDUCE_SCATTER) if ok else None
            if fl is not None:
                w = self._lane_call(fl, REDUCE_SCATTER, input, output, redop, 0, n, True)
                if w is not None:
                    return w
        self._lane_flush()
        return super().reduce_scatter_single(output, input, opts)

    # torch calls these names for all_gather_into_tensor / reduce_scatter_tensor on a Python group.
    _allgather_base = all_gather_single
    _reduce_scatter_base = reduce_scatter_single

    def barrier(self, opts=None):
        fl = self._lane_ok(0)
        if fl is not None:
            p = fl.start(BARRIER, BARRIER_DTYPE, 0, 0, 0, 1.0, 0, 0, 0, self._timeout_s)
            if p is not None:
                return LaneWork(self._eng, fl, p, [])
        self._lane_flush()
        return super().barrier(opts)

    def _abort_inflight(self, why: str) -> None:
        _fastlane.abort(self._client, self._gid, self._client.rank, why)
        super()._abort_inflight(why)
