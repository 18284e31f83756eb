"""allreduce, reduce, broadcast and allreduce_coalesced: elementwise, chunked when large."""

from __future__ import annotations

import torch
import torch.distributed as dist

from .._errors import OnetError
from .._gen.layout import FLAG_CMA, FLAG_EF_KEY
from ._common import _FAST_CODES, _FAST_OPS, _STRIDED, ALLREDUCE, BROADCAST, REDUCE
from ._dtypes import dtype_code, redop_code
from ._work import Work


class Elementwise:
    # ---- elementwise collectives: allreduce, reduce, broadcast (chunked when large) -------
    def _elementwise(self, coll, tensors, redop_obj, root, what, copy_in=True, copy_out=True):
        ops, epilogues = [], []
        codes = self._validate(coll, tensors, what)
        zf = self._zflags() if coll == ALLREDUCE else 0
        for t, (code, _) in zip(tensors, codes):
            try:
                redop, scale = redop_code(redop_obj, t.dtype) if redop_obj is not None else (0, 1.0)
            except OnetError as e:
                self._poison(coll, e)
            r = self._real(t)
            n = r.numel()
            es = r.element_size()
            aoff = self._arena_off(r) if n else -1
            if aoff >= 0:  # an arena tensor: reduced where it lies; finish keeps it alive
                ops.append(self._post(coll, code, redop, root, n, aoff, aoff, 0, (), _keep(r), scale, flags=zf))
                continue
            # With an error-feedback key the tensor goes whole when it can: its residual is per (group, key).
            whole = zf >= FLAG_EF_KEY and n * es <= self._data_bytes // 2
            if self._single_copy(n * es, r):  # the coordinator reads and writes r where it lies (_cma.py)
                # In the copy path's pieces: ranks that copy (no single copy there) post the same counts.
                p, step = r.data_ptr(), n if whole else max(1, self._chunk_bytes // es)
                for c0 in range(0, n, step):
                    m, at = min(step, n - c0), p + c0 * es
                    zp = self._zflags(c0 // step) if zf and not whole else zf
                    zp |= FLAG_CMA
                    ops.append(self._post(coll, code, redop, root, m, at, at, 0, (), _keep(r), scale, flags=zp))
                continue
            if n * es <= self._chunk_bytes or whole:
                off = self._eng.alloc(n * es, what)
                v = self._view(off, n, r.dtype).view(r.shape)
                if copy_in:
                    v.copy_(r)
                fin = (lambda op, r=r, v=v: r.copy_(v)) if copy_out else None
                ops.append(self._post(coll, code, redop, root, n, off, off, 0, (off,), fin, scale, flags=zf))
                continue
            flat = r.reshape(-1) if r.is_contiguous() else r.contiguous().view(-1)
            if not r.is_contiguous() and copy_out:
                epilogues.append(lambda r=r, flat=flat: r.copy_(flat.view(r.shape)))
            step = max(1, self._chunk_bytes // es)
            depth, done = self._pipeline_depth, len(ops)
            for c0 in range(0, n, step):
                m = min(step, n - c0)
                off = self._eng.alloc(m * es, what)
                v = self._view(off, m, r.dtype)
                if copy_in:
                    v.copy_(flat[c0 : c0 + m])
                fin = (lambda op, d=flat[c0 : c0 + m], v=v: d.copy_(v)) if copy_out else None
                zp = self._zflags(c0 // step) if zf else 0
                ops.append(self._post(coll, code, redop, root, m, off, off, 0, (off,), fin, scale, flags=zp))
                # Copy finished pieces out while later ones are reduced. With a depth, wait for the
                # piece `depth` back: its output is still in cache, and the staging blocks recycle.
                if depth and len(ops) - done > depth:
                    self._eng.wait(ops[-1 - depth], raise_error=False)
                for prev in ops[done:-1]:
                    if not (prev.completed or self._eng.is_done(prev)):
                        break
                    done += 1
        epi = (lambda: [e() for e in epilogues]) if epilogues else None
        return self._work(ops, tensors, epi)

    def allreduce(self, tensors, opts=None):
        if isinstance(tensors, torch.Tensor):
            tensors = [tensors]
        op = (
            opts.reduceOp
            if opts is not None and not isinstance(opts, dist.ReduceOp)
            else (opts if opts is not None else dist.ReduceOp.SUM)
        )
        if len(tensors) == 1:  # the hot path: one small dense CPU tensor, a plain reduce op
            t = tensors[0]
            redop = _FAST_OPS.get((getattr(op, "op", op), t.dtype))
            if redop is not None and t.is_cpu and t.layout is _STRIDED and not t.requires_grad:
                n = t.numel()
                nbytes = n * t.element_size()
                aoff = t.data_ptr() - self._base
                cma = 0
                if 0 <= aoff and nbytes and aoff + nbytes <= self._data_bytes and t.is_contiguous():
                    off, fin, blocks = aoff, _keep(t), ()  # an arena tensor: nothing to copy
                elif nbytes <= self._chunk_bytes and self._single_copy(nbytes, t):  # read and written in place
                    off, fin, blocks, cma = t.data_ptr(), _keep(t), (), FLAG_CMA
                elif nbytes <= self._chunk_bytes:
                    off = self._eng.alloc(nbytes, "allreduce")
                    key = (off, t.shape, t.dtype)
                    v = self._views.get(key)
                    if v is None:
                        v = self._view(off, n, t.dtype).view(t.shape)
                        self._views[key] = v
                    v.copy_(t)
                    fin, blocks = (lambda _o: t.copy_(v)), (off,)
                else:
                    off = -1
                if off >= 0:
                    eng = self._eng
                    s = self._client._seq.get(self._gid, 0) + 1
                    self._client._seq[self._gid] = s
                    o = eng.post(
                        s,
                        ALLREDUCE,
                        _FAST_CODES[t.dtype],
                        redop,
                        0,
                        n,
                        off,
                        off,
                        0,
                        self._gid,
                        0,
                        1.0,
                        None,
                        fin,
                        blocks,
                        flags=self._zflags() | cma,
                    )
                    w = Work(eng, [o], tensors)
                    if self._coalescing is not None:
                        self._coalescing.append(w)
                    return w
        return self._elementwise(ALLREDUCE, tensors, op, 0, "allreduce")

    def reduce(self, tensors, opts=None):
        if isinstance(tensors, torch.Tensor):
            tensors = [tensors]
        root = opts.rootRank if opts is not None else 0
        op = opts.reduceOp if opts is not None else dist.ReduceOp.SUM
        return self._elementwise(REDUCE, tensors, op, root, "reduce", copy_out=self._rank == root)

    def broadcast(self, tensors, opts=None):
        if isinstance(tensors, torch.Tensor):
            tensors = [tensors]
        root = opts.rootRank if opts is not None else 0
        is_root = self._rank == root
        return self._elementwise(BROADCAST, tensors, None, root, "broadcast", copy_in=is_root, copy_out=not is_root)

    def allreduce_coalesced(self, tensors, opts=None):
        """One allreduce per dtype over the tensors packed back to back."""
        op = opts.reduceOp if opts is not None else dist.ReduceOp.SUM
        self._validate(ALLREDUCE, tensors, "allreduce_coalesced")
        by_dtype: dict = {}
        for t in tensors:
            by_dtype.setdefault(t.dtype, []).append(t)
        ops = []
        for piece, (dt, ts) in enumerate(by_dtype.items()):
            try:
                redop, scale = redop_code(op, dt)
            except OnetError as e:
                self._poison(ALLREDUCE, e)
            reals = [self._real(t) for t in ts]
            es = reals[0].element_size()
            total = sum(r.numel() for r in reals)
            off = self._eng.alloc(total * es, "allreduce_coalesced")
            pos, places = off, []
            for r in reals:
                v = self._view(pos, r.numel(), r.dtype).view(r.shape)
                v.copy_(r)
                places.append((r, v))
                pos += r.numel() * es
            code = dtype_code(dt)[0]

            def fin(op, places=places):
                for r, v in places:
                    r.copy_(v)

            zf = self._zflags(piece)
            ops.append(self._post(ALLREDUCE, code, redop, 0, total, off, off, 0, (off,), fin, scale, flags=zf))
        return self._work(ops, tensors)


def _keep(t):
    """A finish callback that holds ``t`` (an arena tensor) until its op completes: its block
    must not return to the allocator while the engine may still write it."""
    return lambda _op: t
