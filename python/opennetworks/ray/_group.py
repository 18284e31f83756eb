"""OnetGroup: a ``ray.util.collective`` group whose collectives run on OpenNetworks.

Each group is its own OpenNetworks job (one Client per group, not the process-wide one), so an
actor can belong to several groups and also run ``torch.distributed`` over opennetworks. The
collectives take Ray's list-wrapped arguments and write results into the caller's tensors, as
Ray's gloo group does; `reduce` leaves non-root tensors alone and `reducescatter` its inputs.
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np
from ray.util.collective.collective_group.base_collective_group import BaseGroup

from .._comm import Client, Communicator
from .._errors import InvalidArgumentError
from .._gen.enums import TORCH_REDOPS
from . import _rendezvous
from ._tensors import to_numpy, write

BACKEND = "OPENNETWORKS"  # Ray upper-cases backend names: backend="opennetworks" finds this
_env_lock = threading.Lock()


@contextlib.contextmanager
def _bootstrap_env(bootstrap: str):
    """ONET_BOOTSTRAP for the coordinator this rank may start (it inherits the environment)."""
    if not bootstrap:
        yield
        return
    with _env_lock:
        old = os.environ.get("ONET_BOOTSTRAP")
        os.environ["ONET_BOOTSTRAP"] = bootstrap
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("ONET_BOOTSTRAP", None)
            else:
                os.environ["ONET_BOOTSTRAP"] = old


def _op(options) -> int:
    op = getattr(options, "reduceOp", None)  # None: Ray passed no options (sum)
    return TORCH_REDOPS[op.name] if op is not None else TORCH_REDOPS["SUM"]


def _one(tensors, what: str):
    if not isinstance(tensors, list) or len(tensors) != 1:
        raise InvalidArgumentError(f"opennetworks ray group: {what} takes one tensor per process, got {tensors!r}")
    return tensors[0]


class OnetGroup(BaseGroup):
    def __init__(self, world_size: int, rank: int, group_name: str):
        super().__init__(world_size, rank, group_name)
        plan = _rendezvous.plan(world_size, rank, group_name)
        self.job = plan.job
        with _bootstrap_env(plan.bootstrap):
            self._client = Client(plan.info, plan.job, "python")
        self._comm = Communicator(self._client)
        self._comm.barrier()  # every rank has read the keys
        if rank == 0:
            _rendezvous.forget(group_name, plan)

    @classmethod
    def backend(cls):
        return BACKEND

    @classmethod
    def check_backend_availability(cls) -> bool:
        return True  # pure Python; the coordinator is found (or a clear error raised) at group creation

    def destroy_group(self):
        self._client.close()

    def allreduce(self, tensor, allreduce_options=None):
        t = _one(tensor, "allreduce")
        write(t, self._comm.all_reduce(to_numpy(t), _op(allreduce_options)))

    def barrier(self, barrier_options=None):
        self._comm.barrier()

    def reduce(self, tensor, reduce_options=None):
        t = _one(tensor, "reduce")
        root = reduce_options.root_rank if reduce_options is not None else 0
        out = self._comm.reduce(to_numpy(t), root, _op(reduce_options))
        if self.rank == root:
            write(t, out)

    def allgather(self, tensor_list, tensor, allgather_options=None):
        outs = _one(tensor_list, "allgather")
        if len(outs) != self.world_size:
            raise InvalidArgumentError(f"allgather: {len(outs)} output tensors for world size {self.world_size}")
        got = self._comm.all_gather(to_numpy(_one(tensor, "allgather")))
        for dst, part in zip(outs, got):
            write(dst, part)

    def broadcast(self, tensor, broadcast_options=None):
        t = _one(tensor, "broadcast")
        write(t, self._comm.broadcast(to_numpy(t), broadcast_options.root_rank if broadcast_options else 0))

    def reducescatter(self, tensor, tensor_list, reducescatter_options=None):
        out = _one(tensor, "reducescatter")
        parts = [to_numpy(x).reshape(-1) for x in _one(tensor_list, "reducescatter")]
        if len(parts) != self.world_size or any(p.size != parts[0].size for p in parts):
            raise InvalidArgumentError(
                f"reducescatter: needs {self.world_size} input tensors of one size, got sizes {[p.size for p in parts]}"
            )
        write(out, self._comm.reduce_scatter(np.stack(parts), _op(reducescatter_options)))

    def send(self, tensor, send_options):
        self._comm.send(to_numpy(_one(tensor, "send")), send_options.dst_rank)

    def recv(self, tensor, recv_options):
        t = _one(tensor, "recv")
        buf = np.empty_like(to_numpy(t))
        self._comm.recv(buf, recv_options.src_rank)
        write(t, buf)
