"""Direct fast-lane calls in Python (native/rank/fastlane.h "Direct calls"; C++: fastlane_direct.cc): whether
this process may read its peers' memory and be read by them, and the moves themselves (process_vm_readv/writev)."""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import sys

import numpy as np

from . import _env
from ._cma import hugepages_at, yama_scope
from ._fastlane_layout import PUSH_PIECE, allgather_pushed, arena_entry_offset, coop_slice, direct_cut, get_int, put_int

_PR_SET_PTRACER, _PR_SET_PTRACER_ANY = 0x59616D61, ctypes.c_ulong(-1 & 0xFFFFFFFFFFFFFFFF)
_BROADCAST = 3
_PIECE = 1 << 20  # bytes per peer read at a time by fold_peers
_libc = None
_ok: bool | None = None


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def _lib():
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)
        iov, ul = ctypes.POINTER(_Iovec), ctypes.c_ulong
        for fn in (lib.process_vm_readv, lib.process_vm_writev):
            fn.argtypes = [ctypes.c_int, iov, ul, iov, ul, ul]
            fn.restype = ctypes.c_ssize_t
        _libc = lib
    return _libc


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
        return move(os.getpid(), ctypes.addressof(probe), ctypes.addressof(got), 8) == 0 and got.value == probe.value
    except (OSError, AttributeError):
        return False


def min_bytes() -> int:
    """This rank's ONET_FASTLANE_DIRECT_MIN_BYTES, or 0 when direct calls cannot work here."""
    want = int(_env.bytes_setting("ONET_FASTLANE_DIRECT_MIN_BYTES"))
    return want if want > 0 and allowed() else 0


def move(pid: int, addr: int, local: int, n: int, write: bool = False) -> int:
    """All of [addr, addr + n) of process ``pid`` into ``local`` (``write``: from ``local`` into that range):
    0, or the errno of the failed transfer."""
    lib = _lib()
    fn = lib.process_vm_writev if write else lib.process_vm_readv
    while n:
        here, there = _Iovec(local, n), _Iovec(addr, n)
        got = fn(pid, ctypes.byref(here), 1, ctypes.byref(there), 1, 0)
        if got < 0:
            e = ctypes.get_errno()
            if e == _errno.EINTR:
                continue
            return e
        if got == 0:
            return _errno.EFAULT
        local, addr, n = local + got, addr + got, n - got
    return 0


def read_peers(impl, seq: int, coll: int, root: int, nbytes: int, in_addr: int, out_addr: int) -> tuple[int, int]:
    """fastlane_direct.cc direct_read for PythonImpl ``impl``: (0 or errno, the group rank moved last)."""
    rank, P = impl.rank, impl.size
    if coll == _BROADCAST:
        cut = direct_cut(P, nbytes)
        if rank == root:
            hugepages_at(in_addr, nbytes)
            if out_addr != in_addr and nbytes:
                ctypes.memmove(out_addr, in_addr, nbytes)
            for i in range(1, P if cut < nbytes else 1):
                r = (rank + i) % P
                e = move(impl.peer_pid(r), impl.desc_addr(r, seq, out=True) + cut, in_addr + cut, nbytes - cut, True)
                if e:
                    return e, r
            return 0, -1
        hugepages_at(out_addr, nbytes)
        return move(impl.peer_pid(root), impl.desc_addr(root, seq), out_addr, cut), root
    hugepages_at(in_addr, nbytes)
    hugepages_at(out_addr, nbytes * P)
    if out_addr + rank * nbytes != in_addr and nbytes:
        ctypes.memmove(out_addr + rank * nbytes, in_addr, nbytes)
    # all_gather: push this rank's block into every peer output that lies in its arena, read the others' blocks
    to = [(rank + i) % P for i in range(1, P) if _pushed_to(impl, (rank + i) % P, seq, nbytes)]
    for a in range(0, nbytes if to else 0, PUSH_PIECE):
        n = min(PUSH_PIECE, nbytes - a)
        for r in to:
            e = move(impl.peer_pid(r), impl.desc_addr(r, seq, out=True) + rank * nbytes + a, in_addr + a, n, True)
            if e:
                return e, r
    for i in range(1, 1 if _pushed_to(impl, rank, seq, nbytes) else P):
        r = (rank + i) % P
        e = move(impl.peer_pid(r), impl.desc_addr(r, seq), out_addr + r * nbytes, nbytes)
        if e:
            return e, r
    return 0, -1


def _pushed_to(impl, q: int, seq: int, nbytes: int) -> bool:
    """Whether group rank ``q``'s all_gather output lies in q's arena (allgather_pushed, from q's ArenaEntry)."""
    at = arena_entry_offset(impl.size, q)
    arena, size = get_int(impl.mm, at + 112, 8), get_int(impl.mm, at + 120, 8)
    return allgather_pushed(arena, size, impl.desc_addr(q, seq, out=True), nbytes * impl.size)


def fold_peers(impl, seq, count, es, in_addr, out_addr, fold, scatter=False) -> tuple[int, int]:
    """fastlane_direct.cc direct_fold for PythonImpl ``impl``: fold this rank's slice (coop_slice) of every rank's
    input, in group-rank order (``fold``: list of uint8 arrays -> uint8 result), into its own output and write it
    into every peer's output; ``scatter`` (a reduce_scatter): fold block ``rank`` of every rank's input into the
    output and write nothing. (0 or errno, the group rank moved last)."""
    rank, P = impl.rank, impl.size
    lo, hi = (0, count) if scatter else coop_slice(P, count, es, rank)
    frm = rank * count * es if scatter else 0  # where this rank's part of an input starts
    hugepages_at(in_addr, count * es * (P if scatter else 1))
    if out_addr != in_addr:
        hugepages_at(out_addr, count * es)
    bufs = [np.empty(min(_PIECE, (hi - lo) * es), np.uint8) if r != rank else None for r in range(P)]
    for a in range(lo * es, hi * es, _PIECE):
        n = min(_PIECE, hi * es - a)
        srcs = []
        for r in range(P):
            if r == rank:
                srcs.append(np.frombuffer((ctypes.c_char * n).from_address(in_addr + frm + a), np.uint8))
                continue
            e = move(impl.peer_pid(r), impl.desc_addr(r, seq) + frm + a, bufs[r].ctypes.data, n)
            if e:
                return e, r
            srcs.append(bufs[r][:n])
        res = np.ascontiguousarray(fold(srcs))
        ctypes.memmove(out_addr + a, res.ctypes.data, n)
        for i in range(1, 1 if scatter else P):
            r = (rank + i) % P
            e = move(impl.peer_pid(r), impl.desc_addr(r, seq, out=True) + a, out_addr + a, n, True)
            if e:
                return e, r
    return 0, -1


def publish_arena(mm, size: int, rank: int, arena) -> None:
    """Group rank ``rank``'s ArenaEntry in segment ``mm`` (_fastlane_layout.arena_entry_offset): direct calls of
    the C++ lane copy this rank's arena tensors through their own mapping of ``arena`` (opened through
    /proc/<pid>/fd: the coordinator unlinks its name) instead of process_vm_readv/writev."""
    fd = getattr(arena, "fd", None)
    if arena is None or fd is None:
        return
    name = f"/proc/{os.getpid()}/fd/{fd}".encode()
    at = arena_entry_offset(size, rank)
    mm[at : at + 112] = name.ljust(112, b"\0")
    put_int(mm, at + 112, 8, ctypes.addressof(ctypes.c_char.from_buffer(arena.mm)))
    put_int(mm, at + 120, 8, len(arena.mm))
