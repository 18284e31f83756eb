"""The fast lane in pure Python (numpy + mmap): the same segment protocol as native/rank/fastlane.cc,
for hosts without the native library (no compiler at install, Pyodide) or ONET_RANK_IMPL=python.

The reduction repeats the engine's kernels (native/reduce/kernels_impl.inc) element by element:
inputs folded in group-rank order, f16/bf16 accumulated in f32 and rounded once (nearest even),
wrapping integer sum/prod, NaN-propagating min/max with -0 below +0, integer avg truncating.
"""

from __future__ import annotations

import ctypes
import errno
import os
import time

import numpy as np

from . import _env, _fastlane_direct, _futex
from ._client import _pid_alive
from ._fastlane_layout import (
    DESC,
    DESC_BYTES,
    DIRECT,
    H_ABORTED,
    H_COOP_MIN,
    H_WAKE,
    L_BAD,
    L_BAD_ERRNO,
    L_BAD_PEER,
    L_GLOBAL,
    L_PID,
    L_RED,
    L_SEQ,
    L_SLEEPING,
    L_START,
    block_offset,
    coop,
    coop_slice,
    line_offset,
)
from ._gen.enums import COLL_NAMES, COLLS, DTYPE_NAMES, REDOP_NAMES, REDOPS

_ALLREDUCE, _BROADCAST, _ALLGATHER = COLLS["allreduce"], COLLS["broadcast"], COLLS["allgather"]
_REDUCE_SCATTER, _BARRIER = COLLS["reduce_scatter"], COLLS["barrier"]
_SUM, _PROD, _MIN, _MAX, _AVG = REDOPS["sum"], REDOPS["prod"], REDOPS["min"], REDOPS["max"], REDOPS["avg"]
_BAND, _BOR, _BXOR, _PREMUL = REDOPS["band"], REDOPS["bor"], REDOPS["bxor"], REDOPS["premul_sum"]
# Wire dtype -> (storage dtype, accumulate dtype); 16-bit floats are stored as their bits.
_NP = {
    "f32": (np.float32, np.float32),
    "f64": (np.float64, np.float64),
    "f16": (np.uint16, np.float32),
    "bf16": (np.uint16, np.float32),
    "i8": (np.int8, np.int8),
    "u8": (np.uint8, np.uint8),
    "i32": (np.int32, np.int32),
    "i64": (np.int64, np.int64),
}
_yield = os.sched_yield if _env.value("ONET_YIELD") else (lambda: None)


def _widen(x: np.ndarray, name: str) -> np.ndarray:
    if name == "bf16":
        return (x.astype(np.uint32) << 16).view(np.float32)
    if name == "f16":
        return x.view(np.float16).astype(np.float32)  # exact
    return x


def _narrow(a: np.ndarray, name: str) -> np.ndarray:
    if name == "bf16":
        u = a.view(np.uint32)
        r = ((u + np.uint32(0x7FFF) + ((u >> 16) & 1)) >> 16).astype(np.uint16)
        nan = np.isnan(a)
        return np.where(nan, ((u >> 16) | 0x40).astype(np.uint16), r) if nan.any() else r
    if name == "f16":
        h = a.astype(np.float16).view(np.uint16)  # round to nearest even, like c10's conversion
        nan = np.isnan(a)
        return np.where(nan, (h & 0x8000) | 0x7E00, h).astype(np.uint16) if nan.any() else h
    return a


def _minmax(a: np.ndarray, b: np.ndarray, is_min: bool) -> np.ndarray:
    if a.dtype.kind in "iu":
        return np.minimum(a, b) if is_min else np.maximum(a, b)
    u = np.uint32 if a.dtype.itemsize == 4 else np.uint64
    with np.errstate(invalid="ignore"):
        r = np.where(b < a, b, a) if is_min else np.where(a < b, b, a)
        ab, bb = a.view(u), b.view(u)
        r = np.where(a == b, (ab | bb) if is_min else (ab & bb), r.view(u)).view(a.dtype)
        nan = np.isnan(a) | np.isnan(b)
        return np.where(nan, a + b, r) if nan.any() else r


