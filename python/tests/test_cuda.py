"""CUDA tensors: staging through pinned memory (opennetworks.torch._cuda) and DDP on a GPU.

Groups:
  - argument checks and chunk planning: run everywhere (no GPU needed);
  - staging on a real GPU (single process): skipped with reason "no CUDA device" when
    torch.cuda.is_available() is False;
  - the process group's routing (_cuda.CudaPath): CPU calls pass through untouched, other
    devices are checked before the host path sees them: run everywhere;
  - 2-rank DDP with both ranks on GPU 0 against the same training on the CPU (and against gloo
    on the GPU), through CudaPath: needs a GPU and the coordinator (not yet run on one).
"""

from __future__ import annotations

import threading

import pytest
import torch

import _harness
from _compare import diff
from opennetworks._errors import InvalidArgumentError, UnsupportedError
from opennetworks.torch import _cuda

HAVE_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAVE_CUDA, reason="no CUDA device")
COUNTS = [0, 1, 4097, 1 << 20]
DTYPES = [
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int8,
    torch.uint8,
    torch.int32,
    torch.int64,
    torch.bool,
    torch.complex64,
    torch.complex128,
]


# ------------------------------------------------------------------ everywhere (no GPU needed)
@pytest.mark.parametrize("numel", COUNTS)
@pytest.mark.parametrize("es,chunk", [(4, None), (2, 4096), (8, 1000), (1, 3), (4, -1)])
def test_plan_chunks_cover_in_order(numel, es, chunk):
    chunks = _cuda.plan_chunks(numel, es, chunk)
    assert chunks == _cuda.plan_chunks(numel, es, chunk), "planning must be deterministic across ranks"
    pos = 0
    for a, b in chunks:
        assert a == pos and b > a, f"chunks {chunks[:4]}... are not contiguous and non-empty"
        if chunk is not None and chunk > 0:
            assert (b - a) * es <= max(chunk, es), f"chunk of {(b - a) * es} bytes exceeds {chunk}"
        pos = b
    assert pos == numel
    if chunk == -1 and numel:
        assert len(chunks) == 1


def test_check_device_cpu_tensor_among_gpu_tensors():
    with pytest.raises(InvalidArgumentError, match=r"rank 3: allreduce got a tensor on cpu .*cuda:0"):
        _cuda.check_device(torch.ones(4), "cuda:0", "allreduce", rank=3)


def test_check_device_other_device_type():
    with pytest.raises(UnsupportedError, match=r"tensor on meta.*CPU and CUDA tensors only"):
        _cuda.check_device(torch.ones(4, device="meta"), torch.device("cuda", 1), "broadcast")


def test_check_device_group_not_cuda():
    with pytest.raises(InvalidArgumentError, match=r"group device cpu is not a CUDA device"):
        _cuda.check_device(torch.ones(4), "cpu", "allreduce")


def test_check_device_not_a_tensor():
    with pytest.raises(InvalidArgumentError, match=r"expects tensors, got list"):
        _cuda.check_device([1, 2], "cuda:0", "allreduce")


def test_stage_in_refuses_cpu_tensor():
    with pytest.raises(InvalidArgumentError, match=r"stage_in takes a CUDA tensor, got one on cpu"):
        _cuda.stage_in(torch.ones(3))


@pytest.mark.skipif(HAVE_CUDA, reason="checks the message for machines without a GPU")
def test_pick_device_without_gpu_says_so():
    with pytest.raises(UnsupportedError, match=r"local rank 2: torch sees no CUDA device"):
        _cuda.pick_device(2)


# ------------------------------------------------------------------ the process group's routing (no GPU needed)
class _HostFamilies:
    """Stands in for the host collective families behind CudaPath; records what reached it."""

    def __init__(self):
        self.calls = []

    def allreduce(self, tensors, opts=None):
        self.calls.append(("allreduce", tensors, opts))
        return "host-work"

    def send(self, tensors, dst, tag=0):
        self.calls.append(("send", tensors, dst))
        return "host-work"


class _Group(_cuda.CudaPath, _HostFamilies):
    _rank = 3


def test_cuda_path_leaves_cpu_calls_alone():
    g = _Group()
    x = [torch.ones(4)]
    assert g.allreduce(x, "opts") == "host-work" and g.send(x, 1) == "host-work"
    assert g.calls == [("allreduce", x, "opts"), ("send", x, 1)], "CPU tensors must reach the host path unchanged"


def test_cuda_path_leaves_other_devices_to_the_host_path():
    # A meta tensor is refused by the host path, which tells the other ranks (test_errors.py "device");
    # refusing it here, on this rank alone, would leave them waiting for a collective never posted.
    g = _Group()
    m = [torch.ones(4, device="meta")]
    assert g.allreduce(m) == "host-work" and g.send(m, 1) == "host-work"
    assert [c[0] for c in g.calls] == ["allreduce", "send"]


