"""The process's connection to its coordinator (`Client`) and a framework-neutral
communicator over numpy arrays (`Communicator`), mirroring docs/protocol.md §5.
"""

from __future__ import annotations

import atexit
import importlib
import json
import threading

import numpy as np

from . import _env, _fastlane
from ._arena import Arena
from ._client import Coordinator, _pid_alive
from ._errors import InvalidArgumentError, UnsupportedError
from ._gen.enums import NUMPY_DTYPES, NUMPY_EXTRA_DTYPES
from ._layout import ALIGN, COLLS, DTYPE_SIZE, DTYPES, REDOPS
from ._post import Engine, describe

_lock = threading.Lock()
_client: Client | None = None


class Client:
    """This process's registration with the local coordinator: control socket, arena, engine."""

    def __init__(self, info: _env.RankInfo, job: str, framework: str, timeout_s: float | None = None):
        self.info = info
        self.rank = info.rank
        self.world = info.world
        self.job = job
        connect_timeout = _env.float_setting("ONET_CONNECT_TIMEOUT", 30.0)
        self.coordinator = Coordinator(job, info, framework)
        self.ctl, reg = self.coordinator.register(connect_timeout)
        self.reg = reg
        self.coord_pid = reg.coord_pid
        self.arena = Arena(reg.arena, reg.ctl, reg.data_bytes, info.rank)
        self.ctl.request({"type": "mapped"}, connect_timeout, "mapped")
        spin = _env.float_setting("ONET_SPIN_US", 50.0)
        op_timeout = _env.float_setting("ONET_TIMEOUT", None) or timeout_s or 300.0
        self.engine = Engine(
            self.arena,
            info.rank,
            reg.coord_pid,
            spin,
            op_timeout,
            coord_alive=self._coord_alive,
            status_fn=self._status_text,
        )
        self._seq: dict[int, int] = {}
        self._groups: dict[int, tuple[int, ...]] = {0: tuple(range(info.world))}
        self.closed = False
        atexit.register(self.close)

    def _coord_alive(self) -> bool:
        proc = self.coordinator.proc
        if proc is not None and proc.pid == self.coord_pid:
            return proc.poll() is None
        return _pid_alive(self.coord_pid, self.reg.coord_start)

    def _status_text(self, op) -> str:
        """Who the pending collective waits for, from the coordinator's `status` reply."""
        reply = self.ctl.request({"type": "status"}, 1.0, "status")
        pend = reply.get("pending")
        if isinstance(pend, list):
            for p in pend:
                if not isinstance(p, dict) or "missing" not in p:
                    continue
                if p.get("group") == op.group and p.get("seq") == op.seq:
                    op.missing = list(p.get("missing") or [])
                    return (
                        f": waiting for rank(s) {', '.join(map(str, op.missing))} (arrived: "
                        f"{', '.join(map(str, p.get('arrived') or []))})"
                    )
        reply.pop("v", None), reply.pop("id", None), reply.pop("type", None)
        return f" (coordinator status: {json.dumps(reply, separators=(',', ':'))[:400]})"

    def next_seq(self, group: int) -> int:
        s = self._seq.get(group, 0) + 1
        self._seq[group] = s
        return s

    def define_group(self, group: int, ranks: list[int], timeout_s: float = 300.0, exclude=None) -> None:
        """Announce subgroup ``group`` with sorted global ``ranks``; returns once all members did.
        ``exclude``: global ranks whose pending collectives the coordinator fails first (shrink)."""
        ranks = sorted(int(r) for r in ranks)
        if group == 0:
            return
        if self._groups.get(group) == tuple(ranks):
            return
        msg = {"type": "group", "group": group, "ranks": ranks}
        if exclude:
            msg["exclude"] = sorted(int(r) for r in exclude)
        self.ctl.request(msg, timeout_s, f"group {group}")
        self._groups[group] = tuple(ranks)
        self._seq[group] = 0

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.engine.close()
        try:
            if self.engine.dead_reason is None and self._coord_alive():
                self.ctl.request({"type": "close"}, 2.0, "close")
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
        self.ctl.close()


