"""Staging helpers every collective uses: arena views, argument checks, posting, Work."""

from __future__ import annotations

import torch

from .. import _cma
from .._errors import InvalidArgumentError, OnetError, UnsupportedError
from .._gen.layout import FLAG_COMPRESSION, FLAG_EF_KEY
from .._post import describe
from ._common import _POISON_DTYPE, RECV, SEND
from ._dtypes import dtype_code
from ._work import Work


class Staging:
    def _arena_off(self, t: torch.Tensor) -> int:
        """Offset of ``t`` in the data region when it is contiguous and lies there, else -1."""
        off = t.data_ptr() - self._base
        if 0 <= off and off + t.numel() * t.element_size() <= self._data_bytes and t.is_contiguous():
            return off
        return -1

    def _single_copy(self, nbytes: int, *tensors: torch.Tensor) -> bool:
        """Whether ordinary ``tensors`` (``nbytes`` the largest) go by single copy: the coordinator reads and
        writes them where they lie (python/opennetworks/_cma.py); contiguous tensors above the threshold only."""
        lim = self._cma_min
        if not (0 < lim <= nbytes and all(t.is_contiguous() for t in tensors)):
            return False
        for t in tensors:
            _cma.hugepages(t)
        return True

    # ---- staging helpers -----------------------------------------------------------------
    def _view(self, off: int, count: int, dtype: torch.dtype) -> torch.Tensor:
        key = (off, count, dtype)
        v = self._views.get(key)
        if v is None:
            es = torch.empty((), dtype=dtype).element_size()
            v = self._data[off : off + count * es].view(dtype)
            if len(self._views) > 512:
                self._views.clear()
            self._views[key] = v
        return v

    def _check(self, t: torch.Tensor, what: str) -> tuple[int, int]:
        if not isinstance(t, torch.Tensor):
            raise InvalidArgumentError(
                f"rank {self._rank}: {what} expects tensors, got {type(t).__name__}", [self._rank]
            )
        if t.device.type != "cpu":
            raise UnsupportedError(
                f"rank {self._rank}: {what} got a tensor on {t.device}; the opennetworks backend handles "
                "CPU tensors for now: move it with .cpu(), or run CUDA tensors through a separate group, "
                "dist.new_group(backend='nccl') (a Python backend receives every device's tensors, so "
                "'cpu:opennetworks,cuda:nccl' does not route them to NCCL)",
                [self._rank],
            )
        if t.is_sparse or t.layout != torch.strided:
            raise UnsupportedError(
                f"rank {self._rank}: {what} got a {t.layout} tensor; pass a dense (strided) tensor, e.g. t.to_dense()",
                [self._rank],
            )
        return dtype_code(t.dtype)

    @staticmethod
    def _real(t: torch.Tensor) -> torch.Tensor:
        # Results are written outside autograd, as gloo does from C++: detach leaves that
        # require grad so that the in-place copy is allowed.
        if t.requires_grad:
            t = t.detach()
        return torch.view_as_real(t) if t.is_complex() else t

    def _poison(self, coll: int, err: Exception, seq: bool = True) -> Work:
        """Post the collective with an impossible dtype so peers fail fast, then raise ``err``."""
        s = self._client.next_seq(self._gid) if seq else 0
        try:
            op = self._eng.post(
                s,
                coll,
                _POISON_DTYPE,
                0,
                -1 if coll == RECV else 0,
                0,
                0,
                0,
                0,
                self._gid,
                0,
                1.0,
                describe(coll, s, self._gid, 0),
            )
            self._eng.wait(op, raise_error=False, timeout_s=min(self._timeout_s, 5.0))
        except OnetError:
            pass
        raise err

    def _post(
        self,
        coll,
        code,
        redop,
        root,
        count,
        in_off,
        out_off,
        aux_off,
        blocks,
        finish,
        scale=1.0,
        tag=0,
        p2p=False,
        flags=0,
    ):
        s = 0 if p2p else self._client.next_seq(self._gid)
        return self._eng.post(
            s,
            coll,
            code,
            redop,
            root,
            count,
            in_off,
            out_off,
            aux_off,
            self._gid,
            tag & 0xFFFFFFFF,
            scale,
            None,
            finish,
            blocks,
            flags=flags,
        )

    def _zflags(self, piece: int = 0) -> int:
        """Slot flags of an allreduce (docs/compression.md): the call's codec and error-feedback key
        (opennetworks.torch.compression), else the group's (set_compression); piece k of a tensor
        posted in pieces takes key + k, so that each piece keeps its own residual."""
        z = getattr(self._zlocal, "call", None) or self._zgroup
        if not z:
            return 0
        code, key = z
        if key and piece:
            key = (key - 1 + piece) % 0xFFFF + 1
        return code * FLAG_COMPRESSION + key * FLAG_EF_KEY

    def _work(self, ops, result, epilogue=None) -> Work:
        w = Work(self._eng, ops, result, epilogue)
        if self._coalescing is not None:
            self._coalescing.append(w)
        return w

    def _validate(self, coll, tensors, what):
        try:
            codes = [self._check(t, what) for t in tensors]
        except OnetError as e:
            self._poison(coll, e, seq=coll not in (SEND, RECV))
        return codes
