"""ONET_TORCH_IMPL=compiled: the group torch holds is opennetworks._onet_c10d.OnetProcessGroup (C++,
native/torch/onet_c10d.cc), which runs blocking fast-lane allreduce, broadcast, all_gather_into_tensor,
reduce_scatter_tensor and barrier itself and hands everything else to the Python ProcessGroupOnet it owns (``pg.py``).

The lane's state stays Python's (_fastlane.FastLane). A gate, three uint64 words here, lets the C++ side
run lane calls without the GIL: ``sync`` arms it when Python has nothing in flight for the group and
hands over the sequence number; any Python method of the group that could post work disarms it first
and takes the number back (``_disarm``); an open compression block holds it off. notes/readme-c10d.md.
"""

from __future__ import annotations

import ctypes
import importlib.util
import inspect
import logging
import sys
import threading
import time

import torch
import torch.distributed as dist

from .. import _env, _spin_policy
from .._errors import InvalidArgumentError, error_for_status
from .._fastlane_torch import _UNSET, BARRIER_DTYPE
from . import _c10d_build
from ._common import _FAST_CODES
from ._process_group import ProcessGroupOnet

log = logging.getLogger("opennetworks.torch")
_ARMED, _SEQ, _HOLD = 0, 1, 2
_mod = None
_load_error: str | None = None
# Methods of ProcessGroupOnet that may start, finish or reorder work of the group: each disarms the gate.
_POSTING = (
    "allreduce allreduce_coalesced broadcast allgather allgather_coalesced all_gather_single _allgather_base "
    "allgather_into_tensor_coalesced all_gather_single_coalesced reduce_scatter reduce_scatter_single "
    "_reduce_scatter_base reduce_scatter_tensor_coalesced reduce_scatter_single_coalesced alltoall alltoall_base "
    "all_to_all_single reduce gather scatter send recv recv_anysource barrier monitored_barrier startCoalescing "
    "endCoalescing _start_coalescing _end_coalescing abort shutdown shrink _abort_inflight"
).split()
# The C++ methods torch's Python calls (torch 2.13: all_gather_into_tensor -> all_gather_single,
# reduce_scatter_tensor -> reduce_scatter_single; the older names reach them through the C++ base class).
_FAST = frozenset(
    ("allreduce", "broadcast", "all_gather_single", "_allgather_base", "reduce_scatter_single", "_reduce_scatter_base",
     "barrier")
)  # fmt: skip


