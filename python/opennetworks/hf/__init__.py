"""HuggingFace Trainer / accelerate over the OpenNetworks torch backend.

    import opennetworks.hf
    opennetworks.hf.init()                       # before TrainingArguments
    args = TrainingArguments(..., use_cpu=True)  # ddp_backend left unset
    Trainer(model=model, args=args, ...).train()

accelerate finds an initialised process group and adopts it; Trainer wraps the model in DDP
over it. See docs/jax.md (HuggingFace section) and examples/hf/trainer.py.
"""

from __future__ import annotations

import datetime
import os

from ._guard import check, install

__all__ = ["init", "check"]


def init(backend: str = "opennetworks", timeout: datetime.timedelta | None = None, guard: bool = True) -> bool:
    """Register the backend and initialise the default process group from the launcher's
    environment (torchrun / `onet run`: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT).

    Returns whether a process group is initialised. With ``guard`` (default), every
    TrainingArguments built afterwards raises if accelerate would let each rank train alone.
    Call it before building TrainingArguments.
    """
    import torch.distributed as dist

    import opennetworks.torch  # noqa: F401  (registers "opennetworks")

    if guard:
        install()
    if dist.is_initialized():
        return True
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1 and not os.environ.get("MASTER_ADDR"):
        return False  # a plain single-process run: nothing to join
    kwargs = {} if timeout is None else {"timeout": timeout}
    dist.init_process_group(backend, **kwargs)
    return True
