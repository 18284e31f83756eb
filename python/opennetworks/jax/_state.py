"""This process's JAX-side state: the client, the chosen path and the device lanes it set up."""

from __future__ import annotations

import atexit
import threading
import warnings

from .. import _env
from .._comm import get_client
from .._errors import InvalidArgumentError

# Group ids of the JAX lanes: at or above 2**31, where the torch backend never puts its groups.
GROUP_CALLBACK = 0xA1A40000
GROUP_FFI = 0xA1A40100
IMPLS = ("auto", "ffi", "callback")

_lock = threading.Lock()
_state: State | None = None


class State:
    def __init__(self, client, impl: str):
        self.client = client
        self.rank = client.rank
        self.world = client.world
        self.ffi = None
        self.ffi_error: str | None = None
        self.callback = None
        self.impl = "callback"
        self._lanes_lock = threading.Lock()
        self.set_impl(impl)

    def set_impl(self, impl: str) -> None:
        if impl not in IMPLS:
            raise InvalidArgumentError(
                f"opennetworks.jax path {impl!r} is unknown; use one of {', '.join(IMPLS)} (ONET_JAX_IMPL)"
            )
        if impl in ("auto", "ffi") and self.ffi is None:
            try:
                from ._ffi import FfiPath

                timeout = _env.float_setting("ONET_TIMEOUT", None) or 300.0
                self.ffi = FfiPath(self.client, timeout)
            except Exception as e:  # noqa: BLE001 - auto falls back to the portable path
                if impl == "ffi":
                    raise
                self.ffi_error = f"{type(e).__name__}: {e}"
                warnings.warn(
                    f"opennetworks.jax: the FFI fast path is unavailable ({self.ffi_error}); using io_callback",
                    RuntimeWarning,
                    stacklevel=3,
                )
        if impl == "callback" or self.ffi is None:
            self.impl = "callback"
            if self.callback is None:
                from ._callback import CallbackPath

                self.callback = CallbackPath(self.client)
        else:
            self.impl = "ffi"
        self.ensure_lanes(1)

    def path(self):
        return self.ffi if self.impl == "ffi" else self.callback

    def ensure_lanes(self, n: int) -> None:
        """Set up lanes 0..n-1 of the current path (a group per lane; collective across ranks)."""
        path = self.path()
        base = GROUP_FFI if self.impl == "ffi" else GROUP_CALLBACK
        with self._lanes_lock:
            for lane in range(n):
                path.add_lane(lane, base + lane)

    def close(self) -> None:
        if self.ffi is not None:
            self.ffi.detach()


def initialize(
    rank: int | None = None, world: int | None = None, job: str | None = None, impl: str | None = None
) -> State:
    """Register this process with the local coordinator (same environment as torchrun / `onet run`:
    RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, ONET_JOB_ID or MASTER_ADDR/PORT)."""
    global _state
    with _lock:
        if _state is not None and not _state.client.closed:
            if rank is not None and rank != _state.rank:
                raise InvalidArgumentError(f"opennetworks.jax is already initialised as rank {_state.rank}, not {rank}")
            if impl is not None and impl != "auto" and impl != _state.impl:
                _state.set_impl(impl)
            return _state
        client = get_client(rank, world, job, framework="jax")
        _state = State(client, impl or _env.setting("ONET_JAX_IMPL"))
        atexit.register(_state.close)
        return _state


def get() -> State:
    return _state if _state is not None and not _state.client.closed else initialize()