def load():
    """The compiled module, or None (``load_error()`` says why)."""
    global _mod, _load_error
    if _mod is not None or _load_error is not None:
        return _mod
    path = _c10d_build.module_path()
    if not path.exists():
        _load_error = f"{path} is not built (run `npm install` or `.venv/bin/python -m opennetworks.torch._c10d_build`)"
        return None
    try:
        spec = importlib.util.spec_from_file_location("opennetworks._onet_c10d", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    except ImportError as e:
        _load_error = f"cannot load {path}: {e} (rebuild: .venv/bin/python -m opennetworks.torch._c10d_build --force)"
        return None
    sys.modules["opennetworks._onet_c10d"] = mod
    _mod = mod
    return mod


def load_error() -> str | None:
    load()
    return _load_error


def implementation() -> str:
    """The torch backend, "compiled" or "python", from ONET_TORCH_IMPL; raises when compiled is asked for and absent."""
    want = _env.value("ONET_TORCH_IMPL")
    if want == "python":
        return "python"
    if load() is None:
        if want == "compiled":
            raise InvalidArgumentError(
                f"ONET_TORCH_IMPL=compiled but the compiled torch backend is unavailable: {_load_error}; "
                "or set ONET_TORCH_IMPL=auto to fall back to Python",
                [],
            )
        global _warned
        if not _warned:  # once per process: small calls take ~5x as long on the Python group
            _warned = True
            log.warning(
                "opennetworks: the compiled torch backend is unavailable (%s); this rank runs the Python process "
                "group, whose small collectives are slower (ONET_TORCH_IMPL=python says that this is intended)",
                _load_error,
            )
        return "python"
    return "compiled"


_warned = False


# ---- the gate, Python side ---------------------------------------------------------------------
def _disarm(pg) -> None:
    g = pg.__dict__.get("_c10d_gate")
    if g is not None and g[_ARMED]:
        g[_ARMED] = 0
        pg._fl.seq = g[_SEQ]


def sync(pg):
    """Called by C++ under the GIL: arm the gate and return (segment base, lane rank, spin µs (< 0: yielding),
    timeout s, max bytes, onet_fl_call address, direct min bytes) when the group's lane is idle; None: take
    the Python path this time; False: the lane is off for this group (or its Python state is not what this
    file reads: every call then takes the Python path, which stays correct)."""
    try:
        return _sync(pg)
    except AttributeError as e:
        log.warning("opennetworks: compiled fast path off for group %s: %r", getattr(pg, "_gid", "?"), e)
        return False


def _sync(pg):
    _disarm(pg)
    g = pg._c10d_gate
    fl = pg._fl if pg._fl is not _UNSET else pg._lane()
    if fl is None:
        return False
    impl = getattr(fl, "impl", None)
    if impl is None or getattr(impl, "name", "") != "native" or g[_HOLD]:
        return None  # not attached yet (the Python path attaches), or the numpy lane, or compressing
    eng = pg._eng
    if fl.pending is not None or fl.broken is not None or pg._coalescing is not None or pg._zflags():
        return None
    if eng.dead_reason is not None or pg._aborted is not None or fl.pub.aborted_by():
        return None
    fl._check_coordinator(eng)
    if eng.dead_reason is not None:
        return None
    if eng._inflight and any(op.group == pg._gid and op.seq and not op.completed for op in eng.pending()):
        return None
    _gate_lane(fl, g)
    g[_SEQ] = fl.seq
    g[_ARMED] = 1
    global _sampler
    if _sampler is None:
        _sampler = _spin_policy.LaneSampler()
    spin = _sampler.spin_us(eng.spin_s * 1e6, fl.client.info.local_world, time.monotonic())
    return (impl.base, fl.rank, spin, float(pg._timeout_s), int(fl.max_bytes), _call_address(), int(fl.direct_min))


# How C++ lane calls wait (re-read at every arming, ~every 50 ms): busy polling while the host has a core per
# runnable task, else polling with sched_yield (_spin_policy.lane_spin_us; notes/readme-small-latency.md).
_sampler: _spin_policy.LaneSampler | None = None


_lane_classes: dict = {}


def _gate_lane(fl, gate) -> None:
    """Make every Python start of this lane (the group's methods, and an opennetworks.init() communicator that
    shares the client and group id) disarm the gate first, so that it never reuses a sequence number C++ took."""
    if fl.__dict__.get("_c10d_gate") is gate:
        return
    cls = type(fl)
    sub = _lane_classes.get(cls)
    if sub is None:

        def start(self, *args, **kwargs):
            g = self.__dict__.get("_c10d_gate")
            if g is not None and g[_ARMED]:
                g[_ARMED] = 0
                self.seq = g[_SEQ]
            return cls.start(self, *args, **kwargs)

        sub = _lane_classes[cls] = type(cls.__name__, (cls,), {"start": start, "__module__": cls.__module__})
    fl.__class__ = sub
    fl._c10d_gate = gate


def lane_error(pg, seq: int, code: int, msg: str, ranks: list):
    """Called by C++ under the GIL after a failed lane call: the exception the Python path raises
    (_fastlane.FastLane.error_for), with the gate disarmed and the lane's state updated alike."""
    _disarm(pg)
    try:
        return pg._fl.error_for(seq, code, msg, ranks)
    except AttributeError:
        return error_for_status(code, msg, ranks)


_call_addr = None


def _call_address() -> int:
    global _call_addr
    if _call_addr is None:
        from .. import _fastlane_native

        _call_addr = ctypes.cast(_fastlane_native.load().onet_fl_call, ctypes.c_void_p).value
    return _call_addr


class _HoldingLocal(threading.local):
    """ProcessGroupOnet._zlocal whose ``call`` (a compression block of this thread) holds the gate off."""

    def __init__(self, gate):
        self.__dict__["_gate"] = gate

    @property
    def call(self):
        return self.__dict__.get("_call")

    @call.setter
    def call(self, z):
        old = self.__dict__.get("_call")
        g = self.__dict__["_gate"]
        if old is None and z is not None:
            g[_HOLD] += 1
        elif old is not None and z is None:
            g[_HOLD] -= 1
        self.__dict__["_call"] = z


def _gated(name, fn):
    def method(self, *args, **kwargs):
        _disarm(self)
        return fn(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = fn.__doc__
    return method


class GatedProcessGroupOnet(ProcessGroupOnet):
    """The ProcessGroupOnet a compiled group owns: its posting methods disarm the gate first."""

    def __init__(self, *args):
        self.__dict__["_c10d_gate"] = (ctypes.c_uint64 * 4)()
        super().__init__(*args)
        self._zlocal = _HoldingLocal(self._c10d_gate)

    @property
    def _zgroup(self):
        return self.__dict__.get("_zgroup_v")

    @_zgroup.setter
    def _zgroup(self, z):
        _disarm(self)
        self.__dict__["_zgroup_v"] = z


for _n in _POSTING:
    _f = getattr(ProcessGroupOnet, _n, None)
    if inspect.isfunction(_f):
        setattr(GatedProcessGroupOnet, _n, _gated(_n, _f))


def _own_names() -> dict:
    """ProcessGroupOnet's Python-level attributes (its mixins', not torch's ProcessGroup's): name -> kind."""
    stop = set(dist.ProcessGroup.__mro__)
    names = {}
    for cls in reversed(ProcessGroupOnet.__mro__):
        if cls in stop:
            continue
        for n, v in vars(cls).items():
            if n.startswith("__"):
                continue
            if isinstance(v, property):
                names[n] = "property"
            elif inspect.isfunction(v) or isinstance(v, (staticmethod, classmethod)):
                names[n] = "method"
    return names


def _forwarder(n):
    def method(self, *args, **kwargs):
        return getattr(self.py, n)(*args, **kwargs)

    method.__name__ = n
    return method


_classes: dict = {}


def _wrapper_class():
    """A Python subclass of OnetProcessGroup whose names not run in C++ reach the Python group."""
    cls = _classes.get("pg")
    if cls is not None:
        return cls
    mod = load()
    ns = {"__doc__": "OpenNetworks' compiled process group (ONET_TORCH_IMPL=compiled); ``py`` is the Python group."}
    for n, kind in _own_names().items():
        if n in _FAST:
            continue
        if kind == "property":
            ns[n] = property(lambda self, n=n: getattr(self.py, n))
        else:
            ns[n] = _forwarder(n)

    def __getattr__(self, n):  # instance attributes of the Python group (_client, _gid, ...)
        if n == "py":
            raise AttributeError(n)
        return getattr(self.py, n)

    def __repr__(self):
        return f"<opennetworks ProcessGroup rank {self.rank()}/{self.size()} impl=compiled gid={self.py._gid}>"

    ns["__getattr__"] = __getattr__
    ns["__repr__"] = __repr__
    ns["impl"] = "compiled"
    cls = _classes["pg"] = type("OnetCompiledProcessGroup", (mod.OnetProcessGroup,), ns)
    return cls


def wrap(py_pg: GatedProcessGroupOnet):
    """The compiled group around ``py_pg``."""
    from .._gen.enums import COLLS, TORCH_REDOPS

    codes = {n: COLLS[n] for n in ("allreduce", "broadcast", "allgather", "reduce_scatter", "barrier")}
    codes["barrier_dtype"] = BARRIER_DTYPE
    dtypes = [(torch.empty(0, dtype=dt), int(code)) for dt, code in _FAST_CODES.items()]
    redops = {
        int(getattr(dist.ReduceOp.RedOpType, name)): int(code)
        for name, code in TORCH_REDOPS.items()
        if name in ("SUM", "PRODUCT", "MIN", "MAX", "AVG")
    }
    gate = ctypes.addressof(py_pg._c10d_gate)
    pg = _wrapper_class()(py_pg, sys.modules[__name__], gate, py_pg._rank, py_pg._size, codes, dtypes, redops)
    log.debug("opennetworks: group %s uses the compiled process group (%s)", py_pg._gid, _c10d_build.module_path())
    return pg


def unwrap(pg):
    """The Python ProcessGroupOnet behind ``pg`` (a compiled group or the Python group itself)."""
    return getattr(pg, "py", pg) if _mod is not None and isinstance(pg, _mod.OnetProcessGroup) else pg


__all__ = ["implementation", "load", "load_error", "wrap", "unwrap", "sync", "lane_error"]