def reduce_blocks(srcs: list[np.ndarray], redop: int, name: str, scale: float, divisor: int) -> np.ndarray:
    """The engine's fold of ``srcs`` (storage dtype, group-rank order) as storage-dtype elements."""
    acc_t = _NP[name][1]
    if redop == _PREMUL:
        k = acc_t(int(scale)) if np.dtype(acc_t).kind in "iu" else acc_t(scale)
        xs = (_widen(s, name) * k for s in srcs)
    else:
        xs = (_widen(s, name) for s in srcs)
    with np.errstate(over="ignore", invalid="ignore"):
        acc = np.array(next(xs), dtype=acc_t, copy=True)
        for x in xs:
            if redop in (_SUM, _AVG, _PREMUL):
                acc += x
            elif redop == _PROD:
                acc *= x
            elif redop in (_MIN, _MAX):
                acc = _minmax(acc, x, redop == _MIN)
            elif redop == _BAND:
                acc &= x
            elif redop == _BOR:
                acc |= x
            elif redop == _BXOR:
                acc ^= x
        if redop == _AVG:
            if acc.dtype.kind in "iu":
                wide = acc.astype(np.int64)
                q = np.abs(wide) // divisor
                acc = np.where(wide < 0, -q, q).astype(acc_t)
            else:
                acc = acc / acc_t(divisor)
    return _narrow(acc.astype(acc_t, copy=False), name)


