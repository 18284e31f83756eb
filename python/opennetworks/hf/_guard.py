"""Refuse the silent trap: accelerate decided on no distribution (every rank would train alone
on its own shard) although the job has several ranks."""

from __future__ import annotations

import functools
import os

from .._errors import InvalidArgumentError

_installed = False


def world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1") or 1)
    except ValueError:
        return 1


def check(args) -> None:
    """Raise when ``args`` (a built TrainingArguments) would make each rank of a multi-rank job
    train alone."""
    world = world_size()
    state = getattr(args, "distributed_state", None)
    if world <= 1 or state is None:
        return
    kind = getattr(state.distributed_type, "value", str(state.distributed_type))
    if str(kind).upper() == "NO" or getattr(state, "num_processes", world) != world:
        raise InvalidArgumentError(
            f"accelerate set distributed_type={kind} with {getattr(state, 'num_processes', 1)} process(es) "
            f"although WORLD_SIZE={world}: every rank would train alone on its own data. On a CPU host "
            "pass use_cpu=True to TrainingArguments (and call opennetworks.hf.init() before building "
            "them); leave ddp_backend unset"
        )


def install() -> None:
    """Run `check` at the end of every TrainingArguments construction."""
    global _installed
    if _installed:
        return
    from transformers import TrainingArguments

    original = TrainingArguments.__post_init__

    @functools.wraps(original)
    def post_init(self, *a, **k):
        original(self, *a, **k)
        check(self)

    TrainingArguments.__post_init__ = post_init
    _installed = True
