"""The fast path: an XLA FFI custom call (bindings/jax/onet_jax.cc) that posts straight into
this rank's arena, without Python or the GIL at run time.

Each device lane gets one slot and one data block taken from the Python client's engine
(`reserve`), so the two posters in one process never share a slot or bytes, and the engine
bumps ``post_count`` through the library's atomic counter once it is attached.

Small calls of a single-host communicator take the rank-side fast lane (native/rank/fastlane.h)
inside the custom call: ``add_lane`` sets the lane up through the Python FastLane (capability, segment,
its first call: a barrier), then hands the segment and the lane's sequence number to the library,
which calls onet_fl_call from build/Release/libonet_fastlane.so (the engine's kernels) from then on.
"""

from __future__ import annotations

import ctypes
import functools
import os

import numpy as np

from .. import _env
from .._errors import InvalidArgumentError, UnsupportedError, error_for_status
from .._gen.enums import COLLS
from . import _build

TARGET = "onet_jax_collective"
_lib = None


def _load():
    global _lib
    if _lib is None:
        import jax

        lib = ctypes.CDLL(str(_build.library_path()))
        lib.onet_jax_attach.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_double,
            ctypes.c_double,
        ]
        lib.onet_jax_set_lane.argtypes = [
            ctypes.c_int,
            ctypes.c_uint32,
            ctypes.c_uint64,
            ctypes.c_uint64,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_int,
        ]
        lib.onet_jax_bump_post_count.argtypes = []
        lib.onet_jax_bump_post_count.restype = None
        i32p = ctypes.POINTER(ctypes.c_int32)
        u64p = ctypes.POINTER(ctypes.c_uint64)
        lib.onet_jax_take_error.argtypes = [i32p, i32p, ctypes.c_int, i32p, ctypes.c_char_p, ctypes.c_size_t]
        lib.onet_jax_take_error.argtypes += [i32p, u64p]
        lib.onet_jax_take_error.restype = ctypes.c_int
        lib.onet_jax_set_seq.argtypes = [ctypes.c_int, ctypes.c_uint64]
        vp = ctypes.c_void_p
        lib.onet_jax_set_fastlane.argtypes = [ctypes.c_int, vp, ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64]
        lib.onet_jax_set_fastlane.argtypes += [ctypes.c_double, ctypes.c_int, vp, vp, ctypes.c_uint64]
        lib.onet_jax_fastlane_seq.argtypes = [ctypes.c_int]
        lib.onet_jax_fastlane_seq.restype = ctypes.c_uint64
        lib.onet_jax_lane_seq.argtypes = [ctypes.c_int]
        lib.onet_jax_lane_seq.restype = ctypes.c_uint64
        jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.onet_jax_collective), platform="cpu")
        _lib = lib
    return _lib


def take_error() -> tuple[int, str, list[int], int, int] | None:
    """The (code number, message, ranks, device lane, lane call number) of the last failed FFI call,
    once; None if there is none. The device lane is -1 unless the call ran on the fast lane.

    XLA passes only a string out of a custom call; the library keeps the error as data beside it
    (onet_jax.cc ErrorRecord), so nothing here parses the XLA message.
    """
    if _lib is None:
        return None
    code, nranks, lane = ctypes.c_int32(0), ctypes.c_int32(0), ctypes.c_int32(-1)
    seq = ctypes.c_uint64(0)
    ranks = (ctypes.c_int32 * 64)()
    msg = ctypes.create_string_buffer(4096)
    if not _lib.onet_jax_take_error(
        ctypes.byref(code), ranks, 64, ctypes.byref(nranks), msg, len(msg), ctypes.byref(lane), ctypes.byref(seq)
    ):
        return None
    return code.value, msg.value.decode("utf-8", "replace"), list(ranks[: nranks.value]), lane.value, seq.value


def reserve(engine, nbytes: int) -> tuple[int, int]:
    """Take one slot and ``nbytes`` of the data region away from the Python engine for good."""
    with engine._lock:
        if not engine._free_slots:
            raise InvalidArgumentError("no free request slot left for an opennetworks.jax device lane")
        slot = engine._free_slots.pop()  # the highest free index; the engine keeps the rest
        off = engine.arena.alloc.alloc(nbytes)
        if off is None:
            engine._free_slots.append(slot)
    if off is None:
        raise engine.arena.too_big(nbytes, "the opennetworks.jax FFI lane block (ONET_JAX_FFI_BYTES)")
    return slot, off


