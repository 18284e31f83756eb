"""Settings and the job's identity, read from the environment (docs/protocol.md §1).

What settings exist, their kinds, defaults and units are data generated from spec/settings.json
(opennetworks._gen.settings); this module only parses. src/config/settings.ts parses identically;
spec/fixtures/ holds the cases both are tested against.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from pathlib import Path

from ._errors import InvalidArgumentError
from ._gen import settings as _spec

SPECS = _spec.SETTINGS
# name: (default, meaning), the shape callers and tests have always used.
SETTINGS: dict[str, tuple[str, str]] = {name: (s.default, s.meaning) for name, s in SPECS.items()}

_NUMBER_WITH_UNIT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")
_INT = re.compile(r"^\s*-?\d+\s*$")
_FLOAT = re.compile(r"^\s*-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$")
_MAX_SAFE = 2**53 - 1  # the largest integer both languages represent exactly
_MISSING = object()


def invalid_value(env: str, text: str, kind: str, values=None) -> InvalidArgumentError:
    """The error every reader raises for a bad value: the variable, the value quoted, examples."""
    value = json.dumps(text, ensure_ascii=False)  # as JSON.stringify writes it
    if kind == "enum":
        return InvalidArgumentError(
            _spec.ENUM_ERROR_FORMAT.format(env=env, value=value, values=", ".join(values or ()))
        )
    examples = {"bytes": _spec.BYTE_EXAMPLES, "seconds": _spec.SECONDS_EXAMPLES}.get(kind) or _spec.ERROR_EXAMPLES.get(
        kind, ()
    )
    return InvalidArgumentError(
        _spec.ERROR_FORMAT.format(env=env, value=value, what=_spec.ERROR_WHAT[kind], examples=", ".join(examples))
    )


def _with_unit(text: str, units: dict) -> float | None:
    m = _NUMBER_WITH_UNIT.match(text)
    unit = units.get(m.group(2).lower()) if m else None
    return None if unit is None else float(m.group(1)) * unit


def parse_bytes(text: str, what: str = "value") -> int:
    """ "64MiB", "1.5GB", "2M", "4096" -> bytes (IEC for KiB and bare k, SI for kB; nearest byte)."""
    x = _with_unit(text, _spec.BYTE_UNITS)
    if x is None or not math.isfinite(x) or math.floor(x + 0.5) > _MAX_SAFE:
        raise invalid_value(what, text, "bytes")
    return int(math.floor(x + 0.5))


def parse_seconds(text: str, what: str = "value") -> float:
    """ "30", "2.5", "500ms", "1.5min" -> fractional seconds."""
    x = _with_unit(text, _spec.SECONDS_UNITS)
    if x is None or not math.isfinite(x):
        raise invalid_value(what, text, "seconds")
    return x


def parse_bool(text: str, what: str = "value") -> bool:
    t = text.strip().lower()
    if t in _spec.BOOL_TRUE:
        return True
    if t in _spec.BOOL_FALSE:
        return False
    raise invalid_value(what, text, "bool")


def parse_int(text: str, what: str = "value") -> int:
    if not _INT.match(text) or abs(int(text)) > _MAX_SAFE:
        raise invalid_value(what, text, "int")
    return int(text)


def parse_float(text: str, what: str = "value") -> float:
    if not _FLOAT.match(text) or not math.isfinite(float(text)):
        raise invalid_value(what, text, "float")
    return float(text)


def parse_value(name: str, text: str):
    """Parse `text` as setting `name`'s kind; "" (unset, no default) is "" for strings, else None."""
    s = SPECS[name]
    if text == "":
        return "" if s.kind == "string" else None
    if s.kind == "enum":
        t = text.strip().lower()
        if t not in s.values:
            raise invalid_value(name, text, "enum", s.values)
        return t
    parse = {
        "int": parse_int,
        "float": parse_float,
        "seconds": parse_seconds,
        "bytes": parse_bytes,
        "bool": parse_bool,
    }.get(s.kind)
    return parse(text, name) if parse else text


def _raw(name: str, env=None) -> str:
    env = os.environ if env is None else env
    return env.get(name) or ""


def is_set(name: str, env=None) -> bool:
    return _raw(name, env) != ""


