"""The portable path: ``io_callback(..., ordered=True)`` into the Python client.

Each device lane has its own `Communicator` (its own group, so its own sequence numbers);
callbacks of different lanes run concurrently on XLA's threads and share the thread-safe
engine.
"""

from __future__ import annotations

import threading

import numpy as np

from .._comm import Communicator
from .._errors import OnetError
from .._layout import COLLS

ALLREDUCE, BROADCAST, ALLGATHER = COLLS["allreduce"], COLLS["broadcast"], COLLS["allgather"]
REDUCE_SCATTER, ALLTOALL, BARRIER = COLLS["reduce_scatter"], COLLS["alltoall"], COLLS["barrier"]

# XLA re-raises a callback's exception as its own, keeping only text: the OnetError itself (code,
# ranks) waits here for _ops._map_error, so nothing parses the text.
_failed: list[OnetError] = []
_failed_lock = threading.Lock()


def take_error() -> OnetError | None:
    """The OnetError the last failed callback raised, once; None if there is none."""
    with _failed_lock:
        return _failed.pop() if _failed else None


class CallbackPath:
    def __init__(self, client):
        self.client = client
        self.comms: dict[int, Communicator] = {}

    def add_lane(self, lane: int, group: int) -> None:
        if lane not in self.comms:
            self.comms[lane] = Communicator(self.client, group, list(range(self.client.world)))

    def host(self, coll: int, redop: int, root: int, out_shape: tuple, x, lane) -> np.ndarray:
        """Runs on an XLA thread with the GIL: one collective of one lane."""
        comm = self.comms[int(lane)]
        x = np.asarray(x)
        try:
            if coll == ALLREDUCE:
                r = comm.all_reduce(x, redop)
            elif coll == BROADCAST:
                r = comm.broadcast(x, root)
            elif coll == ALLGATHER:
                r = comm.all_gather(x)
            elif coll == REDUCE_SCATTER:
                r = comm.reduce_scatter(x, redop)
            elif coll == ALLTOALL:
                r = comm.all_to_all(x)
            elif coll == BARRIER:
                comm.barrier()
                return np.zeros((0,), np.uint8)
            else:
                raise ValueError(f"unknown collective {coll}")
        except OnetError as e:
            with _failed_lock:
                _failed[:] = [e]
            raise
        return np.asarray(r, dtype=x.dtype).reshape(out_shape)

    def collective(self, x, lane, coll: int, redop: int, root: int, out_shape: tuple):
        import functools

        import jax
        from jax.experimental import io_callback

        fn = functools.partial(self.host, coll, redop, root, tuple(out_shape))
        return io_callback(fn, jax.ShapeDtypeStruct(tuple(out_shape), x.dtype), x, lane, ordered=True)

    def barrier(self, lane):
        import jax
        import jax.numpy as jnp
        from jax.experimental import io_callback

        fn = lambda x, lane: self.host(BARRIER, 0, 0, (0,), x, lane)  # noqa: E731
        return io_callback(fn, jax.ShapeDtypeStruct((0,), jnp.uint8), jnp.zeros((0,), jnp.uint8), lane, ordered=True)
