"""Shared futex wait/wake through libc's syscall(2) (docs/protocol.md §4).

Futexes here are shared between processes (no FUTEX_PRIVATE_FLAG): the words live in
POSIX shared memory mapped by the coordinator and by every rank.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import platform

_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}.get(platform.machine().lower())
FUTEX_WAIT, FUTEX_WAKE = 0, 1

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def address_of(buf: mmap.mmap, offset: int) -> int:
    """Address of the u32 at ``offset`` in a writable mapping (keeps an export on ``buf``)."""
    word = ctypes.c_uint32.from_buffer(buf, offset)
    _keep.append(word)
    return ctypes.addressof(word)


_keep: list = []


def wait(addr: int, expected: int, timeout_s: float | None) -> int:
    """Sleep while the u32 at ``addr`` equals ``expected``, at most ``timeout_s`` seconds.

    Returns 0 when woken, or the errno (EAGAIN: value already changed; ETIMEDOUT; EINTR).
    """
    if _SYS_FUTEX is None:  # unknown architecture: let the caller poll
        import time

        time.sleep(min(timeout_s or 0.001, 0.001))
        return errno.ETIMEDOUT
    if timeout_s is None:
        ts = None
    else:
        sec = int(timeout_s)
        ts = ctypes.byref(_Timespec(sec, int((timeout_s - sec) * 1e9)))
    r = _syscall(
        ctypes.c_long(_SYS_FUTEX),
        ctypes.c_void_p(addr),
        ctypes.c_long(FUTEX_WAIT),
        ctypes.c_long(expected & 0xFFFFFFFF),
        ts,
        None,
        ctypes.c_long(0),
    )
    return 0 if r == 0 else ctypes.get_errno()


def wake(addr: int, n: int = 0x7FFFFFFF) -> int:
    """Wake up to ``n`` waiters on the u32 at ``addr``; returns how many were woken."""
    if _SYS_FUTEX is None:
        return 0
    return _syscall(
        ctypes.c_long(_SYS_FUTEX),
        ctypes.c_void_p(addr),
        ctypes.c_long(FUTEX_WAKE),
        ctypes.c_long(n),
        None,
        None,
        ctypes.c_long(0),
    )
