"""One rank of a test run: `python _worker.py SCENARIO BACKEND OUTDIR [ARGS...]`.

Scenarios run torch.distributed code under BACKEND ("opennetworks" or "gloo") and save a dict
of results to OUTDIR/rank<r>.pt. Errors inside a case are recorded, not raised.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.distributed as dist

import opennetworks.torch  # noqa: F401  (registers the backend)

R = dist.ReduceOp
FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
INTS = [torch.int8, torch.uint8, torch.int32, torch.int64]
DTYPES = FLOATS + INTS + [torch.bool]


def dname(dt) -> str:
    return str(dt).replace("torch.", "")


def data(shape, dtype, rank, salt=0, kind="int"):
    """Deterministic per-rank data; integer-valued floats keep sums and products exact."""
    g = torch.Generator().manual_seed(1000 * rank + salt)
    if dtype is torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    if kind == "rand" and dtype.is_floating_point:
        return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
    lo = 0 if dtype is torch.uint8 else -3
    return torch.randint(lo, 4, shape, generator=g).to(dtype)


def err(e: BaseException):
    return ("ERR", type(e).__name__, str(e)[:300])


# ---------------------------------------------------------------- the collectives catalogue
def catalogue(P: int, be: str):
    """(name, fn(rank) -> result) for every collective × dtype × op case at world size P."""
    cases = []

    def add(name):
        def deco(fn):
            cases.append((name, fn))
            return fn

        return deco

    ops = {
        "sum": R.SUM,
        "prod": R.PRODUCT,
        "min": R.MIN,
        "max": R.MAX,
        "avg": R.AVG,
        "band": R.BAND,
        "bor": R.BOR,
        "bxor": R.BXOR,
        "premul": None,
    }
    for dt in DTYPES:
        for oname, op in ops.items():
            if oname in ("avg", "premul") and (dt in INTS or dt is torch.bool):
                continue
            if oname in ("bor", "bxor") and dt is torch.bool:
                continue

            def f(rank, dt=dt, oname=oname, op=op):
                x = data((13,), dt, rank, 1)
                if oname == "premul":
                    if be == "gloo":
                        x = (x.double() * 0.5).to(dt)
                        dist.all_reduce(x, R.SUM)
                    else:
                        dist.all_reduce(x, dist._make_nccl_premul_sum(0.5))
                    return x
                dist.all_reduce(x, op)
                return x

            add(f"all_reduce-{dname(dt)}-{oname}")(f)
        for root in sorted({0, P - 1}):
            add(f"broadcast-{dname(dt)}-root{root}")(
                lambda rank, dt=dt, root=root: _bcast(data((5, 3), dt, rank, 2), root)
            )
        add(f"all_gather-{dname(dt)}")(lambda rank, dt=dt: _allgather(data((7,), dt, rank, 3), P))
        add(f"all_gather_into_tensor-{dname(dt)}")(lambda rank, dt=dt: _agit(data((2, 3), dt, rank, 4), P))
        for oname in ("sum", "max"):
            add(f"reduce_scatter-{dname(dt)}-{oname}")(
                lambda rank, dt=dt, oname=oname: _rs([data((6,), dt, rank, 5 + i) for i in range(P)], ops[oname])
            )
            add(f"reduce_scatter_tensor-{dname(dt)}-{oname}")(
                lambda rank, dt=dt, oname=oname: _rst(data((P * 4, 2), dt, rank, 6), P, ops[oname])
            )
            add(f"reduce-{dname(dt)}-{oname}")(
                lambda rank, dt=dt, oname=oname: _reduce(data((9,), dt, rank, 7), P - 1, ops[oname])
            )
        add(f"all_to_all_single-{dname(dt)}")(lambda rank, dt=dt: _a2as(data((P * 3, 2), dt, rank, 8)))
    add("all_reduce-f32-rand")(lambda rank: _ar(data((1000,), torch.float32, rank, 9, "rand")))
    add("all_reduce-bf16-rand")(lambda rank: _ar(data((1000,), torch.bfloat16, rank, 9, "rand")))
    add("all_reduce-large-f32")(lambda rank: _ar(data((70001,), torch.float32, rank, 10)))
    add("all_reduce-requires-grad")(lambda rank: _ar(data((4,), torch.float32, rank, 24).requires_grad_()).detach())
    add("broadcast-requires-grad")(
        lambda rank: _bcast(data((3,), torch.float64, rank, 25).requires_grad_(), 0).detach()
    )
    add("all_reduce-0dim")(lambda rank: _ar(torch.tensor(float(rank + 1))))
    add("all_reduce-empty")(lambda rank: _ar(torch.empty(0)))
    add("all_reduce-band-f32-error")(lambda rank: _ar(data((4,), torch.float32, rank), R.BAND))
    add("all_reduce-complex64")(
        lambda rank: _ar(torch.complex(data((5,), torch.float32, rank, 11), data((5,), torch.float32, rank, 12)))
    )
    # Non-contiguous tensors: gloo's own handling of them is not a reference (it mangles strided
    # views), so gloo computes on contiguous copies and writes back; opennetworks gets the views.
    nc = be != "gloo"
    add("all_reduce-noncontig-transposed")(
        lambda rank: _nc(data((4, 6), torch.float32, rank, 13), lambda b: b.t(), _ar, nc)
    )
    add("all_reduce-noncontig-strided")(lambda rank: _nc(data((20,), torch.int64, rank, 14), lambda b: b[::2], _ar, nc))
    add("broadcast-noncontig")(
        lambda rank: _nc(data((6, 4), torch.float64, rank, 15), lambda b: b[:, ::2], lambda v: _bcast(v, P - 1), nc)
    )
    add("all_gather_into_tensor-noncontig")(
        lambda rank: _agit(
            data((3, 2), torch.float32, rank, 16).t() if nc else data((3, 2), torch.float32, rank, 16).t().contiguous(),
            P,
        )
    )
    add("reduce_scatter_tensor-noncontig-out")(lambda rank: _rst_nc(data((P * 2, 3), torch.float32, rank, 17), P, nc))
    add("all_reduce_coalesced")(
        lambda rank: _arc(
            [
                data((3,), torch.float32, rank, 18),
                data((4,), torch.float32, rank, 19),
                data((2, 2), torch.float32, rank, 20),
            ]
        )
    )
    add("gather-f32")(lambda rank: _gather(data((4,), torch.float32, rank, 21), P, 0))
    add("gather-i64-last")(lambda rank: _gather(data((3,), torch.int64, rank, 22), P, P - 1))
    add("scatter-f32")(lambda rank: _scatter([data((4,), torch.float32, 99, 23 + i) for i in range(P)], 0))
    add("scatter-i32-last")(lambda rank: _scatter([data((2,), torch.int32, 99, 30 + i) for i in range(P)], P - 1))
    add("all_to_all_single-uneven")(lambda rank: _a2as_uneven(rank, P))
    add("all_to_all-list-uneven")(lambda rank: _a2a_list(rank, P, be))
    add("all_gather-uneven")(lambda rank: _allgather_uneven(rank, P, be))
    add("reduce_scatter-uneven")(lambda rank: _rs_uneven(rank, P, be))
    add("barrier")(lambda rank: (dist.barrier(), "ok")[1])
    add("all_gather_object")(lambda rank: _ago(rank, P))
    add("broadcast_object_list")(lambda rank: _bol(rank, P))
    add("gather_object")(lambda rank: _go(rank, P))
    add("scatter_object_list")(lambda rank: _sol(rank, P))
    add("async-all_reduce-many")(lambda rank: _async_many(rank))
    add("async-future-then")(lambda rank: _async_future(rank))
    add("async-broadcast-allgather")(lambda rank: _async_mixed(rank, P))
    add("coalescing_manager")(lambda rank: _coalescing(rank))
    add("functional-collectives")(lambda rank: _funcol(rank, P))
    if P >= 2:
        add("send_recv-ring")(lambda rank: _ring(rank, P))
        add("send-send-recv-recv")(lambda rank: _send_first(rank, be))
        add("send-many-before-recv")(lambda rank: _send_many(rank, be))
        add("isend_irecv-ring")(lambda rank: _iring(rank, P))
        add("batch_isend_irecv")(lambda rank: _batch(rank, P))
        add("recv-any-source")(lambda rank: _anysource(rank, P))
        add("subgroup-ends")(lambda rank: _subgroup(rank, sorted({0, P - 1})))
    if P >= 3:
        add("subgroup-tail")(lambda rank: _subgroup(rank, list(range(1, P))))
        add("subgroup-two-concurrent")(lambda rank: _subgroups_two(rank, P))
    return cases


def _ar(x, op=R.SUM):
    dist.all_reduce(x, op)
    return x


def _ar_slice(x):
    v = x[::2]
    dist.all_reduce(v)
    return x


def _bcast(x, root):
    dist.broadcast(x, root)
    return x


def _allgather(x, P):
    out = [torch.zeros_like(x) for _ in range(P)]
    dist.all_gather(out, x)
    return out


def _allgather_uneven(rank, P, be):
    """gloo needs equal sizes, so its reference is an object gather; ours uses allgatherv."""
    x = data((rank + 1,), torch.float32, rank, 45)
    if be == "gloo":
        out = [None] * P
        dist.all_gather_object(out, x)
        return out
    out = [torch.zeros(j + 1) for j in range(P)]
    dist.all_gather(out, x)
    return out


def _rs_uneven(rank, P, be):
    xs = [data((j + 1,), torch.int64, rank, 46 + j) for j in range(P)]
    if be == "gloo":  # reference: allreduce everything, keep this rank's block
        flat = torch.cat(xs)
        dist.all_reduce(flat)
        return flat[sum(range(1, rank + 1)) : sum(range(1, rank + 2))]
    out = torch.zeros(rank + 1, dtype=torch.int64)
    dist.reduce_scatter(out, xs)
    return out


def _agit(x, P):
    out = torch.zeros((P * x.shape[0], *x.shape[1:]), dtype=x.dtype)
    dist.all_gather_into_tensor(out, x)
    return out


def _rs(xs, op):
    out = torch.zeros_like(xs[0])
    dist.reduce_scatter(out, xs, op)
    return out


def _rst(x, P, op):
    out = torch.zeros((x.shape[0] // P, *x.shape[1:]), dtype=x.dtype)
    dist.reduce_scatter_tensor(out, x, op)
    return out


def _rst_nc(x, P, nc=True):
    big = torch.zeros((x.shape[1], x.shape[0] // P), dtype=x.dtype)
    out = big.t()
    if nc:
        dist.reduce_scatter_tensor(out, x)
    else:
        tmp = out.contiguous()
        dist.reduce_scatter_tensor(tmp, x)
        out.copy_(tmp)
    return big


def _nc(base, view_of, fn, nc):
    v = view_of(base)
    if nc:
        fn(v)
    else:
        tmp = v.contiguous()
        fn(tmp)
        v.copy_(tmp)
    return base


def _reduce(x, root, op):
    dist.reduce(x, root, op)
    return x if dist.get_rank() == root else "not-root"


def _a2as(x):
    out = torch.zeros_like(x)
    dist.all_to_all_single(out, x)
    return out


def _a2as_uneven(rank, P):
    ins = [(rank + j) % 3 + 1 for j in range(P)]  # rows rank sends to j
    outs = [(j + rank) % 3 + 1 for j in range(P)]  # rows j sends to rank
    x = data((sum(ins), 2), torch.float32, rank, 40)
    out = torch.zeros((sum(outs), 2))
    dist.all_to_all_single(out, x, outs, ins)
    return out


def _a2a_list(rank, P, be):
    ins = [data(((rank + j) % 2 + 1,), torch.int32, rank, 41 + j) for j in range(P)]
    outs = [torch.zeros((j + rank) % 2 + 1, dtype=torch.int32) for j in range(P)]
    if be == "gloo":  # gloo's all_to_all needs equal sizes: build the reference from a gather
        everything = [None] * P
        dist.all_gather_object(everything, ins)
        return [everything[j][rank] for j in range(P)]
    dist.all_to_all(outs, ins)
    return outs


def _arc(xs):
    dist.all_reduce_coalesced(xs)
    return xs


def _gather(x, P, root):
    out = [torch.zeros_like(x) for _ in range(P)] if dist.get_rank() == root else None
    dist.gather(x, out, dst=root)
    return out


def _scatter(xs, root):
    out = torch.zeros_like(xs[0])
    dist.scatter(out, xs if dist.get_rank() == root else None, src=root)
    return out


def _ago(rank, P):
    out = [None] * P
    dist.all_gather_object(out, {"rank": rank, "v": list(range(rank + 1))})
    return out


def _bol(rank, P):
    objs = [{"a": 1, "from": rank}, "x" * (rank + 3)] if rank == 0 else [None, None]
    dist.broadcast_object_list(objs, src=0)
    return objs


def _go(rank, P):
    out = [None] * P if rank == 0 else None
    dist.gather_object(("r", rank), out, dst=0)
    return out


def _sol(rank, P):
    out = [None]
    dist.scatter_object_list(out, [{"to": i} for i in range(P)] if rank == 0 else None, src=0)
    return out


def _async_many(rank):
    xs = [data((8,), torch.float32, rank, 50 + i) for i in range(5)]
    works = [dist.all_reduce(x, async_op=True) for x in xs]
    for w in reversed(works):
        w.wait()
    return xs


def _async_future(rank):
    x = data((6,), torch.float64, rank, 56)
    w = dist.all_reduce(x, async_op=True)
    fut = w.get_future().then(lambda f: f.value()[0] * 2)
    w.wait()
    return [fut.wait(), x]


def _async_mixed(rank, P):
    a = data((4,), torch.int64, rank, 57)
    b = data((3,), torch.float32, rank, 58)
    out = [torch.zeros_like(b) for _ in range(P)]
    w1 = dist.broadcast(a, 0, async_op=True)
    w2 = dist.all_gather(out, b, async_op=True)
    w2.wait()
    w1.wait()
    return [a, out]


def _coalescing(rank):
    xs = [data((5,), torch.float32, rank, 60 + i) for i in range(3)]
    with dist._coalescing_manager(async_ops=True) as cm:
        for x in xs:
            dist.all_reduce(x)
    cm.wait()
    return xs


def _funcol(rank, P):
    import torch.distributed._functional_collectives as fc

    g = dist.group.WORLD
    a = fc.all_reduce(data((4,), torch.float32, rank, 70), "sum", g)
    b = fc.all_gather_tensor(data((2, 2), torch.float32, rank, 71), 0, g)
    c = fc.reduce_scatter_tensor(data((P * 2,), torch.float32, rank, 72), "sum", 0, g)
    return [fc.wait_tensor(a).clone(), fc.wait_tensor(b).clone(), fc.wait_tensor(c).clone()]


def _ring(rank, P):
    x = data((5,), torch.float32, rank, 80)
    y = torch.zeros(5)
    if rank % 2 == 0:
        dist.send(x, (rank + 1) % P)
        dist.recv(y, (rank - 1) % P)
    else:
        dist.recv(y, (rank - 1) % P)
        dist.send(x, (rank + 1) % P)
    return y


def _send_first(rank, be):
    """Both ranks send before receiving: works because our sends are buffered. gloo's are not
    (this order deadlocks there), so its reference orders the calls."""
    if rank > 1:
        return "idle"
    x = data((6,), torch.float32, rank, 83)
    y = torch.zeros(6)
    if be == "gloo" and rank == 1:
        dist.recv(y, 0)
        dist.send(x, 0)
        return y
    dist.send(x, 1 - rank)
    dist.recv(y, 1 - rank)
    return y


def _send_many(rank, be):
    """More sends in flight than the arena has slots; the receiver drains them in order.
    (gloo blocks each send until its receive: the reference is the expected value.)"""
    if be == "gloo":
        return "sent" if rank == 0 else list(map(float, range(100))) if rank == 1 else "idle"
    if rank == 0:
        for i in range(100):
            dist.send(torch.full((3,), float(i)), 1, tag=7)
        return "sent"
    if rank == 1:
        got = []
        for _ in range(100):
            y = torch.zeros(3)
            dist.recv(y, 0, tag=7)
            got.append(y[0].item())
        return got
    return "idle"


def _iring(rank, P):
    x = data((4,), torch.int64, rank, 81)
    y = torch.zeros(4, dtype=torch.int64)
    ws = [dist.isend(x, (rank + 1) % P), dist.irecv(y, (rank - 1) % P)]
    for w in ws:
        w.wait()
    return y


def _batch(rank, P):
    x = data((3,), torch.float64, rank, 82)
    y = torch.zeros(3, dtype=torch.float64)
    ops = [dist.P2POp(dist.isend, x, (rank + 1) % P), dist.P2POp(dist.irecv, y, (rank - 1) % P)]
    for w in dist.batch_isend_irecv(ops):
        w.wait()
    return y


def _anysource(rank, P):
    if rank == 0:
        got = {}
        for _ in range(P - 1):
            y = torch.zeros(2)
            src = dist.recv(y)
            got[src] = y
        return [got[s] for s in sorted(got)]
    dist.send(torch.full((2,), float(rank)), 0)
    return "sent"


def _subgroup(rank, members):
    g = dist.new_group(members)
    if rank not in members:
        return "not-member"
    x = data((6,), torch.float32, rank, 90)
    dist.all_reduce(x, group=g)
    y = data((3,), torch.int64, rank, 91)
    dist.broadcast(y, members[-1], group=g)
    out = [torch.zeros(2) for _ in members]
    dist.all_gather(out, torch.full((2,), float(rank)), group=g)
    dist.barrier(group=g)
    return [x, y, out]


def _subgroups_two(rank, P):
    ga = dist.new_group([0, 1])
    gb = dist.new_group(list(range(1, P)))
    res = []
    x = torch.full((3,), float(rank + 1))
    if rank in (0, 1):
        wa = dist.all_reduce(x, group=ga, async_op=True)
    y = torch.full((2,), float(rank * 10))
    if rank >= 1:
        dist.all_reduce(y, group=gb)
    if rank in (0, 1):
        wa.wait()
    res += [x, y]
    dist.barrier()
    return res


# ---------------------------------------------------------------- training scenarios
def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)
    )


def _batch_data(rank, step):
    g = torch.Generator().manual_seed(100 * rank + step)
    return torch.randn(6, 8, generator=g), torch.randn(6, 4, generator=g)


class _WithUnused(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.unused = torch.nn.Linear(3, 3)

    def forward(self, x):
        return self.inner(x)


def scenario_ddp(rank, P, be, variant="plain"):
    """One DDP training run per variant; several variants ("plain,static") share one launch and
    give {variant: parameters}."""
    if "," in variant:
        return {v: scenario_ddp(rank, P, be, v) for v in variant.split(",")}
    from torch.nn.parallel import DistributedDataParallel as DDP

    model = _model()
    if variant == "unused":
        model = _WithUnused(model)
    kw = {
        "gradient_as_bucket_view": variant == "bucket_view",
        "find_unused_parameters": variant == "unused",
        "static_graph": variant == "static",
        "bucket_cap_mb": 0.001 if variant == "small_buckets" else 25,
    }
    ddp = DDP(model, **kw)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    for step in range(6):
        x, y = _batch_data(rank, step)
        if variant == "no_sync" and step % 2 == 0:
            with ddp.no_sync():
                torch.nn.functional.mse_loss(ddp(x), y).backward()
            continue
        opt.zero_grad(set_to_none=variant != "no_sync")
        loss = torch.nn.functional.mse_loss(ddp(x), y)
        loss.backward()
        opt.step()
    return {k: v.detach().clone() for k, v in ddp.module.state_dict().items()}


def scenario_fsdp(rank, P, be, variant="plain"):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (P,))
    model = _model()
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(4):
        x, y = _batch_data(rank, step)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return {k: v.full_tensor().detach().clone() for k, v in model.state_dict().items()}


def scenario_zero(rank, P, be, variant="plain"):
    from torch.distributed.optim import ZeroRedundancyOptimizer
    from torch.nn.parallel import DistributedDataParallel as DDP

    ddp = DDP(_model())
    opt = ZeroRedundancyOptimizer(ddp.parameters(), optimizer_class=torch.optim.Adam, lr=0.01)
    for step in range(4):
        x, y = _batch_data(rank, step)
        opt.zero_grad()
        torch.nn.functional.mse_loss(ddp(x), y).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in ddp.module.state_dict().items()}


# ---------------------------------------------------------------- bad input
def scenario_errors(rank, P, be, which):
    """Each returns the exception this rank saw (or 'no error')."""
    t0 = time.monotonic()
    try:
        if which == "shape":
            dist.all_reduce(torch.ones(4 + rank))
        elif which == "dtype":
            dist.all_reduce(torch.ones(4, dtype=torch.float32 if rank == 0 else torch.float64))
        elif which == "op":
            dist.all_reduce(torch.ones(4), R.SUM if rank == 0 else R.MAX)
        elif which == "collective":
            if rank == 0:
                dist.all_reduce(torch.ones(4))
            else:
                dist.broadcast(torch.ones(4), 0)
        elif which == "root":
            dist.broadcast(torch.ones(4), rank)
        elif which == "device":
            t = torch.ones(4, device="meta") if rank == 0 else torch.ones(4)
            dist.all_reduce(t)
        elif which == "band_float":
            dist.all_reduce(torch.ones(4), R.BAND)
        elif which == "missing":
            if rank == 0:
                dist.all_reduce(torch.ones(4))
            else:  # stay registered (alive, silent) past the timeout
                time.sleep(float(os.environ["ONET_TIMEOUT"]) + 3)
        elif which == "dead_coordinator":
            from opennetworks._comm import get_client

            pid = get_client().coord_pid
            dist.barrier()
            if rank == 0:
                os.kill(pid, 9)
            else:
                time.sleep(0.5)
            dist.all_reduce(torch.ones(4))
        result = "no error"
    except Exception as e:  # noqa: BLE001
        result = {
            "type": type(e).__name__,
            "mro": [c.__name__ for c in type(e).__mro__],
            "message": str(e),
            "ranks": list(getattr(e, "ranks", [])),
            "code": getattr(e, "code", None),
        }
    return {"result": result, "seconds": time.monotonic() - t0}


# ---------------------------------------------------------------- small end-to-end checks
def scenario_smoke(rank, P, be):
    t = torch.arange(5, dtype=torch.float32) * (rank + 1)
    dist.all_reduce(t)
    from opennetworks._comm import get_client

    return {"sum": t, "job": get_client().job if be == "opennetworks" else None}


def scenario_reinit(rank, P, be):
    """destroy_process_group and init again in the same processes, subgroups included."""
    # Each re-init rendezvouses through a fresh FileStore: with env:// a fast rank can reach rank
    # 0's old TCPStore server in the moment before rank 0 tears it down, which is a torch-level
    # race (gloo has it too), not what this scenario tests.
    files = Path(os.environ["ONET_RUN_DIR"]).parent

    def init(n):
        dist.init_process_group(be, init_method=f"file://{files}/reinit-store-{n}", rank=rank, world_size=P)

    out = []
    for round_ in range(2):
        if round_:
            init(round_)
        g = dist.new_group(list(range(P)))
        t = torch.full((3,), float(rank + round_))
        dist.all_reduce(t)
        u = torch.ones(2)
        dist.all_reduce(u, group=g)
        out.append([t, u])
        dist.destroy_process_group()
    init(2)  # main() destroys it at the end
    return out


_STRANGER = """
import json, sys, opennetworks as on
try:
    on.init(rank=0, world=int(sys.argv[1]))
    print("RESULT", json.dumps({"type": "admitted"}))
