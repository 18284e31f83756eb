"""Single-copy transfers of ordinary tensors (slot flag ``cma``, docs/performance.md "Single-copy transfers").

Above ``ONET_CMA_MIN_BYTES`` a rank posts the addresses of its own tensors and its pid instead of copying
them into the arena; the coordinator reads the inputs and writes the results in this process's memory with
``process_vm_readv`` / ``process_vm_writev``. Whether it may is checked once per process, at the first
process group: Yama's ptrace_scope, a container's seccomp policy or an older coordinator can each refuse it,
and then every tensor takes the copy path (logged at debug level on ``opennetworks.cma``, with the reason).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

import numpy as np

from . import _env
from ._errors import OnetError
from ._layout import FLAG_CMA

_log = logging.getLogger("opennetworks.cma")

# The probe runs in a one-member group of its own: ids with the top bit set are never a torch group's
# (those are masked to 31 bits) and are not reused by the other clients.
PROBE_GROUP = 0x80000000
_BROADCAST = 3
_U8 = 5
_PR_SET_PTRACER = 0x59616D61
_UNMAPPED = 0x1000  # below vm.mmap_min_addr: never mapped, so the engine's process_vm_readv itself fails (EFAULT)


_HUGE = 2 << 20
_MADV_HUGEPAGE = 14
_MADV_COLLAPSE = 25  # Linux 6.1+; older kernels answer EINVAL and the pages stay as they are
_settled: dict[tuple[int, int], None] = {}
_madvise = None


def hugepages(t) -> None:
    """Back the 2 MiB-aligned interior of tensor ``t``'s bytes with huge pages, once per address range.

    process_vm_readv/writev pin the remote pages one by one: on 4 KiB pages they move ~3.5 GB per CPU
    second here, on 2 MiB pages ~8 (docs/performance.md). The contents do not change; a range already
    settled is not asked again (a buffer freed and allocated again at the same address keeps its old
    answer: slower, never wrong).
    """
    hugepages_at(t.data_ptr(), t.numel() * t.element_size())


def hugepages_at(addr: int, nbytes: int) -> None:
    """``hugepages`` for the bytes [addr, addr + nbytes) of this process (direct lane calls, _fastlane_direct.py)."""
    global _madvise
    if _madvise is False or not addr:
        return
    lo = (addr + _HUGE - 1) & ~(_HUGE - 1)
    hi = (addr + nbytes) & ~(_HUGE - 1)
    if hi - lo < _HUGE or (lo, hi) in _settled:
        return
    if _madvise is None:
        if not _env.value("ONET_CMA_HUGEPAGES"):
            _madvise = False
            return
        fn = ctypes.CDLL(None, use_errno=True).madvise
        fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        _madvise = fn
    if len(_settled) > 4096:
        _settled.clear()
    _settled[(lo, hi)] = None
    if _madvise(lo, hi - lo, _MADV_HUGEPAGE) == 0:
        _madvise(lo, hi - lo, _MADV_COLLAPSE)


def min_bytes(client) -> int:
    """The smallest tensor (bytes) this process sends by single copy; 0 when it does not."""
    got = getattr(client, "_cma_min_bytes", None)
    if got is None:
        got = _decide(client)
        client._cma_min_bytes = got
    return got


def _decide(client) -> int:
    limit = int(_env.bytes_setting("ONET_CMA_MIN_BYTES"))
    if limit <= 0:
        return 0
    why = _unavailable(client)
    if why:
        _log.debug("single-copy transfers off, copying through the arena: %s", why)
        return 0
    _log.debug("single-copy transfers on for tensors of %d bytes and more", limit)
    return limit


def _unavailable(client) -> str | None:
    """Why the coordinator cannot read and write this process's memory, or None when it can."""
    info = client.info
    if info.local_world != info.world:
        return f"{info.world - info.local_world} of the {info.world} ranks run on other hosts"
    if not sys.platform.startswith("linux"):
        return f"cross-memory attach is Linux only (this is {sys.platform})"
    why = _allow_coordinator(client.coord_pid)
    if why:
        return why
    return _probe(client)


def yama_scope() -> int:
    """/proc/sys/kernel/yama/ptrace_scope, or 0 without Yama."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _allow_coordinator(coord_pid: int) -> str | None:
    """Under Yama ptrace_scope 1 only an ancestor may read us: name the coordinator as one (any process of the
    user when direct fast-lane calls are on: one tracer setting holds per process, and the peer ranks need it
    too, _fastlane_direct.py)."""
    scope = yama_scope()
    if scope == 0:
        return None
    if scope >= 2:
        return f"Yama ptrace_scope is {scope} (/proc/sys/kernel/yama/ptrace_scope): only root may read other processes"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        any_peer = int(_env.bytes_setting("ONET_FASTLANE_DIRECT_MIN_BYTES")) > 0
        tracer = ctypes.c_ulong(0xFFFFFFFFFFFFFFFF if any_peer else coord_pid)  # PR_SET_PTRACER_ANY: (unsigned long)-1
        if libc.prctl(_PR_SET_PTRACER, tracer, 0, 0, 0) != 0:
            return f"prctl(PR_SET_PTRACER, {coord_pid}) failed: {os.strerror(ctypes.get_errno())} (Yama ptrace_scope 1)"
    except (OSError, AttributeError) as e:
        return f"prctl(PR_SET_PTRACER) is not available under Yama ptrace_scope 1: {e}"
    return None


def _probe(client) -> str | None:
    """One single-copy broadcast between two buffers of this process, in a group of this rank alone."""
    eng = client.engine
    gid = PROBE_GROUP | client.rank
    src = np.arange(64, dtype=np.uint8) ^ np.uint8(0x5A)
    dst = np.zeros(64, dtype=np.uint8)
    fail = _env.setting("ONET_CMA_PROBE") == "fail"
    saved = eng.cma_pid
    try:
        client.define_group(gid, [client.rank], 30.0)
        eng.cma_pid = os.getpid()  # the registered pid: the engine refuses any other (engine/cma.h check_pid)
        op = eng.post(
            client.next_seq(gid),
            _BROADCAST,
            _U8,
            0,
            0,
            64,
            _UNMAPPED if fail else src.ctypes.data,
            dst.ctypes.data,
            0,
            gid,
            0,
            1.0,
            "single-copy probe",
            flags=FLAG_CMA,
        )
        err = eng.wait(op, raise_error=False, timeout_s=30.0)
    except OnetError as e:
        err = e
    finally:
        eng.cma_pid = saved
    forced = " (forced by ONET_CMA_PROBE=fail)" if fail else ""
    if err is not None:
        return f"the coordinator could not read this rank's memory{forced}: {err}"
    if not np.array_equal(src, dst):
        return f"the coordinator's single-copy probe returned other bytes{forced}: is it an older version?"
    return None
