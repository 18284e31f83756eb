"""Work handles: wait() completes inline on the calling thread (cheapest for sync ops);
get_future() hands the ops to the engine's progress thread, which completes the future.
"""

from __future__ import annotations

import threading

import torch
import torch.distributed as dist

from .._errors import OnetError


class Work(dist._Work):
    def __init__(self, engine, ops, result, epilogue=None):
        super().__init__()
        self._eng = engine
        self._ops = ops
        self._result = result
        self._epilogue = epilogue
        self._done = False
        self._error = None
        self._fut = None

    def _finalize(self) -> None:
        # Runs on the waiting thread or the progress thread; the GIL-atomic flag swap makes
        # the epilogue run once.
        if self._done:
            return
        err = None
        for op in self._ops:
            if op.error is not None:
                err = op.error
                break
        epi, self._epilogue = self._epilogue, None
        if err is None and epi is not None:
            try:
                epi()
            except Exception as e:  # noqa: BLE001
                err = e
        self._error = err
        self._done = True

    def wait(self, timeout=None) -> bool:
        if not self._done:
            t = None
            if timeout:
                t = timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)
                if t <= 0:
                    t = None
            eng = self._eng
            for op in self._ops:
                if not op.completed:
                    eng.wait(op, False, t)
            self._finalize()
        if self._error is not None:
            raise self._error
        return True

    def synchronize(self) -> None:
        self.wait()

    def is_completed(self) -> bool:
        if self._done:
            return True
        if all(self._eng.is_done(op) for op in self._ops):
            self._finalize()
            return True
        return False

    def is_success(self) -> bool:
        return self.is_completed() and self._error is None

    def exception(self):
        return self._error

    def result(self):
        return self._result

    def _source_rank(self) -> int:
        self.wait()
        return int(self._ops[0].src) if self._ops else -1

    def source_rank(self) -> int:
        return self._source_rank()

    def get_future(self) -> torch.futures.Future:
        if self._fut is not None:
            return self._fut
        fut = torch.futures.Future()
        self._fut = fut
        remaining = [len(self._ops)]
        lock = threading.Lock()

        def settle():
            self._finalize()
            if self._error is not None:
                err = self._error
                fut.set_exception(err if isinstance(err, BaseException) else OnetError(str(err)))
            else:
                fut.set_result(self._result)

        def on_op(_op):
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                settle()

        if not self._ops:
            settle()
        for op in self._ops:
            self._eng.watch(op, on_op)
        return fut


class ListWork(dist._Work):
    """Several Works as one (coalescing manager)."""

    def __init__(self, works, result):
        super().__init__()
        self._works = works
        self._result = result
        self._fut = None

    def wait(self, timeout=None) -> bool:
        for w in self._works:
            w.wait(timeout)
        return True

    def is_completed(self) -> bool:
        return all(w.is_completed() for w in self._works)

    def is_success(self) -> bool:
        return all(w.is_success() for w in self._works)

    def exception(self):
        return next((w.exception() for w in self._works if w.exception() is not None), None)

    def result(self):
        return self._result

    def get_future(self) -> torch.futures.Future:
        if self._fut is None:
            futs = [w.get_future() for w in self._works]
            result = self._result
            self._fut = torch.futures.collect_all(futs).then(lambda f: ([x.wait() for x in f.wait()], result)[1])
        return self._fut