except on.OnetError as e:
    print("RESULT", json.dumps({"type": type(e).__name__, "code": e.code, "message": str(e)}))
"""


def _stranger(P, token):
    """A process of this uid and run dir that tries to join the running job as rank 0."""
    import json
    import subprocess

    from opennetworks._comm import get_client

    env = {k: v for k, v in os.environ.items() if k not in ("ONET_JOB_TOKEN", "RANK", "LOCAL_RANK")}
    env.update(ONET_AUTOSTART="0", ONET_CONNECT_TIMEOUT="10", ONET_JOB_ID=get_client().job)
    if token:
        env["ONET_JOB_TOKEN"] = token
    p = subprocess.run([sys.executable, "-c", _STRANGER, str(P)], env=env, capture_output=True, text=True, timeout=60)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    return json.loads(line[7:]) if line else {"type": "none", "message": (p.stdout + p.stderr)[-500:]}


def scenario_store_token(rank, P, be, reinit="0"):
    """The job token agreed through the torch store: who holds it, whether the coordinator demands
    it (its status), what a stranger without it gets; optionally across a re-init."""
    from opennetworks._comm import get_client

    g = dist.new_group(list(range(P)))
    t = torch.full((3,), float(rank))
    dist.all_reduce(t)
    u = torch.ones(2)
    dist.all_reduce(u, group=g)
    sec = get_client().ctl.request({"type": "status"}, 10, "status").get("security")
    out = {"sum": t, "sub": u, "token": os.environ.get("ONET_JOB_TOKEN"), "security": sec}
    if rank == 0:
        out["stranger"] = _stranger(P, None)
        out["wrong"] = _stranger(P, "0" * 64)
    dist.barrier()  # every rank stays registered until the strangers are done
    if reinit == "1":
        dist.destroy_process_group()
        files = Path(os.environ["ONET_RUN_DIR"]).parent
        dist.init_process_group(be, init_method=f"file://{files}/store-token-reinit", rank=rank, world_size=P)
        v = torch.ones(2)
        dist.all_reduce(v)
        out["reinit"] = {"sum": v, "token": os.environ.get("ONET_JOB_TOKEN")}
    return out


def scenario_arena(rank, P, be):
    """Run with a small ONET_ARENA_BYTES: big elementwise ops chunk, others name the setting."""
    big = torch.arange(3_000_001, dtype=torch.float32) % 7 + rank
    dist.all_reduce(big)
    b = torch.arange(2_000_000, dtype=torch.int64) * (rank + 1)
    dist.broadcast(b, P - 1)
    out = {
        "allreduce_ok": bool(torch.equal(big, (torch.arange(3_000_001, dtype=torch.float32) % 7) * P + sum(range(P)))),
        "broadcast_ok": bool(torch.equal(b, torch.arange(2_000_000, dtype=torch.int64) * P)),
    }
    try:
        o = torch.empty(P * 1_000_000)
        dist.all_gather_into_tensor(o, torch.ones(1_000_000))
        out["gather"] = "no error"
    except Exception as e:  # noqa: BLE001
        out["gather"] = (type(e).__name__, str(e))
    t = torch.ones(3)
    dist.all_reduce(t)  # still in step after the local error
    out["after"] = t
    return out


def scenario_numpy(rank, P, be):
    import numpy as np

    import opennetworks as on

    comm = on.init()
    x = np.arange(6, dtype=np.float32) + rank
    res = {
        "all_reduce": comm.all_reduce(x),
        "max": comm.all_reduce(x, op="max"),
        "broadcast": comm.broadcast(np.full(3, rank, np.int64), root=P - 1),
        "all_gather": comm.all_gather(np.full(2, rank, np.int32)),
        "reduce_scatter": comm.reduce_scatter(np.ones((P, 3), np.float64) * (rank + 1)),
        "all_to_all": comm.all_to_all(np.arange(P * 2, dtype=np.int64) + 100 * rank),
    }
    comm.barrier()
    if P > 1:
        if rank == 0:
            comm.send(np.full(4, 7.0, np.float32), 1)
        elif rank == 1:
            buf = np.zeros(4, np.float32)
            res["recv_src"] = comm.recv(buf, 0)
            res["recv"] = buf
    comm.barrier()
    return res


# ---------------------------------------------------------------- benchmark
def scenario_bench(rank, P, be, sizes="8,65536,1048576"):
    out = {}
    for nbytes in [int(s) for s in str(sizes).split(",")]:
        x = torch.ones(max(1, nbytes // 4))
        iters = 2000 if nbytes <= 1024 else max(10, int(2e8 // max(nbytes, 1) // 10))
        iters = min(iters, 2000)
        for _ in range(min(50, iters)):
            dist.all_reduce(x)
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(x)
        dt = (time.perf_counter() - t0) / iters
        out[nbytes] = {"us": dt * 1e6, "busbw_GBps": 2 * (P - 1) / P * x.numel() * 4 / dt / 1e9}
    return out


def scenario_ddp_bench(rank, P, be, width="1024", steps="10"):
    """Seconds per DDP training step of an MLP with 4 width×width layers."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    w = int(width)
    torch.manual_seed(0)
    ddp = DDP(torch.nn.Sequential(*[torch.nn.Linear(w, w) for _ in range(4)]))
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01)
    x = torch.randn(8, w)
    times = []
    for _step in range(int(steps) + 2):
        t0 = time.perf_counter()
        opt.zero_grad()
        ddp(x).square().mean().backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    times = sorted(times[2:])
    return {"median_step_s": times[len(times) // 2]}


def main():
    scenario, backend, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
    extra = sys.argv[4:]
    rank = int(os.environ["RANK"])
    P = int(os.environ["WORLD_SIZE"])
    init = os.environ.get("ONET_TEST_INIT", "env")
    if scenario == "numpy":
        res = scenario_numpy(rank, P, backend)
        torch.save(res, os.path.join(outdir, f"rank{rank}.pt"))
        os._exit(0)
    if init == "tcp":
        dist.init_process_group(
            backend, init_method=f"tcp://127.0.0.1:{os.environ['MASTER_PORT']}", rank=rank, world_size=P
        )
    elif init == "store":
        store = dist.TCPStore("127.0.0.1", int(os.environ["ONET_TEST_PORT"]), P, rank == 0)
        dist.init_process_group(backend, store=store, rank=rank, world_size=P)
    else:
        dist.init_process_group(backend)
    res: dict = {}
    if scenario == "colls":
        only = set(extra[0].split(",")) if extra else None
        for name, fn in catalogue(P, backend):
            if only and name not in only:
                continue
            try:
                res[name] = fn(rank)
            except Exception as e:  # noqa: BLE001
                res[name] = err(e)
                traceback.print_exc()
    else:
        fn = globals()[f"scenario_{scenario}"]
        res = fn(rank, P, backend, *extra)
    torch.save(res, os.path.join(outdir, f"rank{rank}.pt"))
    sys.stdout.flush()
    if scenario != "errors":
        dist.destroy_process_group()
    else:  # stay until the peers have their errors (at most 5 s): a rank that exits at once races its own
        # failure notice, and a peer then hears "rank 0 died" (also an error, but not the one the test checks)
        end = time.monotonic() + 5
        while time.monotonic() < end and not all(os.path.exists(os.path.join(outdir, f"rank{r}.pt")) for r in range(P)):
            time.sleep(0.02)
    os._exit(0)


if __name__ == "__main__":
    main()
