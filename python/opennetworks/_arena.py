"""A rank's arena and the job's ctl segment, mapped from /dev/shm (docs/protocol.md §3)."""

from __future__ import annotations

import bisect
import mmap
import os
from collections import deque

from . import _futex
from ._errors import InvalidArgumentError, ProtocolError
from ._layout import (
    ALIGN,
    CTL_BELL,
    CTL_BYTES,
    CTL_CLOSING,
    CTL_COORD_SLEEPING,
    DATA_OFFSET,
    LAYOUT_VERSION,
    MAGIC,
    OFF_DATA_BYTES,
    OFF_DONE_FUTEX,
    OFF_MAGIC,
    OFF_RANK,
    OFF_VERSION,
)


def shm_path(name: str) -> str:
    return "/dev/shm/" + name.lstrip("/")


def map_segment(name: str, size: int | None = None) -> mmap.mmap:
    """Open and map a POSIX shared memory segment by its name (e.g. ``/onet-job-12-r0``)."""
    fd = os.open(shm_path(name), os.O_RDWR)
    try:
        if size is None:
            size = os.fstat(fd).st_size
        return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)


class Allocator:
    """First-fit allocator over the data region; blocks are ALIGN-byte aligned.

    Free blocks are kept sorted by offset and merged with their neighbours on free.
    """

    def __init__(self, size: int):
        self.size = size
        self._starts = [0]  # free block starts, sorted
        self._ends = [size]  # matching ends
        self._used: dict[int, int] = {}  # start -> length
        self._later: deque[int] = deque()  # freed by finalizers; merged at the next alloc

    def free_later(self, off: int) -> None:
        """Free ``off`` at the next alloc: safe from a finalizer on any thread (no lock taken)."""
        self._later.append(off)

    def alloc(self, nbytes: int) -> int | None:
        while self._later:
            self.free(self._later.popleft())
        n = max(ALIGN, (nbytes + ALIGN - 1) & ~(ALIGN - 1))
        starts, ends = self._starts, self._ends
        for i in range(len(starts)):
            s = starts[i]
            if ends[i] - s >= n:
                if ends[i] - s == n:
                    del starts[i]
                    del ends[i]
                else:
                    starts[i] = s + n
                self._used[s] = n
                return s
        return None

    def free(self, off: int) -> None:
        n = self._used.pop(off)
        end = off + n
        starts, ends = self._starts, self._ends
        i = bisect.bisect_left(starts, off)
        merge_left = i > 0 and ends[i - 1] == off
        merge_right = i < len(starts) and starts[i] == end
        if merge_left and merge_right:
            ends[i - 1] = ends[i]
            del starts[i]
            del ends[i]
        elif merge_left:
            ends[i - 1] = end
        elif merge_right:
            starts[i] = off
        else:
            starts.insert(i, off)
            ends.insert(i, end)

    @property
    def in_use(self) -> int:
        return sum(self._used.values())

    def largest_free(self) -> int:
        return max((e - s for s, e in zip(self._starts, self._ends)), default=0)


class Arena:
    """The rank's mapped arena and ctl segment, with raw views used by the hot path."""

    def __init__(self, arena_name: str, ctl_name: str, data_bytes: int, rank: int):
        self.mm = map_segment(arena_name, DATA_OFFSET + data_bytes)
        # Kept open for the process's life: the coordinator unlinks the name, and a peer rank's direct lane call
        # maps this arena through /proc/<pid>/fd/<fd> (_fastlane.py _publish_arena). None: it could not be opened.
        try:
            self.fd: int | None = os.open(shm_path(arena_name), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.fd = None
        self.ctl = map_segment(ctl_name, CTL_BYTES)
        self.mv = memoryview(self.mm)
        self.u32 = self.mv.cast("I")
        self.i32 = self.mv.cast("i")
        self.u64 = self.mv.cast("Q")
        self.ctl_mv = memoryview(self.ctl)
        self.ctl_u32 = self.ctl_mv.cast("I")
        magic, version = self.u32[OFF_MAGIC // 4], self.u32[OFF_VERSION // 4]
        if magic != MAGIC:
            raise ProtocolError(
                f"arena {arena_name} has magic {magic:#x}, expected {MAGIC:#x}: "
                "the coordinator is not an OpenNetworks coordinator of this version"
            )
        if version != LAYOUT_VERSION:
            raise ProtocolError(
                f"arena {arena_name} has layout version {version}, this client speaks "
                f"{LAYOUT_VERSION}: install matching versions of the Python package "
                "and the coordinator"
            )
        if self.u32[OFF_RANK // 4] != rank:
            raise ProtocolError(f"arena {arena_name} belongs to rank {self.u32[OFF_RANK // 4]}, not {rank}")
        self.data_bytes = self.u64[OFF_DATA_BYTES // 8] or data_bytes
        if self.data_bytes > len(self.mm) - DATA_OFFSET:
            raise ProtocolError(
                f"arena {arena_name} claims {self.data_bytes} data bytes but maps only "
                f"{len(self.mm) - DATA_OFFSET}: a corrupt or foreign segment"
            )
        self.done_addr = _futex.address_of(self.mm, OFF_DONE_FUTEX)
        self.bell_addr = _futex.address_of(self.ctl, CTL_BELL)
        self.alloc = Allocator(self.data_bytes)
        self._np = None
        self._torch = None

    @property
    def closing(self) -> bool:
        return self.ctl_u32[CTL_CLOSING // 4] != 0

    @property
    def coord_sleeping(self) -> bool:
        return self.ctl_u32[CTL_COORD_SLEEPING // 4] == 1

    def data_numpy(self):
        """The whole data region as a writable numpy uint8 array (zero-copy)."""
        if self._np is None:
            import numpy as np

            self._np = np.frombuffer(self.mm, dtype=np.uint8, count=self.data_bytes, offset=DATA_OFFSET)
        return self._np

    def data_torch(self):
        """The whole data region as a writable torch uint8 tensor (zero-copy)."""
        if self._torch is None:
            import warnings

            import torch

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._torch = torch.frombuffer(self.mm, dtype=torch.uint8, count=self.data_bytes, offset=DATA_OFFSET)
        return self._torch

    def too_big(self, nbytes: int, what: str) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"{what} needs {nbytes} bytes of shared memory but the arena's data region holds "
            f"{self.data_bytes} bytes: set ONET_ARENA_BYTES (e.g. ONET_ARENA_BYTES={_suggest(nbytes)}) "
            "before the coordinator starts, or split the tensor"
        )


def _suggest(nbytes: int) -> int:
    n = 1 << 20
    while n < 2 * nbytes:
        n <<= 1
    return n
