"""ProcessGroupOnet: the torch.distributed ProcessGroup over the OpenNetworks coordinator.

Every collective stages its inputs into this rank's shared-memory arena, posts one request per
protocol collective, and returns a Work whose wait() copies results into the user's tensors.
"""
from __future__ import annotations

import datetime
import uuid

import torch
import torch.distributed as dist

from .. import _env
from .._comm import get_client
from .._errors import InvalidArgumentError, OnetError, UnsupportedError
from .._layout import ALIGN, COLLS
from .._post import describe
from ._dtypes import DTYPE_CODES, dtype_code, redop_code
from ._work import ListWork, Work

ALLREDUCE, REDUCE, BROADCAST = COLLS["allreduce"], COLLS["reduce"], COLLS["broadcast"]
ALLGATHER, ALLGATHERV = COLLS["allgather"], COLLS["allgatherv"]
REDUCE_SCATTER, REDUCE_SCATTERV = COLLS["reduce_scatter"], COLLS["reduce_scatterv"]
ALLTOALL, ALLTOALLV = COLLS["alltoall"], COLLS["alltoallv"]
GATHER, SCATTER, BARRIER, SEND, RECV = (COLLS["gather"], COLLS["scatter"], COLLS["barrier"],
                                        COLLS["send"], COLLS["recv"])
_STRIDED = torch.strided
_FAST_CODES = {dt: c for dt, (c, k) in DTYPE_CODES.items() if k == 1 and dt is not torch.bool}
_FAST_OPS = {(getattr(dist.ReduceOp.RedOpType, name), dt): code
             for name, code in (("SUM", 0), ("PRODUCT", 1), ("MIN", 2), ("MAX", 3), ("AVG", 4))
             for dt in _FAST_CODES}
_POISON_DTYPE = 0xFFFF  # posted when a rank's own arguments are invalid, so its peers fail fast
_DEFAULT_PG_TIMEOUT = datetime.timedelta(minutes=30)


def _align(n: int) -> int:
    return (n + ALIGN - 1) & ~(ALIGN - 1)


def _flat_count(t: torch.Tensor) -> int:
    return t.numel() * dtype_code(t.dtype)[1]