def get_client(
    rank: int | None = None,
    world: int | None = None,
    job: str | None = None,
    framework: str = "python",
    timeout_s: float | None = None,
    local_rank: int | None = None,
    local_world: int | None = None,
) -> Client:
    """The process-wide client, registering on first use."""
    global _client
    with _lock:
        if _client is not None and not _client.closed:
            if rank is not None and rank != _client.rank:
                raise InvalidArgumentError(f"this process is already registered as rank {_client.rank}, not {rank}")
            return _client
        info = _env.rank_info(rank, world)
        if local_rank is not None:
            info.local_rank = local_rank
        if local_world is not None:
            info.local_world = local_world
        _client = Client(info, job or _env.job_id(), framework, timeout_s)
        return _client


def reset_client() -> None:
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None


# numpy dtype -> wire code (spec/enums.json); bf16 where ml_dtypes (shipped with JAX) is present.
_NP_DTYPES = {np.dtype(name): code for name, code in NUMPY_DTYPES.items()}
for (_mod, _attr), _code in NUMPY_EXTRA_DTYPES.items():
    try:
        _NP_DTYPES[np.dtype(getattr(importlib.import_module(_mod), _attr))] = _code
    except ImportError:  # pragma: no cover
        pass


def np_dtype_code(dt) -> int:
    code = _NP_DTYPES.get(np.dtype(dt))
    if code is None:
        raise UnsupportedError(
            f"dtype {np.dtype(dt)} is not supported; use one of {', '.join(DTYPES)} (bool travels as u8)"
        )
    return code


def _redop(op) -> int:
    if isinstance(op, int):
        return op
    code = REDOPS.get(str(op).lower())
    if code is None:
        raise InvalidArgumentError(f"unknown reduce op {op!r}; use one of {', '.join(REDOPS)}")
    return code


