"""Completing a posted request: read the slot's result or error, free it, run ``finish``; or fail
the request without the coordinator when it died or the deadline passed (docs/protocol.md §3, §4).

``Completion`` is a mixin of ``_post.Engine``: it uses the engine's arena views (``u32``, ``mv``),
lock, in-flight table and free-slot queue, all set up in ``Engine.__init__``.
"""

from __future__ import annotations

from ._errors import AbortedError, InternalError, OnetError, TimeoutError, error_for_status
from ._layout import (
    DONE,
    ERROR,
    FREE,
    SLOT_BYTES,
    SLOT_MAX_RANKS,
    SLOT_MSG,
    SLOT_MSG_BYTES,
    SLOT_NRANKS,
    SLOT_RANKS,
    SLOT_RESULT,
    SLOT_SRC,
    SLOTS_OFFSET,
)
from ._post_op import Op

_unpack_result = SLOT_RESULT.unpack_from
# Requests given up while the coordinator may still run them (deadline): their finish callbacks hold the
# tensors a single-copy post named (python/opennetworks/_cma.py), which must never be freed under it.
_abandoned: list = []


class Completion:
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
            if abandon:
                _abandoned.append(op)
            else:  # the coordinator is gone: nothing will write the slot again
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