def test_cuda_path_covers_every_collective_of_the_process_group():
    from opennetworks.torch._process_group import ProcessGroupOnet

    assert ProcessGroupOnet.__mro__[1] is _cuda.CudaPath, "CudaPath must come first to see CUDA tensors"
    for name in _cuda._ROUTED + _cuda._P2P:
        assert _cuda._host_impl(ProcessGroupOnet, name) is not None, f"no host implementation of {name}"


# ------------------------------------------------------------------ staging on a GPU
def _data(dtype, n, seed=0, device="cuda"):
    g = torch.Generator().manual_seed(seed)
    if dtype is torch.bool:
        t = torch.randint(0, 2, (n,), generator=g).bool()
    elif dtype.is_complex:
        t = torch.complex(torch.randn(n, generator=g), torch.randn(n, generator=g)).to(dtype)
    else:
        t = torch.randint(0 if dtype is torch.uint8 else -50, 50, (n,), generator=g).to(dtype)
    return t.to(device)


def _twice(h):  # the "collective": something every dtype supports, in place on the host chunk
    if h.dtype is torch.bool:
        h.logical_not_()
    else:
        h.add_(h)


def _expected(x):
    return x.logical_not() if x.dtype is torch.bool else x + x


@needs_cuda
@pytest.mark.parametrize("numel", COUNTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_run_staged_round_trip(dtype, numel):
    x = _data(dtype, numel, 1)
    want = _expected(x.cpu())
    calls = []

    def coll(h):
        assert h.device.type == "cpu" and h.is_pinned() and h.dtype is dtype
        calls.append(h.numel())
        _twice(h)

    done = _cuda.run_staged(x, coll, chunk_bytes=64 << 10)
    done.synchronize()
    assert torch.equal(x.cpu(), want)
    assert calls == [b - a for a, b in _cuda.plan_chunks(numel, x.element_size(), 64 << 10)]


@needs_cuda
def test_user_stream_order_is_kept():
    """Producer kernels queued before the call are read; consumers queued after see the result,
    with no synchronisation by the caller."""
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        x = torch.empty(1 << 20, device="cuda")
        torch.cuda._sleep(50_000_000)  # ~tens of ms of GPU time before the fill runs
        x.fill_(3.0)
        _cuda.run_staged(x, _twice, chunk_bytes=1 << 18)
        y = x * 1  # queued on s after the call
    s.synchronize()
    assert torch.equal(y, torch.full_like(y, 6.0))


@needs_cuda
def test_async_handles_overlap_and_order():
    events = []

    class Handle:
        def __init__(self, i, h):
            self.i, self.h = i, h

        def wait(self):
            events.append(("wait", self.i))
            _twice(self.h)

    counter = iter(range(1000))

    def coll(h):
        i = next(counter)
        events.append(("post", i))
        return Handle(i, h)

    x = _data(torch.float32, 10_000, 2)
    want = _expected(x.cpu())
    _cuda.run_staged(x, coll, chunk_bytes=4000).synchronize()
    assert torch.equal(x.cpu(), want)
    n = len(_cuda.plan_chunks(10_000, 4, 4000))
    assert events[:3] == [("post", 0), ("post", 1), ("wait", 0)], events
    assert [e for e in events if e[0] == "wait"] == [("wait", i) for i in range(n)]


@needs_cuda
def test_copy_in_false_and_copy_out_false():
    x = torch.arange(100, dtype=torch.int64, device="cuda")
    _cuda.run_staged(x, lambda h: h.fill_(7), copy_in=False).synchronize()  # a broadcast's receiver
    assert torch.equal(x.cpu(), torch.full((100,), 7, dtype=torch.int64))
    seen = []
    y = torch.arange(100, dtype=torch.int64, device="cuda")
    _cuda.run_staged(y, lambda h: (seen.append(h.clone()), h.fill_(9)), copy_out=False).synchronize()
    assert torch.equal(y.cpu(), torch.arange(100)), "copy_out=False must leave the tensor alone"
    assert torch.equal(seen[0], torch.arange(100)), "the host chunk must hold the tensor's data"


@needs_cuda
def test_noncontiguous_and_requires_grad():
    base = _data(torch.float32, 24 * 10, 3).view(24, 10)
    view = base.t()[:, ::2]  # 10 x 12, strided
    untouched = base.t()[:, 1::2].clone()
    want = _expected(view.cpu())
    _cuda.run_staged(view, _twice, chunk_bytes=16).synchronize()
    assert torch.equal(view.cpu(), want)
    assert torch.equal(base.t()[:, 1::2], untouched), "elements outside the view were written"
    p = torch.ones(5, device="cuda", requires_grad=True)
    _cuda.run_staged(p, _twice).synchronize()
    assert torch.equal(p.detach().cpu(), torch.full((5,), 2.0)) and p.requires_grad


@needs_cuda
def test_failed_collective_leaves_tensor_and_raises():
    x = torch.arange(10.0, device="cuda")

    def boom(h):
        raise RuntimeError("peer died")

    with pytest.raises(RuntimeError, match="peer died"):
        _cuda.run_staged(x, boom)
    torch.cuda.synchronize()
    assert torch.equal(x.cpu(), torch.arange(10.0))
    calls = []

    def second_fails(h):  # chunk 0 finishes and is copied back; chunk 1 fails
        calls.append(h.numel())
        if len(calls) == 2:
            raise RuntimeError("timeout on chunk 1")
        _twice(h)

    y = torch.arange(10.0, device="cuda")
    with pytest.raises(RuntimeError, match="chunk 1"):
        _cuda.run_staged(y, second_fails, chunk_bytes=16)
    torch.cuda.synchronize()
    assert torch.equal(y.cpu(), torch.cat([torch.arange(4.0) * 2, torch.arange(4.0, 10.0)]))


@needs_cuda
def test_pinned_buffers_are_reused():
    x = torch.ones(1 << 16, device="cuda")
    _cuda.run_staged(x, _twice).synchronize()
    before = _cuda._POOL.allocated
    for _ in range(5):
        _cuda.run_staged(x, _twice).synchronize()
    assert _cuda._POOL.allocated == before
    assert torch.equal(x.cpu(), torch.full((1 << 16,), 64.0))


@needs_cuda
def test_staging_from_threads():
    """Two ranks' worth of staging in one process at once (several ranks per GPU)."""
    xs = [_data(torch.float32, 300_000, 10 + i) for i in range(2)]
    want = [_expected(x.cpu()) for x in xs]
    errs = []

    def run(x):
        try:
            _cuda.run_staged(x, _twice, chunk_bytes=1 << 18).synchronize()
        except Exception as e:  # noqa: BLE001
            errs.append(e)

    ts = [threading.Thread(target=run, args=(x,)) for x in xs]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errs
    assert all(torch.equal(x.cpu(), w) for x, w in zip(xs, want))


@needs_cuda
def test_check_device_other_gpu_index():
    x = torch.ones(3, device="cuda:0")
    with pytest.raises(InvalidArgumentError, match=r"tensor on cuda:0 but this process group is bound to cuda:1"):
        _cuda.check_device(x, "cuda:1", "allreduce")
    _cuda.check_device(x, 0, "allreduce")  # an index means cuda:<index>


@needs_cuda
def test_check_device_unsupported_dtype_on_gpu():
    x = torch.empty(3, dtype=torch.uint16, device="cuda")
    with pytest.raises(UnsupportedError, match=r"dtype torch.uint16 is not supported on GPU.*float32"):
        _cuda.check_device(x, "cuda:0", "allreduce")


# ------------------------------------------------------------------ DDP, 2 ranks on one GPU
@needs_cuda
@pytest.mark.needs_coordinator
def test_ddp_two_ranks_one_gpu_matches_cpu(monkeypatch):
    """Both ranks on GPU 0 train the model test_training.py trains on the CPU. GPU and CPU
    matmuls round differently, so parameters agree to _compare's tolerance (1e-5 relative,
    TF32 off) with the CPU run; against gloo on the same GPU they must be bit-identical (two
    ranks: a sum of two has one order)."""
    monkeypatch.setattr(_harness, "WORKER", _harness.HERE / "_cuda_worker.py")

    def train(backend, device):
        run = _harness.run_ranks(2, "ddp_device", backend, args=(device,), env={"ONET_TIMEOUT": "60"})
        if any(r is None for r in run.results):
            pytest.fail(f"{backend} DDP on {device} failed:\n{run.describe()}")
        return run.results

    gpu = train("opennetworks", "cuda")
    cpu = train("opennetworks", "cpu")
    ref = train("gloo", "cuda")
    for rank in range(2):
        d = diff(gpu[rank], cpu[rank], exact=False)
        assert d is None, f"rank {rank}: DDP on the GPU ended away from DDP on the CPU: {d}"
        d = diff(gpu[rank], ref[rank])
        assert d is None, f"rank {rank}: DDP on the GPU differs from gloo on the GPU: {d}"
    assert diff(gpu[0], gpu[1]) is None, "ranks ended with different parameters"
