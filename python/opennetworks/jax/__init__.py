"""Collectives for JAX over the OpenNetworks coordinator.

    import opennetworks.jax as onj
    onj.initialize()                 # RANK / WORLD_SIZE / LOCAL_RANK as under torchrun or `onet run`
    g = onj.allreduce(g, op="avg")   # eager, inside jit / scan / fori_loop, under grad and shard_map

Two paths (ONET_JAX_IMPL): ``ffi`` — an XLA custom call that posts to shared memory without
Python at run time (built from bindings/jax on first use); ``callback`` — ordered io_callback
into the Python client. ``auto`` (default) uses ffi when it builds. See docs/jax.md.
"""

from ._ops import all_to_all, allgather, allreduce, barrier, broadcast, reduce_scatter
from ._state import initialize


def rank() -> int:
    """This process's rank (initialises on first use)."""
    from . import _state

    return _state.get().rank


def world_size() -> int:
    from . import _state

    return _state.get().world


def impl() -> str:
    """The path collectives traced from now on use: "ffi" or "callback"."""
    from . import _state

    return _state.get().impl


def set_impl(name: str) -> None:
    """Switch path ("ffi", "callback", "auto") for functions traced afterwards; every rank must
    switch at the same point. Already compiled functions keep the path they were traced with."""
    from . import _state

    _state.get().set_impl(name)


__all__ = [
    "initialize",
    "allreduce",
    "allgather",
    "broadcast",
    "reduce_scatter",
    "all_to_all",
    "barrier",
    "rank",
    "world_size",
    "impl",
    "set_impl",
]
