"""barrier and point to point: buffered send, recv, recv from any source.

A recv of an ordinary contiguous tensor from ONET_CMA_MIN_BYTES on goes by single copy: the coordinator writes
the sender's arena block straight into it (python/opennetworks/_cma.py). Sends stay buffered in the arena (a
send completes before its recv is posted, as gloo's callers expect)."""

from __future__ import annotations

from .._gen.layout import FLAG_CMA
from ._common import BARRIER, RECV, SEND


class PointToPoint:
    # ---- barrier, point to point -----------------------------------------------------------
    def barrier(self, opts=None):
        return self._work([self._post(BARRIER, 5, 0, 0, 0, 0, 0, 0, (), None)], [])

    def send(self, tensors, dst, tag=0):
        t = tensors[0]
        ((code, _),) = self._validate(SEND, [t], "send")
        r = self._real(t)
        n = r.numel()
        off = self._eng.alloc(n * r.element_size(), "send")
        self._view(off, n, r.dtype).view(r.shape).copy_(r)
        op = self._post(SEND, code, 0, dst, n, off, off, 0, (off,), None, tag=tag, p2p=True)
        # Buffered send, as gloo's: the data already sits in the arena, so the send is complete
        # for the caller (send-send-recv-recv between two ranks works); the slot and the block
        # are reclaimed when the coordinator matches it with the receive.
        self._eng.detach(op)
        return self._work([], tensors)

    def _flush_sends(self) -> None:
        """Wait until this group's buffered sends were received (as gloo's send would have):
        a rank that exits right after sending must not drop messages its peers still expect."""
        for op in [o for o in list(self._eng._detached) if o.group == self._gid]:
            self._eng.wait(op, raise_error=False, timeout_s=self._timeout_s)
        self._eng._reap()

    def _recv(self, tensors, src, tag):
        t = tensors[0]
        ((code, _),) = self._validate(RECV, [t], "recv")
        r = self._real(t)
        n = r.numel()
        if self._single_copy(n * r.element_size(), r):  # the coordinator writes r where it lies (_cma.py)
            at, fin = r.data_ptr(), (lambda _op, r=r: r)  # fin holds r until the engine's last write
            op = self._post(RECV, code, 0, src, n, at, at, 0, (), fin, tag=tag, p2p=True, flags=FLAG_CMA)
            return self._work([op], tensors)
        off = self._eng.alloc(n * r.element_size(), "recv")
        v = self._view(off, n, r.dtype)

        def fin(op):
            m = min(int(op.out_count), n) if op.out_count else n
            if m == n:
                r.copy_(v.view(r.shape))
            else:
                r.view(-1)[:m].copy_(v[:m]) if r.is_contiguous() else r.copy_(v.view(r.shape))

        return self._work([self._post(RECV, code, 0, src, n, off, off, 0, (off,), fin, tag=tag, p2p=True)], tensors)

    def recv(self, tensors, src, tag=0):
        return self._recv(tensors, src, tag)

    def recv_anysource(self, tensors, tag=0):
        return self._recv(tensors, -1, tag)
