"""Direct fast-lane calls in Python (native/rank/fastlane.h "Direct calls"; C++: fastlane_direct.cc): whether
this process may read its peers' memory and be read by them, and the reads themselves (process_vm_readv)."""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import sys

from . import _env

_PR_SET_PTRACER, _PR_SET_PTRACER_ANY = 0x59616D61, ctypes.c_ulong(-1 & 0xFFFFFFFFFFFFFFFF)
_BROADCAST = 3
_libc = None
_ok: bool | None = None


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def _lib():
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)
        iov, ul = ctypes.POINTER(_Iovec), ctypes.c_ulong
        lib.process_vm_readv.argtypes = [ctypes.c_int, iov, ul, iov, ul, ul]
        lib.process_vm_readv.restype = ctypes.c_ssize_t
        _libc = lib
    return _libc


def yama_scope() -> int:
    """/proc/sys/kernel/yama/ptrace_scope, or 0 without Yama."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def allowed() -> bool:
    """Whether direct calls can work in this process (onet_fl_direct_ok): Linux, Yama ptrace_scope 0 or 1 (1:
    this process names any tracer, so that its sibling ranks may read it, as OpenMPI's ranks do), and
    process_vm_readv not refused by seccomp (a read of this process's own memory)."""
    global _ok
    if _ok is None:
        _ok = _allowed()
    return _ok


def _allowed() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    scope = yama_scope()
    if scope >= 2:
        return False
    try:
        lib = _lib()
        if scope == 1:
            lib.prctl(_PR_SET_PTRACER, _PR_SET_PTRACER_ANY, 0, 0, 0)
        probe, got = ctypes.c_uint64(0x4F4E4554), ctypes.c_uint64(0)
        return read(os.getpid(), ctypes.addressof(probe), ctypes.addressof(got), 8) == 0 and got.value == probe.value
    except (OSError, AttributeError):
        return False


def min_bytes() -> int:
    """This rank's ONET_FASTLANE_DIRECT_MIN_BYTES, or 0 when direct calls cannot work here."""
    want = int(_env.bytes_setting("ONET_FASTLANE_DIRECT_MIN_BYTES"))
    return want if want > 0 and allowed() else 0


def read(pid: int, addr: int, dst: int, n: int) -> int:
    """All of [addr, addr + n) of process ``pid`` into ``dst``: 0, or the errno of the failed read."""
    lib = _lib()
    while n:
        local, remote = _Iovec(dst, n), _Iovec(addr, n)
        got = lib.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        if got < 0:
            e = ctypes.get_errno()
            if e == _errno.EINTR:
                continue
            return e
        if got == 0:
            return _errno.EFAULT
        dst, addr, n = dst + got, addr + got, n - got
    return 0


def read_peers(impl, seq: int, coll: int, root: int, nbytes: int, in_addr: int, out_addr: int) -> tuple[int, int]:
    """fastlane_direct.cc direct_read for PythonImpl ``impl``: (0 or errno, the group rank read last)."""
    rank, P = impl.rank, impl.size
    if coll == _BROADCAST:
        if rank == root:
            if out_addr != in_addr and nbytes:
                ctypes.memmove(out_addr, in_addr, nbytes)
            return 0, -1
        return read(impl.peer_pid(root), impl.desc_addr(root, seq), out_addr, nbytes), root
    if out_addr + rank * nbytes != in_addr and nbytes:
        ctypes.memmove(out_addr + rank * nbytes, in_addr, nbytes)
    for i in range(1, P):
        r = (rank + i) % P
        e = read(impl.peer_pid(r), impl.desc_addr(r, seq), out_addr + r * nbytes, nbytes)
        if e:
            return e, r
    return 0, -1
