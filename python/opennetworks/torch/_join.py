"""join_epoch: grow (or re-form) a running torch job between steps, then ``sync_state``.

A process group's membership is fixed, so the job changes membership by *epochs*: at a step
boundary every rank of epoch e destroys its default group and meets the newcomers in epoch e+1,
a fresh job whose id is ``<ONET_JOB_ID>.e<epoch>`` (the Node API's ``epochJob()``: both languages
agree). Under ONET_WAN=1 that is a new libp2p meeting with the same ONET_JOB_TOKEN. Then
``sync_state(model, optimizer)`` hands the newcomers the state of the most advanced rank, checked by
CRC32 on every rank (docs/wan.md "Joining").
"""

from __future__ import annotations

import os
import re
import time

import torch.distributed as dist

from .. import _comm, _env
from .._errors import InvalidArgumentError

_JOB_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_base: str | None = None  # ONET_JOB_ID as this process found it: the epochs' common prefix


def epoch_job(base: str, epoch: int) -> str:
    """The job id of an epoch: ``base`` for epoch 0, ``<base>.e<epoch>`` after."""
    if not isinstance(epoch, int) or epoch < 0:
        raise InvalidArgumentError(f"epoch {epoch!r} must be a non-negative integer (0: the job as first started)")
    job = base if epoch == 0 else f"{base}.e{epoch}"
    if not _JOB_RE.match(job):
        raise InvalidArgumentError(
            f"job id {job!r} (job {base!r}, epoch {epoch}) must be 1-64 characters of [A-Za-z0-9_.-]; "
            "use a shorter ONET_JOB_ID"
        )
    return job


def join_epoch(epoch: int, rank: int, world: int, init_method: str | None = None, timeout=None) -> str:
    """Leave the current default process group (if any) and meet epoch ``epoch`` of the job as ``rank``
    of ``world`` (one rank per host). Every rank of the new epoch calls it: the old ranks at the same
    step boundary, a newcomer when it starts. ``init_method``: torch's store for this epoch, default
    ``tcp://$MASTER_ADDR:$MASTER_PORT+epoch`` (each epoch its own store; rank 0 serves it). Returns
    the epoch's job id."""
    global _base
    if not _base:
        _base = os.environ.get("ONET_JOB_ID") or None
    if not _base:
        raise InvalidArgumentError("join_epoch: set ONET_JOB_ID (the same on every host): the epochs' job ids")
    if not (isinstance(world, int) and isinstance(rank, int) and 0 <= rank < world):
        raise InvalidArgumentError(f"join_epoch: rank {rank!r} of world {world!r}: need 0 <= rank < world", [rank])
    job = epoch_job(_base, epoch)
    old = _comm._client.job if _comm._client is not None and not _comm._client.closed else None
    if old == job:
        raise InvalidArgumentError(f"join_epoch: already in {job}; pass the next epoch ({epoch + 1})", [rank])
    if dist.is_initialized():
        dist.destroy_process_group()
    _comm.reset_client()  # leaves the old job; its coordinator exits once idle
    # The old job's coordinator exits 1 s after its ranks left. Under ONET_WAN the next one starts now and
    # waits itself for the host's libp2p identity (src/p2p/key_holder.ts); else let the old one go first.
    if old is not None and not _env.value("ONET_WAN"):
        pid, wait, end = _env.job_dir(old) / "coord.pid", 0.002, time.monotonic() + 10
        while pid.exists() and _alive(pid) and time.monotonic() < end:
            time.sleep(wait)
            wait = min(0.05, wait * 1.5)
    os.environ.update(ONET_JOB_ID=job, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK="0", LOCAL_WORLD_SIZE="1")
    if init_method is None:
        addr, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
        if not addr or not port:
            raise InvalidArgumentError("join_epoch: set MASTER_ADDR and MASTER_PORT, or pass init_method", [rank])
        init_method = f"tcp://{addr}:{int(port) + epoch}"
    kw = {"timeout": timeout} if timeout is not None else {}
    dist.init_process_group("opennetworks", init_method=init_method, rank=rank, world_size=world, **kw)
    return job


def _alive(pid_file) -> bool:
    try:
        pid = int(pid_file.read_text().strip() or 0)
        if pid <= 0:
            return False
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False
