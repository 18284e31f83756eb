"""Rank-side fast lane: small collectives of a single-host communicator run among its ranks in a
shared segment, without the coordinator (docs/performance.md "Rank-side fast lane").

Whether a call takes the lane depends only on the collective, its per-rank input bytes, the
communicator (all ranks on one host), ONET_FASTLANE_MAX_BYTES and ONET_FASTLANE_CHUNKED_MAX_BYTES (calls
between the two run as lane calls of at most one block each, _fastlane_calls.py), never on timing, on where
a tensor lives or on which implementation (ONET_RANK_IMPL) a rank uses, so every rank makes the same choice.
A call first waits for this rank's in-flight collectives of the same communicator, so results keep program
order.

A call is two halves: ``start`` publishes this rank's contribution and never waits for peers;
``finish`` (Work.wait(), is_completed(), the future, or the next call of the communicator) waits for
the peers' contributions and folds them into the output. A rank starts call k only after it finished
k-1, so the two-block protocol of native/rank/fastlane.h holds unchanged. Once a peer aborted the
communicator (ProcessGroup.abort(), shrink_group(SHRINK_ABORT)) ``start`` returns None and the call
takes the engine path, which reports the coordinator's own error.

The segment (layout: _fastlane_layout.py, native/rank/fastlane.h) is made on the communicator's first
eligible call: group rank 0 creates it under a temporary name and renames it into place, all ranks
meet once in an engine barrier, the others map it, and group rank 0 unlinks the name after the first
call completes (every rank has it mapped by then), so nothing is left in /dev/shm.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import mmap
import os
import threading
import time
import warnings

from . import _env, _fastlane_cap, _fastlane_direct
from ._client import _pid_start
from ._errors import AbortedError, ClosedError, InvalidArgumentError, error_for_status
from ._fastlane_calls import Pending, _Chunk, _Done, plan_pieces
from ._fastlane_layout import (
    COOP_MIN_BYTES,
    DIRECT,
    H_ABORTED,
    H_CAP,
    H_COOP_MIN,
    H_MAGIC,
    H_SIZE,
    H_VERSION,
    L_ATTACHED,
    L_GLOBAL,
    L_PID,
    L_START,
    MAGIC,
    VERSION,
    direct_call,
    get_int,
    line_offset,
    put_int,
    segment_bytes,
    unlink_quietly,
)
from ._gen.enums import COLLS, DTYPE_SIZE
from ._post_op import describe

ALLREDUCE, BROADCAST, ALLGATHER = COLLS["allreduce"], COLLS["broadcast"], COLLS["allgather"]
REDUCE_SCATTER, BARRIER = COLLS["reduce_scatter"], COLLS["barrier"]
LANE_COLLS = frozenset((ALLREDUCE, BROADCAST, ALLGATHER, REDUCE_SCATTER, BARRIER))

# How often a lane call checks that the coordinator is still there (it costs a /proc read).
_COORD_CHECK_S = 0.05
_lanes_lock = threading.Lock()


def lane(client, group: int, ranks) -> FastLane | None:
    """The fast lane of ``group`` (global ``ranks``), or None when it is off for this communicator."""
    if client.closed:  # after close() every call takes the engine path, which refuses it (ECLOSED)
        return None
    lanes = client.__dict__.setdefault("_fastlanes", {})
    fl = lanes.get(group)
    if fl is None:
        with _lanes_lock:
            fl = lanes.get(group)
            if fl is None:
                fl = FastLane(client, group, list(ranks))
                lanes[group] = fl
    return fl if fl.max_bytes else None


def abort(client, group: int, who: int, why: str | None = None) -> None:
    """Wake and fail this group's ranks waiting in the lane (ProcessGroup.abort); ``why`` words the
    error of this rank's pending lane calls."""
    fl = client.__dict__.get("_fastlanes", {}).get(group)
    if fl is not None:
        if why is not None:
            fl.abort_why = why
        if fl.impl is not None:
            fl.impl.abort(who)


