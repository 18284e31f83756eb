"""A per-job secret agreed through the torch Store when ONET_JOB_TOKEN is unset (protocol §8).

Global rank 0 draws a token and store.set()s it under a job-scoped key; the other ranks wait for
it (ONET_CONNECT_TIMEOUT) and read it; the last reader deletes the key, so the token sits in the
store only while the job starts. Each rank then exports it as ONET_JOB_TOKEN, exactly as `onet
run` would: the register proof and the coordinator the rank may spawn (and, through it, the
multi-host rendezvous and transport handshake) use it. ONET_STORE_TOKEN=0 turns this off.

The token is never logged or put in a message; errors name the store and the key only.
"""

from __future__ import annotations

import datetime
import os
import secrets
import time

from .. import _env
from .._errors import AccessDeniedError, InvalidArgumentError, OnetError, TimeoutError

_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")

# The token this process took from (or put into) a store; lets a re-init in the same process tell
# its own export apart from a token the user or `onet run` set, and lets rank 0 republish it.
_from_store: str | None = None


def enabled() -> bool:
    raw = _env.setting("ONET_STORE_TOKEN").strip().lower()
    if raw in _ON:
        return True
    if raw in _OFF:
        return False
    raise InvalidArgumentError(
        f"ONET_STORE_TOKEN={raw!r} is not 1 or 0; set ONET_STORE_TOKEN=1 to share a "
        "job token through the torch store, 0 to run without one"
    )


def key(job: str) -> str:
    return f"onet/job_token/{job}"


def describe_store(store) -> str:
    """The store as a user knows it (TCPStore host:port, FileStore path), prefixes unwrapped."""
    inner = store
    for _ in range(8):
        nxt = getattr(inner, "underlying_store", None)
        if nxt is None:
            break
        inner = nxt
    name = type(inner).__name__
    if hasattr(inner, "host") and hasattr(inner, "port"):
        return f"{name} {inner.host}:{inner.port}"
    if getattr(inner, "path", None):
        return f"{name} {inner.path}"
    return name


def exchange(store, rank: int, world: int, job: str, timeout_s: float, mine: str | None = None) -> str:
    """Rank 0 publishes ``mine`` (or a fresh token); the others read it. Returns the job's token."""
    k = key(job)
    if rank == 0:
        token = mine or secrets.token_hex(32)
        if world > 1:  # alone, nobody needs to read it: keep it out of the store
            store.set(k, token)
        return token
    try:
        store.wait([k], datetime.timedelta(seconds=timeout_s))
    except RuntimeError as e:  # FileStore: RuntimeError; TCPStore: DistStoreError (a RuntimeError)
        raise TimeoutError(
            f"rank {rank}: global rank 0 did not publish the job token of job {job} under key {k!r} "
            f"in the torch store ({describe_store(store)}) within {timeout_s:.0f} s ({e}); check that "
            "rank 0 is running and uses the opennetworks backend with the same ONET_STORE_TOKEN and "
            "job id, raise ONET_CONNECT_TIMEOUT, export one ONET_JOB_TOKEN to every rank, or set "
            "ONET_STORE_TOKEN=0 to run without a job token",
            [rank],
        ) from None
    token = store.get(k).decode()
    # The last of the world-1 readers removes the key (modulo: a re-init on the same store counts on).
    if world > 1 and store.add(k + "/read", 1) % (world - 1) == 0:
        try:
            store.delete_key(k)
        except RuntimeError:  # a store without delete_key keeps it; it is no worse than before
            pass
    return token


def ensure(store, rank: int, world: int, job: str) -> bool:
    """Export a store-agreed ONET_JOB_TOKEN unless one is set or the setting is off.

    Call it in every rank of the default group (rank == global rank), or in none: rank 0 writes,
    the others wait. Returns whether the job token now in force came from the store.
    """
    global _from_store
    if store is None or not enabled():
        return False
    current = _env.setting("ONET_JOB_TOKEN") or None
    if current and current != _from_store:
        return False  # set by the user or by `onet run`: it is the job's token everywhere
    timeout_s = _env.float_setting("ONET_CONNECT_TIMEOUT", 30.0)
    token = exchange(store, rank, world, job, timeout_s, mine=_from_store)
    _from_store = token
    os.environ["ONET_JOB_TOKEN"] = token
    return True


def outwait_previous(e: OnetError, job: str, wait_s: float = 6.0) -> bool:
    """After a register refusal under a store token: wait (bounded) for the job's running
    coordinator, which may belong to an earlier job with the same id that is winding down, to
    exit. True when it did, so that registering again starts a fresh coordinator."""
    if not isinstance(e, AccessDeniedError) or _from_store is None:
        return False
    from .._client import _pid_alive  # noqa: PLC0415 (import cycle)

    pid_file = _env.job_dir(job) / "coord.pid"
    try:
        pid = int(pid_file.read_text().strip() or 0)
    except (OSError, ValueError):
        pid = 0
    if not pid:
        # Its pid file is already gone: it is shutting down, and its socket may still take a
        # registration that it will never answer. Give it a moment to close.
        time.sleep(1.0)
        return True
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not _pid_alive(pid):  # the one that refused us, not whichever one runs next
            return True
        time.sleep(0.05)
    return False


def explain_refusal(e: OnetError, job: str) -> OnetError:
    """Add to a register refusal what a store-agreed token means for it."""
    if not isinstance(e, AccessDeniedError) or _from_store is None:
        return e
    return AccessDeniedError(
        f"{e.message}. This rank's ONET_JOB_TOKEN was drawn by global rank 0 and shared through the "
        f"torch store (ONET_STORE_TOKEN=1), but the coordinator of job {job} holds another one: it was "
        "started with its own ONET_JOB_TOKEN, or an earlier job with the same job id is still winding "
        "down. Export one ONET_JOB_TOKEN to every rank and the coordinator, give this job its own "
        "ONET_JOB_ID, or set ONET_STORE_TOKEN=0",
        e.ranks,
    )
