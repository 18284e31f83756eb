"""allgather (list, into-tensor, coalesced, uneven) and gather."""

from __future__ import annotations

import torch

from .._errors import InvalidArgumentError, UnsupportedError
from .._gen.layout import FLAG_CMA
from ._common import ALLGATHER, ALLGATHERV, GATHER, _align


class Gathers:
    # ---- gathers ---------------------------------------------------------------------------
    def _gather_like(self, coll, inp, outs, what, root=0, out_here=True):
        """allgather/gather of ``inp`` into the list ``outs`` (group-rank order)."""
        ((code, _),) = self._validate(coll, [inp], what)
        r = self._real(inp)
        es = r.element_size()
        P = self._size
        counts = [self._real(o).numel() for o in outs] if outs else [r.numel()] * P
        if counts[self._rank] != r.numel() and outs:
            self._poison(
                coll,
                InvalidArgumentError(
                    f"rank {self._rank}: {what}: output {self._rank} has {counts[self._rank]} elements but "
                    f"the input has {r.numel()}; every output must match its rank's input",
                    [self._rank],
                ),
            )
        even = all(c == counts[0] for c in counts)
        total = sum(counts)
        aux_bytes = 0 if even else 8 * P
        off = self._eng.alloc(_align(total * es) + aux_bytes, what)
        disp = sum(counts[: self._rank])
        v_in = self._view(off + disp * es, r.numel(), r.dtype).view(r.shape)
        v_in.copy_(r)
        aux_off = 0
        if not even:
            if coll != ALLGATHER:
                self._poison(coll, UnsupportedError(f"rank {self._rank}: {what} needs equal sizes", [self._rank]))
            coll = ALLGATHERV
            aux_off = off + _align(total * es)
            self._view(aux_off, P, torch.int64).copy_(torch.tensor(counts, dtype=torch.int64))
        places = []
        if out_here:
            pos = off
            for o, c in zip(outs, counts):
                ro = self._real(o)
                places.append((ro, self._view(pos, c, r.dtype).view(ro.shape)))
                pos += c * es

        def fin(op):
            for ro, v in places:
                ro.copy_(v)

        count = r.numel()
        op = self._post(coll, code, 0, root, count, off + disp * es, off, aux_off, (off,), fin)
        return self._work([op], [outs] if outs else [])

    def allgather(self, output_tensors, input_tensors, opts=None):
        return self._gather_like(ALLGATHER, input_tensors[0], output_tensors[0], "allgather")

    def allgather_coalesced(self, output_lists, input_list, opts=None):
        # output_lists[r][j] receives rank r's input_list[j] (torch's all_gather_coalesced layout).
        if len(output_lists) != self._size or any(len(o) != len(input_list) for o in output_lists):
            self._poison(
                ALLGATHER,
                InvalidArgumentError(
                    f"rank {self._rank}: all_gather_coalesced needs {self._size} output lists (one per rank) of "
                    f"{len(input_list)} tensors (one per input), got {[len(o) for o in output_lists]}",
                    [self._rank],
                ),
            )
        works = [
            self._gather_like(ALLGATHER, t, [o[j] for o in output_lists], "all_gather_coalesced")
            for j, t in enumerate(input_list)
        ]
        return self._combine(works, output_lists)

    def all_gather_single(self, output, input, opts=None):
        (code, _), _c = self._validate(ALLGATHER, [input, output], "all_gather_into_tensor")
        r = self._real(input)
        ro = self._real(output)
        n, es, P = r.numel(), r.element_size(), self._size
        if ro.numel() != P * n:
            self._poison(
                ALLGATHER,
                InvalidArgumentError(
                    f"rank {self._rank}: all_gather_into_tensor output has {ro.numel()} elements, expected "
                    f"group size {P} × input {n} = {P * n}"
                ),
                [self._rank],
            )
        if n and ro.dtype == r.dtype:
            oo, io = self._arena_off(ro), self._arena_off(r)
            if oo >= 0 or io >= 0:
                return self._all_gather_arena(code, r, ro, oo, io, output)
            if self._single_copy(P * n * es, r, ro):  # read and written where they lie (_cma.py)
                keep = lambda _op: (r, ro)  # noqa: E731 - both stay alive until the coordinator is done
                op = self._post(ALLGATHER, code, 0, 0, n, r.data_ptr(), ro.data_ptr(), 0, (), keep, flags=FLAG_CMA)
                return self._work([op], [output])
        off = self._eng.alloc(P * n * es, "all_gather_into_tensor")
        in_off = off + self._rank * n * es
        self._view(in_off, n, r.dtype).view(r.shape).copy_(r)
        v_out = self._view(off, P * n, r.dtype).view(ro.shape)
        op = self._post(ALLGATHER, code, 0, 0, n, in_off, off, 0, (off,), lambda op: ro.copy_(v_out))
        return self._work([op], [output])

    def _all_gather_arena(self, code, r, ro, oo, io, output):
        """all_gather_into_tensor where the output or the input lies in the arena."""
        n, es, P = r.numel(), r.element_size(), self._size
        if oo >= 0:  # gather straight into the output; the input joins it at this rank's block
            mine = oo + self._rank * n * es
            if io >= 0 and (io == mine or io + n * es <= oo or io >= oo + P * n * es):
                in_off = io
            else:
                ro.view(-1)[self._rank * n : (self._rank + 1) * n].copy_(r.reshape(-1))
                in_off = mine
            op = self._post(ALLGATHER, code, 0, 0, n, in_off, oo, 0, (), lambda _op: (r, ro))
            return self._work([op], [output])
        off = self._eng.alloc(P * n * es, "all_gather_into_tensor")
        v_out = self._view(off, P * n, r.dtype).view(ro.shape)
        op = self._post(ALLGATHER, code, 0, 0, n, io, off, 0, (off,), lambda _op: (r, ro.copy_(v_out)))
        return self._work([op], [output])

    _allgather_base = all_gather_single

    def allgather_into_tensor_coalesced(self, outputs, inputs, opts=None):
        works = [self.all_gather_single(o, i) for o, i in zip(outputs, inputs)]
        return self._combine(works, outputs)

    all_gather_single_coalesced = allgather_into_tensor_coalesced

    def gather(self, output_tensors, input_tensors, opts=None):
        root = opts.rootRank if opts is not None else 0
        outs = output_tensors[0] if self._rank == root and output_tensors else []
        inp = input_tensors[0]
        if self._rank != root:
            outs = [inp] * self._size  # shapes for staging only; nothing is copied back
            w = self._gather_like(GATHER, inp, outs, "gather", root, out_here=False)
            w._result = []
            return w
        return self._gather_like(GATHER, inp, outs, "gather", root)
