"""Settings and the job's identity, read from the environment (docs/protocol.md §1).

Every setting is registered once in SETTINGS with its default and a one-line meaning.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from ._errors import InvalidArgumentError

# name: (default, meaning)
SETTINGS: dict[str, tuple[str, str]] = {
    "ONET_JOB_ID": ("", "job id shared by the ranks of one job on one host; derived when unset"),
    "ONET_RUN_DIR": ("", "run directory (default $XDG_RUNTIME_DIR/onet or /tmp/onet-<uid>)"),
    "ONET_SPIN_US": ("50", "microseconds a rank spins on a slot before sleeping on the futex"),
    "ONET_TIMEOUT": ("", "seconds a collective may take before TimeoutError (default: the torch "
                         "process group timeout, else 300)"),
    "ONET_CONNECT_TIMEOUT": ("30", "seconds to wait for the coordinator at registration (and for rank 0's "
                                   "job token in the torch store)"),
    "ONET_COORDINATOR": ("", "path of an `onet` executable used to start the coordinator"),
    "ONET_NODE": ("node", "node binary used to run <repo>/bin/onet.js"),
    "ONET_AUTOSTART": ("1", "0: never start a coordinator, only wait for one"),
    "ONET_PIPELINE_BYTES": ("", "largest piece of an allreduce/broadcast/reduce posted at once; bigger "
                            "tensors go in pieces (at most a quarter of the arena). Default: 2 MiB when "
                            "local ranks <= cores, else 64 MiB"),
    "ONET_PIPELINE_DEPTH": ("2", "pieces of one collective in flight before the rank waits for the oldest "
                            "and copies it out (0: post every piece first)"),
    "ONET_ARENA_BYTES": ("", "data bytes per rank arena (read by the coordinator)"),
    "ONET_JAX_IMPL": ("auto", "opennetworks.jax path: ffi (XLA custom call, built on first use), callback "
                              "(io_callback into the Python client) or auto (ffi when it builds)"),
    "ONET_JAX_FFI_BYTES": (str(16 << 20), "arena bytes the JAX FFI path reserves per device lane; "
                                          "bigger arrays go in pieces"),
    "ONET_JOB_TOKEN": ("", "per-job secret; the client proves it (HMAC) at register (docs/protocol.md §8)"),
    "ONET_STORE_TOKEN": ("1", "torch backend: without ONET_JOB_TOKEN, global rank 0 draws one and shares it "
                              "through the torch store (1), or the job runs without a token (0)"),
    "ONET_JAX_BUILD_DIR": ("", "where the JAX FFI library is built (default ~/.cache/opennetworks/jax)"),
}

_JOB_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_JOB_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def setting(name: str) -> str:
    return os.environ.get(name) or SETTINGS[name][0]


def float_setting(name: str, fallback: float | None = None) -> float | None:
    raw = os.environ.get(name) or SETTINGS[name][0]
    if not raw:
        return fallback
    try:
        return float(raw)
    except ValueError:
        raise InvalidArgumentError(f"{name}={raw!r} is not a number; set it to seconds, e.g. 30") from None


_BYTES_RE = re.compile(r"^\s*(\d+)\s*(|[KMGT]i?B?|B)\s*$", re.I)


def bytes_setting(name: str, fallback: int) -> int:
    """A size: plain bytes or with a unit (64MiB, 2M, 512KiB)."""
    raw = os.environ.get(name) or SETTINGS[name][0]
    if not raw:
        return fallback
    m = _BYTES_RE.match(raw)
    if not m:
        raise InvalidArgumentError(f"{name}={raw!r} is not a size; set it to bytes, e.g. 2097152 or 2MiB")
    unit = m.group(2).upper()[:1]
    return int(m.group(1)) << {"": 0, "B": 0, "K": 10, "M": 20, "G": 30, "T": 40}[unit]


def sanitize_job_id(raw: str) -> str:
    job = _JOB_BAD.sub("_", raw)[:64]
    return job or "default"


def job_id(env: dict | None = None) -> str:
    """The job id by the precedence of protocol §1; None-like launcher values are skipped."""
    env = os.environ if env is None else env
    explicit = env.get("ONET_JOB_ID")
    if explicit:
        if not _JOB_RE.match(explicit):
            raise InvalidArgumentError(
                f"ONET_JOB_ID={explicit!r} is not a valid job id: use 1-64 characters from "
                "A-Z a-z 0-9 _ . -")
        return explicit
    for key in ("TORCHELASTIC_RUN_ID", "SLURM_JOB_ID"):
        v = env.get(key)
        if v and v.lower() != "none":
            return sanitize_job_id(v)
    addr, port = env.get("MASTER_ADDR"), env.get("MASTER_PORT")
    if addr and port:
        return sanitize_job_id(f"{addr}-{port}")
    return "default"


def run_dir(env: dict | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("ONET_RUN_DIR"):
        return Path(env["ONET_RUN_DIR"])
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "onet"
    return Path(f"/tmp/onet-{os.getuid()}")


def job_dir(job: str, env: dict | None = None) -> Path:
    return run_dir(env) / job


@dataclasses.dataclass
class RankInfo:
    rank: int
    world: int
    local_rank: int
    local_world: int


def _int(env, key: str) -> int | None:
    v = env.get(key)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        raise InvalidArgumentError(f"{key}={v!r} is not an integer") from None


def rank_info(rank: int | None = None, world: int | None = None, env: dict | None = None) -> RankInfo:
    """Rank and world from arguments, else torchrun/Slurm/MPI variables; local values likewise.

    Without LOCAL_RANK/LOCAL_WORLD_SIZE every rank is assumed to be on this host.
    """
    env = os.environ if env is None else env
    if rank is None:
        rank = next((v for v in (_int(env, k) for k in ("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK"))
                     if v is not None), 0)
    if world is None:
        world = next((v for v in (_int(env, k) for k in ("WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"))
                      if v is not None), 1)
    local_rank = next((v for v in (_int(env, k) for k in ("LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK"))
                       if v is not None), rank)
    local_world = next((v for v in (_int(env, k) for k in ("LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE"))
                        if v is not None), None)
    if local_world is None:  # Slurm: "4", "4(x2)" or "4,2" tasks per node
        m = re.match(r"^(\d+)", env.get("SLURM_NTASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE") or "")
        local_world = int(m.group(1)) if m else world
    if not (0 <= rank < world):
        raise InvalidArgumentError(f"rank {rank} is outside world size {world}; check RANK and WORLD_SIZE")
    if not (0 <= local_rank < local_world):
        raise InvalidArgumentError(
            f"local rank {local_rank} is outside local world size {local_world}; check LOCAL_RANK "
            "and LOCAL_WORLD_SIZE")
    return RankInfo(rank, world, local_rank, local_world)
