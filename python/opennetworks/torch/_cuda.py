"""CUDA tensors through the host collectives: staging via pinned memory, overlapped in chunks.

Until the coordinator reduces GPU memory itself (docs/gpu.md), a CUDA tensor takes the host
path: copy to pinned host memory, run the ordinary host collective, copy back. The three steps
overlap chunk by chunk::

    side stream   wait(user stream) → D2H c0 → D2H c1 → D2H c2 …        H2D c0 → H2D c1 …
    this thread               wait c0 → collective(c0) → wait c1 → collective(c1) …
    user stream   …continues; waits on the event recorded after the last H2D

so the device-to-host copy of chunk i+1 and the host-to-device copy of chunk i-1 run while the
collective works on chunk i. Nothing here blocks the user's stream: kernels queued before the
call finish before the first copy reads the tensor (the side stream waits on the user's), and
kernels queued after it run after the result is back (the user's stream waits on ``done``).

ProcessGroupOnet routes CUDA tensors here through the ``CudaPath`` mixin (first in its bases):
allreduce goes chunk by chunk as drawn above; every other collective stages its CUDA tensors
whole, runs the host collective on the pinned copies and copies them back. The returned Work is
complete, and the user's stream waits on the copies back. Point-to-point (send/recv) of CUDA
tensors is refused with a clear error: a blocking copy there could deadlock a send/recv pair.
The building blocks, for one tensor::

    check_device(t, self._cuda_device(), "allreduce")
    st = stage_in(t)                                         # starts the D2H copies
    done = stage_out(st, lambda host: cpu_allreduce([host], opts))   # returns an event

``collective(host_chunk)`` gets a 1-D pinned CPU tensor of the tensor's dtype and works on it in
place; it may return None (finished) or a handle with ``wait()`` (a torch Work), which lets the
next chunk's collective be posted before the previous one is waited for. Every rank must stage
the same element count with the same ``chunk_bytes``, so that their chunks line up.

One file per part, re-exported here: ``_cuda_checks`` (device, dtype and layout checks; a local
rank's GPU), ``_cuda_pool`` (pinned buffers, side streams), ``_cuda_staging`` (chunk planning,
stage_in, stage_out, run_staged), ``_cuda_path`` (the CudaPath mixin and the routing to it).
"""

from . import _cuda_path, _cuda_pool
from ._cuda_checks import check_device, pick_device
from ._cuda_path import CudaPath
from ._cuda_pool import POOL_KEEP_BYTES as POOL_KEEP_BYTES
from ._cuda_staging import DEFAULT_CHUNK_BYTES, Staged, plan_chunks, run_staged, stage_in, stage_out

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "CudaPath",
    "Staged",
    "check_device",
    "pick_device",
    "plan_chunks",
    "run_staged",
    "stage_in",
    "stage_out",
]

# What test_cuda.py inspects through this module: the routing tables, the host-method lookup, the pool.
# The same objects as in their own modules: to replace one (monkeypatch), patch it there.
_ROUTED, _P2P, _host_impl = _cuda_path._ROUTED, _cuda_path._P2P, _cuda_path._host_impl
_POOL = _cuda_pool.POOL