def implementation() -> tuple[str, str | None]:
    """(the impl this process uses, why it is not the one asked for or None)."""
    if _env.value("ONET_RANK_IMPL") == "python":
        return "python", None
    from . import _fastlane_native

    if _fastlane_native.load() is None:
        return "python", _fastlane_native.load_error()
    return "native", None


class FastLane:
    def __init__(self, client, group: int, ranks: list[int]):
        self.client = client
        self.group = group
        self.ranks = ranks
        self.size = len(ranks)
        self.rank = ranks.index(client.rank)
        info = client.info
        single_host = info.local_world >= info.world
        self.max_bytes = int(_env.bytes_setting("ONET_FASTLANE_MAX_BYTES")) if single_host else 0
        # Every rank of the communicator must have declared the lane at register (_fastlane_cap.py):
        # in a job with Node, web or JAX ranks those have no lane, so everybody takes the engine path.
        self.version = _fastlane_cap.allowed(client, ranks, client.engine.timeout_s) if self.max_bytes > 0 else 0
        if not self.version:
            self.max_bytes = 0
        self.cap = max(64, self.max_bytes)
        # Calls up to `limit` bytes per rank take the lane, in pieces of `max_bytes` above it (plan_pieces).
        chunked = int(_env.bytes_setting("ONET_FASTLANE_CHUNKED_MAX_BYTES")) if self.max_bytes else 0
        self.limit = max(self.max_bytes, chunked)
        # Calls (but barriers) whose input is at least `direct_min` bytes per rank are direct calls (rank-to-rank
        # process_vm_readv, fastlane.h "Direct calls"), at any size; 0 where this process cannot do them.
        self.direct_min = _fastlane_direct.min_bytes() if self.max_bytes else 0
        # Spinning only pays while every rank has a core: with more ranks on the host than cores a
        # spinning rank burns the slice its late peer needs (docs/performance.md), so it sleeps at once.
        crowded = info.local_world > (os.cpu_count() or 1)
        self.spin_us = 0.0 if crowded else client.engine.spin_s * 1e6
        self.seq = 0
        self._next_coord_check = 0.0
        self.impl = None
        self.pub = None  # PythonImpl on the same segment: publishes for both implementations
        self.pending: Pending | None = None
        self.abort_why: str | None = None
        self.broken: str | None = None
        self._path = None
        self._mm = None
        self._lock = threading.Lock()

    # ---- segment -----------------------------------------------------------------------
    def _name(self) -> str:
        c = self.client
        tag = hashlib.sha1(f"{c.job}/{c.coord_pid}/{c.reg.ctl}".encode()).hexdigest()[:12]
        return f"/dev/shm/onet-fl-{tag}-{os.getuid()}-g{self.group}"

    def _attach(self) -> None:
        path = self._name()
        nbytes = segment_bytes(self.size, self.cap)
        if self.rank == 0:
            try:
                os.unlink(path)  # a stale one of an earlier job with the same coordinator pid
            except FileNotFoundError:
                pass
            tmp = f"{path}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.ftruncate(fd, nbytes)
                mm = mmap.mmap(fd, nbytes, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            finally:
                os.close(fd)
            put_int(mm, H_SIZE, 4, self.size)
            put_int(mm, H_COOP_MIN, 4, self._coop_min())
            put_int(mm, H_CAP, 8, self.cap)
            put_int(mm, H_VERSION, 4, VERSION)
            put_int(mm, H_MAGIC, 4, MAGIC)
            os.rename(tmp, path)
            atexit.register(unlink_quietly, path)  # in case this rank never completes a lane call
        try:
            self._engine_barrier()
        except BaseException:
            if self.rank == 0:
                unlink_quietly(path)
            raise
        if self.rank != 0:
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                raise AbortedError(
                    f"rank {self.client.rank}: the fast-lane segment {path} of group {self.group} is missing; "
                    "group rank 0 did not create it (set ONET_FASTLANE_MAX_BYTES to the same value on every rank)",
                    [self.ranks[0]],
                ) from None
            try:
                mm = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            finally:
                os.close(fd)
            size, cap = get_int(mm, H_SIZE, 4), get_int(mm, H_CAP, 8)
            if get_int(mm, H_MAGIC, 4) != MAGIC or get_int(mm, H_VERSION, 4) != VERSION or size != self.size:
                raise AbortedError(f"{path} is not this group's fast-lane segment (magic/version/size)", [self.rank])
            if cap != self.cap:
                put_int(mm, H_ABORTED, 4, self.client.rank + 1)
                raise InvalidArgumentError(
                    f"rank {self.client.rank}: ONET_FASTLANE_MAX_BYTES is {self.max_bytes} here but {cap} on rank "
                    f"{self.ranks[0]}; set the same value on every rank",
                    [self.ranks[0], self.client.rank],
                )
        lo = line_offset(self.rank)
        put_int(mm, lo + L_GLOBAL, 4, self.client.rank)
        put_int(mm, lo + L_START, 8, _pid_start(os.getpid()))
        put_int(mm, lo + L_PID, 4, os.getpid())
        _fastlane_direct.publish_arena(mm, self.size, self.rank, self.client.engine.arena)
        put_int(mm, lo + L_ATTACHED, 4, 1)
        self._mm = mm
        self._path = path if self.rank == 0 else None
        base = ctypes.addressof(ctypes.c_char.from_buffer(mm))
        which, why = implementation()
        from ._fastlane_py import PythonImpl

        self.pub = PythonImpl(mm, base, self.size, self.cap, self.rank)
        if which == "native":
            from . import _fastlane_native

            self.impl = _fastlane_native.NativeImpl(_fastlane_native.load(), base, self.rank)
        else:
            if why and _env.value("ONET_RANK_IMPL") == "native":
                warnings.warn(f"opennetworks: fast lane in Python: {why}", RuntimeWarning, stacklevel=4)
            self.impl = self.pub

    def _coop_min(self) -> int:
        """Head.coop_min for a new segment (group rank 0's value holds for all; docs/performance.md
        "Cooperative allreduce"): 0 (never) at P = 2, where it moves more bytes than every rank folding
        (3.5 S against 3 S), and with more ranks on the host than cores, where its second meeting costs a
        wake-up per rank (won 17-24 % at load 9, lost 14-86 % at load 17 on 2 cores); else COOP_MIN_BYTES."""
        crowded = self.client.info.local_world > (os.cpu_count() or 1)
        return 0 if self.size <= 2 or crowded else COOP_MIN_BYTES

    def _engine_barrier(self) -> None:
        c = self.client
        eng = c.engine
        s = c.next_seq(self.group)
        b = COLLS["barrier"]
        op = eng.post(s, b, 5, 0, 0, 0, 0, 0, 0, self.group, 0, 1.0, describe(b, s, self.group, 0))
        eng.wait(op)

    # ---- one call ------------------------------------------------------------------------
    def fits(self, in_bytes: int) -> bool:
        return in_bytes <= self.max_bytes

    def takes(self, coll: int, nbytes: int) -> bool:
        """Whether a call of ``nbytes`` input bytes per rank takes the lane (in one block, in pieces, or direct)."""
        return nbytes <= self.limit or direct_call(coll, nbytes, self.direct_min)

    def run(self, coll, dtype, redop, root, count, scale, in_addr, in_bytes, out_addr, timeout_s=None) -> None:
        """Run one collective to the end; raises the structured error (code, message, ranks) on failure."""
        p = self.start(coll, dtype, redop, root, count, scale, in_addr, in_bytes, out_addr, timeout_s)
        if p is None:
            if self.client.closed:
                raise ClosedError(f"rank {self.client.rank} closed its communicator", [self.client.rank])
            raise AbortedError(self.broken, [self.client.rank])
        self.finish(p)
        if p.error is not None:
            raise p.error

    def start(self, coll, dtype, redop, root, count, scale, in_addr, in_bytes, out_addr, timeout_s=None):
        """Publish this rank's contribution, never waiting for peers: a Pending for ``finish``, or None when
        a peer aborted the communicator (the call then belongs on the engine path). ``out_addr`` must stay
        valid until ``finish``. Raises the structured error when the call cannot start."""
        with self._lock:
            if self.pending is not None:  # program order, and the two-block protocol: k-1 ends before k
                self._finish_locked(self.pending)
            if self.client.closed:  # the engine path refuses it with the coordinator's ECLOSED
                return None
            if self.broken is not None:
                if self.pub is not None and self.pub.aborted_by():
                    return None
                raise AbortedError(self.broken, [self.client.rank])
            eng = self.client.engine
            now = time.monotonic()
            if now > self._next_coord_check:  # the lane does not need it, but the job is over without it
                self._next_coord_check = now + _COORD_CHECK_S
                self._check_coordinator(eng)
            if eng.dead_reason is not None:
                if self.impl is not None:  # peers waiting in this call learn it at once (EABORTED)
                    self.impl.abort(self.client.rank)
                raise AbortedError(eng.dead_reason, [self.client.rank])
            if eng._inflight:  # keep program order with this communicator's async collectives
                for op in eng.pending():
                    if op.group == self.group and op.seq and not op.completed:
                        eng.wait(op, raise_error=False)
            if self.impl is None:
                self._attach()
            if self.pub.aborted_by():  # aborted by a peer: the engine path gives the coordinator's error
                self.broken = f"the fast lane of group {self.group} was aborted"
                return None
            t = eng.timeout_s if timeout_s is None else timeout_s
            es = DTYPE_SIZE.get(dtype, 1)
            whole = count * es * (self.size if coll == REDUCE_SCATTER else 1)  # this rank's input bytes
            if direct_call(coll, whole, self.direct_min):  # peers read in_addr until finish returns
                self.seq += 1
                err = self.pub.publish(
                    self.seq, coll, dtype, redop, root, count, scale, in_addr, 0, flags=DIRECT, out_addr=out_addr
                )
                if err:
                    raise error_for_status(*err)
                p = Pending(
                    self.seq, (coll, dtype, redop, root, count, scale, in_addr, out_addr, self.spin_us, t, DIRECT)
                )
            elif whole <= self.max_bytes:  # one lane call
                self.seq += 1
                err = self.pub.publish(self.seq, coll, dtype, redop, root, count, scale, in_addr, in_bytes)
                if err:
                    raise error_for_status(*err)
                own = self.pub.own_data(self.seq)
                p = Pending(self.seq, (coll, dtype, redop, root, count, scale, own, out_addr, self.spin_us, t))
            else:
                cut = (self.size, self.max_bytes, self.client.rank)
                chunks = plan_pieces(coll, es, count, in_addr, in_bytes, out_addr, *cut)
                p = self._publish(coll, dtype, redop, root, scale, chunks[0], t)
                p.rest = chunks[1:]
                p.call = (coll, dtype, redop, root, scale, t)
            self.pending = p
            return p

    def _publish(self, coll, dtype, redop, root, scale, c: _Chunk, t) -> Pending:
        self.seq += 1
        pub = self.pub
        err = pub.publish(self.seq, coll, dtype, redop, root, c.count, scale, c.in_addr, c.in_bytes, c.pieces)
        if err:
            raise error_for_status(*err)
        out = c.stage[0].ctypes.data if c.stage is not None else c.out_addr
        args = (coll, dtype, redop, root, c.count, scale, pub.own_data(self.seq), out, self.spin_us, t)
        p = Pending(self.seq, args)
        p.chunk = c
        return p

    def ready(self, p: Pending) -> bool:
        """Whether ``finish(p)`` would not wait for a peer."""
        return p.done or self.pub.ready(p.seq)

    def finish(self, p: Pending) -> None:
        """Wait for the peers' contributions of ``p`` and fold them into its output; sets ``p.error``."""
        if not p.done:
            with self._lock:
                self._finish_locked(p)

    def flush(self) -> None:
        """Finish this rank's started lane call, if any (before a call that takes the engine path)."""
        p = self.pending
        if p is not None:
            self.finish(p)

    def _finish_locked(self, p: Pending) -> None:
        if p.done:
            return
        err = None
        part = p
        try:
            while True:
                err = self.impl.complete(part.seq, *part.args)
                if err:
                    break
                stage = part.chunk.stage if part.chunk is not None else None
                if stage is not None:  # all_gather in pieces: rank r's piece to its place in the output
                    at = stage[0].ctypes.data
                    for addr, nb in stage[1]:
                        ctypes.memmove(addr, at, nb)
                        at += nb
                if not p.rest:
                    break
                chunk, p.rest = p.rest[0], p.rest[1:]
                coll, dtype, redop, root, scale, t = p.call
                part = self._publish(coll, dtype, redop, root, scale, chunk, t)
        except BaseException as e:  # noqa: BLE001 - delivered by the call's wait()
            err = None
            p.error = e
        if self._path is not None:  # after the first call, failed or not: peers that arrived have it mapped
            self._unlink()
        if err:
            p.error = self.error_for(part.seq, *err)
        p.done = True
        if self.pending is p:
            self.pending = None

    def error_for(self, seq: int, code: int, msg: str, ranks: list) -> BaseException:
        """The exception for lane call ``seq`` that ended with status ``code``; marks the lane broken when a
        peer is gone or late (later calls could never line up again). Also used by the compiled group."""
        if code in (3, 4):
            self.broken = f"the fast lane of group {self.group} is unusable after: {msg}"
            ab = self.pub.aborted_by()
            if code == 4 and ab:
                me = self.client.rank
                why = self.abort_why or (
                    f"the communicator was aborted by rank {ab - 1} (ProcessGroup.abort() or "
                    "shrink_group(SHRINK_ABORT))"
                )
                msg, ranks = f"rank {me}: fast-lane collective #{seq}: {why}", [me if self.abort_why else ab - 1]
        return error_for_status(code, msg, ranks)

    def _check_coordinator(self, eng) -> None:
        """What a sleeping engine waiter checks (_post_complete._check): a closed or dead coordinator."""
        if eng.dead_reason is None:
            if eng.arena.closing:
                eng.dead_reason = (
                    f"rank {self.client.rank}: the coordinator (pid {eng.coord_pid}) shut down; restart the job"
                )
            elif eng._coord_alive is not None and not eng._coord_alive():
                eng.dead_reason = (
                    f"rank {self.client.rank}: coordinator pid {eng.coord_pid} died; see its log in the job "
                    "directory and restart the job"
                )

    def _unlink(self) -> None:
        path, self._path = self._path, None
        unlink_quietly(path)

    def run_numpy(self, coll, x, in_elems, out_elems, count, dtype, redop, root, scale):
        """Communicator._run's fast lane: a _Done with the output bytes, or None when not eligible."""
        import numpy as np

        es = DTYPE_SIZE[dtype]
        in_bytes = in_elems * es
        if not self.takes(coll, in_bytes) or self.client.closed:
            return None
        out = np.empty(out_elems * es, dtype=np.uint8)
        src = np.ascontiguousarray(x).reshape(-1).view(np.uint8) if x is not None and in_elems else None
        in_addr = src.ctypes.data if src is not None else 0
        send = in_bytes if src is not None else 0
        self.run(coll, dtype, redop, root, count, scale, in_addr, send, out.ctypes.data if out.size else 0)
        return _Done(out)
