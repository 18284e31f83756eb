"""The hot path: post a request into a slot, ring the bell, wait for completion
(docs/protocol.md §4). Kept lean: precompiled structs, no per-op allocation beyond the Op.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections import deque

from . import _env, _futex
from ._arena import Arena
from ._errors import AbortedError, InternalError, OnetError, TimeoutError, error_for_status
from ._layout import (
    COLL_NAMES,
    CTL_BELL,
    CTL_COORD_SLEEPING,
    DONE,
    ERROR,
    FREE,
    NUM_SLOTS,
    OFF_DONE_FUTEX,
    OFF_POST_COUNT,
    OFF_RANK_WAITING,
    POSTED,
    SLOT_BYTES,
    SLOT_MAX_RANKS,
    SLOT_MSG,
    SLOT_MSG_BYTES,
    SLOT_NRANKS,
    SLOT_POST_NO,
    SLOT_RANKS,
    SLOT_REQUEST,
    SLOT_RESULT,
    SLOT_SRC,
    SLOTS_OFFSET,
)

_perf = time.perf_counter
_yield = os.sched_yield if _env.value("ONET_YIELD") else (lambda: None)
_pack_request = SLOT_REQUEST.pack_into
_unpack_result = SLOT_RESULT.unpack_from

_DONE_IDX = OFF_DONE_FUTEX // 4
_WAITING_IDX = OFF_RANK_WAITING // 4
_POSTCOUNT_IDX = OFF_POST_COUNT // 8
_BELL_IDX = CTL_BELL // 4
_SLEEPING_IDX = CTL_COORD_SLEEPING // 4


class Op:
    """One posted request. ``finish(op)`` runs once at successful completion (copy-out)."""

    __slots__ = (
        "slot",
        "state_idx",
        "_desc",
        "finish",
        "blocks",
        "deadline",
        "completed",
        "error",
        "src",
        "out_count",
        "callbacks",
        "result",
        "group",
        "seq",
        "missing",
        "coll",
        "count",
        "__weakref__",
    )

    def __init__(self, slot, desc, finish, blocks, deadline, group=0, seq=0, coll=0, count=0):
        self.group = group
        self.seq = seq
        self.coll = coll
        self.count = count
        self.missing = None
        self.slot = slot
        self.state_idx = (SLOTS_OFFSET + slot * SLOT_BYTES) >> 2
        self._desc = desc
        self.finish = finish
        self.blocks = blocks
        self.deadline = deadline
        self.completed = False
        self.error = None
        self.src = -1
        self.out_count = 0
        self.callbacks = None
        self.result = None

    @property
    def desc(self) -> str:
        """What the op is, for messages; formatted only when needed (not on the hot path)."""
        return self._desc or describe(self.coll, self.seq, self.group, self.count)


class Engine:
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
    ) -> Op:
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
                0,
                0,
            )
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

    # ---- completion --------------------------------------------------------------------
    def _complete(self, op: Op) -> None:
        """Read the slot's outcome, free it, run ``finish``. Idempotent; caller saw DONE/ERROR."""
        with self._lock:
            if op.completed:
                return
            base = SLOTS_OFFSET + op.slot * SLOT_BYTES
            state = self.u32[op.state_idx]
            status = self.arena.i32[(base + 4) >> 2]
            op.src, _, op.out_count = _unpack_result(self.mv, base + SLOT_SRC)
            if state == ERROR or status != 0:
                raw = bytes(self.mv[base + SLOT_MSG : base + SLOT_MSG + SLOT_MSG_BYTES])
                msg = raw.split(b"\0", 1)[0].decode("utf-8", "replace") or f"{op.desc} failed"
                # The error's ranks are data in the slot (docs/protocol.md §3), never read out of msg.
                n = min(self.arena.u32[(base + SLOT_NRANKS) >> 2], SLOT_MAX_RANKS)
                ranks = list(self.arena.i32[(base + SLOT_RANKS) >> 2 : ((base + SLOT_RANKS) >> 2) + n])
                op.error = error_for_status(status or 7, f"rank {self.rank}: {msg}", ranks)
            self.u32[op.state_idx] = FREE
            del self._inflight[op.slot]
            self._free_slots.append(op.slot)
            try:
                if op.error is None and op.finish is not None:
                    op.result = op.finish(op)
            except BaseException as e:  # noqa: BLE001 - surfaced to the waiter
                op.error = (
                    e
                    if isinstance(e, OnetError)
                    else InternalError(f"rank {self.rank}: copying the result of {op.desc} failed: {e!r}", [self.rank])
                )
            finally:
                for off in op.blocks:
                    self.arena.alloc.free(off)
                op.completed = True
                cbs, op.callbacks = op.callbacks, None
        if cbs:
            for cb in cbs:
                cb(op)

    def _fail(self, op: Op, err: OnetError, abandon: bool) -> None:
        """Complete ``op`` with ``err`` without the coordinator (it died or timed out)."""
        with self._lock:
            if op.completed:
                return
            op.error = err
            op.completed = True
            self._inflight.pop(op.slot, None)
            if not abandon:  # the coordinator is gone: nothing will write the slot again
                self._free_slots.append(op.slot)
                for off in op.blocks:
                    self.arena.alloc.free(off)
            cbs, op.callbacks = op.callbacks, None
        if cbs:
            for cb in cbs:
                cb(op)

    def is_done(self, op: Op) -> bool:
        if op.completed:
            return True
        s = self.u32[op.state_idx]
        if s == DONE or s == ERROR:
            self._complete(op)
            return True
        return False

    def _check(self, op: Op, now: float) -> None:
        """Liveness and deadline checks made at every wake-up of a sleeping waiter."""
        if self.dead_reason is None:
            if self.arena.closing:
                self.dead_reason = (
                    f"rank {self.rank}: the coordinator (pid {self.coord_pid}) shut "
                    f"down while {op.desc} was pending; restart the job"
                )
            elif self._coord_alive is not None and not self._coord_alive():
                self.dead_reason = (
                    f"rank {self.rank}: coordinator pid {self.coord_pid} died while "
                    f"{op.desc} was pending; see its log in the job directory and "
                    "restart the job"
                )
        if self.dead_reason is not None:
            self._fail(op, AbortedError(self.dead_reason, [self.rank]), abandon=False)
        elif now > op.deadline:
            detail = ""
            if self._status_fn is not None:
                try:
                    detail = self._status_fn(op)
                except Exception:  # noqa: BLE001 - the status is a courtesy
                    detail = ""
            self._fail(
                op,
                TimeoutError(
                    f"rank {self.rank}: {op.desc} did not complete within {self.timeout_s:.0f} s"
                    f"{detail}; check that every rank calls the same collectives in the same order, "
                    "or raise the timeout (ONET_TIMEOUT or init_process_group(timeout=...))",
                    op.missing if op.missing else [self.rank],
                ),
                abandon=True,
            )

    def wait(self, op: Op, raise_error: bool = True, timeout_s: float | None = None):
        """Block until ``op`` completes; raise its error (or return it when ``raise_error`` is False)."""
        if not op.completed:
            u32 = self.u32
            idx = op.state_idx
            s = u32[idx]
            if not (s == DONE or s == ERROR):
                end = _perf() + self.spin_s
                while True:
                    _yield()
                    s = u32[idx]
                    if s == DONE or s == ERROR or op.completed:
                        break
                    if _perf() > end:
                        self._sleep_until(op, timeout_s)
                        break
            if not op.completed:
                self._complete(op)
        if op.error is not None and raise_error:
            raise op.error
        return op.error

    def _sleep_until(self, op: Op, timeout_s: float | None) -> None:
        u32 = self.u32
        idx = op.state_idx
        local_deadline = None if timeout_s is None else _perf() + timeout_s
        while not op.completed:
            v = u32[_DONE_IDX]
            with self._sleep_lock:
                self._sleepers += 1
                u32[_WAITING_IDX] = 1
            s = u32[idx]
            if not (s == DONE or s == ERROR):
                _futex.wait(self.arena.done_addr, v, 0.1)
            with self._sleep_lock:
                self._sleepers -= 1
                if not self._sleepers:
                    u32[_WAITING_IDX] = 0
            s = u32[idx]
            if s == DONE or s == ERROR:
                return
            now = _perf()
            if local_deadline is not None and now > local_deadline:
                self._fail(
                    op,
                    TimeoutError(
                        f"rank {self.rank}: {op.desc} did not complete within the {timeout_s:.1f} s given to wait()",
                        [self.rank],
                    ),
                    abandon=True,
                )
                return
            self._check(op, now)

    # ---- background completion for futures ---------------------------------------------
    def watch(self, op: Op, callback) -> None:
        """Call ``callback(op)`` from a background thread once ``op`` completes."""
        with self._lock:
            if not op.completed:
                if op.callbacks is None:
                    op.callbacks = []
                op.callbacks.append(callback)
                cb_now = False
            else:
                cb_now = True
        if cb_now:
            callback(op)
            return
        with self._bg_cv:
            self._watched.append(op)
            if self._bg is None:
                self._bg = threading.Thread(target=self._bg_loop, daemon=True, name="onet-progress")
                self._bg.start()
            self._bg_cv.notify()

    def _bg_loop(self) -> None:
        u32 = self.u32
        while True:
            with self._bg_cv:
                while not self._watched and not self.closed:
                    self._bg_cv.wait()
                if self.closed and not self._watched:
                    return
                ops = list(self._watched)
            v = u32[_DONE_IDX]
            progressed = False
            for op in ops:
                if op.completed or self.is_done(op):
                    progressed = True
            if progressed:
                with self._bg_cv:
                    self._watched = deque(o for o in self._watched if not o.completed)
                continue
            with self._sleep_lock:
                self._sleepers += 1
                u32[_WAITING_IDX] = 1
            if not any(u32[o.state_idx] in (DONE, ERROR) for o in ops):
                _futex.wait(self.arena.done_addr, v, 0.1)
            with self._sleep_lock:
                self._sleepers -= 1
                if not self._sleepers:
                    u32[_WAITING_IDX] = 0
            now = _perf()
            for op in ops:
                if not op.completed and u32[op.state_idx] not in (DONE, ERROR):
                    self._check(op, now)

    def pending(self) -> list[Op]:
        with self._lock:
            return list(self._inflight.values())

    def close(self) -> None:
        self.closed = True
        with self._bg_cv:
            self._bg_cv.notify_all()


def describe(coll: int, seq: int, group: int, count: int) -> str:
    name = COLL_NAMES.get(coll, f"coll {coll}")
    g = "" if group == 0 else f" in group {group}"
    return f"{name} #{seq}{g} ({count} elements)" if seq else f"{name}{g} ({count} elements)"
