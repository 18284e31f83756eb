"""How the ranks of one Ray collective group agree on an OpenNetworks job, through Ray's GCS
key-value store (the same store Ray's own gloo group meets in).

Rank 0 names a fresh job and, when the group spans several Ray nodes, a bootstrap address on its
node; every rank publishes its node id, so each can count the ranks on its host (local rank and
local world), which is what the coordinator of each host needs. Rank 0 deletes the keys once
every rank has joined, so a later group of the same name starts clean.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import time
import uuid

from .. import _env
from .._errors import InvalidArgumentError, TimeoutError

_PREFIX = "opennetworks_ray"


@dataclasses.dataclass
class Plan:
    job: str
    bootstrap: str  # host:port where the coordinators meet; "" when every rank is on one node
    info: _env.RankInfo


def _kv():
    from ray.experimental import internal_kv

    return internal_kv


def _node() -> tuple[str, str]:
    import ray

    return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()


def _free_port(ip: str) -> int:
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(fam) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _wait(key: str, what: str, deadline: float) -> bytes:
    kv = _kv()
    while True:
        v = kv._internal_kv_get(key)
        if v is not None:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"ray collective group: {what} did not appear in Ray's key-value store ({key!r}); "
                "is every rank calling init_collective_group with the same world size and group name? "
                "(ONET_CONNECT_TIMEOUT raises the wait)"
            )
        time.sleep(0.02)


def job_for(group_name: str) -> str:
    """A fresh job id for one incarnation of a group: the name made path-safe, plus a nonce."""
    return f"ray-{re.sub(r'[^A-Za-z0-9_.-]', '_', group_name)[:40]}-{uuid.uuid4().hex[:12]}"


def local_ranks(nodes: list[str], rank: int) -> tuple[int, int]:
    """(local rank, local world) of ``rank`` given every rank's node id."""
    mine = [r for r, n in enumerate(nodes) if n == nodes[rank]]
    return mine.index(rank), len(mine)


def plan(world: int, rank: int, group_name: str) -> Plan:
    if not (0 <= rank < world):
        raise InvalidArgumentError(f"ray collective group {group_name!r}: rank {rank} is outside world size {world}")
    deadline = time.monotonic() + _env.float_setting("ONET_CONNECT_TIMEOUT", 30.0)
    kv = _kv()
    node, ip = _node()
    head = f"{_PREFIX}/{group_name}"
    if rank == 0:
        job = job_for(group_name)
        kv._internal_kv_put(head, json.dumps({"job": job, "world": world, "ip": ip}), overwrite=True)
    meta = json.loads(_wait(head, "rank 0's job description", deadline))
    if meta["world"] != world:
        raise InvalidArgumentError(
            f"ray collective group {group_name!r}: rank 0 says world size {meta['world']}, rank {rank} says {world}"
        )
    job = meta["job"]
    kv._internal_kv_put(f"{head}/{job}/{rank}", node, overwrite=True)
    nodes = [_wait(f"{head}/{job}/{r}", f"rank {r}'s node", deadline).decode() for r in range(world)]
    local_rank, local_world = local_ranks(nodes, rank)
    bootstrap = ""
    if local_world < world:  # several nodes: rank 0's node serves the coordinators' meeting point
        key = f"{head}/{job}/bootstrap"
        if rank == 0:
            kv._internal_kv_put(key, f"{ip}:{_free_port(ip)}", overwrite=True)
        bootstrap = _wait(key, "rank 0's bootstrap address", deadline).decode()
    return Plan(job, bootstrap, _env.RankInfo(rank, world, local_rank, local_world))


def forget(group_name: str, p: Plan) -> None:
    """Delete the group's keys (rank 0, after every rank has joined)."""
    kv = _kv()
    head = f"{_PREFIX}/{group_name}"
    for r in range(p.info.world):
        kv._internal_kv_del(f"{head}/{p.job}/{r}")
    kv._internal_kv_del(f"{head}/{p.job}/bootstrap")
    kv._internal_kv_del(head)
