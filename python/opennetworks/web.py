"""Collectives for a Python rank in WebAssembly (Pyodide, in a page or on a Node host), over the browser client.

    from opennetworks import web

    async def main(url):
        comm = await web.join(url)                      # a join URL printed by `onet run --web` / `onet serve --web`
        out = await comm.all_reduce(array.array("f", [1, 2, 3]), op="sum")
        await comm.close()

    web.run(main(sys.argv[1]))

Data is any buffer-protocol object (``array.array``, ``memoryview``, ``bytes`` with ``dtype=``) or a numpy array
when numpy is present; numpy is never required. The element type comes from the buffer (f32, f64, i32), bf16 is
uint16 data with ``dtype="bf16"``. Every call returns a new array: an ``array.array`` (flat), or a numpy array
when numpy went in. Errors are the package's classes (``AbortedError``, ...) with ``code`` and ``ranks``.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from . import _web_bridge as _bridge
from ._errors import InvalidArgumentError
from ._gen.enums import REDOPS
from ._web_buffer import WEB_DTYPES, Staged, finish, stage

__all__ = ["join", "run", "WebComm", "WEB_DTYPES"]


def _op(op: str) -> str:
    name = str(op).lower()
    if name not in REDOPS:
        raise InvalidArgumentError(f"unknown reduce op {op!r}; use one of {', '.join(REDOPS)}")
    return name


class WebComm:
    """One rank's communicator over the JS client's ``WebComm``; ``rank``, ``world`` (also ``size``), ``kind``."""

    def __init__(self, js_comm: Any):
        self._js = js_comm
        self.rank = int(js_comm.rank)
        self.world = int(js_comm.world)
        self.kind = str(getattr(js_comm, "kind", "pyodide"))
        self.closed = False
        self.last_src = -1  # the source rank of the last recv

    @property
    def size(self) -> int:
        """The world size, as ``opennetworks.Communicator.size`` names it."""
        return self.world

    def __repr__(self) -> str:
        return f"<opennetworks.web.WebComm rank {self.rank} of {self.world} ({self.kind})>"

    async def _run(self, name: str, staged: Staged, shape: tuple[int, ...] | None, **opts: Any):
        what = f"{name} on rank {self.rank}"
        js_opts = _bridge.options(dtype=staged.dtype, **opts)
        result = await _bridge.call(what, getattr(self._js, name), _bridge.to_js_array(staged), js_opts)
        if shape is None:  # send: nothing comes back
            return None
        return finish(_bridge.from_js_array(result, staged.dtype, what), staged, shape)

    def _divisible(self, staged: Staged, name: str) -> int:
        if staged.count % self.world:
            raise InvalidArgumentError(
                f"{name} input of {staged.count} elements is not divisible by the world size {self.world}",
                [self.rank],
            )
        return staged.count // self.world

    def _peer(self, peer: int, what: str, any_ok: bool = False) -> int:
        if not isinstance(peer, int) or not (-1 if any_ok else 0) <= peer < self.world or peer == self.rank:
            anyone = " (or -1: any rank)" if any_ok else ""
            raise InvalidArgumentError(
                f"{what}={peer!r} is not another rank of 0..{self.world - 1}{anyone}", [self.rank]
            )
        return peer

    async def all_reduce(self, data: Any, op: str = "sum", *, dtype: str | None = None):
        s = stage(data, dtype)
        return await self._run("allreduce", s, s.shape, op=_op(op))

    async def all_gather(self, data: Any, *, dtype: str | None = None):
        """Every rank's ``data`` in rank order (``world * count`` elements; numpy: shape ``(world, *shape)``)."""
        s = stage(data, dtype)
        return await self._run("allgather", s, (self.world, *s.shape))

    async def broadcast(self, data: Any, root: int = 0, *, dtype: str | None = None):
        """Root's ``data`` on every rank; the others pass a buffer of the same count and dtype."""
        s = stage(data, dtype)
        if not isinstance(root, int) or not 0 <= root < self.world:
            raise InvalidArgumentError(f"broadcast root={root!r} is not a rank of 0..{self.world - 1}", [self.rank])
        return await self._run("broadcast", s, s.shape, root=root)

    async def reduce_scatter(self, data: Any, op: str = "sum", *, dtype: str | None = None):
        """``data`` has ``world * n`` elements; returns this rank's reduced ``n``."""
        s = stage(data, dtype)
        n = self._divisible(s, "reduce_scatter")
        shape = s.shape[1:] if len(s.shape) > 1 and s.shape[0] == self.world else (n,)
        return await self._run("reduceScatter", s, shape, op=_op(op))

    async def all_to_all(self, data: Any, *, dtype: str | None = None):
        """Block ``j`` of ``data`` goes to rank ``j``; block ``i`` of the result came from rank ``i``."""
        s = stage(data, dtype)
        self._divisible(s, "all_to_all")
        return await self._run("alltoall", s, s.shape)

    async def barrier(self) -> None:
        await _bridge.call(f"barrier on rank {self.rank}", self._js.barrier)

    async def send(self, data: Any, dst: int, tag: int = 0, *, dtype: str | None = None) -> None:
        s = stage(data, dtype)
        await self._run("send", s, None, peer=self._peer(dst, "send dst"), tag=tag)

    async def recv(self, data: Any, src: int = -1, tag: int = 0, *, dtype: str | None = None):
        """A new array of what ``src`` (-1: any rank; see ``last_src``) sent, at most ``data``'s count; ``data``
        gives the count and dtype (its contents are unused)."""
        s = stage(data, dtype)
        out = await self._run("recv", s, s.shape, peer=self._peer(src, "recv src", any_ok=True), tag=tag)
        self.last_src = int(getattr(self._js, "lastSrc", src))
        return out

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await _bridge.call(f"close on rank {self.rank}", self._js.close)

    async def __aenter__(self) -> WebComm:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def join(url: str, *, client: Any = None) -> WebComm:
    """Join a job as the rank a one-time join URL reserves (``onet run --web`` / ``onet serve --web`` print them).

    ``client``: the JS client module; by default the one the host registered as ``opennetworks_js``, else the
    page's ``globalThis.opennetworks``.
    """
    if not isinstance(url, str) or not url:
        raise InvalidArgumentError(f"join needs the join URL the coordinator printed, not {url!r}")
    js_client = _bridge.find_client(client)
    js_comm = await _bridge.call("join", js_client.join, url, _bridge.options(kind="pyodide"))
    return WebComm(js_comm)


_pending: list[asyncio.Future] = []


class _Exit(Exception):  # noqa: N818 - private: a SystemExit carried out of a task
    """``sys.exit`` inside a task: asyncio lets SystemExit escape the loop, which in Pyodide ends the host."""

    def __init__(self, code: object):
        super().__init__(code)
        self.code = code


async def _no_exit(main: Any):
    try:
        return await main
    except SystemExit as e:
        raise _Exit(e.code) from None


def run(main: Any):
    """Run the coroutine ``main`` to the end. CPython: ``asyncio.run``. Pyodide cannot block, so it is scheduled on
    the page's event loop and returned as a task; the Node launcher (``src/web/pyodide_node.ts``) waits for it."""
    if sys.platform != "emscripten":
        return asyncio.run(main)
    task = asyncio.ensure_future(_no_exit(main))
    _pending.append(task)
    return task


async def _wait_pending() -> None:
    """Await every task ``run`` scheduled (the Node launcher calls this after the script's body)."""
    while _pending:
        await _pending.pop(0)
