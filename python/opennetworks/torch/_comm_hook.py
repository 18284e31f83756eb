"""Compression of allreduces from torch (docs/compression.md): per group, per call, and a DDP comm hook.

    import opennetworks.torch as ont
    ont.set_compression("int8")                      # every allreduce of the default group
    ont.set_compression("bf16", group=pg)            # of one group; None: back to ONET_COMPRESSION
    with ont.compression("int8", key=3):             # these calls, error feedback keyed 3
        dist.all_reduce(grad)
    model.register_comm_hook(None, ont.compression_hook("int8"))   # DDP, error feedback per bucket

The codec and the error-feedback key travel in the slot's flags (spec/layout.json slotFlags), exactly as
the Node API's ``allreduce(x, {compression, key})``. Only cross-host allreduces of f32 sum/avg are
compressed lossily; other dtypes and ops run uncompressed.
"""

# No `from __future__ import annotations`: DDP checks the hook's annotations as objects.
import contextlib

import torch
import torch.distributed as dist

from .._errors import InvalidArgumentError

__all__ = ["set_compression", "compression", "compression_hook", "CODECS"]

# slotFlags "compression": 0 the group's, 1 off, 2 bf16, 3 fp16, 4 int8, 5 topk, 6 zstd, 7 lz4, 8 auto
CODECS = {"off": 1, "bf16": 2, "fp16": 3, "int8": 4, "topk": 5, "zstd": 6, "lz4": 7, "auto": 8}


def _code(codec: str) -> int:
    c = str(codec)
    if c in ("topk:0.01", "topk:1%"):
        c = "topk"
    code = CODECS.get(c)
    if code is None:
        extra = (
            "; a ratio other than 1% is set job-wide with ONET_COMPRESSION=topk:R (a call's topk then takes R)"
            if c.startswith("topk:")
            else ""
        )
        raise InvalidArgumentError(f"compression {codec!r} is not one of {', '.join(CODECS)}{extra}", [])
    return code


def _key(key) -> int:
    if key is None:
        return 0
    if isinstance(key, bool) or not isinstance(key, int) or not 1 <= key <= 0xFFFF:
        raise InvalidArgumentError(f"error-feedback key {key!r} must be an integer in 1..65535 (None for none)", [])
    return key


def _backend(group):
    """The ProcessGroupOnet behind ``group`` (None: the default group)."""
    from ._process_group import ProcessGroupOnet

    g = group if group is not None else dist.group.WORLD
    if g is None:
        raise InvalidArgumentError("opennetworks.torch compression: call dist.init_process_group first", [])
    if isinstance(g, ProcessGroupOnet):
        return g
    try:
        b = g._get_backend(torch.device("cpu"))
    except RuntimeError as e:
        raise InvalidArgumentError(f"this group has no opennetworks backend ({e})", []) from None
    if not isinstance(b, ProcessGroupOnet):
        raise InvalidArgumentError(
            f"this group's CPU backend is {type(b).__name__}, not opennetworks: compression needs "
            "dist.init_process_group('opennetworks') (or new_group(backend='opennetworks'))",
            [],
        )
    return b


def set_compression(codec: str | None, group=None, key: int | None = None) -> None:
    """Compress every allreduce of ``group`` (default: the world) with ``codec`` (off, bf16, fp16, int8,
    topk, zstd, lz4, auto); ``key`` (1..65535) turns on error feedback for them, which suits one tensor
    reduced repeatedly. ``None`` returns to the job's ONET_COMPRESSION. Every rank of the group must set
    the same (a difference is EMISMATCH)."""
    pg = _backend(group)
    pg._zgroup = None if codec is None else (_code(codec), _key(key))


@contextlib.contextmanager
def compression(codec: str, key: int | None = None, group=None):
    """Compress the allreduces this thread posts on ``group`` inside the block; ``key`` keeps an
    error-feedback residual for that tensor (per group and key), added to the next call with the key."""
    pg = _backend(group)
    z = (_code(codec), _key(key))
    prev = getattr(pg._zlocal, "call", None)
    pg._zlocal.call = z
    try:
        yield
    finally:
        pg._zlocal.call = prev


def compression_hook(codec: str = "int8", group=None, error_feedback: bool = True, first_key: int = 1):
    """A DDP comm hook: averages each gradient bucket with ``codec``; with ``error_feedback`` the residual is
    kept per bucket (key ``first_key + bucket.index()``) and added to that bucket's next allreduce.

        model.register_comm_hook(None, opennetworks.torch.compression_hook("int8"))

    The hook's ``state`` (register_comm_hook's first argument) may name the process group; None is the
    group given here, else DDP's default."""
    code = _code(codec)
    _key(first_key)

    def hook(state, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
        pg = _backend(state if state is not None else group)
        buf = bucket.buffer()
        buf.div_(pg.size())
        key = (first_key - 1 + bucket.index()) % 0xFFFF + 1 if error_feedback else 0
        prev = getattr(pg._zlocal, "call", None)
        pg._zlocal.call = (code, key)
        try:
            work = pg.allreduce([buf])
        finally:
            pg._zlocal.call = prev
        return work.get_future().then(lambda f: f.value()[0])

    hook.__name__ = f"compression_hook_{codec}"
    return hook
