"""all_to_all (list) and all_to_all_single, even and uneven."""

from __future__ import annotations

import torch

from ._common import ALLTOALL, ALLTOALLV, _align


class AllToAll:
    # ---- all-to-all ------------------------------------------------------------------------
    def _alltoallv(self, outs_flat, ins_flat, send_counts, recv_counts, dtype, code, result, what, epilogue=None):
        P = self._size
        es = torch.empty((), dtype=dtype).element_size()
        sin, sout = sum(send_counts), sum(recv_counts)
        even = all(c == send_counts[0] for c in send_counts) and send_counts == recv_counts
        aux_bytes = 0 if even else 32 * P
        off = self._eng.alloc(_align(sin * es) + _align(sout * es) + aux_bytes, what)
        out_off = off + _align(sin * es)
        pos = off
        for t, c in zip(ins_flat, send_counts):
            self._view(pos, c, dtype).view(t.shape).copy_(t)
            pos += c * es
        places, pos = [], out_off
        for t, c in zip(outs_flat, recv_counts):
            places.append((t, self._view(pos, c, dtype).view(t.shape)))
            pos += c * es
        aux_off, coll, count = 0, ALLTOALL, (send_counts[0] if P else 0)
        if not even:
            coll, count = ALLTOALLV, 0
            aux_off = out_off + _align(sout * es)
            sd = [sum(send_counts[:i]) for i in range(P)]
            rd = [sum(recv_counts[:i]) for i in range(P)]
            self._view(aux_off, 4 * P, torch.int64).copy_(
                torch.tensor(send_counts + sd + recv_counts + rd, dtype=torch.int64)
            )

        def fin(op):
            for t, v in places:
                t.copy_(v)

        op = self._post(coll, code, 0, 0, count, off, out_off, aux_off, (off,), fin)
        return self._work([op], result, epilogue)

    def alltoall(self, output_tensors, input_tensors, opts=None):
        codes = self._validate(ALLTOALL, list(output_tensors) + list(input_tensors), "all_to_all")
        ins = [self._real(t) for t in input_tensors]
        outs = [self._real(t) for t in output_tensors]
        return self._alltoallv(
            outs,
            ins,
            [t.numel() for t in ins],
            [t.numel() for t in outs],
            ins[0].dtype,
            codes[0][0],
            output_tensors,
            "all_to_all",
        )

    def all_to_all_single(self, output, input, output_split_sizes, input_split_sizes, opts=None):
        (code, _), _c = self._validate(ALLTOALL, [input, output], "all_to_all_single")
        P = self._size
        ri, ro = self._real(input), self._real(output)
        row_in = ri[0].numel() if ri.dim() and ri.shape[0] else 1
        row_out = ro[0].numel() if ro.dim() and ro.shape[0] else 1
        if not input_split_sizes:
            input_split_sizes = [ri.shape[0] // P if ri.dim() else 0] * P
        if not output_split_sizes:
            output_split_sizes = [ro.shape[0] // P if ro.dim() else 0] * P
        send = [int(s) * row_in for s in input_split_sizes]
        recv = [int(s) * row_out for s in output_split_sizes]
        fi = ri.reshape(-1) if ri.is_contiguous() else ri.contiguous().reshape(-1)
        fo = ro.reshape(-1) if ro.is_contiguous() else torch.empty(ro.numel(), dtype=ro.dtype)
        ins = list(fi.split(send))
        outs = list(fo.split(recv))
        epi = None if ro.is_contiguous() else (lambda: ro.copy_(fo.view(ro.shape)))
        return self._alltoallv(outs, ins, send, recv, ri.dtype, code, [output], "all_to_all_single", epi)

    alltoall_base = all_to_all_single