class ProcessGroupOnet(dist.ProcessGroup):
    def __init__(self, store, rank: int, size: int, timeout: datetime.timedelta, group_id: int,
                 global_ranks: list[int]):
        super().__init__(rank, size)
        self._store = store
        self._rank = rank
        self._size = size
        self._gid = group_id
        self._global_ranks = global_ranks or list(range(size))
        self._group_name = ""
        self._group_desc = ""
        env_t = _env.float_setting("ONET_TIMEOUT", None)
        if env_t is not None:
            t = env_t
        elif timeout is not None and timeout != _DEFAULT_PG_TIMEOUT:
            t = timeout.total_seconds()
        else:
            t = 300.0
        self._timeout_s = t
        global_rank = self._global_ranks[rank]
        if group_id == 0:
            world = size
            job = _job_id(store, rank)
        else:
            world = None
            job = None
        self._client = get_client(global_rank, world, job, framework="torch", timeout_s=t)
        self._eng = self._client.engine
        self._arena = self._client.arena
        self._data = self._arena.data_torch()
        self._views: dict = {}
        self._coalescing: list | None = None
        if group_id != 0:
            self._client.define_group(group_id, self._global_ranks, t)
        # Large elementwise collectives go in pipelined chunks: copy-in of chunk k+1 overlaps the
        # coordinator's reduction of chunk k, and chunks stay cache-resident between the steps.
        pipe = int(_env.float_setting("ONET_PIPELINE_BYTES", 64 << 20))
        self._chunk_bytes = max(ALIGN, (min(pipe, self._arena.data_bytes // 4)) & ~(ALIGN - 1))

    # ---- identity ------------------------------------------------------------------------
    def getBackendName(self) -> str:
        return "opennetworks"

    @property
    def name(self):  # noqa: D401
        return "opennetworks"

    def getGroupName(self) -> str:
        return self._group_name

    def setGroupName(self, name: str) -> None:
        self._group_name = name

    def getGroupDesc(self) -> str:
        return self._group_desc

    def setGroupDesc(self, desc: str) -> None:
        self._group_desc = desc

    @property
    def group_name(self):
        return self._group_name

    @property
    def group_desc(self):
        return self._group_desc

    def shutdown(self) -> None:  # the process-wide client outlives groups; it closes at exit
        pass

    def abort(self) -> None:
        pass

    # ---- staging helpers -----------------------------------------------------------------
    def _view(self, off: int, count: int, dtype: torch.dtype) -> torch.Tensor:
        key = (off, count, dtype)
        v = self._views.get(key)
        if v is None:
            es = torch.empty((), dtype=dtype).element_size()
            v = self._data[off:off + count * es].view(dtype)
            if len(self._views) > 512:
                self._views.clear()
            self._views[key] = v
        return v

    def _check(self, t: torch.Tensor, what: str) -> tuple[int, int]:
        if not isinstance(t, torch.Tensor):
            raise InvalidArgumentError(f"rank {self._rank}: {what} expects tensors, got {type(t).__name__}")
        if t.device.type != "cpu":
            raise UnsupportedError(
                f"rank {self._rank}: {what} got a tensor on {t.device}; the opennetworks backend handles "
                "CPU tensors only: move it with .cpu(), or use backend='cpu:opennetworks,cuda:nccl'")
        if t.is_sparse or t.layout != torch.strided:
            raise UnsupportedError(f"rank {self._rank}: {what} got a {t.layout} tensor; pass a dense "
                                   "(strided) tensor, e.g. t.to_dense()")
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
            op = self._eng.post(s, coll, _POISON_DTYPE, 0, -1 if coll == RECV else 0, 0, 0, 0, 0,
                                self._gid, 0, 1.0, describe(coll, s, self._gid, 0))
            self._eng.wait(op, raise_error=False, timeout_s=min(self._timeout_s, 5.0))
        except OnetError:
            pass
        raise err

    def _post(self, coll, code, redop, root, count, in_off, out_off, aux_off, blocks, finish,
              scale=1.0, tag=0, p2p=False):
        s = 0 if p2p else self._client.next_seq(self._gid)
        return self._eng.post(s, coll, code, redop, root, count, in_off, out_off, aux_off, self._gid,
                              tag & 0xFFFFFFFF, scale, None, finish, blocks)

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

    # ---- elementwise collectives: allreduce, reduce, broadcast (chunked when large) -------
    def _elementwise(self, coll, tensors, redop_obj, root, what, copy_in=True, copy_out=True):
        ops, epilogues = [], []
        codes = self._validate(coll, tensors, what)
        for t, (code, _) in zip(tensors, codes):
            try:
                redop, scale = redop_code(redop_obj, t.dtype) if redop_obj is not None else (0, 1.0)
            except OnetError as e:
                self._poison(coll, e)
            r = self._real(t)
            n = r.numel()
            es = r.element_size()
            if n * es <= self._chunk_bytes:
                off = self._eng.alloc(n * es, what)
                v = self._view(off, n, r.dtype).view(r.shape)
                if copy_in:
                    v.copy_(r)
                fin = (lambda op, r=r, v=v: r.copy_(v)) if copy_out else None
                ops.append(self._post(coll, code, redop, root, n, off, off, 0, (off,), fin, scale))
                continue
            flat = r.reshape(-1) if r.is_contiguous() else r.contiguous().view(-1)
            if not r.is_contiguous() and copy_out:
                epilogues.append(lambda r=r, flat=flat: r.copy_(flat.view(r.shape)))
            step = max(1, self._chunk_bytes // es)
            for c0 in range(0, n, step):
                m = min(step, n - c0)
                off = self._eng.alloc(m * es, what)
                v = self._view(off, m, r.dtype)
                if copy_in:
                    v.copy_(flat[c0:c0 + m])
                fin = (lambda op, d=flat[c0:c0 + m], v=v: d.copy_(v)) if copy_out else None
                ops.append(self._post(coll, code, redop, root, m, off, off, 0, (off,), fin, scale))
                for prev in ops[:-1]:  # copy finished chunks out while later ones are reduced
                    if not prev.completed:
                        self._eng.is_done(prev)
        epi = (lambda: [e() for e in epilogues]) if epilogues else None
        return self._work(ops, tensors, epi)

    def allreduce(self, tensors, opts=None):
        if isinstance(tensors, torch.Tensor):
            tensors = [tensors]
        op = opts.reduceOp if opts is not None and not isinstance(opts, dist.ReduceOp) else (
            opts if opts is not None else dist.ReduceOp.SUM)
        if len(tensors) == 1:  # the hot path: one small dense CPU tensor, a plain reduce op
            t = tensors[0]
            redop = _FAST_OPS.get((getattr(op, "op", op), t.dtype))
            if redop is not None and t.is_cpu and t.layout is _STRIDED and not t.requires_grad:
                n = t.numel()
                nbytes = n * t.element_size()
                if nbytes <= self._chunk_bytes:
                    eng = self._eng
                    off = eng.alloc(nbytes, "allreduce")
                    key = (off, t.shape, t.dtype)
                    v = self._views.get(key)
                    if v is None:
                        v = self._view(off, n, t.dtype).view(t.shape)
                        self._views[key] = v
                    v.copy_(t)
                    s = self._client._seq.get(self._gid, 0) + 1
                    self._client._seq[self._gid] = s
                    o = eng.post(s, ALLREDUCE, _FAST_CODES[t.dtype], redop, 0, n, off, off, 0, self._gid,
                                 0, 1.0, None, lambda _o: t.copy_(v), (off,))
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
        return self._elementwise(BROADCAST, tensors, None, root, "broadcast", copy_in=is_root,
                                 copy_out=not is_root)

    def allreduce_coalesced(self, tensors, opts=None):
        """One allreduce per dtype over the tensors packed back to back."""
        op = opts.reduceOp if opts is not None else dist.ReduceOp.SUM
        self._validate(ALLREDUCE, tensors, "allreduce_coalesced")
        by_dtype: dict = {}
        for t in tensors:
            by_dtype.setdefault(t.dtype, []).append(t)
        ops = []
        for dt, ts in by_dtype.items():
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
            ops.append(self._post(ALLREDUCE, code, redop, 0, total, off, off, 0, (off,), fin, scale))
        return self._work(ops, tensors)

    # ---- gathers ---------------------------------------------------------------------------
    def _gather_like(self, coll, inp, outs, what, root=0, out_here=True):
        """allgather/gather of ``inp`` into the list ``outs`` (group-rank order)."""
        (code, _), = self._validate(coll, [inp], what)
        r = self._real(inp)
        es = r.element_size()
        P = self._size
        counts = [self._real(o).numel() for o in outs] if outs else [r.numel()] * P
        if counts[self._rank] != r.numel() and outs:
            self._poison(coll, InvalidArgumentError(
                f"rank {self._rank}: {what}: output {self._rank} has {counts[self._rank]} elements but "
                f"the input has {r.numel()}; every output must match its rank's input"))
        even = all(c == counts[0] for c in counts)
        total = sum(counts)
        aux_bytes = 0 if even else 8 * P
        off = self._eng.alloc(_align(total * es) + aux_bytes, what)
        disp = sum(counts[:self._rank])
        v_in = self._view(off + disp * es, r.numel(), r.dtype).view(r.shape)
        v_in.copy_(r)
        aux_off = 0
        if not even:
            if coll != ALLGATHER:
                self._poison(coll, UnsupportedError(f"rank {self._rank}: {what} needs equal sizes"))
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
        works = [self.allgather([o], [i]) for o, i in zip(output_lists, input_list)]
        return self._combine(works, output_lists)

    def all_gather_single(self, output, input, opts=None):
        (code, _), = self._validate(ALLGATHER, [input], "all_gather_into_tensor")
        r = self._real(input)
        ro = self._real(output)
        n, es, P = r.numel(), r.element_size(), self._size
        if ro.numel() != P * n:
            self._poison(ALLGATHER, InvalidArgumentError(
                f"rank {self._rank}: all_gather_into_tensor output has {ro.numel()} elements, expected "
                f"group size {P} × input {n} = {P * n}"))
        off = self._eng.alloc(P * n * es, "all_gather_into_tensor")
        in_off = off + self._rank * n * es
        self._view(in_off, n, r.dtype).view(r.shape).copy_(r)
        v_out = self._view(off, P * n, r.dtype).view(ro.shape)
        op = self._post(ALLGATHER, code, 0, 0, n, in_off, off, 0, (off,), lambda op: ro.copy_(v_out))
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

    # ---- scatters --------------------------------------------------------------------------
    def _scatter_like(self, coll, out, ins, redop_obj, what, root=0, have_inputs=True):
        (code, _), = self._validate(coll, [out], what)
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
            self._poison(coll, InvalidArgumentError(
                f"rank {self._rank}: {what}: input {self._rank} has {counts[self._rank]} elements but "
                f"the output has {ro.numel()}"))
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
                self._poison(coll, UnsupportedError(f"rank {self._rank}: {what} needs equal sizes"))
            coll = REDUCE_SCATTERV
            aux_off = off + _align(total * es)
            self._view(aux_off, P, torch.int64).copy_(torch.tensor(counts, dtype=torch.int64))
        out_off = off + sum(counts[:self._rank]) * es
        v_out = self._view(out_off, ro.numel(), ro.dtype).view(ro.shape)
        op = self._post(coll, code, redop, root, ro.numel(), off, out_off, aux_off, (off,),
                        lambda op: ro.copy_(v_out), scale)
        return self._work([op], [out])

    def reduce_scatter(self, output_tensors, input_lists, opts=None):
        op = opts.reduceOp if opts is not None else dist.ReduceOp.SUM
        return self._scatter_like(REDUCE_SCATTER, output_tensors[0], input_lists[0], op, "reduce_scatter")

    def reduce_scatter_single(self, output, input, opts=None):
        op = opts.reduceOp if opts is not None else dist.ReduceOp.SUM
        P = self._size
        ri = self._real(input)
        if ri.numel() != P * self._real(output).numel():
            self._poison(REDUCE_SCATTER, InvalidArgumentError(
                f"rank {self._rank}: reduce_scatter_tensor input has {ri.numel()} elements, expected group "
                f"size {P} × output {self._real(output).numel()}"))
        chunks = list(input.reshape(-1).chunk(P)) if input.is_contiguous() else list(
            input.contiguous().reshape(-1).chunk(P))
        return self._scatter_like(REDUCE_SCATTER, output, chunks, op, "reduce_scatter_tensor")

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

    # ---- all-to-all ------------------------------------------------------------------------
    def _alltoallv(self, outs_flat, ins_flat, send_counts, recv_counts, dtype, code, result, what,
                   epilogue=None):
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
                torch.tensor(send_counts + sd + recv_counts + rd, dtype=torch.int64))

        def fin(op):
            for t, v in places:
                t.copy_(v)
        op = self._post(coll, code, 0, 0, count, off, out_off, aux_off, (off,), fin)
        return self._work([op], result, epilogue)

    def alltoall(self, output_tensors, input_tensors, opts=None):
        codes = self._validate(ALLTOALL, list(output_tensors) + list(input_tensors), "all_to_all")
        ins = [self._real(t) for t in input_tensors]
        outs = [self._real(t) for t in output_tensors]
        return self._alltoallv(outs, ins, [t.numel() for t in ins], [t.numel() for t in outs],
                               ins[0].dtype, codes[0][0], output_tensors, "all_to_all")

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

    # ---- barrier, point to point -----------------------------------------------------------
    def barrier(self, opts=None):
        return self._work([self._post(BARRIER, 5, 0, 0, 0, 0, 0, 0, (), None)], [])

    def send(self, tensors, dst, tag=0):
        t = tensors[0]
        (code, _), = self._validate(SEND, [t], "send")
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

    def _recv(self, tensors, src, tag):
        t = tensors[0]
        (code, _), = self._validate(RECV, [t], "recv")
        r = self._real(t)
        n = r.numel()
        off = self._eng.alloc(n * r.element_size(), "recv")
        v = self._view(off, n, r.dtype)

        def fin(op):
            m = min(int(op.out_count), n) if op.out_count else n
            if m == n:
                r.copy_(v.view(r.shape))
            else:
                r.view(-1)[:m].copy_(v[:m]) if r.is_contiguous() else r.copy_(v.view(r.shape))
        return self._work([self._post(RECV, code, 0, src, n, off, off, 0, (off,), fin, tag=tag, p2p=True)],
                          tensors)

    def recv(self, tensors, src, tag=0):
        return self._recv(tensors, src, tag)

    def recv_anysource(self, tensors, tag=0):
        return self._recv(tensors, -1, tag)

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


def _job_id(store, rank: int) -> str:
    """The job id from the environment, else agreed through the torch store."""
    job = _env.job_id()
    if job != "default" or store is None:
        return job
    key = "onet/job_id"
    if rank == 0:
        store.set(key, f"t{uuid.uuid4().hex[:12]}")
    return store.get(key).decode()


def create(opts, backend_options=None) -> ProcessGroupOnet:
    group_id = int(opts.group_id or 0) if str(opts.group_id).isdigit() else abs(hash(opts.group_id)) % (1 << 31)
    return ProcessGroupOnet(opts.store, opts.group_rank, opts.group_size, opts.timeout, group_id,
                            list(opts.global_ranks_in_group))

