"""``env://`` rendezvous for a job with web ranks (``onet run --web M``).

WORLD_SIZE counts the browser and Pyodide ranks, but those join over the coordinator's WebSocket and never connect
to torch's TCPStore; with plain ``env://``, rank 0's store would wait for them until the timeout. ``onet run``
tells its processes how many of the last ranks are web ranks (``ONET_WEB_RANKS``); then this handler builds the
store exactly as torch's own ``env://`` handler does, but counting only the process ranks as its workers, and still
reports the whole WORLD_SIZE to the process group. Without ``ONET_WEB_RANKS`` torch's handler runs unchanged.
"""

from __future__ import annotations

import importlib
import os
from urllib.parse import urlparse

from .. import _env
from .._errors import InvalidArgumentError

_rdzv = importlib.import_module("torch.distributed.rendezvous")  # the module (torch.distributed re-exports a function)
_HANDLERS: dict = getattr(_rdzv, "_rendezvous_handlers", {})
_original = _HANDLERS.get("env")


def _need(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise InvalidArgumentError(f"env:// rendezvous: environment variable {name} expected, but not set")
    return value


def _env_handler(url: str, timeout=None, **kwargs):
    timeout = _rdzv.default_pg_timeout if timeout is None else timeout
    web = int(_env.value("ONET_WEB_RANKS") or 0)
    if not web:
        yield from _original(url, timeout, **kwargs)
        return
    query = _rdzv._query_to_dict(urlparse(url).query)
    rank = int(query.get("rank") or _need("RANK"))
    world = int(query.get("world_size") or _need("WORLD_SIZE"))
    if not 0 <= web < world:
        raise InvalidArgumentError(
            f"ONET_WEB_RANKS={web} web ranks leave no process ranks in WORLD_SIZE={world}; "
            "set it to the number of web ranks (onet run --web sets it itself)"
        )
    if rank >= world - web:
        raise InvalidArgumentError(
            f"rank {rank} is a web rank (ranks {world - web}..{world - 1} of {world} join over WebSocket); "
            "a process rank must have RANK < WORLD_SIZE - ONET_WEB_RANKS"
        )
    use_libuv = _rdzv._get_use_libuv_from_query_dict(query)
    store = _rdzv._create_c10d_store(
        _need("MASTER_ADDR"), int(_need("MASTER_PORT")), rank, world - web, timeout, use_libuv
    )
    yield (store, rank, world)
    raise RuntimeError("Unable to perform re-rendezvous using env:// method")


def install() -> None:
    """Put the handler in place of torch's ``env://`` one (once; a no-op if this torch has none)."""
    if _original is not None and _HANDLERS.get("env") is _original and hasattr(_rdzv, "_create_c10d_store"):
        _HANDLERS["env"] = _env_handler
