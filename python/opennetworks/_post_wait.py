"""Waiting for a posted request: spin, then sleep on the shared done futex, waking at least every
0.1 s for liveness and deadline checks; and a background thread that does the same for requests
watched by futures (docs/protocol.md §4). How long and how to spin (busy, yielding, or not at all)
adapts to the host's load and to recent waits (_spin_policy.py, ONET_SPIN_MAX_US, ONET_YIELD).

``Waiting`` is a mixin of ``_post.Engine`` (after ``Completion``): it uses the engine's arena views,
locks, sleeper count and watch queue, all set up in ``Engine.__init__``.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

from . import _env, _futex
from ._errors import TimeoutError
from ._layout import DONE, ERROR, OFF_DONE_FUTEX, OFF_RANK_WAITING
from ._post_op import Op
from ._spin_policy import YIELD, Spin

_perf = time.perf_counter
_no_yield = lambda: None  # noqa: E731
_yield = os.sched_yield if _env.value("ONET_YIELD") else _no_yield

_DONE_IDX = OFF_DONE_FUTEX // 4
_WAITING_IDX = OFF_RANK_WAITING // 4


class Waiting:
    def wait(self, op: Op, raise_error: bool = True, timeout_s: float | None = None):
        """Block until ``op`` completes; raise its error (or return it when ``raise_error`` is False)."""
        if not op.completed:
            u32 = self.u32
            idx = op.state_idx
            s = u32[idx]
            if not (s == DONE or s == ERROR):
                spin = self.__dict__.get("_spin")
                if spin is None:
                    spin = self._spin = Spin(self.spin_s * 1e6)
                t0 = _perf()
                mode, spin_s = spin.plan(t0)
                caught = spin_s > 0
                if caught:
                    end = t0 + spin_s
                    yld = _yield if mode == YIELD else _no_yield
                    while True:
                        yld()
                        s = u32[idx]
                        if s == DONE or s == ERROR or op.completed:
                            break
                        if _perf() > end:
                            caught = False
                            self._sleep_until(op, timeout_s)
                            break
                else:
                    self._sleep_until(op, timeout_s)
                spin.update(_perf() - t0, caught)
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
