"""reduce_scatter (list, tensor, coalesced, uneven) and scatter."""

from __future__ import annotations

import torch
import torch.distributed as dist

from .._errors import InvalidArgumentError, OnetError, UnsupportedError
from .._gen.layout import FLAG_CMA
from ._common import REDUCE_SCATTER, REDUCE_SCATTERV, SCATTER, _align
from ._dtypes import redop_code


class Scatters:
    # ---- scatters --------------------------------------------------------------------------
    def _scatter_like(self, coll, out, ins, redop_obj, what, root=0, have_inputs=True):
        ((code, _),) = self._validate(coll, [out], what)
        try:
            redop, scale = redop_code(redop_obj, out.dtype) if redop_obj is not None else (0, 1.0)
        except OnetError as e:
            self._poison(coll, e)
        ro = self._real(out)
        es = ro.element_size()
        P = self._size
        counts = [self._real(i).numel() for i in ins] if have_inputs else [ro.numel()] * P
        even = all(c == counts[0] for c in counts)
        if counts[self._rank] != ro.numel():
            self._poison(
                coll,
                InvalidArgumentError(
                    f"rank {self._rank}: {what}: input {self._rank} has {counts[self._rank]} elements but "
                    f"the output has {ro.numel()}",
                    [self._rank],
                ),
            )
        total = sum(counts)
        aux_bytes = 0 if even else 8 * P
        off = self._eng.alloc(_align(total * es) + aux_bytes, what)
        if have_inputs:
            pos = off
            for i, c in zip(ins, counts):
                ri = self._real(i)
                self._view(pos, c, ro.dtype).view(ri.shape).copy_(ri)
                pos += c * es
        aux_off = 0
        if not even:
            if coll != REDUCE_SCATTER:
                self._poison(coll, UnsupportedError(f"rank {self._rank}: {what} needs equal sizes", [self._rank]))
            coll = REDUCE_SCATTERV
            aux_off = off + _align(total * es)
            self._view(aux_off, P, torch.int64).copy_(torch.tensor(counts, dtype=torch.int64))
        out_off = off + sum(counts[: self._rank]) * es
        v_out = self._view(out_off, ro.numel(), ro.dtype).view(ro.shape)
        op = self._post(
            coll, code, redop, root, ro.numel(), off, out_off, aux_off, (off,), lambda op: ro.copy_(v_out), scale
        )
        return self._work([op], [out])

    def reduce_scatter(self, output_tensors, input_lists, opts=None):
        op = opts.reduceOp if opts is not None else dist.ReduceOp.SUM
        return self._scatter_like(REDUCE_SCATTER, output_tensors[0], input_lists[0], op, "reduce_scatter")

    def reduce_scatter_single(self, output, input, opts=None):
        op = opts.reduceOp if opts is not None else dist.ReduceOp.SUM
        P = self._size
        (code, _), _c = self._validate(REDUCE_SCATTER, [output, input], "reduce_scatter_tensor")
        ri = self._real(input)
        if ri.numel() != P * self._real(output).numel():
            self._poison(
                REDUCE_SCATTER,
                InvalidArgumentError(
                    f"rank {self._rank}: reduce_scatter_tensor input has {ri.numel()} elements, expected group "
                    f"size {P} × output {self._real(output).numel()}"
                ),
                [self._rank],
            )
        ro = self._real(output)
        if ro.numel() and ro.dtype == ri.dtype and self._arena_off(ri) < 0 and self._arena_off(ro) < 0:
            if self._single_copy(ri.numel() * ri.element_size(), ri, ro):  # read and written where they lie
                return self._reduce_scatter_cma(code, ri, ro, op, output)
        if ro.numel() and ro.dtype == ri.dtype:  # one staging copy (or none from the arena)
            return self._reduce_scatter_arena(code, ri, ro, self._arena_off(ri), self._arena_off(ro), op, output)
        chunks = (
            list(input.reshape(-1).chunk(P)) if input.is_contiguous() else list(input.contiguous().reshape(-1).chunk(P))
        )
        return self._scatter_like(REDUCE_SCATTER, output, chunks, op, "reduce_scatter_tensor")

    def _reduce_scatter_arena(self, code, ri, ro, io, oo, redop_obj, output):
        """reduce_scatter_tensor with the input and output each in the arena (offset >= 0, used
        where it lies) or not (-1: the input is staged with one copy, the output copied out)."""
        what = "reduce_scatter_tensor"
        try:
            redop, scale = redop_code(redop_obj, ro.dtype)
        except OnetError as e:
            self._poison(REDUCE_SCATTER, e)
        m, es, P = ro.numel(), ro.element_size(), self._size
        blocks = []
        if io >= 0:
            in_off = io
        else:
            in_off = self._eng.alloc(P * m * es, what)
            blocks.append(in_off)
            self._view(in_off, P * m, ri.dtype).copy_(ri.reshape(-1))
        mine = in_off + self._rank * m * es
        if oo >= 0 and (oo == mine or oo + m * es <= in_off or oo >= in_off + P * m * es):
            out_off, fin = oo, (lambda _op: (ri, ro))
        else:
            if io >= 0:  # the input is the user's: the output goes to its own block
                out_off = self._eng.alloc(m * es, what)
                blocks.append(out_off)
            else:  # our staging copy: reduce into this rank's block of it
                out_off = mine
            v_out = self._view(out_off, m, ro.dtype).view(ro.shape)
            fin = lambda _op: (ri, ro.copy_(v_out))  # noqa: E731
        op = self._post(REDUCE_SCATTER, code, redop, 0, m, in_off, out_off, 0, tuple(blocks), fin, scale)
        return self._work([op], [output])

    def _reduce_scatter_cma(self, code, ri, ro, redop_obj, output):
        """reduce_scatter_tensor by single copy: the coordinator reads ri and writes ro in place (_cma.py)."""
        try:
            redop, scale = redop_code(redop_obj, ro.dtype)
        except OnetError as e:
            self._poison(REDUCE_SCATTER, e)
        keep = lambda _op: (ri, ro)  # noqa: E731 - both stay alive until the coordinator is done
        op = self._post(
            REDUCE_SCATTER, code, redop, 0, ro.numel(), ri.data_ptr(), ro.data_ptr(), 0, (), keep, scale, flags=FLAG_CMA
        )
        return self._work([op], [output])

    _reduce_scatter_base = reduce_scatter_single

    def reduce_scatter_tensor_coalesced(self, outputs, inputs, opts=None):
        works = [self.reduce_scatter_single(o, i, opts) for o, i in zip(outputs, inputs)]
        return self._combine(works, outputs)

    reduce_scatter_single_coalesced = reduce_scatter_tensor_coalesced

    def scatter(self, output_tensors, input_tensors, opts=None):
        root = opts.rootRank if opts is not None else 0
        out = output_tensors[0]
        if self._rank == root:
            return self._scatter_like(SCATTER, out, input_tensors[0], None, "scatter", root)
        return self._scatter_like(SCATTER, out, [], None, "scatter", root, have_inputs=False)
