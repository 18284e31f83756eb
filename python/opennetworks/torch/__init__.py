"""``import opennetworks.torch`` registers the torch.distributed backend ``"opennetworks"``.

    import opennetworks.torch  # noqa: F401
    dist.init_process_group("opennetworks")

Tensors from ``opennetworks.torch.empty``/``zeros``/``to_arena`` live in shared memory: the
collectives read and write them in place, with no copy in or out.
"""

import torch
import torch.distributed as dist

from . import _rendezvous
from ._alloc import empty, empty_like, is_arena_tensor, to_arena, zeros
from ._comm_hook import compression, compression_hook, set_compression
from ._join import epoch_job, join_epoch
from ._process_group import ProcessGroupOnet, create
from ._sync_state import sync_state

BACKEND = "opennetworks"

# CUDA tensors take the host path through pinned memory (_cuda.CudaPath); a torch built without CUDA
# registers the CPU only, so that nothing changes there. is_built() asks the build, not the driver.
_DEVICES = ["cpu", "cuda"] if torch.backends.cuda.is_built() else ["cpu"]
if BACKEND not in dist.Backend.backend_list:
    dist.Backend.register_backend(BACKEND, create, extended_api=True, devices=_DEVICES)
_rendezvous.install()  # env:// with onet run --web: torch's store waits only for the process ranks

__all__ = [
    "ProcessGroupOnet",
    "BACKEND",
    "empty",
    "zeros",
    "empty_like",
    "to_arena",
    "is_arena_tensor",
    "sync_state",
    "join_epoch",
    "epoch_job",
    "set_compression",
    "compression",
    "compression_hook",
]