def setting(name: str, env=None) -> str:
    """The text a setting reads: the environment's value when set and non-empty, else the default."""
    return _raw(name, env) or SPECS[name].default


def value(name: str, env=None):
    """The value of a setting, parsed by its kind (None when unset without a default)."""
    return parse_value(name, setting(name, env))


def float_setting(name: str, fallback=_MISSING, env=None):
    """A numeric setting as float; unset: `fallback` when given (None allowed), else the default."""
    if not is_set(name, env) and fallback is not _MISSING:
        return fallback
    v = value(name, env)
    return None if v is None else float(v)


def bytes_setting(name: str, fallback=_MISSING, env=None):
    """A size (plain bytes or with a unit: 64MiB, 2M, 1.5GB); unset: `fallback` when given, else the default."""
    if not is_set(name, env) and fallback is not _MISSING:
        return fallback
    return value(name, env)


_JOB_RE = re.compile(_spec.JOB_ID_PATTERN)
_JOB_BAD = re.compile(f"[^{_spec.JOB_ID_ALLOWED}]")


def sanitize_job_id(raw: str) -> str:
    """A launcher's value made path-safe: characters outside the allowed set become '_', cut to 64."""
    return _JOB_BAD.sub(_spec.JOB_ID_REPLACEMENT, raw)[: _spec.JOB_ID_MAX_LENGTH]


def job_id(env: dict | None = None) -> str:
    """The job id by spec/jobid.json: ONET_JOB_ID (checked), TORCHELASTIC_RUN_ID, SLURM_JOB_ID,
    MASTER_ADDR_MASTER_PORT, else "default"."""
    env = os.environ if env is None else env
    for src in _spec.JOB_ID_SOURCES:
        parts = [env.get(k) or "" for k in src["env"]]
        # An empty part means unset; a launcher's 'none' (torchrun's default rendezvous id) names no job.
        if any(p == "" or (src["mode"] == "sanitise" and p.lower() in _spec.JOB_ID_SKIP_VALUES) for p in parts):
            continue
        raw = src["joiner"].join(parts)
        if src["mode"] == "sanitise":
            return sanitize_job_id(raw)
        if not _JOB_RE.match(raw):
            raise InvalidArgumentError(_spec.JOB_ID_ERROR.format(value=json.dumps(raw, ensure_ascii=False)))
        return raw
    return _spec.JOB_ID_FALLBACK


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


# The same order as src/api/env.ts: our own variable, then torchrun, Slurm, Open MPI.
_RANK_VARS = ("ONET_RANK", "RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK")
_WORLD_VARS = ("ONET_WORLD_SIZE", "WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")
_LOCAL_RANK_VARS = ("ONET_LOCAL_RANK", "LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK")
_LOCAL_WORLD_VARS = ("ONET_LOCAL_WORLD_SIZE", "LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE")


def _first_int(env, keys, default):
    return next((v for v in (_int(env, k) for k in keys) if v is not None), default)


def rank_info(rank: int | None = None, world: int | None = None, env: dict | None = None) -> RankInfo:
    """Rank and world from arguments, else torchrun/Slurm/MPI variables; local values likewise.

    Without LOCAL_RANK/LOCAL_WORLD_SIZE every rank is assumed to be on this host.
    """
    env = os.environ if env is None else env
    if rank is None:
        rank = _first_int(env, _RANK_VARS, 0)
    if world is None:
        world = _first_int(env, _WORLD_VARS, 1)
    local_rank = _first_int(env, _LOCAL_RANK_VARS, rank)
    local_world = _first_int(env, _LOCAL_WORLD_VARS, None)
    if local_world is None:  # Slurm: "4", "4(x2)" or "4,2" tasks per node
        m = re.match(r"^(\d+)", env.get("SLURM_NTASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE") or "")
        local_world = int(m.group(1)) if m else world
    if not (0 <= rank < world):
        raise InvalidArgumentError(f"rank {rank} is outside world size {world}; check RANK and WORLD_SIZE", [rank])
    if not (0 <= local_rank < local_world):
        raise InvalidArgumentError(
            f"local rank {local_rank} is outside local world size {local_world}; check LOCAL_RANK and LOCAL_WORLD_SIZE"
        )
    return RankInfo(rank, world, local_rank, local_world)