class Communicator:
    """Collectives over numpy arrays for one group (the world by default)."""

    def __init__(self, client: Client, group: int = 0, ranks: list[int] | None = None):
        self.client = client
        self.group = group
        self.ranks = list(ranks) if ranks is not None else list(range(client.world))
        if client.rank not in self.ranks:
            raise InvalidArgumentError(
                f"rank {client.rank} is not a member of group {group} {self.ranks}", [client.rank]
            )
        self.rank = self.ranks.index(client.rank)
        self.size = len(self.ranks)
        client.define_group(group, self.ranks)

    def _run(
        self,
        coll: str,
        x: np.ndarray | None,
        in_elems: int,
        out_elems: int,
        count: int,
        dtype: int,
        redop: int = 0,
        root: int = 0,
        in_at: int = 0,
        out_at: int = 0,
        scale: float = 1.0,
        aux: np.ndarray | None = None,
        tag: int = 0,
        seq: bool = True,
    ):
        """Stage ``x`` at element ``in_at`` of one buffer, run, return the ``out_elems`` output
        elements found at element ``out_at`` (as raw bytes; callers view them)."""
        if seq and aux is None and COLLS[coll] in _fastlane.LANE_COLLS:  # small, single host: among the ranks
            fl = _fastlane.lane(self.client, self.group, self.ranks)
            if fl is not None:
                c = COLLS[coll]
                done = fl.run_numpy(c, x, in_elems, out_elems, count, dtype, redop, root, scale)
                if done is not None:
                    return done
        eng = self.client.engine
        es = DTYPE_SIZE[dtype]
        nbytes = max(in_at + in_elems, out_at + out_elems) * es
        aux_bytes = 0 if aux is None else aux.nbytes
        off = eng.alloc(nbytes + aux_bytes + ALIGN, f"{coll} of {max(in_elems, out_elems)} elements")
        data = self.client.arena.data_numpy()
        in_off = off + in_at * es
        out_off = off + out_at * es
        if x is not None and in_elems:
            flat = np.ascontiguousarray(x).reshape(-1).view(np.uint8)
            data[in_off : in_off + flat.nbytes] = flat
        aux_off = 0
        if aux is not None:
            aux_off = off + ((nbytes + ALIGN - 1) & ~(ALIGN - 1))
            data[aux_off : aux_off + aux.nbytes] = aux.view(np.uint8)
        s = self.client.next_seq(self.group) if seq else 0
        c = COLLS[coll]
        op = eng.post(
            s,
            c,
            dtype,
            redop,
            root,
            count,
            in_off,
            out_off,
            aux_off,
            self.group,
            tag,
            scale,
            describe(c, s, self.group, count),
            blocks=(off,),
            finish=lambda op: data[out_off : out_off + out_elems * es].copy(),
        )
        eng.wait(op)
        return op

    @staticmethod
    def _typed(raw: np.ndarray, like: np.ndarray, shape):
        return raw.view(like.dtype).reshape(shape)

    def all_reduce(self, x: np.ndarray, op="sum", scale: float = 1.0) -> np.ndarray:
        x = np.asarray(x)
        r = self._run("allreduce", x, x.size, x.size, x.size, np_dtype_code(x.dtype), _redop(op), scale=scale)
        return self._typed(r.result, x, x.shape)

    def reduce(self, x: np.ndarray, root: int = 0, op="sum") -> np.ndarray | None:
        x = np.asarray(x)
        r = self._run("reduce", x, x.size, x.size, x.size, np_dtype_code(x.dtype), _redop(op), root)
        return self._typed(r.result, x, x.shape) if self.rank == root else None

    def broadcast(self, x: np.ndarray, root: int = 0) -> np.ndarray:
        x = np.asarray(x)
        r = self._run(
            "broadcast", x if self.rank == root else None, x.size, x.size, x.size, np_dtype_code(x.dtype), root=root
        )
        return self._typed(r.result, x, x.shape)

    def all_gather(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        n = x.size
        r = self._run("allgather", x, n, self.size * n, n, np_dtype_code(x.dtype), in_at=self.rank * n)
        return self._typed(r.result, x, (self.size, *x.shape))

    def reduce_scatter(self, x: np.ndarray, op="sum") -> np.ndarray:
        """``x`` has P·n elements (leading dimension P); returns this rank's reduced n elements."""
        x = np.asarray(x)
        if x.size % self.size:
            raise InvalidArgumentError(
                f"reduce_scatter input of {x.size} elements is not divisible by the group size {self.size}"
            )
        n = x.size // self.size
        r = self._run("reduce_scatter", x, x.size, n, n, np_dtype_code(x.dtype), _redop(op), out_at=self.rank * n)
        shape = x.shape[1:] if x.ndim > 1 and x.shape[0] == self.size else (n,)
        return self._typed(r.result, x, shape)

    def all_to_all(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.size % self.size:
            raise InvalidArgumentError(
                f"all_to_all input of {x.size} elements is not divisible by the group size {self.size}"
            )
        n = x.size // self.size
        r = self._run("alltoall", x, x.size, x.size, n, np_dtype_code(x.dtype), out_at=x.size)
        return self._typed(r.result, x, x.shape)

    def barrier(self) -> None:
        self._run("barrier", None, 0, 0, 0, 5)

    def send(self, x: np.ndarray, dst: int, tag: int = 0) -> None:
        x = np.asarray(x)
        self._run("send", x, x.size, 0, x.size, np_dtype_code(x.dtype), root=dst, tag=tag, seq=False)

    def recv(self, x: np.ndarray, src: int = -1, tag: int = 0) -> int:
        """Receive into ``x`` (writable); returns the source group rank."""
        r = self._run("recv", None, 0, x.size, x.size, np_dtype_code(x.dtype), root=src, tag=tag, seq=False)
        flat = x.reshape(-1)
        got = r.result.view(x.dtype)[: r.out_count]
        flat[: got.size] = got
        return r.src


def init(rank: int | None = None, world: int | None = None, job: str | None = None) -> Communicator:
    """Register this process with the local coordinator (starting it when needed)."""
    return Communicator(get_client(rank, world, job))
