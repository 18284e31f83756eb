"""ProcessGroupOnet: the torch.distributed ProcessGroup over the OpenNetworks coordinator.

Every collective stages its inputs into this rank's shared-memory arena, posts one request per
protocol collective, and returns a Work whose wait() copies results into the user's tensors.
"""

from __future__ import annotations

import datetime
import os
import threading
import uuid
import zlib

import torch.distributed as dist

from .. import _cma, _env
from .._comm import get_client
from .._errors import OnetError
from .._fastlane_torch import FastLaneTorch
from .._layout import ALIGN
from . import _store_token
from ._alltoall import AllToAll
from ._coalescing import Coalescing
from ._common import _DEFAULT_PG_TIMEOUT
from ._cuda import CudaPath
from ._elementwise import Elementwise
from ._gathers import Gathers
from ._p2p import PointToPoint
from ._scatters import Scatters
from ._shrink import Shrinking
from ._sparse import SparseAllreduce
from ._staging import Staging


class ProcessGroupOnet(
    CudaPath,  # first: CUDA tensors are staged to host memory before anything else sees them
    FastLaneTorch,
    SparseAllreduce,
    Elementwise,
    Gathers,
    Scatters,
    AllToAll,
    PointToPoint,
    Coalescing,
    Staging,
    Shrinking,
    dist.ProcessGroup,
):
    """The mixins hold the collectives by family (CudaPath first: it sends CUDA tensors through pinned host
    memory to the others); this class holds identity and state."""

    def __init__(
        self, store, rank: int, size: int, timeout: datetime.timedelta, group_id: int, global_ranks: list[int]
    ):
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
            # Without ONET_JOB_TOKEN, rank 0 shares a fresh one through the store (protocol §8).
            _store_token.ensure(store, rank, size, job)
        else:
            world = None
            job = None
        try:
            try:
                self._client = get_client(global_rank, world, job, framework="torch", timeout_s=t)
            except OnetError as e:
                # An earlier job with this job id (same MASTER_ADDR:MASTER_PORT) may hold another
                # store token while its coordinator winds down (~1 s): wait for it once, then retry.
                if not _store_token.outwait_previous(e, job or _env.job_id()):
                    raise
                self._client = get_client(global_rank, world, job, framework="torch", timeout_s=t)
        except OnetError as e:
            raise _store_token.explain_refusal(e, job or _env.job_id()) from None
        self._eng = self._client.engine
        self._arena = self._client.arena
        self._data = self._arena.data_torch()
        self._base = self._data.data_ptr()
        self._data_bytes = self._arena.data_bytes
        self._views: dict = {}
        self._coalescing: list | None = None
        # Compression of this group's allreduces (docs/compression.md): (codec code, ef key) or None for
        # ONET_COMPRESSION's; a call's own choice (opennetworks.torch.compression) is per thread.
        self._zgroup: tuple[int, int] | None = None
        self._zlocal = threading.local()
        if group_id != 0:
            self._client.define_group(group_id, self._global_ranks, t)
        # Large elementwise collectives go in pipelined chunks: copy-in of chunk k+1 overlaps the
        # coordinator's reduction of chunk k, and chunks stay cache-resident between the steps.
        # Measured once, notes not kept (re-measure: onet bench --framework torch): 2 MiB pieces, waiting
        # two back, cut a 16-64 MiB allreduce by ~20% at n=2 on 2 cores (outputs are copied out while still in
        # cache); with more ranks than cores the waits cost context switches, so one post stays the default.
        crowded = self._client.info.local_world > (os.cpu_count() or 1)
        pipe = _env.bytes_setting("ONET_PIPELINE_BYTES", (64 << 20) if crowded else (2 << 20))
        self._chunk_bytes = max(ALIGN, (min(pipe, self._arena.data_bytes // 4)) & ~(ALIGN - 1))
        self._pipeline_depth = max(0, int(_env.float_setting("ONET_PIPELINE_DEPTH", 2)))
        # Ordinary tensors from this size on go by single copy (python/opennetworks/_cma.py); 0: never.
        self._cma_min = _cma.min_bytes(self._client)

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
        if not self._client.closed and self._eng.dead_reason is None and self._aborted is None:
            self._flush_sends()


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
    # Hashed group names (new_group(use_local_synchronization=True)) must map to the same id in
    # every process: str hash() is salted per process, crc32 is not.
    group_id = (
        int(opts.group_id or 0)
        if str(opts.group_id).isdigit()
        else (zlib.crc32(str(opts.group_id).encode()) & 0x7FFFFFFF) or 1
    )
    ranks = list(opts.global_ranks_in_group)
    # After shrink_group on the default group torch numbers ranks 0..n-1 again and names new groups
    # "0", "1", … again; the coordinator still knows the ranks by their first numbers (the default
    # group's members), and ids must not clash with the world's or with groups from before the shrink.
    default = dist.distributed_c10d._world.default_pg
    default = getattr(default, "py", default)  # a compiled group (ONET_TORCH_IMPL, _compiled.py) owns it
    if isinstance(default, ProcessGroupOnet) and default._gid != 0:  # ([] names the whole world)
        ranks = [default._global_ranks[r] for r in ranks] if ranks else list(default._global_ranks)
        group_id = (zlib.crc32(f"{default._gid}/{opts.group_id}".encode()) & 0x3FFFFFFF) or 1
    if _env.value("ONET_TORCH_IMPL") != "python":
        from . import _compiled

        if _compiled.implementation() == "compiled":
            args = (opts.store, opts.group_rank, opts.group_size, opts.timeout, group_id, ranks)
            return _compiled.wrap(_compiled.GatedProcessGroupOnet(*args))
    return ProcessGroupOnet(opts.store, opts.group_rank, opts.group_size, opts.timeout, group_id, ranks)
