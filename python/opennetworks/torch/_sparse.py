"""allreduce of sparse COO tensors, as gloo does it (DDP with nn.Embedding(sparse=True) needs it).

Gloo's sparse allreduce (ProcessGroupGloo.cpp, AsyncSparseAllreduceWork): coalesce the input, allgather
each rank's nnz and sizes, allgather the indices and the values (uneven, so allgatherv), add the
ranks' tensors in rank order and coalesce. The same torch operations in the same order here give a
result equal to gloo's, bit for bit. SUM only, like gloo.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from .._errors import InvalidArgumentError, UnsupportedError
from ._common import ALLGATHER, ALLREDUCE

_MAX_DIMS = 16


class SparseAllreduce:
    """Mixin of ProcessGroupOnet, before Elementwise: dense tensors never reach this code (the
    allreduce fast path takes strided tensors, and _elementwise is only its slow path)."""

    def _elementwise(self, coll, tensors, redop_obj, *args, **kw):
        if coll == ALLREDUCE and tensors and tensors[0].layout == torch.sparse_coo:
            return self._sparse_allreduce(tensors, redop_obj)
        return super()._elementwise(coll, tensors, redop_obj, *args, **kw)

    def _sparse_allreduce(self, tensors, op):
        kind = getattr(op, "op", op)
        if kind != dist.ReduceOp.SUM:
            self._poison(
                ALLREDUCE,
                UnsupportedError(
                    f"rank {self._rank}: allreduce of a sparse tensor supports ReduceOp.SUM only (as gloo), "
                    f"got {op}; use t.to_dense() for other ops",
                    [self._rank],
                ),
            )
        inp = tensors[0]
        for t in tensors[1:]:
            inp = inp + t
        inp = inp.coalesce()
        if inp.dim() > _MAX_DIMS or inp.device.type != "cpu":
            self._poison(
                ALLREDUCE,
                UnsupportedError(
                    f"rank {self._rank}: sparse allreduce takes CPU tensors of at most {_MAX_DIMS} dimensions, "
                    f"got {inp.dim()} on {inp.device}",
                    [self._rank],
                ),
            )
        P = self._size
        meta = torch.zeros(3 + _MAX_DIMS, dtype=torch.int64)
        meta[0], meta[1], meta[2] = inp._nnz(), inp.sparse_dim(), inp.dim()
        meta[3 : 3 + inp.dim()] = torch.tensor(inp.shape, dtype=torch.int64)
        metas = [torch.empty_like(meta) for _ in range(P)]
        self._gather_like(ALLGATHER, meta, metas, "sparse allreduce (sizes)").wait()
        for r, m in enumerate(metas):
            if not torch.equal(m[1:], meta[1:]):
                raise InvalidArgumentError(
                    f"rank {self._rank}: sparse allreduce: rank {r} has a tensor of size "
                    f"{m[3 : 3 + int(m[2])].tolist()} with {int(m[1])} sparse dims, this rank "
                    f"{list(inp.shape)} with {inp.sparse_dim()}; every rank must pass the same shape",
                    [r],
                )
        nnz = [int(m[0]) for m in metas]
        sd = inp.sparse_dim()
        dense = inp.shape[sd:]
        idx = inp._indices().contiguous()
        val = inp._values().contiguous()
        idx_out = [torch.empty((sd, n), dtype=idx.dtype) for n in nnz]
        val_out = [torch.empty((n, *dense), dtype=val.dtype) for n in nnz]
        self._gather_like(ALLGATHER, idx, idx_out, "sparse allreduce (indices)").wait()
        self._gather_like(ALLGATHER, val, val_out, "sparse allreduce (values)").wait()
        out = torch.sparse_coo_tensor(idx_out[0], val_out[0], inp.shape, dtype=inp.dtype)
        for r in range(1, P):
            out += torch.sparse_coo_tensor(idx_out[r], val_out[r], inp.shape, dtype=inp.dtype)
        out = out.coalesce()
        for t in tensors:
            t.copy_(out)
        return self._work([], tensors)