class PythonImpl:
    """One communicator's segment driven from Python."""

    name = "python"

    def __init__(self, mm, base: int, size: int, cap: int, rank: int):
        self.mm = mm
        self.base = base
        self.size = size
        self.cap = cap
        self.rank = rank
        self.u8 = np.frombuffer(mm, dtype=np.uint8)
        self.u32 = self.u8.view(np.uint32)
        self.u64 = self.u8.view(np.uint64)
        self.wake_addr = base + H_WAKE
        self._seq_idx = [(line_offset(r) + L_SEQ) // 8 for r in range(size)]
        self._red_idx = [(line_offset(r) + L_RED) // 8 for r in range(size)]

    def _line(self, r: int, off: int, width: int = 4) -> int:
        i = (line_offset(r) + off) // width
        return int(self.u32[i] if width == 4 else self.u64[i])

    def _missing(self, seq: int, idx: list[int] | None = None) -> list[int]:
        u64 = self.u64
        return [r for r, i in enumerate(idx or self._seq_idx) if u64[i] < seq]

    def _publish(self, seq: int, idx: list[int] | None = None) -> None:
        self.u64[(idx or self._seq_idx)[self.rank]] = seq
        w = H_WAKE // 4
        self.u32[w] = (int(self.u32[w]) + 1) & 0xFFFFFFFF
        if any(self._line(r, L_SLEEPING) for r in range(self.size) if r != self.rank):
            _futex.wake(self.wake_addr)

    def _wait_all(self, seq: int, spin_us: float, timeout_s: float, idx: list[int] | None = None):
        """Wait until every rank's word ``idx`` (default: seq; ``_red_idx``: cooperative slice folded) is seq."""
        t0 = time.perf_counter()
        end = t0 + spin_us * 1e-6
        while self._missing(seq, idx):
            if time.perf_counter() > end:
                break
            _yield()
        deadline = t0 + timeout_s
        me = self._line(self.rank, L_GLOBAL)
        sleeping = (line_offset(self.rank) + L_SLEEPING) // 4
        while True:
            missing = self._missing(seq, idx)
            if not missing:
                return 0
            ab = int(self.u32[H_ABORTED // 4])
            if ab:
                return 4, f"rank {me}: the communicator was aborted by rank {ab - 1}", [ab - 1]
            dead = [
                r
                for r in missing
                if self._line(r, L_PID) and not _pid_alive(self._line(r, L_PID), self._line(r, L_START, 8))
            ]
            if dead:
                who = ", ".join(f"rank {self._line(r, L_GLOBAL)} (pid {self._line(r, L_PID)})" for r in dead)
                return (
                    4,
                    f"rank {me}: {who} died before arriving at fast-lane collective #{seq}; the collective "
                    "cannot finish (shrink the group or restart the job)",
                    [self._line(r, L_GLOBAL) for r in dead],
                )
            if time.perf_counter() > deadline:
                who = [self._line(r, L_GLOBAL) for r in missing]
                return (
                    3,
                    f"rank {me}: fast-lane collective #{seq} waited {int(timeout_s)} s for rank(s) "
                    f"{', '.join(map(str, who))}; they did not arrive (raise ONET_TIMEOUT or check that every "
                    "rank calls the same collectives)",
                    who,
                )
            self.u32[sleeping] = 1
            v = int(self.u32[H_WAKE // 4])
            if self._missing(seq, idx):
                _futex.wait(self.wake_addr, v, 0.05)
            self.u32[sleeping] = 0

    def _check(self, seq, mine):
        """Every peer's descriptor against ours, field by field, in the engine's words (engine/match.cc)."""
        # The reference is group rank 0's call, as in the engine, so every rank names the same pair.
        mine = DESC.unpack_from(self.mm, block_offset(self.size, self.cap, 0, seq))
        _, coll, dtype, redop, root, count, scale, _, flags, _, _ = mine
        reduces, label = coll in (_ALLREDUCE, _REDUCE_SCATTER), f"fast-lane {COLL_NAMES.get(coll, '?')} #{seq}"
        me = self._line(0, L_GLOBAL)
        for r in range(self.size):
            d = DESC.unpack_from(self.mm, block_offset(self.size, self.cap, r, seq))
            a, b = f"rank {me}", f"rank {self._line(r, L_GLOBAL)}"
            if d[1] != coll:
                mine_c, theirs_c = COLL_NAMES.get(coll, "?"), COLL_NAMES.get(d[1], "?")
                what = f"fast-lane #{seq}: {a} called {mine_c}, {b} called {theirs_c}"
            elif d[2] != dtype:
                what = f"{label}: dtype differs: {a} has {DTYPE_NAMES.get(dtype)}, {b} has {DTYPE_NAMES.get(d[2])}"
            elif reduces and d[3] != redop:
                what = f"{label}: reduce op differs: {a} has {REDOP_NAMES.get(redop)}, {b} has {REDOP_NAMES.get(d[3])}"
            elif coll == _BROADCAST and d[4] != root:
                what = f"{label}: root differs: {a} has {root}, {b} has {d[4]}"
            elif (d[8] ^ flags) & DIRECT:
                how = ("through the blocks", "direct")
                what = (
                    f"{label}: {a} runs it {how[flags & DIRECT]}, {b} {how[d[8] & DIRECT]} "
                    "(ONET_FASTLANE_DIRECT_MIN_BYTES, or process_vm_readv allowed on one rank only)"
                )
            elif d[5] != count:
                what = f"{label}: count differs: {a} has {count}, {b} has {d[5]}"
            elif reduces and DESC.pack(*d)[32:40] != DESC.pack(*mine)[32:40]:
                what = f"{label}: premul_sum factor differs: {a} has {scale}, {b} has {d[6]}"
            else:
                continue
            g = self._line(r, L_GLOBAL)
            return 1, what + " — every rank must make the same collective call in the same order", sorted({g, me})
        return 0

    def publish(self, seq, coll, dtype, redop, root, count, scale, in_addr, in_bytes, pieces=None, flags=0, out_addr=0):
        """The non-blocking half of a call: this rank's descriptor and contribution into its block, then
        its sequence number; never waits for peers. ``pieces`` ([(address, bytes)], in_bytes in all) is
        copied one after the other instead of ``in_addr`` (a chunked reduce_scatter's strided input).
        A direct call (``flags`` DIRECT) publishes only the descriptor, with ``in_addr`` for its peers to read
        and ``out_addr`` for a broadcast's root to write.
        Returns 0 or an error tuple."""
        off = block_offset(self.size, self.cap, self.rank, seq)
        if flags & DIRECT:
            DESC.pack_into(self.mm, off, seq, coll, dtype, redop, root, count, scale, in_addr, flags, 0, out_addr)
            self._publish(seq)
            return 0
        if in_bytes > self.cap:
            return 2, f"fast-lane contribution of {in_bytes} bytes exceeds the segment's {self.cap}", []
        DESC.pack_into(self.mm, off, seq, coll, dtype, redop, root, count, scale, 0, 0, 0, 0)
        if pieces is not None:
            at = self.base + off + DESC_BYTES
            for addr, nb in pieces:
                ctypes.memmove(at, addr, nb)
                at += nb
        elif in_bytes and not (coll == _BROADCAST and self.rank != root):
            ctypes.memmove(self.base + off + DESC_BYTES, in_addr, in_bytes)
        self._publish(seq)
        return 0

    def own_data(self, seq: int) -> int:
        """The address of this rank's published contribution for call ``seq``."""
        return self.base + block_offset(self.size, self.cap, self.rank, seq) + DESC_BYTES

    def ready(self, seq: int) -> bool:
        """Whether completing call ``seq`` would not wait: every peer published it, or the lane was aborted."""
        return not self._missing(seq) or bool(self.u32[H_ABORTED // 4])

    def aborted_by(self) -> int:
        """1 + the global rank that aborted the communicator, or 0."""
        return int(self.u32[H_ABORTED // 4])

    def run(
        self, seq, coll, dtype, redop, root, count, scale, in_addr, in_bytes, out_addr, spin_us, timeout_s, flags=0
    ):
        args = (seq, coll, dtype, redop, root, count, scale, in_addr)
        err = self.publish(*args, in_bytes, flags=flags, out_addr=out_addr)
        return err or self.complete(*args, out_addr, spin_us, timeout_s, flags)

    def peer_pid(self, r: int) -> int:
        return self._line(r, L_PID)

    def desc_addr(self, r: int, seq: int, out: bool = False) -> int:
        """The source (``out``: output) address group rank ``r`` published for direct call ``seq``."""
        return DESC.unpack_from(self.mm, block_offset(self.size, self.cap, r, seq))[10 if out else 7]

    def complete(self, seq, coll, dtype, redop, root, count, scale, in_addr, out_addr, spin_us, timeout_s, flags=0):
        """The second half of a published call: wait for the peers, check, fold into ``out_addr``."""
        P, rank = self.size, self.rank
        mine = (seq, coll, dtype, redop, root, count, scale, in_addr if flags & DIRECT else 0, flags, 0, out_addr)
        err = self._wait_all(seq, spin_us, timeout_s) or self._check(seq, mine)
        if err or count == 0 or coll == _BARRIER:
            return err
        name = DTYPE_NAMES[dtype]
        st = np.dtype(_NP[name][0])
        nb = count * st.itemsize
        refused = self._refuse(redop, name) if coll in (_ALLREDUCE, _REDUCE_SCATTER) else 0
        if flags & DIRECT:
            call = (seq, coll, root, nb, in_addr, out_addr, spin_us, timeout_s)
            if coll not in (_ALLREDUCE, _REDUCE_SCATTER):
                return self._direct(*call)
            if refused:  # every rank refuses it alike, after the second meeting (fastlane.cc run_direct)
                return self._direct(*call, refused=refused)

            def fold(srcs):
                return reduce_blocks([s.view(st) for s in srcs], redop, name, scale, P).view(np.uint8)

            scatter = coll == _REDUCE_SCATTER
            moves = (self, seq, count, st.itemsize, in_addr, out_addr, fold, scatter)
            return self._direct(*call, fold=lambda: _fastlane_direct.fold_peers(*moves))
        if refused:
            return refused
        base = [block_offset(P, self.cap, r, seq) + DESC_BYTES for r in range(P)]
        if coll == _BROADCAST:
            if rank != root:
                ctypes.memmove(out_addr, self.base + base[root], nb)
            elif out_addr != in_addr:
                ctypes.memmove(out_addr, in_addr, nb)
            return 0
        if coll == _ALLGATHER:
            for r in range(P):
                ctypes.memmove(out_addr + r * nb, self.base + base[r], nb)
            return 0
        if coll == _ALLREDUCE and coop(P, nb, int(self.u32[H_COOP_MIN // 4])):  # fastlane.h "Cooperative allreduce"
            lo, hi = coop_slice(P, count, st.itemsize, rank)
            a, b = lo * st.itemsize, hi * st.itemsize
            res = reduce_blocks([self.u8[o + a : o + b].view(st) for o in base], redop, name, scale, P)
            ctypes.memmove(self.base + base[0] + a, res.ctypes.data, b - a)
            self._publish(seq, self._red_idx)
            err = self._wait_all(seq, spin_us, timeout_s, self._red_idx)
            if err:
                return err
            ctypes.memmove(out_addr, self.base + base[0], nb)
            return 0
        at = rank * nb if coll == _REDUCE_SCATTER else 0
        srcs = [self.u8[b + at : b + at + nb].view(st) for b in base]
        res = reduce_blocks(srcs, redop, name, scale, P)
        ctypes.memmove(out_addr, res.ctypes.data, nb)
        return 0

    def _refuse(self, redop: int, name: str):
        """The error of a fold the kernels refuse (a bitwise op on floats), or 0."""
        if redop in (_BAND, _BOR, _BXOR) and name in ("f32", "f64", "f16", "bf16"):
            me = self._line(self.rank, L_GLOBAL)
            return 6, f"rank {me}: {REDOP_NAMES[redop]} is a bitwise op; {name} has no bitwise reduction", [me]
        return 0

    def _direct(self, seq, coll, root, nb, in_addr, out_addr, spin_us, timeout_s, fold=None, refused=0):
        """fastlane.cc run_direct: read the peers' tensors (``fold``: an allreduce's moves), meet on ``red``,
        fail alike if any read failed (or with ``refused``, the error every rank's fold gives)."""
        if refused:
            e, peer = 0, -1
        elif fold is not None:
            e, peer = fold()
        else:
            e, peer = _fastlane_direct.read_peers(self, seq, coll, root, nb, in_addr, out_addr)
        if e:
            lo = line_offset(self.rank)
            self.u32[(lo + L_BAD_ERRNO) // 4] = e
            self.u32[(lo + L_BAD_PEER) // 4] = self._line(peer, L_GLOBAL) & 0xFFFFFFFF
            self.u64[(lo + L_BAD) // 8] = seq
        self._publish(seq, self._red_idx)
        err = self._wait_all(seq, spin_us, timeout_s, self._red_idx)
        if err or refused:
            return err or refused
        for r in range(self.size):
            if self._line(r, L_BAD, 8) != seq:
                continue
            e, g, p = self._line(r, L_BAD_ERRNO), self._line(r, L_GLOBAL), self._line(r, L_BAD_PEER)
            what = (
                f"fast-lane {COLL_NAMES.get(coll, '?')} #{seq}: rank {g} could not reach rank {p}'s tensor with "
                f"process_vm_readv/writev ({os.strerror(e)})"
            )
            if e == errno.ESRCH:
                return 4, what + "; that rank is gone (shrink the group or restart the job)", [p]
            return (
                6 if e in (errno.EPERM, errno.ENOSYS, errno.EACCES) else 2,
                what + "; this host forbids reading another process's memory (kernel.yama.ptrace_scope, seccomp) or "
                "the tensor was freed during the call: set ONET_FASTLANE_DIRECT_MIN_BYTES=0 on every rank to copy "
                "instead",
                [g, p],
            )
        return 0

    def abort(self, who: int) -> None:
        self.u32[H_ABORTED // 4] = who + 1
        w = H_WAKE // 4
        self.u32[w] = (int(self.u32[w]) + 1) & 0xFFFFFFFF
        _futex.wake(self.wake_addr)