class FfiPath:
    """The library attached to one client; lanes are added as shard_map programs need them."""

    def __init__(self, client, timeout_s: float):
        from .. import _fastlane_native

        if client.coordinator.fastlane and _fastlane_native.load() is None:  # see _fast_lane
            raise UnsupportedError(
                f"the JAX FFI path needs the native fast lane ({_fastlane_native.load_error()}); build it "
                "(npm run build:native) or set ONET_JAX_IMPL=callback"
            )
        self.lib = _load()
        self.client = client
        arena = client.arena
        # Raw addresses of the mappings (each keeps an export on its mmap, like _futex does).
        self._arena_word = ctypes.c_char.from_buffer(arena.mm)
        self._ctl_word = ctypes.c_char.from_buffer(arena.ctl)
        spin = _env.float_setting("ONET_SPIN_US", 50.0)
        self.lib.onet_jax_attach(
            ctypes.addressof(self._arena_word),
            ctypes.addressof(self._ctl_word),
            client.rank,
            client.coord_pid,
            spin,
            timeout_s,
        )
        client.engine.bump_post_count = self.lib.onet_jax_bump_post_count
        self.block = _env.value("ONET_JAX_FFI_BYTES")
        if self.block < 64:
            raise InvalidArgumentError(f"ONET_JAX_FFI_BYTES={self.block} is too small; use at least 65536")
        self.lanes: dict[int, tuple[int, int]] = {}
        self.fastlanes: dict = {}  # device lane -> its communicator's _fastlane.FastLane

    def add_lane(self, lane: int, group: int) -> None:
        if lane in self.lanes:
            return
        c = self.client
        slot, off = reserve(c.engine, self.block)
        c.define_group(group, list(range(c.world)))
        if self.lib.onet_jax_set_lane(lane, slot, off, self.block, group, c.world, c.rank) != 0:
            raise InvalidArgumentError(f"device lane {lane} is out of range (at most 64 devices per process)")
        self._fast_lane(lane, group)
        self.lanes[lane] = (slot, off)

    def _fast_lane(self, lane: int, group: int) -> None:
        """Give ``lane`` its communicator's fast lane when every rank declared it (_fastlane_cap.py): the
        Python FastLane makes the segment and runs the lane's first call (a barrier: every rank maps the
        segment, rank 0 unlinks its name), then the library owns the sequence numbers."""
        from .. import _fastlane, _fastlane_native
        from .._gen.enums import DTYPES

        c = self.client
        fl = _fastlane.lane(c, group, list(range(c.world)))
        if fl is None:
            return
        lib = _fastlane_native.load()
        if lib is None:  # every rank of the communicator runs the lane: this one cannot from the custom call
            raise UnsupportedError(
                f"rank {c.rank}: the JAX FFI path needs the native fast lane ({_fastlane_native.load_error()}); "
                "build it or set ONET_JAX_IMPL=callback"
            )
        fl.run(_fastlane.BARRIER, DTYPES["u8"], 0, 0, 0, 1.0, 0, 0, 0)
        # The setup numbered engine calls of the group too (FastLane's engine barrier): continue after them.
        self.lib.onet_jax_set_seq(lane, c._seq.get(group, 0))
        call, abort = (ctypes.cast(f, ctypes.c_void_p).value for f in (lib.onet_fl_call, lib.onet_fl_abort))
        spin = c.engine.spin_s * 1e6  # the library adapts it per call to the host's load (_spin_policy.py)
        crowded = int(c.info.local_world > (os.cpu_count() or 1))
        args = (fl.impl.base, fl.rank, fl.seq, fl.max_bytes, spin, crowded, call, abort, fl.direct_min)
        self.lib.onet_jax_set_fastlane(lane, *args)
        self.fastlanes[lane] = fl

    def lane_error(self, lane: int, seq: int, code: int, msg: str, ranks: list):
        """The exception for a failed fast-lane call of ``lane``, shaped as the Python path shapes it
        (_fastlane.FastLane.error_for), with the lane's sequence taken back from the library."""
        fl = self.fastlanes.get(lane)
        if fl is None:
            return error_for_status(code, msg, ranks)
        fl.seq = int(self.lib.onet_jax_fastlane_seq(lane))
        return fl.error_for(seq, code, msg, ranks)

    def seq(self, lane: int) -> int:
        return int(self.lib.onet_jax_lane_seq(lane))

    def collective(self, x, lane, coll: int, redop: int, root: int, out_shape: tuple):
        return collective(x, lane, coll, redop, root, out_shape)

    def barrier(self, lane):
        return barrier(lane)

    def detach(self) -> None:
        for lane, fl in self.fastlanes.items():  # the Python FastLane continues where the library stopped
            fl.seq = int(self.lib.onet_jax_fastlane_seq(lane))
            self.lib.onet_jax_set_fastlane(lane, None, 0, 0, 0, 0.0, 0, None, None, 0)
        self.client.engine.bump_post_count = None
        self.lib.onet_jax_detach()


# ---- the JAX primitive ---------------------------------------------------------------------
@functools.cache
def primitive():
    import jax
    from jax.extend.core import Primitive
    from jax.interpreters import mlir

    p = Primitive("onet_collective")

    def abstract(x, lane, *, coll, redop, root, out_shape):
        return jax.core.ShapedArray(out_shape, x.dtype)

    @functools.cache
    def jitted(coll, redop, root, out_shape):
        return jax.jit(functools.partial(p.bind, coll=coll, redop=redop, root=root, out_shape=out_shape))

    def impl(x, lane, *, coll, redop, root, out_shape):
        return jitted(coll, redop, root, out_shape)(x, lane)

    # The custom call is side-effecting for XLA (never removed, merged or reordered with other
    # collectives) but carries no JAX effect, so jit keeps its C++ fast dispatch path.
    lower = jax.ffi.ffi_lowering(TARGET, has_side_effect=True)

    def lowering(ctx, x, lane, *, coll, redop, root, out_shape):
        return lower(ctx, x, lane, coll=np.int64(coll), redop=np.int64(redop), root=np.int64(root))

    p.def_abstract_eval(abstract)
    p.def_impl(impl)
    mlir.register_lowering(p, lowering, platform="cpu")
    return p


def collective(x, lane, coll: int, redop: int, root: int, out_shape: tuple):
    return primitive().bind(x, lane, coll=coll, redop=redop, root=root, out_shape=tuple(out_shape))


def barrier(lane):
    """A barrier with a JAX effect, so that jit never drops it although nothing uses its result."""
    import jax
    import jax.numpy as jnp

    call = jax.ffi.ffi_call(TARGET, jax.ShapeDtypeStruct((0,), jnp.uint8), has_side_effect=True)
    return call(jnp.zeros((0,), jnp.uint8), lane, coll=np.int64(COLLS["barrier"]), redop=np.int64(0), root=np.int64(0))
