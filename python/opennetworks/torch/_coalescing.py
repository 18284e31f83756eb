"""The coalescing manager: works issued between _start_coalescing and _end_coalescing."""

from __future__ import annotations

from ._work import ListWork


class Coalescing:
    # ---- coalescing --------------------------------------------------------------------------
    def _combine(self, works, result):
        if self._coalescing is not None:
            return works[-1] if works else self._work([], result)
        return ListWork(works, result)

    def _start_coalescing(self, device=None):
        self._coalescing = []

    def _end_coalescing(self, device=None):
        works, self._coalescing = self._coalescing or [], None
        return ListWork(works, [])
