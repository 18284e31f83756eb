"""One rank of the gloo-parity run: `python _parity_worker.py BACKEND`; saves {case: result} to
$ONET_OUT/rank<r>.pt. The cases are calls a gloo user makes (the kinds torch's own
distributed_test.py exercises); an exception is recorded as ("ERR", type name, message)."""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist

import opennetworks.torch  # noqa: F401  (registers the backend)

be = sys.argv[1]
dist.init_process_group(be)
rank, P = dist.get_rank(), dist.get_world_size()
CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def sparse(r, n=4, dense=()):
    g = torch.Generator().manual_seed(7 + r)
    nnz = r + 1 if n else 0
    idx = torch.randint(0, n or 1, (2, nnz), generator=g)
    val = torch.randint(-3, 4, (nnz, *dense), generator=g).double()
    return torch.sparse_coo_tensor(idx, val, (n or 1, 6, *dense))


def sp_out(t):
    return (t.is_coalesced(), t._indices().clone(), t._values().clone(), tuple(t.shape))


@case
def sparse_all_reduce():
    t = sparse(rank)
    dist.all_reduce(t)
    return sp_out(t)


@case
def sparse_all_reduce_dense_dims():
    t = sparse(rank, dense=(3,))
    dist.all_reduce(t)
    return sp_out(t)


@case
def sparse_all_reduce_empty_on_rank0():
    t = sparse(rank, n=0 if rank == 0 else 1)
    t = (
        torch.sparse_coo_tensor(t._indices(), t._values(), (1, 6))
        if rank
        else torch.sparse_coo_tensor(
            torch.zeros((2, 0), dtype=torch.int64), torch.zeros(0, dtype=torch.float64), (1, 6)
        )
    )
    dist.all_reduce(t)
    return sp_out(t)


@case
def sparse_all_reduce_async_future():
    t = sparse(rank)
    fut = dist.all_reduce(t, async_op=True).get_future()
    return sp_out(fut.wait()[0])


@case
def ddp_sparse_embedding():
    torch.manual_seed(0)
    emb = torch.nn.EmbeddingBag(10, 4, sparse=True, mode="sum")
    model = torch.nn.parallel.DistributedDataParallel(emb)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(3):
        g = torch.Generator().manual_seed(100 * rank + step)
        x = torch.randint(0, 10, (5, 3), generator=g)
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    return emb.weight.detach().clone()


@case
def all_gather_coalesced():
    ins = [torch.full((2, 2), float(rank)), torch.tensor([rank * 10.0, 1.0])]
    outs = [[torch.zeros(2, 2), torch.zeros(2)] for _ in range(P)]
    dist.all_gather_coalesced(outs, ins)
    return outs


@case
def all_reduce_coalesced():
    ts = [torch.full((3,), float(rank + 1)), torch.arange(4.0) * rank]
    dist.all_reduce_coalesced(ts)
    return ts


@case
def all_reduce_complex():
    t = torch.tensor([1 + 2j, rank - 1j], dtype=torch.complex64)
    dist.all_reduce(t)
    return t


@case
def all_reduce_ops():
    out = []
    for op in (dist.ReduceOp.SUM, dist.ReduceOp.PRODUCT, dist.ReduceOp.MIN, dist.ReduceOp.MAX):
        t = torch.tensor([rank + 1, 3 - rank, 2], dtype=torch.int64)
        dist.all_reduce(t, op=op)
        out.append(t)
    for op in (dist.ReduceOp.BAND, dist.ReduceOp.BOR, dist.ReduceOp.BXOR):
        t = torch.tensor([rank + 1, 6, 5 * rank], dtype=torch.int32)
        dist.all_reduce(t, op=op)
        out.append(t)
    return out


@case
def all_gather_uneven():
    outs = [torch.zeros(r + 1) for r in range(P)]
    dist.all_gather(outs, torch.full((rank + 1,), float(rank)))
    return outs


@case
def gather_scatter_reduce():
    t = torch.tensor([float(rank)])
    gl = [torch.zeros(1) for _ in range(P)] if rank == 1 else None
    dist.gather(t, gl, dst=1)
    s = torch.zeros(2)
    dist.scatter(s, [torch.full((2,), float(i)) for i in range(P)] if rank == 0 else None, src=0)
    m = torch.tensor([float(rank), -float(rank)])
    dist.reduce(m, dst=2 % P, op=dist.ReduceOp.MAX)
    return [gl, s, m if rank == 2 % P else None]


@case
def reduce_scatter_and_alltoall():
    out = torch.zeros(2)
    dist.reduce_scatter(out, [torch.full((2,), float(rank * P + i)) for i in range(P)])
    a = torch.zeros(P)
    dist.all_to_all_single(a, torch.arange(P, dtype=torch.float32) + 10 * rank)
    lst = [torch.zeros(1) for _ in range(P)]
    dist.all_to_all(lst, [torch.tensor([float(rank * 100 + i)]) for i in range(P)])
    return [out, a, lst]


@case
def tensor_collectives():
    o = torch.zeros(P * 2)
    dist.all_gather_into_tensor(o, torch.full((2,), float(rank)))
    rs = torch.zeros(2)
    dist.reduce_scatter_tensor(rs, torch.arange(P * 2, dtype=torch.float32) * (rank + 1))
    return [o, rs]


@case
def objects():
    objs = [None] * P
    dist.all_gather_object(objs, {"rank": rank, "s": "x" * rank})
    bl = [{"a": 1}, [1, 2]] if rank == 0 else [None, None]
    dist.broadcast_object_list(bl, src=0)
    go = [None] * P if rank == 0 else None
    dist.gather_object(("g", rank), go, dst=0)
    so = [None]
    dist.scatter_object_list(so, [f"to {i}" for i in range(P)] if rank == 0 else None, src=0)
    return [objs, bl, go, so]


@case
def p2p_batch():
    send = torch.full((3,), float(rank))
    recv = torch.zeros(3)
    ops = [dist.P2POp(dist.isend, send, (rank + 1) % P), dist.P2POp(dist.irecv, recv, (rank - 1) % P)]
    for w in dist.batch_isend_irecv(ops):
        w.wait()
    return recv


@case
def p2p_any_source():
    if rank == 0:
        got = []
        for _ in range(P - 1):
            t = torch.zeros(1)
            src = dist.recv(t)
            got.append((src, t.item()))
        return sorted(got)
    dist.send(torch.tensor([float(rank)]), 0)
    return None


@case
def subgroup():
    g = dist.new_group([0, 2 % P])
    if rank not in (0, 2 % P):
        return None
    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t, group=g)
    dist.barrier(group=g)
    return t


@case
def barrier_and_broadcast_dtypes():
    dist.barrier()
    out = []
    for dt in (torch.float16, torch.bfloat16, torch.int8, torch.bool, torch.float64):
        t = (torch.arange(5) * (rank + 1)).to(dt)
        dist.broadcast(t, src=P - 1)
        out.append(t)
    return out


@case
def monitored_barrier():
    dist.monitored_barrier()
    return True


results = {}
for name, fn in CASES.items():
    try:
        results[name] = fn()
    except Exception as e:  # noqa: BLE001 - recorded and compared
        results[name] = ("ERR", type(e).__name__, str(e)[:300])
        dist.barrier()  # keep the ranks in step for the next case
torch.save(results, f"{os.environ['ONET_OUT']}/rank{rank}.pt")
dist.destroy_process_group()
