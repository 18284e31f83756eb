"""The hot path: post a request into a slot, ring the bell, wait for completion
(docs/protocol.md §4). Kept lean: precompiled structs, no per-op allocation beyond the Op.

``Engine`` is assembled from one file per step: posting (here: slot allocation, request packing,
the doorbell), ``_post_complete`` (reading a slot's result or error; failing a request the
coordinator will not finish), ``_post_wait`` (spin, yield, futex sleep, background watcher);
``_post_op`` holds the ``Op`` record and ``describe``.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections import deque

from . import _futex
from ._arena import Arena
from ._errors import AbortedError
from ._layout import (
    CTL_BELL,
    CTL_COORD_SLEEPING,
    FLAG_CMA,
    NUM_SLOTS,
    OFF_POST_COUNT,
    POSTED,
    SLOT_BYTES,
    SLOT_CMA_PID,
    SLOT_POST_NO,
    SLOT_REQUEST,
    SLOTS_OFFSET,
)
from ._post_complete import Completion
from ._post_op import Op, describe
from ._post_wait import Waiting

__all__ = ["Engine", "Op", "describe"]

_perf = time.perf_counter
_pack_request = SLOT_REQUEST.pack_into

_POSTCOUNT_IDX = OFF_POST_COUNT // 8
_BELL_IDX = CTL_BELL // 4
_SLEEPING_IDX = CTL_COORD_SLEEPING // 4


class Engine(Completion, Waiting):
    def __init__(
        self,
        arena: Arena,
        rank: int,
        coord_pid: int,
        spin_us: float,
        timeout_s: float,
        coord_alive=None,
        status_fn=None,
    ):
        self.arena = arena
        self.rank = rank
        self.coord_pid = coord_pid
        self.spin_s = spin_us * 1e-6
        self.timeout_s = timeout_s
        self.u32 = arena.u32
        self.u64 = arena.u64
        self.ctl_u32 = arena.ctl_u32
        self.mv = arena.mv
        self.cma_pid = os.getpid()  # the process whose addresses a single-copy (FLAG_CMA) post names
        # FIFO reuse keeps slot indices rising with post order, so a coordinator scanning slots
        # by index mostly discovers a rank's requests in sequence order.
        self._free_slots = deque(range(NUM_SLOTS))
        self._inflight: dict[int, Op] = {}
        self._lock = threading.Lock()
        self._sleep_lock = threading.Lock()
        self._sleepers = 0
        self._post_count = self.u64[_POSTCOUNT_IDX]
        # Set by another poster in this process that shares the arena (opennetworks.jax's FFI
        # path): an atomic post_count += 1, so that concurrent bumps are never lost.
        self.bump_post_count = None
        self._coord_alive = coord_alive
        self._status_fn = status_fn
        self._watched: deque[Op] = deque()
        self._detached: list[Op] = []
        self._bg: threading.Thread | None = None
        self._bg_cv = threading.Condition()
        self.closed = False
        self.dead_reason: str | None = None

    # ---- data region -------------------------------------------------------------------
    def alloc(self, nbytes: int, what: str) -> int:
        """An offset in the data region for ``nbytes``; waits for in-flight ops to free space."""
        while True:
            with self._lock:
                off = self.arena.alloc.alloc(nbytes)
                if off is not None:
                    return off
                oldest = next(iter(self._inflight.values()), None)
            if oldest is None:
                raise self.arena.too_big(nbytes, what)
            self.wait(oldest, raise_error=False)

    def free(self, off: int) -> None:
        with self._lock:
            self.arena.alloc.free(off)

    # ---- posting -----------------------------------------------------------------------
    def post(
        self,
        seq,
        coll,
        dtype,
        redop,
        root,
        count,
        in_off,
        out_off,
        aux_off,
        group,
        tag,
        scale,
        desc=None,
        finish=None,
        blocks=(),
        timeout_s=None,
        flags=0,
    ) -> Op:
        # flags: spec/layout.json slotFlags (compression codec, error-feedback key), packed as Node does.
        if self.dead_reason is not None:
            raise AbortedError(self.dead_reason, [self.rank])
        if self._detached:
            self._reap()
        op = Op(
            0,
            desc,
            finish,
            blocks,
            _perf() + (self.timeout_s if timeout_s is None else timeout_s),
            group,
            seq,
            coll,
            count,
        )
        lock = self._lock
        while True:
            lock.acquire()
            if self._free_slots:
                break
            oldest = next(iter(self._inflight.values()))
            lock.release()
            self.wait(oldest, raise_error=False)
        try:
            slot = self._free_slots.popleft()
            base = SLOTS_OFFSET + slot * SLOT_BYTES
            op.slot = slot
            op.state_idx = base >> 2
            _pack_request(
                self.mv,
                base + 4,
                0,
                seq,
                coll,
                dtype,
                redop,
                root,
                count,
                in_off,
                out_off,
                aux_off,
                group,
                tag,
                scale,
                -1,
                flags,
                0,
            )
            if flags & FLAG_CMA:
                self.u32[(base + SLOT_CMA_PID) >> 2] = self.cma_pid
            pc = self._post_count + 1
            self.u64[(base + SLOT_POST_NO) >> 3] = pc
            self._inflight[slot] = op
            self.u32[base >> 2] = POSTED  # after the fields: x86 stores are ordered
            self._post_count = pc
            if self.bump_post_count is None:
                self.u64[_POSTCOUNT_IDX] = pc
            else:
                self.bump_post_count()
            ctl = self.ctl_u32
            ctl[_BELL_IDX] = (ctl[_BELL_IDX] + 1) & 0xFFFFFFFF
            if ctl[_SLEEPING_IDX] == 1:
                _futex.wake(self.arena.bell_addr, 1)
        finally:
            lock.release()
        return op

    # ---- detached requests (buffered sends) ------------------------------------------------
    def detach(self, op: Op) -> None:
        """Nobody will wait for ``op``: complete it in passing (its data is already in the arena)."""
        with self._lock:
            self._detached.append(op)

    def _reap(self) -> None:
        for op in list(self._detached):
            if op.completed or self.is_done(op):
                self._detached.remove(op)
                if op.error is not None:
                    warnings.warn(f"opennetworks: buffered {op.desc} failed: {op.error}", RuntimeWarning, stacklevel=3)

    def pending(self) -> list[Op]:
        with self._lock:
            return list(self._inflight.values())

    def close(self) -> None:
        self.closed = True
        with self._bg_cv:
            self._bg_cv.notify_all()
